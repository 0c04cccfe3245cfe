package protocol

import (
	"sync"
	"testing"
	"time"

	"gregor/internal/wait"
)

func TestWorkerPoolReusesIdleWorkers(t *testing.T) {
	done := make(chan struct{})
	wp := newWorkerPool(done)
	// One after another: the first worker, idle again, takes every task
	// handed off (run hands off the same way, when a worker is idle).
	ran := make(chan struct{})
	wp.run(func() { ran <- struct{}{} })
	<-ran
	for i := 0; i < 50; i++ {
		wait.For(t, "the worker to take another task", 5*time.Second, func() bool {
			select {
			case wp.handoff <- func() { ran <- struct{}{} }:
				return true
			default:
				return false
			}
		})
		<-ran
	}
	if n := wp.started.Load(); n != 1 {
		t.Fatalf("50 tasks one after another started %d workers, want 1", n)
	}
	// At once: a busy worker is never waited for, each task gets its own.
	var busy sync.WaitGroup
	release := make(chan struct{})
	busy.Add(4)
	for i := 0; i < 4; i++ {
		wp.run(func() { busy.Done(); <-release })
	}
	busy.Wait() // all four run at the same time
	if n := wp.started.Load(); n < 4 {
		t.Fatalf("4 blocked tasks ran on %d workers", n)
	}
	close(release)
	close(done)
	wait.For(t, "idle workers to end once the pool is done", 5*time.Second, func() bool { return wp.live.Load() == 0 })
}
