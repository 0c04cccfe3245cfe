//go:build cgo

package compat

// librdkafka 2.4+ (here 2.11, statically linked into confluent-kafka-go;
// Debian's librdkafka 2.0.2 predates KIP-467 and fails whole batches)
// reads a Produce response's record_errors: the records named get
// INVALID_RECORD, the others of the batch _INVALID_DIFFERENT_RECORD, a
// local error meaning "not yours: send me again". So with record errors a
// producer loses exactly the bad records.

import (
	"context"
	"fmt"
	"testing"
	"time"

	ckafka "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// rdkProduce sends msgs in one batch (a long linger, one partition) and
// returns each one's delivery error by key.
func rdkProduce(t *testing.T, addr string, msgs []*ckafka.Message) map[string]error {
	t.Helper()
	p, err := ckafka.NewProducer(&ckafka.ConfigMap{
		"bootstrap.servers": addr, "linger.ms": 500, "batch.num.messages": 1000,
		"enable.idempotence": false, "acks": "all", "retries": 0, "broker.address.family": "v4",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dr := make(chan ckafka.Event, len(msgs))
	for _, m := range msgs {
		if err := p.Produce(m, dr); err != nil {
			t.Fatal(err)
		}
	}
	out := map[string]error{}
	timeout := time.After(30 * time.Second)
	for len(out) < len(msgs) {
		select {
		case ev := <-dr:
			m := ev.(*ckafka.Message)
			out[string(m.Value)] = m.TopicPartition.Error
		case <-timeout:
			t.Fatalf("librdkafka: %d of %d delivery reports after 30s", len(out), len(msgs))
		}
	}
	return out
}

func TestLibrdkafkaProduceRecordErrors(t *testing.T) {
	addr := bootstrap(t)
	maj, ver := ckafka.LibraryVersion()
	t.Logf("librdkafka %s (%#x)", ver, maj)
	topic := randomName("rdk-record-errors")
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cr, err := kadm.NewClient(cl).CreateTopic(ctx, 1, -1, map[string]*string{"cleanup.policy": kadmStr("compact")}, topic)
	if err == nil {
		err = cr.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*ckafka.Message
	bad := map[string]bool{}
	for i := range 10 {
		v := fmt.Sprintf("value-%d", i)
		m := &ckafka.Message{TopicPartition: ckafka.TopicPartition{Topic: &topic, Partition: 0}, Value: []byte(v)}
		if i == 2 || i == 7 {
			bad[v] = true // no key: refused on a compacted topic
		} else {
			m.Key = []byte(fmt.Sprint("key-", i))
		}
		msgs = append(msgs, m)
	}
	res := rdkProduce(t, addr, msgs)
	var retry []*ckafka.Message
	for _, m := range msgs {
		v := string(m.Value)
		err, _ := res[v].(ckafka.Error)
		switch {
		case bad[v] && err.Code() != ckafka.ErrInvalidRecord:
			t.Errorf("%s (no key): %v, want INVALID_RECORD", v, res[v])
		case !bad[v] && err.Code() != ckafka.ErrInvalidDifferentRecord:
			t.Errorf("%s (valid, in the batch of invalid ones): %v, want _INVALID_DIFFERENT_RECORD", v, res[v])
		case !bad[v]:
			retry = append(retry, &ckafka.Message{TopicPartition: m.TopicPartition, Key: m.Key, Value: m.Value})
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	// The valid records, sent again, are written: nothing else was.
	for v, err := range rdkProduce(t, addr, retry) {
		if err != nil {
			t.Errorf("resending %s: %v", v, err)
		}
	}
	got := ccKgoRead(t, ctx, addr, topic, 1)
	if len(got) != 8 || string(got[0].V) != "value-0" || got[0].O != 0 || got[7].O != 7 {
		t.Fatalf("topic holds %d records (%+v), want the 8 valid ones at offsets 0-7", len(got), got)
	}
}

func kadmStr(s string) *string { return &s }
