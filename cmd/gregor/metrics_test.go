package main

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
	"gregor/internal/promtest"
	"gregor/internal/wait"
)

// TestMetricsEndpoint scrapes a broker that produced, served a consumer
// and a bad fetch, and holds a group left behind: the scrape parses with
// Prometheus' own parser, the old metric names are still there, the
// request histograms split time as Kafka does, and the group's lag is the
// end offset minus its committed offset.
func TestMetricsEndpoint(t *testing.T) {
	const topic, group = "metrics-topic", "lagging-group"
	b, addr, cl, ctx := metricsBroker(t, topic, map[string]string{"group.initial.rebalance.delay.ms": "0"})
	adm := kadm.NewClient(cl)
	// The group read 4 of the 10 records and stopped.
	offs := kadm.Offsets{}
	offs.AddOffset(topic, 0, 4, -1)
	if resp, err := adm.CommitOffsets(ctx, group, offs); err != nil || resp.Error() != nil {
		t.Fatalf("committing: %v %v", err, resp.Error())
	}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	for got := 0; got < 10; {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	// A fetch far past the end: OFFSET_OUT_OF_RANGE, counted by code.
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	fr := kmsg.NewPtrFetchRequest()
	fr.ReplicaID, fr.MaxBytes = -1, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic, ft.TopicID = topic, md.Topics[topic].ID
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.FetchOffset, fp.PartitionMaxBytes = 1000, 1<<20
	ft.Partitions = append(ft.Partitions, fp)
	fr.Topics = append(fr.Topics, ft)
	if resp, err := fr.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	} else if code := resp.Topics[0].Partitions[0].ErrorCode; code != 1 {
		t.Fatalf("fetch past the end answered error code %d", code)
	}

	// A deletion of a topic that does not exist: counted by API and code
	// among the other APIs' response errors.
	if resp, err := adm.DeleteTopics(ctx, "no-such-topic"); err != nil {
		t.Fatal(err)
	} else if err := resp["no-such-topic"].Err; err == nil {
		t.Fatal("deleting a topic that does not exist succeeded")
	}

	url := "http://" + addr + "/metrics"
	var fams promtest.Families
	wait.For(t, "the group's lag in a scrape", 10*time.Second, func() bool {
		fams, err = promtest.TryScrape(url)
		if err != nil {
			return false
		}
		_, ok := fams.Value("gregor_consumer_group_lag", "group", group)
		return ok
	})
	check := func(name string, want float64, labels ...string) {
		t.Helper()
		got, ok := fams.Value(name, labels...)
		if !ok {
			t.Errorf("no %s%v in the scrape", name, labels)
		} else if got != want {
			t.Errorf("%s%v = %v, want %v", name, labels, got, want)
		}
	}
	atLeast := func(name string, min float64, labels ...string) {
		t.Helper()
		got, ok := fams.Value(name, labels...)
		if !ok || got < min {
			t.Errorf("%s%v = %v (present %v), want at least %v", name, labels, got, ok, min)
		}
	}
	check("gregor_consumer_group_lag", 6, "group", group, "topic", topic, "partition", "0")
	check("gregor_consumer_group_committed_offset", 4, "group", group, "topic", topic, "partition", "0")
	check("gregor_partition_log_end_offset", 10, "topic", topic, "partition", "0")
	check("gregor_partition_high_watermark", 10, "topic", topic, "partition", "0")
	check("gregor_topic_records_in_total", 10, "topic", topic)
	atLeast("gregor_topic_records_out_total", 10, "topic", topic)
	atLeast("gregor_topic_bytes_in_total", 80, "topic", topic)
	atLeast("gregor_partition_segments", 1, "topic", topic, "partition", "0")
	check("gregor_partition_errors_total", 1, "api", "Fetch", "error", "OFFSET_OUT_OF_RANGE")
	check("gregor_response_errors_total", 1, "api", "DeleteTopics", "error", "UNKNOWN_TOPIC_OR_PARTITION")
	atLeast("gregor_requests_total", 10, "api", "Produce")
	atLeast("gregor_request_duration_seconds", 10, "api", "Produce")
	atLeast("gregor_request_local_seconds", 10, "api", "Produce")
	atLeast("gregor_request_remote_seconds", 1, "api", "Fetch")
	atLeast("gregor_connections", 1, "listener", "PLAINTEXT", "principal", "User:ANONYMOUS")
	check("gregor_controller_active", 1)
	check("gregor_under_replicated_partitions", 0)
	check("gregor_offline_partitions", 0)
	atLeast("gregor_fetch_session_cache_size", 1) // the open consumer's session
	atLeast("gregor_fetch_session_cache_partitions", 1)
	for _, name := range []string{"gregor_connections_open", "gregor_network_received_bytes_total", "gregor_isr_shrinks_total", "gregor_isr_update_failures_total",
		"gregor_leader_elections_total", "gregor_at_min_isr_partitions", "go_goroutines", "process_cpu_seconds_total"} {
		if !fams.Has(name) {
			t.Errorf("no %s in the scrape", name)
		}
	}
	check("gregor_replication_throttled_rate_bytes", 0, "side", "follower")
	if fams["gregor_metadata_apply_delay_seconds"].GetType().String() != "HISTOGRAM" {
		t.Errorf("gregor_metadata_apply_delay_seconds is a %v, not a histogram", fams["gregor_metadata_apply_delay_seconds"].GetType())
	}
	if !fams.Has("gregor_metadata_apply_delay_max_seconds") {
		t.Error("no gregor_metadata_apply_delay_max_seconds in the scrape")
	}
	if fams["gregor_request_duration_seconds"].GetType().String() != "HISTOGRAM" {
		t.Errorf("gregor_request_duration_seconds is a %v, not a histogram", fams["gregor_request_duration_seconds"].GetType())
	}
	if _, ok := fams.Value("gregor_zookeeper_connected"); ok {
		t.Error("a single broker without ZooKeeper exports gregor_zookeeper_connected")
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %s", path, resp.Status)
		}
	}
}

