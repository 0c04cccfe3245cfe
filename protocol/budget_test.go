package protocol

import (
	"context"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gregor/internal/wait"
)

// Many frames reserving their first buffer, then each larger buffer as
// they grow, then releasing, concurrently: the bytes reserved never exceed
// the limit plus one frame while nobody holds the overdraft (two while
// someone does), and every reservation is granted in the end (no deadlock,
// none lost).
func TestByteBudgetHoldsLimitPlusOneFrame(t *testing.T) {
	const (
		limit    = 4 << 20
		maxFrame = 3 << 20
		workers  = 32
		frames   = 200
	)
	b := &byteBudget{limit: limit}
	var wg sync.WaitGroup
	var waits, overdrafts atomic.Int32
	over := make(chan int64, workers)
	check := func() {
		bound := int64(limit + maxFrame)
		// The overdraft before and after the bytes: taken between, it
		// may be counted in them.
		held := b.overdraft.Load() != nil
		u := b.used.Load()
		if held || b.overdraft.Load() != nil {
			bound += maxFrame
		}
		if u > bound {
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
				f := &frameBuf{}
				size := int64(rand.IntN(maxFrame) + 1)
				step := min(size, initialFrameBuffer)
				if _, err := b.reserve(ctx, f, step, 0, false); err != nil {
					t.Errorf("first buffer of %d: %v", step, err)
					return
				}
				check()
				for step < size {
					next := int64(nextFrameStep(int(step), int(size)))
					w, err := b.reserve(ctx, f, next-step, step, true)
					if err != nil {
						t.Errorf("step to %d of %d: %v (deadlock?)", next, size, err)
						return
					}
					if w {
						waits.Add(1)
					}
					if b.overdraft.Load() == f {
						overdrafts.Add(1)
					}
					check()
					step = next
					runtime.Gosched() // the client's bytes arriving
				}
				for range 10 { // hold it a moment, so frames overlap
					runtime.Gosched()
				}
				b.release(f, size)
			}
		}()
	}
	wg.Wait()
	select {
	case u := <-over:
		t.Fatalf("%d bytes reserved, above the limit plus one frame (%d; two with the overdraft held)", u, limit+maxFrame)
	default:
	}
	if u := b.used.Load(); u != 0 {
		t.Fatalf("%d bytes left reserved after every frame released", u)
	}
	if h := b.holders.Load(); h != 0 {
		t.Fatalf("%d holders counted after every frame released", h)
	}
	if waits.Load() == 0 {
		t.Fatal("no frame waited for a step: the test did not fill the budget")
	}
	t.Logf("%d steps waited for, %d granted on the overdraft, of %d frames", waits.Load(), overdrafts.Load(), workers*frames)
}

// Frames that each hold part of their size and together the whole budget,
// each waiting for its next step: without the overdraft none could grow
// and none would be released. One takes the overdraft, completes and is
// released, and the others follow.
func TestByteBudgetOverdraftBreaksGrowthDeadlock(t *testing.T) {
	const limit, frames, held, size = 1000, 4, 400, 900
	b := &byteBudget{limit: limit}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fs := make([]*frameBuf, frames)
	for i := range fs {
		// As grown by steps granted while the others held less than
		// the limit (each grant is judged against the others alone).
		fs[i] = &frameBuf{}
		b.grant(fs[i], held, true)
	}
	// 1,600 reserved: every frame sees 1,200 held by the others.
	done := make(chan int, frames)
	for i, f := range fs {
		go func() {
			if _, err := b.reserve(ctx, f, size-held, held, true); err != nil {
				t.Errorf("frame %d: %v (deadlock)", i, err)
				done <- i
				return
			}
			b.release(f, size)
			done <- i
		}()
	}
	for range frames {
		select {
		case <-done:
		case <-ctx.Done():
			t.Fatalf("frames still waiting after 10 s: %d reserved, %d holders, %d waiting for a step", b.used.Load(), b.holders.Load(), b.restWaiting.Load())
		}
	}
	if u, h := b.used.Load(), b.holders.Load(); u != 0 || h != 0 {
		t.Fatalf("%d bytes and %d holders left after every frame released", u, h)
	}
}

