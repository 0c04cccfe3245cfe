package broker

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkProduce100B is the produce handler's cost for the load tool's
// produce-100b-1 scenario: batches of 100 records of 100 B, acks=1,
// spread over 3 partitions, served as a connection serves them (no
// socket). Bytes are the records' bytes.
func BenchmarkProduce100B(b *testing.B) {
	tb := newTestBroker(b, nil)
	tb.createTopic("bench", 3, nil)
	values := make([]string, 100)
	for i := range values {
		values[i] = strings.Repeat("x", 100)
	}
	batches := make([][]byte, 3)
	for i := range batches {
		batches[i] = batch(b, time.Now().UnixMilli(), values...)
	}
	b.SetBytes(int64(len(batches[0])))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		binary.BigEndian.PutUint64(batches[i%3], 0) // as a client sends it: the append stamped an offset
		resp := tb.call(produceRequest("bench", 1, []int32{int32(i % 3)}, batches[i%3:i%3+1])).(*kmsg.ProduceResponse)
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			b.Fatalf("produce: error %d", code)
		}
	}
}

// BenchmarkProduce3x1MB is the produce handler's cost for a request as
// kgo sends under load: 1 MB batches of 1 KB records to 3 partitions,
// which are validated and appended side by side (sideBySide).
func BenchmarkProduce3x1MB(b *testing.B) {
	tb := newTestBroker(b, nil)
	tb.createTopic("bench", 3, nil)
	values := make([]string, 1000)
	for i := range values {
		values[i] = strings.Repeat("x", 1000)
	}
	data := [][]byte{batch(b, time.Now().UnixMilli(), values...)}
	data = append(data, bytes.Clone(data[0]), bytes.Clone(data[0]))
	b.SetBytes(3 * int64(len(data[0])))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, d := range data {
			binary.BigEndian.PutUint64(d, 0) // as a client sends it: the append stamped an offset
		}
		for _, sp := range tb.call(produceRequest("bench", -1, []int32{0, 1, 2}, data)).(*kmsg.ProduceResponse).Topics[0].Partitions {
			if sp.ErrorCode != 0 {
				b.Fatalf("produce: error %d", sp.ErrorCode)
			}
		}
	}
}
