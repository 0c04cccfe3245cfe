package compat

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/wait"
)

// Log levels change at run time through the BROKER_LOGGER config resource
// (kafka-configs.sh --entity-type broker-loggers, Admin's
// incrementalAlterConfigs), as Kafka's RuntimeLoggerManager serves it:
// DescribeConfigs lists every logger with the level it logs at, SET gives
// one its own level and DELETE makes it follow the root again, with every
// op checked before any applies. Gregor refused every change with
// INVALID_REQUEST, so debugging a running broker needed a restart.
func TestBrokerLoggerLevelsAtRunTime(t *testing.T) {
	e := newAdminEnv(t)
	id := strconv.Itoa(int(e.brokerID()))
	const logger = kmsg.ConfigResourceTypeBrokerLogger
	levels := func() map[string]string {
		cs, code := e.describeConfigs(logger, id)
		wantCode(t, "DescribeConfigs of the broker loggers", code, nil)
		out := map[string]string{}
		for n, c := range cs {
			if c.Source != kmsg.ConfigSourceDynamicBrokerLoggerConfig || c.ReadOnly {
				t.Errorf("logger %s: source %v, read-only %v", n, c.Source, c.ReadOnly)
			}
			out[n] = deref(c.Value)
		}
		return out
	}
	before := levels()
	root := before["root"]
	for _, n := range []string{"root", "broker", "coordinator", "net"} {
		if _, ok := before[n]; !ok {
			t.Fatalf("logger %s not described; got %v", n, before)
		}
	}
	if before["net"] != root {
		t.Fatalf("net logs at %s before any change, the root at %s", before["net"], root)
	}
	t.Cleanup(func() {
		// Leave the shared broker as it was.
		e.incrementalAlter(logger, id, false, op("net", kmsg.IncrementalAlterConfigOpDelete, nil))
	})

	set := func(name, level string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
		return op(name, kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr(level))
	}
	for _, c := range []struct {
		what string
		ops  []kmsg.IncrementalAlterConfigsRequestResourceConfig
		code *kerr.Error
		msg  string
	}{
		{"an unknown logger", []kmsg.IncrementalAlterConfigsRequestResourceConfig{set("kafka.server.ReplicaManager", "DEBUG")},
			kerr.InvalidConfig, "Logger kafka.server.ReplicaManager does not exist!"},
		{"a level in lower case", []kmsg.IncrementalAlterConfigsRequestResourceConfig{set("net", "debug")},
			kerr.InvalidConfig, "Cannot set the log level of net to debug as it is not a supported log level. Valid log levels are DEBUG, ERROR, FATAL, INFO, TRACE, WARN"},
		{"a valid SET before a bad one", []kmsg.IncrementalAlterConfigsRequestResourceConfig{set("net", "DEBUG"), set("broker", "LOUD")},
			kerr.InvalidConfig, "Cannot set the log level of broker to LOUD as it is not a supported log level. Valid log levels are DEBUG, ERROR, FATAL, INFO, TRACE, WARN"},
		{"DELETE of the root", []kmsg.IncrementalAlterConfigsRequestResourceConfig{op("root", kmsg.IncrementalAlterConfigOpDelete, nil)},
			kerr.InvalidRequest, "Removing the log level of the root logger is not allowed"},
		{"APPEND", []kmsg.IncrementalAlterConfigsRequestResourceConfig{op("net", kmsg.IncrementalAlterConfigOpAppend, kmsg.StringPtr("DEBUG"))},
			kerr.InvalidRequest, "APPEND operation is not allowed for the BROKER_LOGGER resource"},
	} {
		code, msg := e.incrementalAlterMessage(logger, id, c.ops...)
		if code != c.code.Code || msg != c.msg {
			t.Errorf("%s: %v %q, want %v %q", c.what, kerr.ErrorForCode(code), msg, c.code, c.msg)
		}
	}
	wantCode(t, "SET net DEBUG, validate only", e.incrementalAlter(logger, id, true, set("net", "DEBUG")), nil)
	if got := levels(); got["net"] != root {
		t.Fatalf("net logs at %s after refused and validate-only changes, want the root's %s", got["net"], root)
	}

	wantCode(t, "SET net DEBUG", e.incrementalAlter(logger, id, false, set("net", "DEBUG")), nil)
	if got := levels(); got["net"] != "DEBUG" || got["root"] != root {
		t.Fatalf("after SET net DEBUG: net %s, root %s", got["net"], got["root"])
	}
	if !usingGregor() {
		return
	}
	// The change is seen at once: the net logger writes a debug line for
	// each request, naming the client, on connections already open too.
	marker := func(clientID string) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap(t)), kgo.ClientID(clientID))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		defer cancel()
		if _, err := cl.Request(ctx, kmsg.NewPtrApiVersionsRequest()); err != nil {
			t.Fatal(err)
		}
	}
	logged := func(clientID string) bool {
		for _, line := range strings.Split(sharedBroker.Logs(1<<30), "\n") {
			if strings.Contains(line, `"client_id":"`+clientID+`"`) && strings.Contains(line, `"message":"request"`) && strings.Contains(line, `"component":"net"`) {
				return true
			}
		}
		return false
	}
	first := randomName("logger-debug")
	marker(first)
	wait.For(t, "a debug line for the request of client "+first, 10*time.Second, func() bool { return logged(first) })

	wantCode(t, "DELETE net", e.incrementalAlter(logger, id, false, op("net", kmsg.IncrementalAlterConfigOpDelete, nil)), nil)
	if got := levels(); got["net"] != root {
		t.Fatalf("after DELETE net: net %s, want the root's %s", got["net"], root)
	}
	quiet := randomName("logger-quiet")
	marker(quiet)
	// Lines come in order: once a later request's line is there, the
	// quiet one's would be too.
	wantCode(t, "SET net TRACE", e.incrementalAlter(logger, id, false, set("net", "TRACE")), nil)
	last := randomName("logger-trace")
	marker(last)
	wait.For(t, "a debug line for the request of client "+last, 10*time.Second, func() bool { return logged(last) })
	if root != "DEBUG" && root != "TRACE" && logged(quiet) {
		t.Errorf("a debug line was written for client %s after net followed the root (%s) again", quiet, root)
	}
}