// TestMetricsGroupSeriesBounded: a broker coordinating more groups than
// gregor.metrics.max.groups gives series of their own (and status page
// rows) to that many, those with the largest total lag, and counts them
// all in gregor_consumer_groups. Without the bound every group a client
// creates adds series to every scrape (200,000 groups made a 55 MB one).
func TestMetricsGroupSeriesBounded(t *testing.T) {
	const topic = "bounded-groups"
	_, addr, cl, ctx := metricsBroker(t, topic, map[string]string{"gregor.metrics.max.groups": "3"})
	var err error
	// Group gN read N of the 10 records: g0 lags most.
	adm := kadm.NewClient(cl)
	for i := 0; i < 10; i++ {
		offs := kadm.Offsets{}
		offs.AddOffset(topic, 0, int64(i), -1)
		if resp, err := adm.CommitOffsets(ctx, "g"+strconv.Itoa(i), offs); err != nil || resp.Error() != nil {
			t.Fatalf("committing: %v %v", err, resp.Error())
		}
	}
	url := "http://" + addr + "/metrics"
	var fams promtest.Families
	wait.For(t, "10 groups counted in a scrape", 10*time.Second, func() bool {
		fams, err = promtest.TryScrape(url)
		if err != nil {
			return false
		}
		n, ok := fams.Value("gregor_consumer_groups")
		return ok && n == 10
	})
	for i := 0; i < 10; i++ {
		group := "g" + strconv.Itoa(i)
		lag, ok := fams.Value("gregor_consumer_group_lag", "group", group, "topic", topic, "partition", "0")
		_, members := fams.Value("gregor_consumer_group_members", "group", group)
		switch {
		case i < 3 && (!ok || lag != float64(10-i) || !members):
			t.Errorf("group %s (lag %d, among the 3 largest): lag series %v = %v, members series %v; want its series", group, 10-i, ok, lag, members)
		case i >= 3 && (ok || members):
			t.Errorf("group %s (lag %d, not among the 3 largest) has series of its own", group, 10-i)
		}
	}
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(page), "The 3 with the largest total lag of 10 groups") ||
		!strings.Contains(string(page), `data-group="g2"`) || strings.Contains(string(page), `data-group="g3"`) {
		t.Errorf("the status page does not show only the 3 groups with the largest lag, and say so")
	}
}

// TestMetricsNegativeLag: a group that committed past a partition's end
// has negative lag, as kafka-consumer-groups.sh's LAG column shows it
// (ConsumerGroupCommand.getLag is the end offset minus the committed one,
// unclamped), in the metric and on the status page; Gregor showed 0, as if
// the group were up to date. The group's total lag, which ranks groups,
// counts only partitions behind.
func TestMetricsNegativeLag(t *testing.T) {
	const topic, group = "negative-lag", "ahead-group"
	_, addr, cl, ctx := metricsBroker(t, topic, map[string]string{})
	offs := kadm.Offsets{}
	offs.AddOffset(topic, 0, 15, -1) // 5 past the end (10 records)
	if resp, err := kadm.NewClient(cl).CommitOffsets(ctx, group, offs); err != nil || resp.Error() != nil {
		t.Fatalf("committing: %v %v", err, resp.Error())
	}
	var lag float64
	wait.For(t, "the group's lag in a scrape", 10*time.Second, func() bool {
		fams, err := promtest.TryScrape("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		var ok bool
		lag, ok = fams.Value("gregor_consumer_group_lag", "group", group, "topic", topic, "partition", "0")
		return ok
	})
	if lag != -5 {
		t.Errorf("gregor_consumer_group_lag of a group committed at 15 on a partition ending at 10: %v, want -5 as kafka-consumer-groups.sh shows", lag)
	}
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	if want := `data-group="` + group + `" data-topic="` + topic + `" data-partition="0">-5</td>`; !strings.Contains(string(page), want) {
		t.Errorf("the status page lacks %s", want)
	}
	if want := `total lag <span class="total-lag">0</span>`; !strings.Contains(string(page), want) {
		t.Errorf("the status page lacks %s", want)
	}
}

// metricsBroker starts a broker serving metrics (with set's keys) and
// writes 10 records to partition 0 of topic; it returns the broker, the
// metrics address, the producing client and a context for the test.
func metricsBroker(t *testing.T, topic string, set map[string]string) (*brokertest.Broker, string, *kgo.Client, context.Context) {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(brokertest.FreePort(t))
	set["gregor.metrics.listener"] = addr
	b := brokertest.Start(t, brokertest.Options{Set: set})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	for i := 0; i < 10; i++ {
		if err := cl.ProduceSync(ctx, kgo.StringRecord("record-"+strconv.Itoa(i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	return b, addr, cl, ctx
}