// With the budget full, a frame waiting for the rest of its size and a
// request waiting for its first buffer: when room frees, the first buffer
// goes first, and the rest waits until there is room after it.
func TestByteBudgetFirstBufferBeforeRest(t *testing.T) {
	const limit = 1000
	b := &byteBudget{limit: limit}
	ctx := context.Background()
	large, filler, small, busy := &frameBuf{}, &frameBuf{}, &frameBuf{}, &frameBuf{}
	mustTry := func(f *frameBuf, n, mine int64, rest bool) {
		t.Helper()
		if !b.tryReserve(f, n, mine, rest) {
			t.Fatalf("reserving %d (holding %d) refused at %d of %d", n, mine, b.used.Load(), limit)
		}
	}
	mustTry(large, 64, 0, false) // the large frame's first buffer
	// A request read in full, its handler at work throughout: not every
	// frame holding a reservation waits, so there is no overdraft.
	mustTry(busy, 1, 0, false)
	b.hold(busy)
	mustTry(filler, 1000, 0, true) // a frame that fills the budget
	restDone, firstDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(restDone)
		if _, err := b.reserve(ctx, large, 436, 64, true); err != nil {
			t.Error(err)
		}
	}()
	wait.For(t, "the rest waiting", ioTimeout, func() bool { return b.waiting.Load() == 1 })
	go func() {
		defer close(firstDone)
		if _, err := b.reserve(ctx, small, 1000, 0, false); err != nil {
			t.Error(err)
		}
	}()
	wait.For(t, "the first buffer waiting", ioTimeout, func() bool { return b.waiting.Load() == 2 })
	b.release(filler, 1000)
	<-firstDone
	wait.For(t, "the rest alone waiting", ioTimeout, func() bool { return b.waiting.Load() == 1 })
	select {
	case <-restDone:
		t.Fatal("the rest of a large frame was granted before the first buffer waiting with it, or beside it over the limit")
	default:
	}
	b.release(small, 1000)
	<-restDone
	b.release(busy, 1)
	if u := b.used.Load(); u != 500 {
		t.Fatalf("%d bytes reserved, want the large frame's 500", u)
	}
}

// Frames grown past their first buffer, each waiting for its next step,
// beside a request still reading its first buffer whose client went quiet
// (a crashed host: no FIN): that request counted among the holders not
// waiting, so the overdraft was not taken, and the frames waited for it
// until connections.max.idle.ms closed it (10 minutes; the stall closer
// watches only frames past their first buffer). A first buffer is no
// reason to wait: the overdraft counts only frames grown past it.
func TestByteBudgetOverdraftNotHeldBackByFirstBuffer(t *testing.T) {
	const limit, frames, held, size = 1000, 4, 400, 900
	b := &byteBudget{limit: limit}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	quiet := &frameBuf{}
	if !b.tryReserve(quiet, 64, 0, false) {
		t.Fatal("a first buffer refused with the budget empty")
	}
	fs := make([]*frameBuf, frames)
	for i := range fs {
		fs[i] = &frameBuf{}
		b.grant(fs[i], held, true)
	}
	done := make(chan int, frames)
	for i, f := range fs {
		go func() {
			if _, err := b.reserve(ctx, f, size-held, held, true); err != nil {
				t.Errorf("frame %d: %v (deadlock)", i, err)
			} else {
				b.release(f, size)
			}
			done <- i
		}()
	}
	for range frames {
		select {
		case <-done:
		case <-ctx.Done():
			t.Fatalf("frames still waiting after 10 s beside a quiet first buffer: %d reserved, %d holders, %d waiting for a step", b.used.Load(), b.holders.Load(), b.restWaiting.Load())
		}
	}
	b.release(quiet, 64)
	if u, h := b.used.Load(), b.holders.Load(); u != 0 || h != 0 {
		t.Fatalf("%d bytes and %d holders left after every frame released", u, h)
	}
}

// A frame grows to 1 MiB, doubles while the pool serves its buffers, and
// then takes its whole size at once where that is at most four times what
// has arrived: a buffer outgrown past the pool is garbage (it was 16 MiB
// of each 30 MiB produce, and the hostile-frames test saw the heap reach
// three times the bytes held), but a client that sent 8 MiB of a 100 MiB
// frame must not reserve the 100.
func TestFrameGrowthSteps(t *testing.T) {
	for _, tc := range []struct {
		size int
		want []int
	}{
		{100, []int{100}},
		{frameGrowthStep + 1, []int{initialFrameBuffer, frameGrowthStep, frameGrowthStep + 1}},
		{5 << 20, []int{initialFrameBuffer, 1 << 20, 2 << 20, 4 << 20, 5 << 20}},
		{maxPooledFrame, []int{initialFrameBuffer, 1 << 20, 2 << 20, 4 << 20, maxPooledFrame}},
		{30 << 20, []int{initialFrameBuffer, 1 << 20, 2 << 20, 4 << 20, maxPooledFrame, 30 << 20}},
		{32 << 20, []int{initialFrameBuffer, 1 << 20, 2 << 20, 4 << 20, maxPooledFrame, 32 << 20}},
		{33 << 20, []int{initialFrameBuffer, 1 << 20, 2 << 20, 4 << 20, maxPooledFrame, 16 << 20, 33 << 20}},
		{100 << 20, []int{initialFrameBuffer, 1 << 20, 2 << 20, 4 << 20, maxPooledFrame, 16 << 20, 32 << 20, 100 << 20}},
	} {
		steps := []int{min(tc.size, initialFrameBuffer)}
		for filled := steps[0]; filled < tc.size; filled = steps[len(steps)-1] {
			steps = append(steps, nextFrameStep(filled, tc.size))
		}
		if !slices.Equal(steps, tc.want) {
			t.Errorf("a frame of %d bytes grows through %v, want %v", tc.size, steps, tc.want)
		}
	}
}
