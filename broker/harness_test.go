package broker

// An in-process broker for the handlers' unit tests: the local metadata
// backend in a temporary directory, every API registered, requests run
// through protocol.Registry.Serve as a connection would run them.

import (
	"context"
	"maps"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/config"
	"gregor/broker/metadata"
	"gregor/broker/records"
	"gregor/broker/storage"
	"gregor/protocol"
)

type testBroker struct {
	t testing.TB
	*Broker
	reg *protocol.Registry
	// topicConfigs are set on every topic createTopic makes, under its
	// own configs.
	topicConfigs map[string]string
}

// newTestBroker starts broker 1 with extra configuration.
func newTestBroker(t testing.TB, set map[string]string) *testBroker {
	t.Helper()
	return newTestBrokerFS(t, set, nil)
}

// newTestBrokerFS is newTestBroker on a filesystem of the test's (nil: the
// real one).
func newTestBrokerFS(t testing.TB, set map[string]string, fs storage.FS) *testBroker {
	t.Helper()
	props := map[string]string{"broker.id": "1", "log.dirs": t.TempDir()}
	for k, v := range set {
		props[k] = v
	}
	cfg, err := config.Load(props, nil)
	if err != nil {
		t.Fatal(err)
	}
	self := metadata.BrokerInfo{ID: 1, Endpoints: map[string]metadata.Endpoint{"PLAINTEXT": {Host: "127.0.0.1", Port: 9092}}}
	b, err := New(Options{Config: cfg, Log: zerolog.Nop(), FS: fs, Backend: metadata.NewLocal(cfg.LogDirs[0], self)})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	reg := protocol.NewRegistry()
	b.Register(reg)
	return &testBroker{t: t, Broker: b, reg: reg}
}

// call serves req at its version, or at the highest served when it is
// unset (0; callAt serves version 0), and returns the response.
func (tb *testBroker) call(req kmsg.Request) kmsg.Response {
	tb.t.Helper()
	api, ok := tb.reg.Lookup(req.Key())
	if !ok {
		tb.t.Fatalf("no handler for key %d", req.Key())
	}
	v := req.GetVersion()
	if v == 0 {
		v = api.Max
	}
	return tb.callAt(req, v)
}

// callAt serves req at a version.
func (tb *testBroker) callAt(req kmsg.Request, version int16) kmsg.Response {
	tb.t.Helper()
	req.SetVersion(version)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := &protocol.Request{Key: req.Key(), Version: req.GetVersion(), ClientID: "test", Body: req,
		Conn: &protocol.ConnInfo{Listener: "PLAINTEXT", Remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}}}
	resp, err := tb.reg.Serve(ctx, r)
	if err != nil {
		tb.t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp
}

// deleteTopic deletes a topic through DeleteTopics, failing the test on
// an error code.
func (tb *testBroker) deleteTopic(name string) {
	tb.t.Helper()
	req := kmsg.NewPtrDeleteTopicsRequest()
	rt := kmsg.NewDeleteTopicsRequestTopic()
	rt.Topic = kmsg.StringPtr(name)
	req.Topics = append(req.Topics, rt)
	req.TopicNames = []string{name}
	req.TimeoutMillis = 10000
	if code := tb.call(req).(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode; code != 0 {
		tb.t.Fatalf("deleting %s: %v", name, kerr.ErrorForCode(code))
	}
}

// createTopic creates a topic of one-replica partitions.
func (tb *testBroker) createTopic(name string, partitions int32, configs map[string]string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if len(tb.topicConfigs) > 0 {
		merged := maps.Clone(tb.topicConfigs)
		maps.Copy(merged, configs)
		configs = merged
	}
	if _, err := tb.CreateTopic(ctx, metadata.TopicSpec{Name: name, Partitions: partitions, ReplicationFactor: 1, Configs: configs}); err != nil {
		tb.t.Fatalf("creating %s: %v", name, err)
	}
	if !tb.AwaitTopic(ctx, name, 10*time.Second) {
		tb.t.Fatalf("topic %s has no leaders after 10s", name)
	}
}

// batch is an uncompressed record batch of the given values.
func batch(t testing.TB, ts int64, values ...string) []byte {
	t.Helper()
	b := &records.Batch{FirstTimestamp: ts, MaxTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	for i, v := range values {
		b.Records = append(b.Records, records.Record{OffsetDelta: int32(i), TimestampDelta: 0, Value: []byte(v)})
	}
	data, err := records.Build(b)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// produceRequest is a Produce v9 of data[i] to partition parts[i] of topic.
func produceRequest(topic string, acks int16, parts []int32, data [][]byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = acks, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	for i, p := range parts {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = p, data[i]
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// produce appends a batch with acks=all and returns its base offset.
func (tb *testBroker) produce(topic string, partition int32, data []byte) int64 {
	tb.t.Helper()
	resp := tb.call(produceRequest(topic, -1, []int32{partition}, [][]byte{data})).(*kmsg.ProduceResponse)
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		tb.t.Fatalf("produce to %s-%d: %v", topic, partition, err)
	}
	return p.BaseOffset
}
