package compat

// What a broker's /metrics says about topics: a deleted topic's series
// leave the scrape, and a produce to a topic that does not exist adds
// none (Kafka's BrokerTopicStats.removeMetrics, called by
// ReplicaManager.maybeRemoveTopicMetrics on deletion).

import (
	"context"
	"os"
	"path/filepath"
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

// startMonitoredBroker starts a broker of its own with its /metrics on a
// free port; it returns the broker and the metrics URL.
func startMonitoredBroker(t *testing.T, set map[string]string) (*brokertest.Broker, string) {
	t.Helper()
	if !usingGregor() {
		t.Skip("starts its own broker")
	}
	metrics := "127.0.0.1:" + strconv.Itoa(brokertest.FreePort(t))
	all := map[string]string{"gregor.metrics.listener": metrics}
	for k, v := range set {
		all[k] = v
	}
	return brokertest.Start(t, brokertest.Options{Set: all}), "http://" + metrics + "/metrics"
}

func TestDeletedTopicSeriesLeaveMetrics(t *testing.T) {
	b, url := startMonitoredBroker(t, map[string]string{"auto.create.topics.enable": "false"})
	topic, missing := randomName("metrics-gone"), randomName("metrics-missing")
	createTopic(t, b.Addr, topic, 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	raw := dialRaw(t, b.Addr)
	resp := kmsg.NewPtrProduceResponse()
	if err := raw.request(produceReq(missing, recordBatch(false), nil), resp); err != nil {
		t.Fatal(err)
	}
	if code := produceCode(resp); code != 3 {
		t.Fatalf("produce to %s: error %d, want UNKNOWN_TOPIC_OR_PARTITION (3)", missing, code)
	}
	f := promtest.Scrape(t, url)
	if v, ok := f.Value("gregor_topic_bytes_in_total", "topic", topic); !ok || v == 0 {
		t.Fatalf("gregor_topic_bytes_in_total{topic=%q} = %v (present %v) after a produce", topic, v, ok)
	}
	if _, ok := f.Value("gregor_topic_bytes_in_total", "topic", missing); ok {
		t.Errorf("a produce to %s, which does not exist, added a gregor_topic_bytes_in_total series", missing)
	}
	if resp, err := kadm.NewClient(cl).DeleteTopics(ctx, topic); err != nil || resp.Error() != nil {
		t.Fatalf("deleting %s: %v %v", topic, err, resp.Error())
	}
	var present []string
	wait.For(t, "the deleted "+topic+"'s series to leave /metrics", 20*time.Second, func() bool {
		f, err := promtest.TryScrape(url)
		if err != nil {
			return false
		}
		present = present[:0]
		for _, name := range []string{"gregor_topic_bytes_in_total", "gregor_topic_records_in_total", "gregor_topic_bytes_out_total", "gregor_partition_log_end_offset"} {
			if _, ok := f.Value(name, "topic", topic); ok {
				present = append(present, name)
			}
		}
		return len(present) == 0
	})
}

// The coordinator counts its groups by type and state, all of them, with
// a zero for a state no group is in (Kafka's GroupCoordinatorMetrics
// classic-group-count and consumer-group-count, by state).
func TestGroupStateCountsInMetrics(t *testing.T) {
	b, url := startMonitoredBroker(t, nil)
	topic := randomName("metrics-groups")
	ctx, cl, ids := newRawMembers(t, b.Addr, map[string]int32{topic: 1})
	classic, consumer := randomName("classic"), randomName("consumer")
	offs := kadm.Offsets{}
	offs.AddOffset(topic, 0, 0, -1)
	if resp, err := kadm.NewClient(cl).CommitOffsets(ctx, classic, offs); err != nil || resp.Error() != nil {
		t.Fatalf("committing for %s: %v %v", classic, err, resp.Error())
	}
	m := &rawMember{t: t, ctx: ctx, cl: cl, group: consumer, id: "m-" + consumer, names: ids}
	m.heartbeat([]string{topic}, nil)
	var got map[string]float64
	wait.For(t, "one Empty classic group and one consumer group in gregor_consumer_groups_by_state", 20*time.Second, func() bool {
		f, err := promtest.TryScrape(url)
		if err != nil {
			return false
		}
		got = map[string]float64{}
		for _, k := range []string{"classic/Empty", "classic/PreparingRebalance", "classic/Stable", "consumer/Empty", "consumer/Assigning", "consumer/Reconciling", "consumer/Stable"} {
			typ, state, _ := strings.Cut(k, "/")
			v, ok := f.Value("gregor_consumer_groups_by_state", "type", typ, "state", state)
			if !ok {
				return false
			}
			got[k] = v
		}
		consumers := got["consumer/Empty"] + got["consumer/Assigning"] + got["consumer/Reconciling"] + got["consumer/Stable"]
		return got["classic/Empty"] == 1 && got["classic/PreparingRebalance"] == 0 && got["classic/Stable"] == 0 && consumers == 1 && got["consumer/Empty"] == 0
	})
}

// Each partition of a produce that reaches a topic's log counts in
// gregor_topic_produce_requests_total; one that fails other than by an
// expected error (here a timestamp out of range, INVALID_TIMESTAMP) in
// gregor_topic_failed_produce_requests_total too; MESSAGE_TOO_LARGE and
// CORRUPT_MESSAGE do not, as Kafka's ReplicaManager.appendToLocalLog
// marks FailedProduceRequestsPerSec only for unexpected errors.
func TestFailedProduceCountedPerTopic(t *testing.T) {
	b, url := startMonitoredBroker(t, nil)
	topic := randomName("metrics-failed")
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, map[string]*string{
		"max.message.bytes": kadm.StringPtr("300"), "message.timestamp.before.max.ms": kadm.StringPtr("60000"),
	}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("creating %s: %v", topic, err)
	}
	corrupt := tcBatch(-1, -1, -1, "v")
	corrupt[len(corrupt)-1] ^= 0xff
	raw := dialRaw(t, b.Addr)
	for _, c := range []struct {
		batch []byte
		want  int16
	}{
		{tcBatch(-1, -1, -1, "v"), 0},
		{tcBatch(-1, -1, -1, strings.Repeat("x", 500)), 10}, // MESSAGE_TOO_LARGE
		{corrupt, 2}, // CORRUPT_MESSAGE
		{tcBatchAt(time.Now().Add(-time.Hour), -1, -1, -1, "v"), 32}, // INVALID_TIMESTAMP
	} {
		resp := kmsg.NewPtrProduceResponse()
		if err := raw.request(produceReq(topic, c.batch, nil), resp); err != nil {
			t.Fatal(err)
		}
		if got := produceCode(resp); got != c.want {
			t.Fatalf("produce: error %d, want %d", got, c.want)
		}
	}
	var total, failed float64
	if !wait.Until(10*time.Second, func() bool {
		f, err := promtest.TryScrape(url)
		if err != nil {
			return false
		}
		total, _ = f.Value("gregor_topic_produce_requests_total", "topic", topic)
		failed, _ = f.Value("gregor_topic_failed_produce_requests_total", "topic", topic)
		return total == 4 && failed == 1
	}) {
		t.Errorf("%s: %v produce requests, %v failed; want 4 and 1 (INVALID_TIMESTAMP)", topic, total, failed)
	}
}

// A committed offset of -1 (no position: what a group may commit for a
// partition it has not consumed) has no lag, as kafka-consumer-groups.sh
// shows "-" for it (ConsumerGroupCommand.getLag ignores an offset of -1);
// Gregor reported the whole log end plus one.
func TestNoLagForCommittedMinusOne(t *testing.T) {
	b, url := startMonitoredBroker(t, nil)
	topic, group := randomName("metrics-lag"), randomName("g")
	createTopic(t, b.Addr, topic, 2)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for p := int32(0); p < 2; p++ {
		for i := 0; i < 5; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("v")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	offs := kadm.Offsets{}
	offs.AddOffset(topic, 0, 2, -1)
	offs.AddOffset(topic, 1, -1, -1)
	resp, err := kadm.NewClient(cl).CommitOffsets(ctx, group, offs)
	if err != nil || resp.Error() != nil {
		t.Fatalf("committing: %v %v", err, resp.Error())
	}
	var lag0, lag1 float64
	var has0, has1 bool
	if !wait.Until(10*time.Second, func() bool {
		f, err := promtest.TryScrape(url)
		if err != nil {
			return false
		}
		lag0, has0 = f.Value("gregor_consumer_group_lag", "group", group, "topic", topic, "partition", "0")
		lag1, has1 = f.Value("gregor_consumer_group_lag", "group", group, "topic", topic, "partition", "1")
		return has0 && lag0 == 3 && !has1
	}) {
		t.Fatalf("lag of %s: partition 0 %v (present %v), want 3; partition 1, committed -1: %v (present %v), want no series", group, lag0, has0, lag1, has1)
	}
}

// Connections are counted per listener as they are served and closed, as
// Kafka's SocketServer connection-creation-total and
// connection-close-total by listener.
func TestConnectionsCountedPerListener(t *testing.T) {
	internal := "127.0.0.1:" + strconv.Itoa(brokertest.FreePort(t))
	port := brokertest.FreePort(t)
	if !usingGregor() {
		t.Skip("starts its own broker")
	}
	metrics := "127.0.0.1:" + strconv.Itoa(brokertest.FreePort(t))
	brokertest.Start(t, brokertest.Options{Port: port, Set: map[string]string{
		"listeners":                      "PLAINTEXT://127.0.0.1:" + strconv.Itoa(port) + ",INTERNAL://" + internal,
		"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
		"inter.broker.listener.name":     "INTERNAL",
		"gregor.metrics.listener":        metrics,
	}})
	url := "http://" + metrics + "/metrics"
	for i := 0; i < 3; i++ {
		c := dialRaw(t, internal)
		if err := c.request(kmsg.NewPtrApiVersionsRequest(), kmsg.NewPtrApiVersionsResponse()); err != nil {
			t.Fatal(err)
		}
		c.c.Close()
	}
	var created, closed float64
	if !wait.Until(10*time.Second, func() bool {
		f, err := promtest.TryScrape(url)
		if err != nil {
			return false
		}
		created, _ = f.Value("gregor_listener_connections_created_total", "listener", "INTERNAL")
		closed, _ = f.Value("gregor_listener_connections_closed_total", "listener", "INTERNAL")
		return created == 3 && closed == 3
	}) {
		t.Fatalf("the INTERNAL listener: %v connections created, %v closed; want 3 and 3", created, closed)
	}
}

// With log.flush.interval.messages=1 every append flushes the log, and
// the flushes are counted (Kafka's LogFlushRateAndTimeMs).
func TestLogFlushesCounted(t *testing.T) {
	b, url := startMonitoredBroker(t, map[string]string{"log.flush.interval.messages": "1"})
	topic := randomName("metrics-flush")
	createTopic(t, b.Addr, topic, 1)
	before, _ := promtest.Scrape(t, url).Value("gregor_log_flushes_total")
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := 0; i < 3; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var after float64
	if !wait.Until(10*time.Second, func() bool {
		f, err := promtest.TryScrape(url)
		if err != nil {
			return false
		}
		after, _ = f.Value("gregor_log_flushes_total")
		return after-before >= 3
	}) {
		t.Fatalf("gregor_log_flushes_total went from %v to %v over 3 appends with log.flush.interval.messages=1, want at least 3 more", before, after)
	}
}

// Replicas whose log dir is unusable at start-up are counted offline, as
// Kafka's OfflineReplicaCount, next to the offline dir itself.
func TestOfflineReplicasCounted(t *testing.T) {
	root := t.TempDir()
	good, bad := filepath.Join(root, "disk1"), filepath.Join(root, "disk2")
	b, url := startMonitoredBroker(t, map[string]string{"log.dirs": good + "," + bad})
	topic := randomName("metrics-offline")
	createTopic(t, b.Addr, topic, 4)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	all, err := kadm.NewClient(cl).DescribeAllLogDirs(ctx, nil)
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}
	onBad := 0
	for _, dirs := range all {
		onBad = len(dirs[bad].Topics[topic])
	}
	if onBad == 0 {
		t.Skipf("no replica of %s was placed in %s", topic, bad)
	}
	b.Stop()
	if err := os.RemoveAll(bad); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.Restart()
	var replicas, dirs, parts float64
	if !wait.Until(20*time.Second, func() bool {
		f, err := promtest.TryScrape(url)
		if err != nil {
			return false
		}
		replicas, _ = f.Value("gregor_offline_replicas")
		dirs, _ = f.Value("gregor_offline_log_dirs")
		parts, _ = f.Value("gregor_partitions")
		return replicas == float64(onBad) && dirs == 1 && parts == 4
	}) {
		t.Fatalf("with %s unusable: gregor_offline_replicas %v (want %d, the replicas it held), gregor_offline_log_dirs %v (want 1), gregor_partitions %v (want 4, offline ones included)", bad, replicas, onBad, dirs, parts)
	}
}
