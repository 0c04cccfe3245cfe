package protocol

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gregor/internal/wait"
)

// Many frames reserving their first buffer, then the rest of their size,
// then releasing, concurrently: the bytes reserved never exceed the limit
// plus the largest frame, and every reservation is granted in the end
// (no deadlock, none lost).
func TestByteBudgetHoldsLimitPlusOneFrame(t *testing.T) {
	const (
		limit    = 4 << 20
		maxFrame = 3 << 20
		workers  = 32
		frames   = 200
	)
	b := &byteBudget{limit: limit}
	var wg sync.WaitGroup
	var waits atomic.Int32
	over := make(chan int64, workers)
	check := func() {
		if u := b.used.Load(); u > limit+maxFrame {
			select {
			case over <- u:
			default:
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < frames; i++ {
				size := int64(rand.IntN(maxFrame) + 1)
				first := min(size, initialFrameBuffer)
				if _, err := b.reserve(ctx, first, 0, false); err != nil {
					t.Errorf("first buffer of %d: %v", first, err)
					return
				}
				check()
				if size > first {
					w, err := b.reserve(ctx, size-first, first, true)
					if err != nil {
						t.Errorf("rest of %d: %v (deadlock?)", size, err)
						return
					}
					if w {
						waits.Add(1)
					}
					check()
				}
				for range 10 { // hold it a moment, so frames overlap
					runtime.Gosched()
				}
				b.add(-size)
			}
		}()
	}
	wg.Wait()
	select {
	case u := <-over:
		t.Fatalf("%d bytes reserved, above the limit plus one frame (%d)", u, limit+maxFrame)
	default:
	}
	if u := b.used.Load(); u != 0 {
		t.Fatalf("%d bytes left reserved after every frame released", u)
	}
	if waits.Load() == 0 {
		t.Fatal("no frame waited for the rest of its size: the test did not fill the budget")
	}
	t.Logf("%d of %d frames waited for the rest of their size", waits.Load(), workers*frames)
}

// With the budget full, a frame waiting for the rest of its size and a
// request waiting for its first buffer: when room frees, the first buffer
// goes first, and the rest waits until there is room after it.
func TestByteBudgetFirstBufferBeforeRest(t *testing.T) {
	const limit = 1000
	b := &byteBudget{limit: limit}
	ctx := context.Background()
	mustTry := func(n, mine int64, rest bool) {
		t.Helper()
		if !b.tryReserve(n, mine, rest) {
			t.Fatalf("reserving %d (holding %d) refused at %d of %d", n, mine, b.used.Load(), limit)
		}
	}
	mustTry(64, 0, false)  // the large frame's first buffer
	mustTry(1000, 0, true) // a frame that fills the budget
	restDone, firstDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(restDone)
		if _, err := b.reserve(ctx, 436, 64, true); err != nil {
			t.Error(err)
		}
	}()
	wait.For(t, "the rest waiting", ioTimeout, func() bool { return b.waiting.Load() == 1 })
	go func() {
		defer close(firstDone)
		if _, err := b.reserve(ctx, 1000, 0, false); err != nil {
			t.Error(err)
		}
	}()
	wait.For(t, "the first buffer waiting", ioTimeout, func() bool { return b.waiting.Load() == 2 })
	b.add(-1000)
	<-firstDone
	wait.For(t, "the rest alone waiting", ioTimeout, func() bool { return b.waiting.Load() == 1 })
	select {
	case <-restDone:
		t.Fatal("the rest of a large frame was granted before the first buffer waiting with it, or beside it over the limit")
	default:
	}
	b.add(-1000)
	<-restDone
	if u := b.used.Load(); u != 500 {
		t.Fatalf("%d bytes reserved, want the large frame's 500", u)
	}
}
