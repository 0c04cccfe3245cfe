package quota

import (
	"testing"
	"time"

	"gregor/broker/metadata"
)

type fakeClock struct{ t time.Time }

func (f *fakeClock) now() time.Time           { return f.t }
func (f *fakeClock) add(d time.Duration)      { f.t = f.t.Add(d) }
func newClock() *fakeClock                    { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }
func entity(u, c string) metadata.QuotaEntity { return metadata.QuotaEntity{User: u, ClientID: c} }

// TestPrecedence walks Kafka's eight levels: each row adds a more
// specific entity, which must win, and names the usage key.
func TestPrecedence(t *testing.T) {
	const d = metadata.DefaultEntity
	steps := []struct {
		e              metadata.QuotaEntity
		bound          float64
		tagU, tagC     string
		otherClientHit float64 // what client "other" of alice gets
	}{
		{entity("", d), 8, "", "app", 8},
		{entity("", "app"), 7, "", "app", 8},
		{entity(d, ""), 6, "alice", "", 6},
		{entity(d, d), 5, "alice", "app", 5},
		{entity(d, "app"), 4, "alice", "app", 5},
		{entity("alice", ""), 3, "alice", "", 3},
		{entity("alice", d), 2, "alice", "app", 2},
		{entity("alice", "app"), 1, "alice", "app", 2},
	}
	q := metadata.ClientQuotas{}
	m := NewManager(Config{}, nil)
	for _, s := range steps {
		q[s.e] = map[string]float64{metadata.ProducerByteRate: s.bound}
		m.Set(q)
		bound, u, c, ok := m.Resolve(Produce, Client{User: "alice", ClientID: "app"})
		if !ok || bound != s.bound || u != s.tagU || c != s.tagC {
			t.Errorf("after %s: got %v %q/%q %v, want %v %q/%q", s.e.Path(), bound, u, c, ok, s.bound, s.tagU, s.tagC)
		}
		if other, _, _, _ := m.Resolve(Produce, Client{User: "alice", ClientID: "other"}); other != s.otherClientHit {
			t.Errorf("after %s: client other of alice gets %v, want %v", s.e.Path(), other, s.otherClientHit)
		}
		if _, _, _, ok := m.Resolve(Fetch, Client{User: "alice", ClientID: "app"}); ok {
			t.Errorf("after %s: a fetch quota applies though only producer quotas are set", s.e.Path())
		}
	}
}

// TestThrottleBringsRateToQuota: a client that sends as soon as it may
// averages its quota; its first burst is measured over all but one window.
func TestThrottleBringsRateToQuota(t *testing.T) {
	clk := newClock()
	m := NewManager(Config{Samples: 11, Window: time.Second}, clk.now)
	const quota = 100_000.0
	m.Set(metadata.ClientQuotas{entity("", "app"): {metadata.ProducerByteRate: quota}})
	c := Client{User: "ANONYMOUS", ClientID: "app"}
	if d := m.Record(Produce, c, 10*quota); d != 0 {
		t.Fatalf("the first 10 windows' worth is throttled %v", d)
	}
	if d := m.Record(Produce, c, quota); d <= 0 {
		t.Fatal("going past 10 windows' worth at once is not throttled")
	}
	// The first burst is over once the client waits out its throttle;
	// from then on it averages the quota.
	clk.add(m.Record(Produce, c, 0))
	start := clk.t
	sent := 0.0
	for clk.t.Sub(start) < 60*time.Second {
		d := m.Record(Produce, c, 20_000)
		sent += 20_000
		clk.add(max(d, time.Millisecond))
	}
	avg := sent / clk.t.Sub(start).Seconds()
	if avg > 1.1*quota || avg < 0.9*quota {
		t.Errorf("averaged %.0f B/s over a minute against a quota of %.0f", avg, quota)
	}
}

