package protocol

import (
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// fakeFDs counts what the test says.
type fakeFDs struct {
	open, limit atomic.Int64
	counted     atomic.Int64
}

func (f *fakeFDs) count() (int, int, bool) {
	f.counted.Add(1)
	return int(f.open.Load()), int(f.limit.Load()), true
}

func TestFDRoomAdmit(t *testing.T) {
	var fake fakeFDs
	fake.limit.Store(1000) // reserve: max(64, 1000/20) = 64, so room below 936
	fake.open.Store(900)
	r := &fdRoom{count: fake.count}
	now := time.Unix(1000, 0)
	if ok, open, limit := r.admit(10, false, now); !ok || open != 900 || limit != 1000 {
		t.Fatalf("900 of 1000 open: admit %v (%d of %d), want yes", ok, open, limit)
	}
	// Connections accepted since the count are added to it.
	if ok, open, _ := r.admit(45, false, now); !ok || open != 935 {
		t.Fatalf("35 connections more since the count: admit %v with %d estimated, want yes with 935", ok, open)
	}
	if ok, open, _ := r.admit(46, false, now); ok || open != 936 {
		t.Fatalf("36 connections more since the count: admit %v with %d estimated, want no with 936", ok, open)
	}
	// The inter-broker listener may use half the reserve (room below 968).
	if ok, _, _ := r.admit(46, true, now); !ok {
		t.Fatal("a protected listener's connection 32 descriptors into the reserve was held, want admitted")
	}
	if ok, _, _ := r.admit(80, true, now); ok {
		t.Fatal("a protected listener's connection past half the reserve was admitted, want held")
	}
	if n := fake.counted.Load(); n != 1 {
		t.Fatalf("counted %d times within one instant, want once", n)
	}
	// Near the limit it counts again after fdSampleNear: files closed
	// elsewhere make room.
	fake.open.Store(800)
	if ok, open, _ := r.admit(46, false, now.Add(fdSampleNear)); !ok || open != 800 {
		t.Fatalf("after the logs closed files: admit %v with %d, want yes with 800", ok, open)
	}
	// Far from it, only every fdSampleFar.
	fake.open.Store(100)
	r = &fdRoom{count: fake.count}
	r.admit(0, false, now)
	before := fake.counted.Load()
	r.admit(0, false, now.Add(fdSampleNear))
	if fake.counted.Load() != before {
		t.Fatal("counted again after fdSampleNear though far from the limit")
	}
	r.admit(0, false, now.Add(fdSampleFar))
	if fake.counted.Load() != before+1 {
		t.Fatal("not counted again after fdSampleFar")
	}
	// A small limit keeps at least fdReserveMin.
	fake.limit.Store(256)
	fake.open.Store(190)
	r = &fdRoom{count: fake.count}
	if ok, _, _ := r.admit(0, false, now); !ok {
		t.Fatal("190 of 256 open: held, want admitted (room below 192)")
	}
	fake.open.Store(192)
	r = &fdRoom{count: fake.count}
	if ok, _, _ := r.admit(0, false, now); ok {
		t.Fatal("192 of 256 open: admitted, want held")
	}
}

func TestCountFDs(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("descriptors are counted on Linux only")
	}
	extra := make([]*os.File, 0, 10)
	for range 10 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		extra = append(extra, f)
	}
	defer func() {
		for _, f := range extra {
			f.Close()
		}
	}()
	open, limit, ok := countFDs()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil || !ok {
		t.Fatalf("countFDs ok=%v, ReadDir %v", ok, err)
	}
	if want := len(ents) - 1; open != want { // ReadDir's own descriptor
		t.Fatalf("countFDs counted %d open, /proc/self/fd lists %d", open, want)
	}
	if limit < open {
		t.Fatalf("limit %d below the %d open", limit, open)
	}
}

// A connection is held, unanswered, while the process is near its
// descriptor limit, and served once there is room.
func TestConnectionHeldNearFDLimit(t *testing.T) {
	var fake fakeFDs
	fake.limit.Store(1000)
	fake.open.Store(990)
	s, addr := startServerWith(t, heartbeatRegistry(), nil)
	s.mu.Lock()
	s.fds = &fdRoom{count: fake.count}
	s.mu.Unlock()
	c := dial(t, addr)
	send(t, c, frameFor(heartbeat(3, 7), 5))
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	var b [1]byte
	if _, err := c.Read(b[:]); !os.IsTimeout(err) {
		t.Fatalf("near the descriptor limit, the connection's request: read %v, want no answer", err)
	}
	if n := s.Stats.ConnsHeld.Load(); n != 1 {
		t.Fatalf("ConnsHeld %d, want 1", n)
	}
	fake.open.Store(100)
	start := time.Now()
	if corr, gen := heartbeatWithin(t, c, "the held connection's heartbeat once there is room"); corr != 5 || gen != 7 {
		t.Fatalf("correlation %d generation %d", corr, gen)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("served %v after room was made, want within a sample or two (%v)", took, fdSampleNear)
	}
}

// At the limit itself, where not even the count can open its directory,
// the process counts as full (not as unknown, which would turn the bound
// off when it matters most).
func TestCountFDsWithNoneLeft(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("descriptors are counted on Linux only")
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	// The kernel gives the lowest free number: with the limit there, no
	// open succeeds.
	free, err := syscall.Open(os.DevNull, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	syscall.Close(free)
	low := rl
	low.Cur = uint64(free)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	open, limit, ok := countFDs()
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if !ok || open != limit || limit != int(low.Cur) {
		t.Fatalf("with no descriptor left: countFDs = %d, %d, %v; want %d, %d, true", open, limit, ok, low.Cur, low.Cur)
	}
}
