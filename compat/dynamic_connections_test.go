package compat

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
)

// max.connections.per.ip is a dynamic cluster-wide broker config, as in
// Kafka: set through AlterConfigs, it applies to the connections accepted
// from then on (one over it is closed at once), and raised again it lets
// them in. The open connections stay.
func TestDynamicConnectionLimitsApply(t *testing.T) {
	if !usingGregor() {
		t.Skip("starts its own broker")
	}
	b := brokertest.Start(t, brokertest.Options{})
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	setPerIP := func(n int) { setClusterDefault(ctx, t, adm, "max.connections.per.ip", strconv.Itoa(n)) }
	// The admin client holds one connection (two once it has dialled
	// the broker by its advertised address): with a limit of 4, two
	// more raw connections fit and the next one is refused.
	setPerIP(4)
	var open []*rawConn
	refused := false
	for range 4 {
		r := dialRaw(t, b.Addr)
		if !servesAPIVersions(r) {
			refused = true
			break
		}
		open = append(open, r)
	}
	if !refused || len(open) < 2 {
		t.Fatalf("with max.connections.per.ip=4, %d raw connections were served (refused: %v)", len(open), refused)
	}
	for i, r := range open {
		if !servesAPIVersions(r) {
			t.Fatalf("open connection %d stopped serving after the limit was reached", i)
		}
	}
	setPerIP(100)
	if r := dialRaw(t, b.Addr); !servesAPIVersions(r) {
		t.Fatal("a new connection was refused after max.connections.per.ip was raised to 100")
	}
}

// A listener's own bound (listener.name.<l>.max.connections) holds, set
// dynamically; and the inter-broker listener is exempt from the
// broker-wide max.connections, as in Kafka, so clients that use it up
// cannot keep the other brokers out.
func TestListenerConnectionLimits(t *testing.T) {
	if !usingGregor() {
		t.Skip("starts its own broker")
	}
	port := brokertest.FreePort(t)
	internal := "127.0.0.1:" + strconv.Itoa(brokertest.FreePort(t))
	b := brokertest.Start(t, brokertest.Options{Port: port, Set: map[string]string{
		"listeners":                      "PLAINTEXT://127.0.0.1:" + strconv.Itoa(port) + ",INTERNAL://" + internal,
		"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
		"inter.broker.listener.name":     "INTERNAL",
	}})
	// The admin client bootstraps from, and so stays on, the internal
	// listener.
	cl, err := kgo.NewClient(kgo.SeedBrokers(internal))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	set := func(name, v string) { setClusterDefault(ctx, t, adm, name, v) }
	serves := func(addr string) bool { return servesAPIVersions(dialRaw(t, addr)) }
	set("listener.name.plaintext.max.connections", "2")
	if !serves(b.Addr) || !serves(b.Addr) {
		t.Fatal("two connections to a listener bounded at 2 were not both served")
	}
	if serves(b.Addr) {
		t.Fatal("a third connection to a listener bounded at 2 was served")
	}
	// The broker-wide bound is reached (two client connections, and the
	// admin's): another client connection is refused, an inter-broker
	// listener one is not.
	set("max.connections", "3")
	if !serves(internal) {
		t.Fatal("a connection to the inter-broker listener was refused at the broker-wide max.connections")
	}
	set("listener.name.plaintext.max.connections", "10")
	if serves(b.Addr) {
		t.Fatal("a client connection over the broker-wide max.connections was served")
	}
	set("max.connections", "100")
	if !serves(b.Addr) {
		t.Fatal("a client connection was refused after the bounds were raised")
	}
}

// max.connection.creation.rate (KIP-612) paces new connections, as
// Kafka's acceptor does: set dynamically to 10 per second, 25 connections
// opened one after another take at least a second (the first second's
// ten pass at once, the other fifteen come a tenth of a second apart),
// and each is served once accepted.
func TestConnectionCreationRate(t *testing.T) {
	if !usingGregor() {
		t.Skip("starts its own broker")
	}
	b := brokertest.Start(t, brokertest.Options{})
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	setClusterDefault(ctx, t, kadm.NewClient(cl), "max.connection.creation.rate", "10")
	start := time.Now()
	for i := range 25 {
		r := dialRaw(t, b.Addr)
		if err := r.request(kmsg.NewPtrApiVersionsRequest(), kmsg.NewPtrApiVersionsResponse()); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		r.c.Close()
	}
	if took := time.Since(start); took < time.Second {
		t.Fatalf("25 connections at max.connection.creation.rate=10 took %v, want at least 1s", took)
	}
}

// setClusterDefault sets a cluster-wide dynamic broker config through
// AlterConfigs (kafka-configs --entity-default), failing the test if the
// broker refuses it.
func setClusterDefault(ctx context.Context, t *testing.T, adm *kadm.Client, name, value string) {
	t.Helper()
	rs, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: name, Value: &value}})
	if err == nil {
		err = rs[0].Err
	}
	if err != nil {
		t.Fatalf("setting %s=%s: %v", name, value, err)
	}
}

// servesAPIVersions reports whether the broker answers an ApiVersions on
// r (false when it closed the connection).
func servesAPIVersions(r *rawConn) bool {
	return r.request(kmsg.NewPtrApiVersionsRequest(), kmsg.NewPtrApiVersionsResponse()) == nil
}