func TestUnrecordTakesUsageBack(t *testing.T) {
	clk := newClock()
	m := NewManager(Config{}, clk.now)
	m.Set(metadata.ClientQuotas{entity("", metadata.DefaultEntity): {metadata.ConsumerByteRate: 1000}})
	c := Client{User: "u", ClientID: "x"}
	m.Record(Fetch, c, 10_000)
	if d := m.Record(Fetch, c, 5000); d == 0 {
		t.Fatal("not throttled past the quota")
	}
	m.Unrecord(Fetch, c, 5000)
	m.Unrecord(Fetch, c, 10_000)
	if d := m.Record(Fetch, c, 100); d != 0 {
		t.Errorf("throttled %v after the usage was taken back", d)
	}
	if v, ok := m.MaxInWindow(Fetch, c); !ok || v != 10_000 {
		t.Errorf("max in window %v %v, want 10000 (quota x 10 windows)", v, ok)
	}
}

func TestRequestThrottleCappedAtOneWindow(t *testing.T) {
	clk := newClock()
	m := NewManager(Config{Window: time.Second}, clk.now)
	m.Set(metadata.ClientQuotas{entity("", "app"): {metadata.RequestPercentage: 1}})
	if d := m.Record(Request, Client{User: "u", ClientID: "app"}, 5000); d != time.Second {
		t.Errorf("request quota throttle %v, want it capped at the window (1s)", d)
	}
}

// TestStrictMutationQuota: the bucket holds quota x windows x window; a
// strict request is refused once it is empty, a permissive one is made
// and throttled.
func TestStrictMutationQuota(t *testing.T) {
	clk := newClock()
	m := NewManager(Config{ControllerSamples: 2, ControllerWindow: time.Second}, clk.now)
	m.Set(metadata.ClientQuotas{entity("", "adm"): {metadata.ControllerMutationRate: 2}})
	c := Client{User: "u", ClientID: "adm"}
	if ok, _ := m.Mutation(c, 10, true); !ok {
		t.Fatal("first mutation refused with a full bucket")
	}
	ok, wait := m.Mutation(c, 1, true)
	if ok || wait != 3*time.Second {
		t.Fatalf("strict mutation with 6 tokens owed: allowed %v, wait %v; want refused, 3s", ok, wait)
	}
	if ok, wait := m.Mutation(c, 1, false); !ok || wait != 3500*time.Millisecond {
		t.Fatalf("permissive mutation: allowed %v wait %v; want allowed, 3.5s", ok, wait)
	}
	clk.add(3500 * time.Millisecond)
	if exceeded, _ := m.MutationExceeded(c); exceeded {
		t.Error("bucket still empty after it refilled")
	}
}

// TestOneWindow: quota.window.num=1 is served as Kafka serves it (it
// allows 1): the rate is over the time since the window began, with no
// whole windows assumed before it.
func TestOneWindow(t *testing.T) {
	clk := newClock()
	m := NewManager(Config{Samples: 1, Window: time.Second}, clk.now)
	m.Set(metadata.ClientQuotas{entity("", "app"): {metadata.ProducerByteRate: 100}})
	c := Client{User: "alice", ClientID: "app"}
	// The first 50 bytes are over the minimum span of 1 ms (Kafka's
	// Rate.windowSize): 50000/s.
	if d := m.Record(Produce, c, 50); d != 499*time.Millisecond {
		t.Fatalf("first 50 bytes over one window: throttled %v, want 499ms", d)
	}
	clk.add(500 * time.Millisecond)
	// 100 bytes over 500 ms is 200/s, twice the quota: the throttle is
	// the 500 ms that bring it back to 100/s.
	if d := m.Record(Produce, c, 50); d != 500*time.Millisecond {
		t.Fatalf("100 bytes in 500 ms against 100/s over one window: throttled %v, want 500ms", d)
	}
	if got, ok := m.MaxInWindow(Produce, c); !ok || got != 0 {
		t.Fatalf("MaxInWindow with one window: %v %v, want 0 (quota x (windows - 1) x window)", got, ok)
	}
}

