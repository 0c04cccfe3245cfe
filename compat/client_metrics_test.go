package compat

// Client metrics subscriptions (KIP-714): config resources of type
// CLIENT_METRICS, as kafka-client-metrics.sh and an admin client see them.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"gregor/internal/brokertest"
	"gregor/internal/wait"
)

const clientMetricsType = kmsg.ConfigResourceType(16)

type cmOp struct {
	name  string
	op    kmsg.IncrementalAlterConfigOp
	value string
}

// alterClientMetrics sends one IncrementalAlterConfigs for a subscription
// and returns its error code and message.
func alterClientMetrics(t *testing.T, cl *kgo.Client, name string, validateOnly bool, ops ...cmOp) (int16, string) {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.ValidateOnly = validateOnly
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = clientMetricsType, name
	for _, o := range ops {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op = o.name, o.op
		if o.op != kmsg.IncrementalAlterConfigOpDelete {
			v := o.value
			c.Value = &v
		}
		rr.Configs = append(rr.Configs, c)
	}
	req.Resources = append(req.Resources, rr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Resources) != 1 {
		t.Fatalf("IncrementalAlterConfigs answered %d resources, want 1", len(resp.Resources))
	}
	msg := ""
	if m := resp.Resources[0].ErrorMessage; m != nil {
		msg = *m
	}
	return resp.Resources[0].ErrorCode, msg
}

