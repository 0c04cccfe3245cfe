package protocol

// Deferred work (a fetch waiting for data, a produce waiting for its
// acks) runs on goroutines that outlive one request. A new goroutine
// starts with a small stack and grows it, by copying, each time the
// request's calls go deeper; with a fetch answered every millisecond or
// so that copying was a tenth of the broker's own CPU. A worker that has
// finished waits a while for more work, its stack already grown.

import (
	"sync"
	"sync/atomic"
	"time"
)

// workerIdle is how long an idle worker waits for work before it ends.
const workerIdle = 10 * time.Second

// workerPool runs functions on idle workers, or on new ones when none is
// idle; it never queues work.
type workerPool struct {
	handoff chan func()     // unbuffered: only an idle worker receives
	done    <-chan struct{} // idle workers end once it is closed
	timers  sync.Pool       // *time.Timer of idle workers
	// started and live count the workers started and still running.
	started, live atomic.Int64
}

func newWorkerPool(done <-chan struct{}) *workerPool {
	return &workerPool{handoff: make(chan func()), done: done}
}

// run runs f on a worker at once.
func (wp *workerPool) run(f func()) {
	select {
	case wp.handoff <- f:
	default:
		wp.started.Add(1)
		wp.live.Add(1)
		go wp.work(f)
	}
}

// work runs f, then whatever it is handed until it is idle for
// workerIdle or the pool is done.
func (wp *workerPool) work(f func()) {
	defer wp.live.Add(-1)
	for {
		f()
		t, _ := wp.timers.Get().(*time.Timer)
		if t == nil {
			t = time.NewTimer(workerIdle)
		} else {
			t.Reset(workerIdle)
		}
		select {
		case f = <-wp.handoff:
			t.Stop()
			wp.timers.Put(t)
		case <-t.C:
			wp.timers.Put(t)
			return
		case <-wp.done:
			t.Stop()
			return
		}
	}
}