// TestHeadroom: what a client may still use is what keeps its rate at
// the quota; once it is over, the wait is the throttle a record got.
func TestHeadroom(t *testing.T) {
	clk := newClock()
	m := NewManager(Config{Samples: 11, Window: time.Second}, clk.now)
	const quota = 1000.0
	c := Client{User: "ANONYMOUS", ClientID: "app"}
	if _, _, ok := m.Headroom(Fetch, c); ok {
		t.Fatal("headroom without a quota")
	}
	m.Set(metadata.ClientQuotas{entity("", "app"): {metadata.ConsumerByteRate: quota}})
	if left, wait, _ := m.Headroom(Fetch, c); left != 10*quota || wait != 0 {
		t.Fatalf("a new client has %v left (wait %v), want ten windows' worth", left, wait)
	}
	m.Record(Fetch, c, 4*quota)
	if left, _, _ := m.Headroom(Fetch, c); left != 6*quota {
		t.Fatalf("after 4 windows' worth %v left, want %v", left, 6*quota)
	}
	d := m.Record(Fetch, c, 7*quota)
	if left, wait, _ := m.Headroom(Fetch, c); left != -quota || wait != d || wait <= 0 {
		t.Fatalf("one window's worth over: %v left, wait %v, want %v and the throttle %v", left, wait, -quota, d)
	}
	clk.add(11 * time.Second)
	if left, wait, _ := m.Headroom(Fetch, c); left != 10*quota || wait != 0 {
		t.Fatalf("once the windows moved on: %v left, wait %v", left, wait)
	}
}

// TestEmptyClientID: a client whose request header has an empty (or
// null) client id is counted as Kafka's DefaultQuotaCallback counts it:
// quotaLimit looks a usage key up only by its non-empty parts, so only a
// user's or the default user's own quota applies to it; a default client
// id (alone or with a user) does not.
func TestEmptyClientID(t *testing.T) {
	const d = metadata.DefaultEntity
	anon := Client{User: "ANONYMOUS"}
	for _, tc := range []struct {
		name   string
		quotas metadata.ClientQuotas
		bound  float64 // 0: none applies
	}{
		{"default client id", metadata.ClientQuotas{entity("", d): {metadata.ProducerByteRate: 1}}, 0},
		{"default user and client id", metadata.ClientQuotas{entity(d, d): {metadata.ProducerByteRate: 2}}, 0},
		{"default user", metadata.ClientQuotas{entity(d, ""): {metadata.ProducerByteRate: 3}}, 3},
		{"user", metadata.ClientQuotas{entity("ANONYMOUS", ""): {metadata.ProducerByteRate: 4}}, 4},
		{"user's default client id", metadata.ClientQuotas{entity("ANONYMOUS", d): {metadata.ProducerByteRate: 5}}, 0},
		{"user's default client id and the default user", metadata.ClientQuotas{
			entity("ANONYMOUS", d): {metadata.ProducerByteRate: 5}, entity(d, ""): {metadata.ProducerByteRate: 3}}, 3},
		{"default client id and the default user", metadata.ClientQuotas{
			entity("", d): {metadata.ProducerByteRate: 1}, entity(d, ""): {metadata.ProducerByteRate: 3}}, 3},
	} {
		m := NewManager(Config{}, nil)
		m.Set(tc.quotas)
		bound, _, _, ok := m.Resolve(Produce, anon)
		if tc.bound == 0 && ok {
			t.Errorf("%s: quota %v applies to an empty client id, want none", tc.name, bound)
		}
		if tc.bound != 0 && (!ok || bound != tc.bound) {
			t.Errorf("%s: quota %v (%v), want %v", tc.name, bound, ok, tc.bound)
		}
		if _, _, _, ok := m.Resolve(Produce, Client{User: "ANONYMOUS", ClientID: "app"}); !ok {
			t.Errorf("%s: no quota for client id app", tc.name)
		}
	}
}
