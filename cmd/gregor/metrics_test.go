package main

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/internal/brokertest"
)

func TestMetricsEndpoint(t *testing.T) {
	port := brokertest.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{"gregor.metrics.listener": addr}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic("metrics-topic"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := 0; i < 5; i++ {
		if err := cl.ProduceSync(ctx, kgo.StringRecord("x")).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	text := string(body)
	for _, want := range []string{
		`# TYPE gregor_requests_total counter`,
		`gregor_requests_total{api="Produce"} `,
		`gregor_partition_log_end_offset{topic="metrics-topic",partition="0"} 5`,
		`gregor_partition_high_watermark{topic="metrics-topic",partition="0"} 5`,
		`gregor_connections_open `,
		"# TYPE gregor_metadata_apply_delay_seconds histogram\n",
		`gregor_metadata_apply_delay_seconds_bucket{le="0.1"} `,
		`gregor_metadata_apply_delay_seconds_count `,
		`gregor_metadata_apply_delay_max_seconds `,
		`gregor_replication_throttled_rate_bytes{side="follower"} 0`,
		`go_goroutines `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}
}
