package broker

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"gregor/internal/wait"
)

// TestIdleReplicaFetchersStop: a fetcher left with no partitions to
// follow stops, as Kafka's AbstractFetcherManager.shutdownIdleFetcherThreads
// shuts down fetcher threads with none: a broker whose partitions' leaders
// moved through many brokers (ids retired, brokers replaced) kept a fetcher
// goroutine pair per leader it ever followed, waking every second.
func TestIdleReplicaFetchersStop(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("followed", 1, nil)
	p := tb.Partition("followed", 0)
	if p == nil {
		t.Fatal("no partition followed-0")
	}
	fs := &fetchers{b: tb.Broker, byLeader: make(map[int32]*fetcher)}
	t.Cleanup(fs.close)
	before := runtime.NumGoroutine()
	// Leaders that do not exist: each fetcher fails to connect and backs
	// off, which a stop ends.
	for leader := int32(1000); leader < 1050; leader++ {
		fs.follow(p, leader, 1)
	}
	fs.unfollow(p)
	count := func() int {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		return len(fs.byLeader)
	}
	if n := count(); n != 0 {
		t.Errorf("%d fetchers kept with nothing to follow, want 0", n)
	}
	wait.For(t, fmt.Sprintf("the goroutines to come back to about %d", before), 10*time.Second, func() bool {
		return runtime.NumGoroutine() <= before+2
	})
	// Following again starts a fetcher.
	fs.follow(p, 1000, 2)
	if n := count(); n != 1 {
		t.Errorf("%d fetchers after following again, want 1", n)
	}
}
