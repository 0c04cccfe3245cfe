package broker

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func dedupeProduce(ts []kmsg.ProduceRequestTopic) []kmsg.ProduceRequestTopic {
	return dedupeTopics(ts,
		func(t *kmsg.ProduceRequestTopic) string { return t.Topic },
		func(t *kmsg.ProduceRequestTopic) *[]kmsg.ProduceRequestTopicPartition { return &t.Partitions },
		func(p *kmsg.ProduceRequestTopicPartition) int32 { return p.Partition })
}

func produceTopics(spec ...[2]int) []kmsg.ProduceRequestTopic {
	var ts []kmsg.ProduceRequestTopic
	for i, s := range spec {
		t := kmsg.ProduceRequestTopic{Topic: fmt.Sprint("t", s[0])}
		t.Partitions = append(t.Partitions, kmsg.ProduceRequestTopicPartition{Partition: int32(s[1]), Records: []byte{byte(i)}})
		ts = append(ts, t)
	}
	return ts
}

func describeProduce(ts []kmsg.ProduceRequestTopic) string {
	var out []string
	for _, t := range ts {
		for _, p := range t.Partitions {
			out = append(out, fmt.Sprintf("%s/%d:%d", t.Topic, p.Partition, p.Records[0]))
		}
	}
	return fmt.Sprint(out)
}

// A repeated topic merges into its first entry; a repeated partition keeps
// its first place with the last entry's data; both for a few entries
// (compared pairwise) and many (through a set).
func TestDedupeTopics(t *testing.T) {
	got := describeProduce(dedupeProduce(produceTopics([2]int{1, 0}, [2]int{2, 0}, [2]int{1, 1}, [2]int{1, 0}, [2]int{2, 0})))
	if want := "[t1/0:3 t1/1:2 t2/0:4]"; got != want {
		t.Fatalf("deduped %s, want %s", got, want)
	}
	var many [][2]int
	for i := range 40 {
		many = append(many, [2]int{i % 20, 0})
	}
	if ts := dedupeProduce(produceTopics(many...)); len(ts) != 20 || ts[0].Partitions[0].Records[0] != 20 {
		t.Fatalf("40 entries of 20 topics deduped to %d topics, first holding entry %d; want 20, the last (20)", len(ts), ts[0].Partitions[0].Records[0])
	}
	distinct := produceTopics([2]int{1, 0}, [2]int{1, 1}, [2]int{2, 0})
	before := describeProduce(distinct)
	if after := describeProduce(dedupeProduce(distinct)); after != before {
		t.Fatalf("distinct entries changed: %s -> %s", before, after)
	}
}

// A request without repeats (the common one) is checked without an
// allocation.
func TestDedupeTopicsNoAllocation(t *testing.T) {
	ts := produceTopics([2]int{1, 0}, [2]int{2, 0}, [2]int{3, 1})
	if n := testing.AllocsPerRun(100, func() { dedupeProduce(ts) }); n != 0 {
		t.Fatalf("checking 3 distinct entries allocated %v times", n)
	}
}
