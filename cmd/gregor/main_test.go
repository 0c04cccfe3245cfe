package main

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/broker/config"
	"gregor/monitor"
)

// The default metrics address gives way when taken (a second broker on
// the host); one the operator set does not.
func TestMetricsDefaultGivesWayExplicitFails(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	var logs strings.Builder
	s := &server{log: zerolog.New(&logs), metrics: monitor.NewMetrics(monitor.Sources{})} // never scraped here

	def := config.Defaults()
	def.MetricsListener = held.Addr().String() // the default, not set by anyone
	if err := s.startMonitor(def); err != nil {
		t.Fatalf("default address taken: %v, want a fallback", err)
	}
	if !strings.Contains(logs.String(), "default metrics address taken") {
		t.Fatalf("no warning logged for the move:\n%s", logs.String())
	}

	set, err := config.Load(map[string]string{"gregor.metrics.listener": held.Addr().String()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.startMonitor(set); err == nil {
		t.Fatal("an explicitly set metrics address that is taken did not fail start-up")
	}
}

func TestMetricsFallbacks(t *testing.T) {
	for _, c := range []struct {
		listener string
		want     string
	}{
		{"PLAINTEXT://127.0.0.1:9092", "127.0.0.1:9404 127.0.0.1:0"},
		{"PLAINTEXT://127.0.0.1:9093", "127.0.0.1:9404 127.0.0.1:9405 127.0.0.1:0"},
		{"PLAINTEXT://:9094", "127.0.0.1:9404 127.0.0.1:9406 127.0.0.1:0"},
		{"PLAINTEXT://127.0.0.1:19092", "127.0.0.1:9404 127.0.0.1:19404 127.0.0.1:0"},
	} {
		cfg, err := config.Load(map[string]string{"listeners": c.listener}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(metricsFallbacks(cfg), " "); got != c.want {
			t.Errorf("listeners %s: %s, want %s", c.listener, got, c.want)
		}
	}
}

// Every listener is bound before any serves: when the second cannot be
// bound, start fails without the first having served (or said it
// listens), so no client ever reached a broker some of whose advertised
// listeners were missing.
func TestListenersBoundBeforeServing(t *testing.T) {
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	free.Close()
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	cfg, err := config.Load(map[string]string{
		"listeners":                      "PLAINTEXT://" + freeAddr + ",EXTERNAL://" + held.Addr().String(),
		"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,EXTERNAL:PLAINTEXT",
		"log.dirs":                       t.TempDir(),
		"gregor.metrics.listener":        "",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	s, err := start(context.Background(), cfg, zerolog.New(&logs))
	if err == nil {
		s.shutdown(context.Background())
		t.Fatal("start succeeded with a listener's port taken")
	}
	if strings.Contains(logs.String(), `"message":"listening"`) {
		t.Fatalf("a listener served before every listener was bound:\n%s", logs.String())
	}
}

// A listener on port 0 is advertised with the port it was bound to, as
// Kafka's KafkaServer registers socketServer.boundPort: a client that
// bootstraps from it finds the broker at that address and can produce.
func TestListenerPortZeroAdvertisesBoundPort(t *testing.T) {
	cfg, err := config.Load(map[string]string{
		"listeners":               "PLAINTEXT://127.0.0.1:0",
		"log.dirs":                t.TempDir(),
		"gregor.metrics.listener": "",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := start(context.Background(), cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer s.shutdown(context.Background())
	addr := s.listeners["PLAINTEXT"]
	_, port, _ := net.SplitHostPort(addr)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("port-zero"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Brokers) != 1 || strconv.Itoa(int(m.Brokers[0].Port)) != port {
		t.Fatalf("bound to %s, metadata advertises %+v", addr, m.Brokers)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("produce through the advertised address: %v", err)
	}
}
