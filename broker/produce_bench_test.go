package broker

import (
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
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(9)
		req.Acks, req.TimeoutMillis = 1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "bench"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = int32(i%3), batches[i%3]
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := tb.call(req).(*kmsg.ProduceResponse)
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			b.Fatalf("produce: error %d", code)
		}
	}
}