// describeClientMetrics returns a subscription's configs as name=value
// with their sources, and the resource's error code.
func describeClientMetrics(t *testing.T, cl *kgo.Client, name string) (map[string]string, int16) {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = clientMetricsType, name
	req.Resources = append(req.Resources, rr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range resp.Resources[0].Configs {
		if c.Source != kmsg.ConfigSource(7) {
			t.Errorf("config %s has source %v, want CLIENT_METRICS_CONFIG (7)", c.Name, c.Source)
		}
		got[c.Name] = *c.Value
	}
	return got, resp.Resources[0].ErrorCode
}

// pinnedClient is a client that sends API key at most at version (kgo
// otherwise sends the highest both sides know); the caller closes it.
func pinnedClient(t *testing.T, addr string, key, version int16) *kgo.Client {
	t.Helper()
	v := kversion.Stable()
	v.SetMaxKeyVersion(key, version)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(v))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// listConfigResources lists config resources with ListConfigResources at
// a version (0 is ListClientMetricsResources) as "type/name".
func listConfigResources(t *testing.T, addr string, version int16, types ...int8) ([]string, int16) {
	t.Helper()
	cl := pinnedClient(t, addr, 74, version)
	defer cl.Close()
	req := kmsg.NewPtrListConfigResourcesRequest()
	req.ResourceTypes = types
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := cl.Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	r := resp.(*kmsg.ListConfigResourcesResponse)
	if r.Version != version {
		t.Fatalf("ListConfigResources was sent at version %d, want %d", r.Version, version)
	}
	var out []string
	for _, c := range r.ConfigResources {
		typ := "16"
		if version >= 1 {
			typ = strings.TrimSpace(kmsg.ConfigResourceType(c.Type).String())
		}
		out = append(out, typ+"/"+c.Name)
	}
	return out, r.ErrorCode
}

func TestClientMetricsSubscriptions(t *testing.T) {
	addr := bootstrap(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	name := randomName("metrics-sub")
	set := kmsg.IncrementalAlterConfigOpSet

	// Bad subscriptions are refused with Kafka's codes and store nothing.
	for _, c := range []struct {
		op   cmOp
		code *kerr.Error
		msg  string
	}{
		{cmOp{"interval.ms", set, "50"}, kerr.InvalidRequest, "interval must be between 100 and 3600000"},
		{cmOp{"interval.ms", set, "soon"}, kerr.InvalidConfig, "Not a number of type INT"},
		{cmOp{"metric", set, "x"}, kerr.InvalidRequest, "Unknown client metrics configuration: metric"},
		{cmOp{"match", set, "user=bob"}, kerr.InvalidConfig, "Illegal client matching pattern: user=bob"},
		{cmOp{"match", set, "client_id"}, kerr.InvalidConfig, "Illegal client matching pattern"},
		{cmOp{"match", set, "client_id=(unclosed"}, kerr.InvalidConfig, "Illegal client matching pattern"},
	} {
		code, msg := alterClientMetrics(t, cl, name, false, c.op)
		if code != c.code.Code || !strings.Contains(msg, c.msg) {
			t.Errorf("%s=%s: got %v %q, want %v containing %q", c.op.name, c.op.value, kerr.ErrorForCode(code), msg, c.code, c.msg)
		}
	}
	if code, _ := alterClientMetrics(t, cl, "", false, cmOp{"metrics", set, "*"}); code != kerr.InvalidRequest.Code {
		t.Errorf("an empty subscription name: got %v, want INVALID_REQUEST", kerr.ErrorForCode(code))
	}
	// validate_only checks without storing.
	if code, msg := alterClientMetrics(t, cl, name, true, cmOp{"metrics", set, "*"}); code != 0 {
		t.Fatalf("validate only: %v %s", kerr.ErrorForCode(code), msg)
	}
	if got, code := describeClientMetrics(t, cl, name); code != 0 || len(got) != 0 {
		t.Fatalf("after refusals and a validate-only alter, the subscription is %v (code %d), want none", got, code)
	}

	// A subscription, then an APPEND to its metrics list.
	if code, msg := alterClientMetrics(t, cl, name, false,
		cmOp{"metrics", set, "org.apache.kafka.producer."},
		cmOp{"interval.ms", set, "1000"},
		cmOp{"match", set, "client_id=app-.*,client_software_name=apache-kafka-java,client_instance_id=a=b"}); code != 0 {
		t.Fatalf("creating %s: %v %s", name, kerr.ErrorForCode(code), msg)
	}
	if code, msg := alterClientMetrics(t, cl, name, false, cmOp{"metrics", kmsg.IncrementalAlterConfigOpAppend, "org.apache.kafka.consumer."}); code != 0 {
		t.Fatalf("appending a metric: %v %s", kerr.ErrorForCode(code), msg)
	}
	want := map[string]string{
		"metrics":     "org.apache.kafka.producer.,org.apache.kafka.consumer.",
		"interval.ms": "1000",
		"match":       "client_id=app-.*,client_software_name=apache-kafka-java,client_instance_id=a=b",
	}
	wait.For(t, "the subscription to be described as altered", 15*time.Second, func() bool {
		got, code := describeClientMetrics(t, cl, name)
		return code == 0 && len(got) == len(want) && got["metrics"] == want["metrics"] && got["match"] == want["match"] && got["interval.ms"] == want["interval.ms"]
	})
	wait.For(t, "ListClientMetricsResources (v0) to list "+name, 15*time.Second, func() bool {
		got, code := listConfigResources(t, addr, 0)
		return code == 0 && slices.Contains(got, "16/"+name)
	})
	got, code := listConfigResources(t, addr, 1, 16)
	if code != 0 || !slices.Contains(got, "CLIENT_METRICS/"+name) || slices.ContainsFunc(got, func(s string) bool { return !strings.HasPrefix(s, "CLIENT_METRICS/") }) {
		t.Errorf("ListConfigResources v1 of CLIENT_METRICS: %v (code %d), want only subscriptions, %s among them", got, code, name)
	}
	all, code := listConfigResources(t, addr, 1)
	if code != 0 || !slices.Contains(all, "CLIENT_METRICS/"+name) || !slices.ContainsFunc(all, func(s string) bool { return strings.HasPrefix(s, "BROKER/") }) {
		t.Errorf("ListConfigResources v1 of every type: %v (code %d), want brokers and %s", all, code, name)
	}
	if _, code := listConfigResources(t, addr, 1, 99); code != kerr.UnsupportedVersion.Code {
		t.Errorf("ListConfigResources v1 of an unknown type: code %v, want UNSUPPORTED_VERSION", kerr.ErrorForCode(code))
	}
	if _, code := describeClientMetrics(t, cl, ""); code != kerr.InvalidRequest.Code {
		t.Errorf("describing an empty subscription name: %v, want INVALID_REQUEST", kerr.ErrorForCode(code))
	}

	// Deleting every config deletes the subscription.
	del := kmsg.IncrementalAlterConfigOpDelete
	if code, msg := alterClientMetrics(t, cl, name, false, cmOp{"metrics", del, ""}, cmOp{"interval.ms", del, ""}, cmOp{"match", del, ""}); code != 0 {
		t.Fatalf("deleting %s: %v %s", name, kerr.ErrorForCode(code), msg)
	}
	wait.For(t, "the deleted subscription to leave the list", 15*time.Second, func() bool {
		got, code := listConfigResources(t, addr, 0)
		return code == 0 && !slices.Contains(got, "16/"+name)
	})
}

// TestClientMetricsSurviveRestart: a single broker keeps subscriptions in
// its metadata file.
func TestClientMetricsSurviveRestart(t *testing.T) {
	if !usingGregor() {
		t.Skip("restarts its own broker; COMPAT_BOOTSTRAP names another")
	}
	b := brokertest.Start(t, brokertest.Options{})
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	if code, msg := alterClientMetrics(t, cl, "kept", false, cmOp{"metrics", kmsg.IncrementalAlterConfigOpSet, "*"}); code != 0 {
		t.Fatalf("creating a subscription: %v %s", kerr.ErrorForCode(code), msg)
	}
	cl.Close()
	b.Restart()
	cl, err = kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if got, code := describeClientMetrics(t, cl, "kept"); code != 0 || got["metrics"] != "*" || len(got) != 1 {
		t.Fatalf("after a restart the subscription is %v (code %d), want metrics=*", got, code)
	}
	if got, _ := listConfigResources(t, b.Addr, 0); !slices.Equal(got, []string{"16/kept"}) {
		t.Fatalf("after a restart ListClientMetricsResources lists %v, want [kept]", got)
	}
}

// TestKafkaToolsClientMetrics runs kafka-client-metrics.sh: alter, list,
// describe, refusals, delete.
func TestKafkaToolsClientMetrics(t *testing.T) {
	k := newKafkaTools(t)
	if !k.has("kafka-client-metrics.sh") {
		t.Skip("this Kafka distribution has no kafka-client-metrics.sh")
	}
	name := randomName("tool-sub")
	cm := func(args ...string) string {
		return k.run(t, "", "kafka-client-metrics.sh", append([]string{"--bootstrap-server", k.addr}, args...)...)
	}
	out := cm("--alter", "--name", name, "--metrics", "org.apache.kafka.producer.,org.apache.kafka.consumer.coordinator",
		"--interval", "1000", "--match", "client_id=app-.*,client_software_name=apache-kafka-java")
	if !strings.Contains(out, "Altered client metrics config for "+name) {
		t.Fatalf("--alter printed %q", out)
	}
	wait.For(t, "kafka-client-metrics.sh --list to show "+name, 30*time.Second, func() bool {
		return containsLine(toolLines(cm("--list")), name)
	})
	lines := toolLines(cm("--describe", "--name", name))
	for _, want := range []string{
		"Client metrics configs for " + name + " are:",
		"  interval.ms=1000",
		"  match=client_id=app-.*,client_software_name=apache-kafka-java",
		"  metrics=org.apache.kafka.producer.,org.apache.kafka.consumer.coordinator",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("--describe --name %s lacks %q:\n%s", name, want, strings.Join(lines, "\n"))
		}
	}
	// A refused alteration exits non-zero with Kafka's message.
	stdout, stderr, err := k.runBoth("kafka-client-metrics.sh", "--bootstrap-server", k.addr, "--alter", "--name", name, "--interval", "5")
	if err == nil || !strings.Contains(stdout+stderr, "interval must be between 100 and 3600000") {
		t.Errorf("--interval 5: exit %v, output %s%s", err, stdout, stderr)
	}
	if out := cm("--delete", "--name", name); !strings.Contains(out, "Deleted client metrics config for "+name) {
		t.Fatalf("--delete printed %q", out)
	}
	wait.For(t, "kafka-client-metrics.sh --list to drop "+name, 30*time.Second, func() bool {
		return !containsLine(toolLines(cm("--list")), name)
	})
}

// TestClientMetricsConcurrentAppends: APPENDs to one subscription's list
// sent at once through one broker all land.
func TestClientMetricsConcurrentAppends(t *testing.T) {
	addr := bootstrap(t)
	name := randomName("metrics-appends")
	// Each append on its own connection to one broker (the seed): a
	// connection's requests are served in order anyway, and a cluster's
	// brokers each serialise only their own.
	const n = 8
	clients := make([]*kgo.Client, n)
	for i := range clients {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := cl.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
		clients[i] = cl
	}
	var wg sync.WaitGroup
	codes := make([]int16, n)
	for i, cl := range clients {
		wg.Go(func() {
			req := kmsg.NewPtrIncrementalAlterConfigsRequest()
			rr := kmsg.NewIncrementalAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = clientMetricsType, name
			c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			c.Name, c.Op, c.Value = "metrics", kmsg.IncrementalAlterConfigOpAppend, kmsg.StringPtr(fmt.Sprintf("org.apache.kafka.m%d.", i))
			rr.Configs = append(rr.Configs, c)
			req.Resources = append(req.Resources, rr)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			resp, err := req.RequestWith(ctx, cl.SeedBrokers()[0])
			if err != nil {
				codes[i] = -1
				return
			}
			codes[i] = resp.Resources[0].ErrorCode
		})
	}
	wg.Wait()
	for i, c := range codes {
		if c != 0 {
			t.Fatalf("append %d: code %d", i, c)
		}
	}
	// The describe may reach another broker of a cluster, which learns of
	// the last append a moment later; a lost append never shows all n.
	var last string
	ok := wait.Until(30*time.Second, func() bool {
		got, _ := describeClientMetrics(t, clients[0], name)
		last = got["metrics"]
		return len(strings.Split(last, ",")) == n
	})
	if !ok {
		t.Fatalf("after %d concurrent appends metrics=%q (%d items)", n, last, len(strings.Split(last, ",")))
	}
}
