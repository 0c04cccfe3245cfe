package broker

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A large produce to several partitions is validated and appended side
// by side: each partition gets its own offsets and answer (a corrupt batch
// fails its partition alone), and a partition named twice in one request
// is appended to once, as in Kafka.
func TestLargeProduceToSeveralPartitions(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("wide", 4, nil)
	values := make([]string, 120)
	for i := range values {
		values[i] = strings.Repeat("v", 1000)
	}
	good := batch(t, time.Now().UnixMilli(), values...) // ~120 KB
	corrupt := append([]byte(nil), good...)
	binary.BigEndian.PutUint32(corrupt[17:], binary.BigEndian.Uint32(corrupt[17:])+1) // the CRC

	send := func(parts []int32, data [][]byte) []kmsg.ProduceResponseTopicPartition {
		t.Helper()
		return tb.call(produceRequest("wide", -1, parts, data)).(*kmsg.ProduceResponse).Topics[0].Partitions
	}
	for round := int64(0); round < 2; round++ {
		got := send([]int32{0, 1, 2, 3}, [][]byte{bytes.Clone(good), bytes.Clone(good), bytes.Clone(good), corrupt})
		for i, sp := range got[:3] {
			if sp.ErrorCode != 0 || sp.BaseOffset != round*120 {
				t.Fatalf("round %d partition %d: %v at %d, want no error at %d", round, i, kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset, round*120)
			}
		}
		if got[3].ErrorCode != kerr.CorruptMessage.Code {
			t.Fatalf("round %d: the corrupt batch got %v, want CORRUPT_MESSAGE", round, kerr.ErrorForCode(got[3].ErrorCode))
		}
	}
	got := send([]int32{2, 2, 1}, [][]byte{bytes.Clone(good), bytes.Clone(good), bytes.Clone(good)})
	if len(got) != 2 || got[0].Partition != 2 || got[0].BaseOffset != 240 || got[1].Partition != 1 || got[1].BaseOffset != 240 {
		t.Fatalf("partition 2 twice, then 1: answered %+v; want partition 2 once at 240 (Kafka appends a partition named twice once), then 1 at 240", got)
	}
	for p, want := range map[int32]int64{0: 240, 1: 360, 2: 360, 3: 0} {
		if end := tb.Topic("wide").Partition(p).HighWatermark(); end != want {
			t.Fatalf("partition %d ends at %d, want %d", p, end, want)
		}
	}
}

// A panic while handling partitions side by side comes back to the
// handler's goroutine, where the connection recovers it, once every helper
// stopped: a helper's panic does not end the process. (Each goroutine
// stops at its first panic, so with every part panicking a helper handles
// one when GOMAXPROCS allows one.)
func TestSideBySidePanicReachesTheHandler(t *testing.T) {
	parts := make([]producePart, 8)
	var handled atomic.Int32
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "partition failed") {
			t.Fatalf("recovered %v, want a part's panic", r)
		}
		if want := min(len(parts), runtime.GOMAXPROCS(0)); int(handled.Load()) != want {
			t.Fatalf("%d parts handled before the panic came back, want one per goroutine (%d)", handled.Load(), want)
		}
	}()
	eachPart(parts, true, func(pp *producePart) {
		handled.Add(1)
		panic("partition failed")
	})
	t.Fatal("eachPart returned after a panic")
}
