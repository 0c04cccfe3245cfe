package compat

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
	"gregor/internal/promtest"
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

// A listener's own bound (listener.name.<l>.max.connections) and the
// broker-wide max.connections hold, set dynamically, as Kafka's acceptor
// does: a connection over them is held (neither answered nor closed) until
// a slot frees or the bound is raised, and then served. The inter-broker
// listener is exempt from the broker-wide bound, so clients that use it up
// cannot keep the other brokers out: an inter-broker connection over it
// closes the least recently active client connection instead.
func TestListenerConnectionLimits(t *testing.T) {
	if !usingGregor() {
		t.Skip("starts its own broker")
	}
	port := brokertest.FreePort(t)
	internal := "127.0.0.1:" + strconv.Itoa(brokertest.FreePort(t))
	metrics := "127.0.0.1:" + strconv.Itoa(brokertest.FreePort(t))
	b := brokertest.Start(t, brokertest.Options{Port: port, Set: map[string]string{
		"listeners":                      "PLAINTEXT://127.0.0.1:" + strconv.Itoa(port) + ",INTERNAL://" + internal,
		"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
		"inter.broker.listener.name":     "INTERNAL",
		"gregor.metrics.listener":        metrics,
	}})
	// Configs are set over one raw connection to the internal listener,
	// so the test knows every connection the broker has open.
	admin := dialRaw(t, internal)
	set := func(name, v string) {
		t.Helper()
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		res := kmsg.NewIncrementalAlterConfigsRequestResource()
		res.ResourceType = kmsg.ConfigResourceTypeBroker
		cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		cfg.Name, cfg.Value = name, &v
		res.Configs = append(res.Configs, cfg)
		req.Resources = append(req.Resources, res)
		resp := kmsg.NewPtrIncrementalAlterConfigsResponse()
		admin.c.SetDeadline(time.Now().Add(10 * time.Second))
		if err := admin.request(req, resp); err != nil {
			t.Fatalf("setting %s=%s: %v", name, v, err)
		}
		if err := kerr.ErrorForCode(resp.Resources[0].ErrorCode); err != nil {
			t.Fatalf("setting %s=%s: %v", name, v, err)
		}
	}
	serves := func(addr string) *rawConn {
		r := dialRaw(t, addr)
		if !servesAPIVersions(r) {
			t.Fatalf("a connection to %s was not served", addr)
		}
		return r
	}
	set("listener.name.plaintext.max.connections", "2")
	first, second := serves(b.Addr), serves(b.Addr)
	// A third is held: its request is neither answered nor refused.
	held := dialRaw(t, b.Addr)
	held.write(kmsg.NewRequestFormatter().AppendRequest(nil, kmsg.NewPtrApiVersionsRequest(), 1))
	stillHeld := func(when string) {
		t.Helper()
		held.c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		var b [1]byte
		if n, err := held.c.Read(b[:]); n > 0 || !isTimeout(err) {
			t.Fatalf("%s: the connection over the bound was answered or closed (%d bytes, %v), want it held", when, n, err)
		}
	}
	stillHeld("at listener.name.plaintext.max.connections=2")
	// Only the test's connections are open (the start-up probe's has
	// gone), so the least recently active client connection is first.
	waitFor(t, "the broker to have exactly the test's 3 connections open", 10*time.Second, func() bool {
		f, err := promtest.TryScrape("http://" + metrics + "/metrics")
		if err != nil {
			return false
		}
		v, _ := f.Value("gregor_connections_open")
		return v == 3
	})
	// The broker-wide bound is exceeded by an inter-broker connection (two
	// client connections, the admin one and this one): it is served, and
	// the least recently active client connection is closed for it.
	set("max.connections", "3")
	serves(internal)
	first.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := first.c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("the least recently active client connection was not closed for an inter-broker one over max.connections: %v", err)
	}
	if !servesAPIVersions(second) {
		t.Fatal("the more recently active client connection was closed")
	}
	// Its listener has room now, the broker has not.
	set("listener.name.plaintext.max.connections", "10")
	stillHeld("at max.connections=3 with 3 open")
	set("max.connections", "100")
	held.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := held.readResponse(kmsg.NewPtrApiVersionsRequest(), kmsg.NewPtrApiVersionsResponse()); err != nil {
		t.Fatalf("the held connection was not served after the bounds were raised: %v", err)
	}
	serves(b.Addr)
}

// isTimeout reports whether err is a deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// max.connection.creation.rate (KIP-612) paces new connections, as
// Kafka's acceptor does, measured over the quota windows (11 of a
// second): set dynamically to 25 per second, at most ten seconds' worth
// (250, counting the connections made before the rate was set) pass at
// once, and the ones after wait what brings the rate back to it; each is
// served once accepted. A rate of 1 per second then holds the next
// connection for a whole window.
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
	adm := kadm.NewClient(cl)
	setClusterDefault(ctx, t, adm, "max.connection.creation.rate", "25")
	open := func(n int) time.Duration {
		start := time.Now()
		for i := range n {
			r := dialRaw(t, b.Addr)
			if err := r.request(kmsg.NewPtrApiVersionsRequest(), kmsg.NewPtrApiVersionsResponse()); err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			r.c.Close()
		}
		return time.Since(start)
	}
	// 260 and more over the ten-second minimum span is over 25/s: the
	// ones past 250 wait 40ms each or more.
	if took := open(260); took < 300*time.Millisecond {
		t.Fatalf("260 connections at max.connection.creation.rate=25 took %v, want at least 300ms", took)
	}
	setClusterDefault(ctx, t, adm, "max.connection.creation.rate", "1")
	if took := open(1); took < 900*time.Millisecond {
		t.Fatalf("a connection far over max.connection.creation.rate=1 took %v, want about a window (1s)", took)
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

// socket.listen.backlog.size is the listening socket's backlog, as in
// Kafka: while the acceptor holds a connection at max.connections, the
// kernel completes the handshakes of only about that many more (Linux
// takes backlog+1), and the next SYNs go unanswered. (Go would otherwise
// listen with the kernel's maximum.) The dials are one after another, so
// each finds the queue as the ones before left it.
func TestListenBacklog(t *testing.T) {
	if !usingGregor() {
		t.Skip("starts its own broker")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{
		"socket.listen.backlog.size": "2",
		"max.connections":            "1",
	}})
	first := dialRaw(t, b.Addr)
	if !servesAPIVersions(first) {
		t.Fatal("the first connection was not served")
	}
	const dials = 12
	completed := 0
	for completed < dials {
		c, err := net.DialTimeout("tcp", b.Addr, 500*time.Millisecond)
		if err != nil {
			break
		}
		defer c.Close()
		completed++
	}
	if completed == 0 || completed > 6 {
		t.Fatalf("%d handshakes completed one after another with a backlog of 2 and the broker full (of %d tried), want 1 to 6", completed, dials)
	}
}
