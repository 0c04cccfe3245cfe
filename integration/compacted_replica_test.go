package integration

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// keptRecord is one record read back from a partition.
type keptRecord struct {
	offset     int64
	key, value string
}

func (r keptRecord) String() string { return fmt.Sprintf("%d:%s=%s", r.offset, r.key, r.value) }

// readPartition reads partition 0 of topic from its start up to its high
// watermark, through seeds.
func readPartition(seeds []string, topic string, bound time.Duration) ([]keptRecord, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.FetchMaxWait(200*time.Millisecond),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	end, ok := ends.Lookup(topic, 0)
	if !ok || end.Err != nil {
		return nil, fmt.Errorf("end offset of %s-0: %v", topic, end.Err)
	}
	var out []keptRecord
	last := int64(-1)
	for last+1 < end.Offset {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return out, fmt.Errorf("reading %s-0: at offset %d of %d after %v", topic, last, end.Offset, bound)
		}
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, keptRecord{r.Offset, string(r.Key), string(r.Value)})
			last = r.Offset
		})
	}
	return out, nil
}

// A follower copying a compacted log from its leader: compaction has
// dropped batches of a non-idempotent producer that lost every record, so
// consecutive batches have gaps in their offsets. A replica added by a
// reassignment must copy the log with its gaps (as Kafka's followers do)
// and join the ISR, not fail forever on the first gap ("leader sent offset
// X, log ends at Y"); once the old leader is killed it leads and serves
// the same offsets, keys and values.
func TestCompactedLogGapsReplicateToANewReplica(t *testing.T) {
	c := startCluster(t, 2, map[string]string{"auto.leader.rebalance.enable": "false", "log.cleaner.backoff.ms": "100"})
	topic := "compacted-gaps"
	s := func(v string) *string { return &v }
	c.createTopic(topic, 1, 1, map[string]*string{
		"cleanup.policy": s("compact"), "internal.segment.bytes": s("1024"),
		"min.cleanable.dirty.ratio": s("0.01"), "min.compaction.lag.ms": s("0"),
	})
	leader := c.leaderOf(topic, 0)
	other := 3 - leader

	// One record a batch from a producer without a producer id: a batch
	// whose record is superseded is dropped whole. Every sixth record has
	// a key of its own and survives, so the gaps lie between batches; a
	// tail of unique keys seals the segments holding the repeated keys.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.DefaultProduceTopic(topic),
		kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const repeated, tail = 120, 40
	latest := make(map[string]keptRecord)
	for i := range repeated + tail {
		key := fmt.Sprintf("k-%d", i%4)
		switch {
		case i >= repeated:
			key = fmt.Sprintf("tail-%03d", i)
		case i%6 == 0:
			key = fmt.Sprintf("own-%03d", i)
		}
		r, err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(key), Value: []byte(fmt.Sprintf("v-%03d", i))}).First()
		if err != nil {
			t.Fatalf("producing record %d: %v", i, err)
		}
		latest[key] = keptRecord{r.Offset, key, string(r.Value)}
	}
	var want []keptRecord
	for _, r := range latest {
		want = append(want, r)
	}
	slices.SortFunc(want, func(a, b keptRecord) int { return cmp.Compare(a.offset, b.offset) })

	// Compacted: exactly the latest record of every key, at the offset it
	// was written at.
	var before []keptRecord
	waitFor(t, fmt.Sprintf("broker %d to compact %s-0 to the latest record of each of its %d keys", leader, topic, len(want)), 20*time.Second, func() bool {
		before, err = readPartition([]string{c.brokers[leader].Addr}, topic, 5*time.Second)
		return err == nil && slices.Equal(before, want)
	})
	gaps := 0
	for i := 1; i < len(before); i++ {
		if before[i].offset > before[i-1].offset+1 {
			gaps++
		}
	}
	if gaps < 2 {
		t.Fatalf("compacted %s-0 has %d gaps between batches, want several: %v", topic, gaps, before)
	}
	t.Logf("compacted %d records to %d, with %d gaps between batches", repeated+tail, len(before), gaps)

	// Add the other broker as a replica: it copies the compacted log.
	adm, done := c.admin()
	defer done()
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(topic, 0, []int32{leader, other})
	res, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if e := res[topic][0].Err; e != nil {
		t.Fatalf("reassigning %s-0 to [%d %d]: %v (%s)", topic, leader, other, e, res[topic][0].ErrMessage)
	}
	t0 := time.Now()
	waitFor(t, fmt.Sprintf("broker %d in the ISR of %s-0 and the reassignment complete", other, topic), 30*time.Second, func() bool {
		mctx, mcancel := context.WithTimeout(ctx, 3*time.Second)
		defer mcancel()
		l, err := adm.ListPartitionReassignments(mctx, kadm.TopicsSet{topic: {0: {}}})
		if err != nil {
			return false
		}
		if _, ok := l[topic][0]; ok {
			return false
		}
		m, err := adm.Metadata(mctx, topic)
		if err != nil {
			return false
		}
		pd := m.Topics[topic].Partitions[0]
		return slices.Equal(pd.Replicas, []int32{leader, other}) && slices.Contains(pd.ISR, leader) && slices.Contains(pd.ISR, other)
	})
	t.Logf("broker %d joined the ISR after %v", other, time.Since(t0).Round(time.Millisecond))

	// The new replica leads once the old leader is killed, and serves
	// what the old leader did.
	c.brokers[leader].Kill()
	t.Logf("killed broker %d, the old leader", leader)
	waitFor(t, fmt.Sprintf("broker %d to lead %s-0", other, topic), 20*time.Second, func() bool {
		ps, err := c.describe(topic)
		return err == nil && ps[0].leader == other
	})
	var after []keptRecord
	waitFor(t, fmt.Sprintf("broker %d to serve %s-0 up to offset %d", other, topic, want[len(want)-1].offset), 10*time.Second, func() bool {
		after, err = readPartition([]string{c.brokers[other].Addr}, topic, 5*time.Second)
		return err == nil && len(after) > 0 && after[len(after)-1].offset == want[len(want)-1].offset
	})
	if !slices.Equal(after, before) {
		t.Fatalf("broker %d serves %s-0 as\n%v\nbut broker %d served\n%v", other, topic, after, leader, before)
	}

	// Both back: the old leader follows the new one into the ISR.
	c.brokers[leader].Restart()
	waitFor(t, fmt.Sprintf("broker %d back in the ISR of %s-0", leader, topic), 30*time.Second, func() bool {
		ps, err := c.describe(topic)
		return err == nil && ps[0].leader == other && slices.Contains(ps[0].isr, leader)
	})
	if after, err = readPartition([]string{c.brokers[other].Addr}, topic, 10*time.Second); err != nil || !slices.Equal(after, before) {
		t.Fatalf("after broker %d's restart broker %d serves %s-0 as %v (%v), want %v", leader, other, topic, after, err, before)
	}
}
