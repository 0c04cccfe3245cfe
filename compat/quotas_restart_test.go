package compat

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/internal/brokertest"
)

// TestClientQuotasSurviveRestart: quotas set on a single broker (kept in
// its metadata file), defaults included, are described and enforced
// after a restart.
func TestClientQuotasSurviveRestart(t *testing.T) {
	if !usingGregor() {
		t.Skip("restarts its own broker; COMPAT_BOOTSTRAP names another")
	}
	b := brokertest.Start(t, brokertest.Options{})
	adm := quotaAdmin(t, b.Addr)
	client := randomName("restarted")
	setQuota(t, adm, clientEntity(client), kadm.AlterClientQuotaOp{Key: "producer_byte_rate", Value: 1000})
	setQuota(t, adm, kadm.ClientQuotaEntity{{Type: "user", Name: nil}, {Type: "client-id", Name: nil}}, kadm.AlterClientQuotaOp{Key: "request_percentage", Value: 200})
	b.Restart()
	adm = quotaAdmin(t, b.Addr)
	got := strings.Join(describeQuotas(t, adm, false), "\n")
	for _, want := range []string{
		"client-id=" + client + ": producer_byte_rate=1000",
		"client-id=<default>,user=<default>: request_percentage=200",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("after a restart DescribeClientQuotas lacks %q:\n%s", want, got)
		}
	}
	var throttled atomic.Int64
	p, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.ClientID(client), kgo.DefaultProduceTopic(randomName("restart-quota")),
		kgo.AllowAutoTopicCreation(), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.WithHooks(throttleHook(func(time.Duration) { throttled.Add(1) })))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// 30 KB against 1000 B/s: past ten windows' worth in one request.
	if err := p.ProduceSync(ctx, &kgo.Record{Value: make([]byte, 30000)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if throttled.Load() == 0 {
		t.Error("a produce over the restored quota was not throttled")
	}
}
