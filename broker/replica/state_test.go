package replica

import (
	"slices"
	"sort"
	"testing"
	"time"
)

// step is one event in a leader's life, and what must hold after it.
type step struct {
	do       string // "append", "fetch", "isr", "tick", "replicas", "joining", "joined"
	id       int32
	replicas []int32
	offset   int64 // LEO for append, fetch offset for fetch
	isr      []int32
	after    time.Duration

	wantHW        int64
	wantHWMoved   bool
	wantExpand    bool
	wantLaggards  []int32
	checkLaggards bool
}

func TestLeaderStateMachine(t *testing.T) {
	lag := 10 * time.Second
	cases := []struct {
		name     string
		replicas []int32
		isr      []int32
		leo, hw  int64
		minISR   int // 0: 1
		// ineligible lists followers whose brokers may not join the ISR.
		ineligible []int32
		steps      []step
	}{
		{
			name: "under min.insync.replicas the HW holds until the ISR grows", replicas: []int32{1, 2, 3}, isr: []int32{1}, leo: 10, hw: 10, minISR: 2,
			steps: []step{
				{do: "append", offset: 20, wantHW: 10},
				{do: "fetch", id: 2, offset: 20, wantHW: 10, wantExpand: true},
				{do: "isr", isr: []int32{1, 2}, wantHW: 20, wantHWMoved: true},
				{do: "append", offset: 25, wantHW: 20},
				{do: "fetch", id: 2, offset: 25, wantHW: 25, wantHWMoved: true},
			},
		},
		{
			name: "min.insync.replicas above the replication factor is capped at it", replicas: []int32{1}, isr: []int32{1}, leo: 0, hw: 0, minISR: 3,
			steps: []step{
				{do: "append", offset: 5, wantHW: 5, wantHWMoved: true},
			},
		},
		{
			name: "single replica: the HW follows the LEO", replicas: []int32{1}, isr: []int32{1}, leo: 0, hw: 0,
			steps: []step{
				{do: "append", offset: 5, wantHW: 5, wantHWMoved: true},
				{do: "append", offset: 9, wantHW: 9, wantHWMoved: true},
			},
		},
		{
			name: "the HW waits for every ISR follower", replicas: []int32{1, 2, 3}, isr: []int32{1, 2, 3}, leo: 0, hw: 0,
			steps: []step{
				{do: "append", offset: 10, wantHW: 0},
				{do: "fetch", id: 2, offset: 10, wantHW: 0},
				{do: "fetch", id: 3, offset: 4, wantHW: 4, wantHWMoved: true},
				{do: "fetch", id: 3, offset: 10, wantHW: 10, wantHWMoved: true},
			},
		},
		{
			name: "the HW never moves back", replicas: []int32{1, 2}, isr: []int32{1, 2}, leo: 10, hw: 10,
			steps: []step{
				{do: "fetch", id: 2, offset: 10, wantHW: 10},
				{do: "fetch", id: 2, offset: 3, wantHW: 10},
			},
		},
		{
			name: "a follower outside the ISR does not hold the HW", replicas: []int32{1, 2, 3}, isr: []int32{1, 2}, leo: 0, hw: 0,
			steps: []step{
				{do: "append", offset: 8},
				{do: "fetch", id: 2, offset: 8, wantHW: 8, wantHWMoved: true},
				{do: "fetch", id: 3, offset: 2, wantHW: 8},
			},
		},
		{
			name: "a follower that catches up past the HW and the epoch start joins the ISR", replicas: []int32{1, 2, 3}, isr: []int32{1, 2}, leo: 20, hw: 20,
			steps: []step{
				{do: "fetch", id: 3, offset: 15, wantHW: 20, wantExpand: false},
				{do: "fetch", id: 3, offset: 20, wantHW: 20, wantExpand: true},
				{do: "isr", isr: []int32{1, 2, 3}, wantHW: 20},
				{do: "append", offset: 25, wantHW: 20},
				{do: "fetch", id: 2, offset: 25, wantHW: 20},
				{do: "fetch", id: 3, offset: 25, wantHW: 25, wantHWMoved: true},
			},
		},
		{
			name: "a follower stuck behind is a laggard after replica.lag.time.max.ms", replicas: []int32{1, 2, 3}, isr: []int32{1, 2, 3}, leo: 0, hw: 0,
			steps: []step{
				{do: "append", offset: 10},
				{do: "fetch", id: 2, offset: 10},
				{do: "fetch", id: 3, offset: 0},
				{do: "tick", after: lag / 2, checkLaggards: true, wantLaggards: nil},
				{do: "fetch", id: 2, offset: 10},
				{do: "tick", after: lag/2 + time.Second, checkLaggards: true, wantLaggards: []int32{3}},
				{do: "isr", isr: []int32{1, 2}, wantHW: 10, wantHWMoved: true},
			},
		},
		{
			name: "a follower fetching steadily but never reaching the end stays in sync while it reaches what the leader had", replicas: []int32{1, 2}, isr: []int32{1, 2}, leo: 0, hw: 0,
			steps: []step{
				{do: "append", offset: 10},
				{do: "fetch", id: 2, offset: 5, wantHW: 5, wantHWMoved: true},
				{do: "append", offset: 20},
				{do: "tick", after: 4 * time.Second},
				{do: "fetch", id: 2, offset: 10, wantHW: 10, wantHWMoved: true}, // reached the LEO of its previous fetch
				{do: "append", offset: 30},
				{do: "tick", after: 4 * time.Second},
				{do: "fetch", id: 2, offset: 20, wantHW: 20, wantHWMoved: true},
				{do: "tick", after: 4 * time.Second, checkLaggards: true, wantLaggards: nil},
			},
		},
		{
			name: "a new leader holds its HW until each ISR follower has fetched", replicas: []int32{1, 2}, isr: []int32{1, 2}, leo: 50, hw: 40,
			steps: []step{
				{do: "append", offset: 55, wantHW: 40},
				{do: "fetch", id: 2, offset: 50, wantHW: 50, wantHWMoved: true},
			},
		},
		{
			name: "a replica added at the same epoch (reassignment) is known, catches up and joins the ISR", replicas: []int32{1, 2}, isr: []int32{1, 2}, leo: 30, hw: 30,
			steps: []step{
				{do: "fetch", id: 3, offset: 30, wantHW: 30, wantExpand: false}, // not assigned yet: ignored
				{do: "replicas", replicas: []int32{2, 3, 1}},
				{do: "fetch", id: 3, offset: 10, wantHW: 30, wantExpand: false},
				{do: "fetch", id: 3, offset: 30, wantHW: 30, wantExpand: true},
				{do: "isr", isr: []int32{1, 2, 3}, wantHW: 30},
				{do: "replicas", replicas: []int32{1, 3}}, // 2 removed but still in the ISR: kept
				{do: "append", offset: 35, wantHW: 30},
				{do: "fetch", id: 3, offset: 35, wantHW: 30},
				{do: "fetch", id: 2, offset: 35, wantHW: 35, wantHWMoved: true},
			},
		},
		{
			name: "a follower that stops fetching stays in sync while it has the leader's log end (Kafka's isCaughtUp)", replicas: []int32{1, 2, 3}, isr: []int32{1, 2, 3}, leo: 0, hw: 0,
			steps: []step{
				{do: "append", offset: 10},
				{do: "fetch", id: 2, offset: 10},
				{do: "fetch", id: 3, offset: 10, wantHW: 10, wantHWMoved: true},
				{do: "tick", after: 3 * lag, checkLaggards: true, wantLaggards: nil},
				{do: "fetch", id: 2, offset: 10},
				{do: "append", offset: 12},
				{do: "tick", after: time.Second, checkLaggards: true, wantLaggards: []int32{3}},
			},
		},
		{
			name: "a follower outside the ISR that caught up within replica.lag.time.max.ms holds the HW (Kafka's shouldWaitForReplicaToJoinIsr)", replicas: []int32{1, 2, 3}, isr: []int32{1, 2}, leo: 20, hw: 20,
			steps: []step{
				{do: "fetch", id: 3, offset: 20, wantHW: 20, wantExpand: true}, // has the leader's log end
				{do: "append", offset: 30, wantHW: 20},
				{do: "fetch", id: 2, offset: 30, wantHW: 20}, // 3 about to join has 20
				{do: "fetch", id: 3, offset: 26, wantHW: 26, wantHWMoved: true, wantExpand: true},
				{do: "fetch", id: 3, offset: 30, wantHW: 30, wantHWMoved: true, wantExpand: true},
				{do: "append", offset: 40, wantHW: 30},
				{do: "tick", after: lag + time.Second},
				{do: "fetch", id: 2, offset: 40, wantHW: 40, wantHWMoved: true}, // 3 no longer caught up
			},
		},
		{
			name: "a follower taken out of the ISR (a controlled shutdown) no longer holds the HW, however recently it caught up", replicas: []int32{1, 2, 3}, isr: []int32{1, 2, 3}, leo: 10, hw: 10,
			steps: []step{
				{do: "fetch", id: 2, offset: 10, wantHW: 10},
				{do: "fetch", id: 3, offset: 10, wantHW: 10},
				{do: "isr", isr: []int32{1, 2}, wantHW: 10},
				{do: "append", offset: 20, wantHW: 10},
				{do: "fetch", id: 3, offset: 12, wantHW: 10, wantExpand: true}, // a fetch still in flight (at the HW: it may rejoin)
				{do: "fetch", id: 2, offset: 20, wantHW: 20, wantHWMoved: true},
				{do: "fetch", id: 3, offset: 20, wantHW: 20, wantExpand: true}, // caught up again: may rejoin
				{do: "append", offset: 30, wantHW: 20},
				{do: "fetch", id: 2, offset: 30, wantHW: 20}, // and holds the HW meanwhile
			},
		},
		{
			name: "a follower outside the ISR that never caught up under this leader does not hold the HW", replicas: []int32{1, 2, 3}, isr: []int32{1, 2}, leo: 10, hw: 10,
			steps: []step{
				{do: "append", offset: 12, wantHW: 10},
				{do: "fetch", id: 3, offset: 5, wantHW: 10},
				{do: "fetch", id: 3, offset: 8, wantHW: 10},
				{do: "fetch", id: 2, offset: 12, wantHW: 12, wantHWMoved: true},
			},
		},
		{
			name: "a caught-up follower whose broker may not join the ISR does not hold the HW", replicas: []int32{1, 2, 3}, isr: []int32{1, 2}, leo: 20, hw: 20, ineligible: []int32{3},
			steps: []step{
				{do: "fetch", id: 3, offset: 20, wantHW: 20, wantExpand: true},
				{do: "append", offset: 30, wantHW: 20},
				{do: "fetch", id: 2, offset: 30, wantHW: 30, wantHWMoved: true},
			},
		},
		{
			name: "a follower whose addition to the ISR is being persisted holds the HW (Kafka's maximal ISR)", replicas: []int32{1, 2, 3}, isr: []int32{1, 2}, leo: 10, hw: 10,
			steps: []step{
				{do: "append", offset: 20, wantHW: 10},
				{do: "fetch", id: 2, offset: 15, wantHW: 15, wantHWMoved: true},
				{do: "fetch", id: 3, offset: 15, wantHW: 15, wantExpand: true}, // reached the HW, not caught up
				{do: "joining", id: 3},
				{do: "fetch", id: 2, offset: 20, wantHW: 15},
				{do: "fetch", id: 3, offset: 17, wantHW: 17, wantHWMoved: true, wantExpand: true},
				{do: "isr", isr: []int32{1, 2, 3}, wantHW: 17},
				{do: "isr", isr: []int32{1, 2}, wantHW: 20, wantHWMoved: true}, // out again: no longer joining
			},
		},
		{
			name: "a refused ISR addition releases the HW", replicas: []int32{1, 2, 3}, isr: []int32{1, 2}, leo: 10, hw: 10,
			steps: []step{
				{do: "append", offset: 20, wantHW: 10},
				{do: "fetch", id: 3, offset: 12, wantHW: 10, wantExpand: true},
				{do: "joining", id: 3},
				{do: "fetch", id: 2, offset: 20, wantHW: 12, wantHWMoved: true},
				{do: "joined", id: 3, wantHW: 20, wantHWMoved: true},
			},
		},
		{
			name: "a caught-up follower the controller takes out of the ISR (a controlled shutdown) no longer holds the HW", replicas: []int32{1, 2, 3}, isr: []int32{1, 2, 3}, leo: 10, hw: 10,
			steps: []step{
				{do: "fetch", id: 2, offset: 10, wantHW: 10},
				{do: "fetch", id: 3, offset: 10, wantHW: 10},
				{do: "append", offset: 20, wantHW: 10},
				{do: "fetch", id: 2, offset: 20, wantHW: 10}, // 3, in the ISR, has 10
				{do: "isr", isr: []int32{1, 2}, wantHW: 20, wantHWMoved: true},
				{do: "fetch", id: 3, offset: 15, wantHW: 20}, // fetching again: not caught up at once
				{do: "append", offset: 30, wantHW: 20},
				{do: "fetch", id: 2, offset: 30, wantHW: 30, wantHWMoved: true},
			},
		},
		{
			name: "a follower below the new leader's epoch start cannot join the ISR", replicas: []int32{1, 2}, isr: []int32{1}, leo: 30, hw: 10,
			steps: []step{
				{do: "fetch", id: 2, offset: 12, wantHW: 30, wantExpand: false},
				{do: "fetch", id: 2, offset: 30, wantHW: 30, wantExpand: true},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Unix(1000, 0)
			s := NewLeader(1, 3, tc.replicas, tc.isr, tc.leo, tc.hw, max(tc.minISR, 1), now)
			s.MaxLag, s.Now = lag, func() time.Time { return now }
			s.Eligible = func(id int32) bool { return !slices.Contains(tc.ineligible, id) }
			for i, st := range tc.steps {
				var moved, expand bool
				switch st.do {
				case "append":
					moved = s.Append(st.offset)
				case "fetch":
					r := s.FollowerFetch(st.id, st.offset, -1, now)
					moved, expand = r.HWMoved, r.ExpandISR
				case "isr":
					moved = s.SetISR(st.isr)
				case "replicas":
					s.SetReplicas(st.replicas, now)
				case "tick":
					now = now.Add(st.after)
				case "joining":
					moved = s.SetJoining(st.id, true)
				case "joined":
					moved = s.SetJoining(st.id, false)
				}
				if st.wantHW != 0 && s.HW != st.wantHW {
					t.Fatalf("step %d (%s): HW %d, want %d", i, st.do, s.HW, st.wantHW)
				}
				if st.do != "tick" && moved != st.wantHWMoved {
					t.Fatalf("step %d (%s): HW moved %v, want %v (HW %d)", i, st.do, moved, st.wantHWMoved, s.HW)
				}
				if expand != st.wantExpand {
					t.Fatalf("step %d (%s): expand ISR %v, want %v", i, st.do, expand, st.wantExpand)
				}
				if st.checkLaggards {
					got := s.Laggards(now, lag)
					sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
					if !slices.Equal(got, st.wantLaggards) {
						t.Fatalf("step %d: laggards %v, want %v", i, got, st.wantLaggards)
					}
				}
			}
		})
	}
}

// epochLog is a log's leader epoch history: epoch -> start offset, in
// order, and its end.
type epochLog struct {
	starts [][2]int64 // {epoch, start offset}
	end    int64
}

// endFor answers OffsetForLeaderEpoch as Kafka's leader epoch cache does.
func (l epochLog) endFor(epoch int32) (int32, int64) {
	n := len(l.starts)
	if epoch < 0 || n == 0 {
		return -1, -1
	}
	if int32(l.starts[n-1][0]) == epoch {
		return epoch, l.end
	}
	hi := sort.Search(n, func(i int) bool { return int32(l.starts[i][0]) > epoch })
	switch {
	case hi == n:
		return -1, -1
	case hi == 0:
		return epoch, l.starts[0][1]
	default:
		return int32(l.starts[hi-1][0]), l.starts[hi][1]
	}
}

func (l epochLog) lastEpoch() int32 {
	if len(l.starts) == 0 {
		return -1
	}
	return int32(l.starts[len(l.starts)-1][0])
}

// TestTruncationAfterLeaderChange plays the follower-leader exchange until
// the follower stops diverging, and checks it kept exactly the common
// prefix.
func TestTruncationAfterLeaderChange(t *testing.T) {
	cases := []struct {
		name     string
		leader   epochLog
		follower epochLog
		hw       int64
		want     int64
	}{
		{
			name:     "follower in step: nothing to cut",
			leader:   epochLog{starts: [][2]int64{{0, 0}, {1, 50}}, end: 80},
			follower: epochLog{starts: [][2]int64{{0, 0}, {1, 50}}, end: 70},
			hw:       60, want: 70,
		},
		{
			name: "deposed leader wrote a tail in its epoch that the new leader never got",
			// Old leader (now follower) had epoch 1 up to 100; the new
			// leader only got 0..90 of epoch 1 and started epoch 2 at 90.
			leader:   epochLog{starts: [][2]int64{{0, 0}, {1, 40}, {2, 90}}, end: 120},
			follower: epochLog{starts: [][2]int64{{0, 0}, {1, 40}}, end: 100},
			hw:       85, want: 90,
		},
		{
			name:     "not simply the high watermark: the divergent tail is above HW, the common part above HW is kept",
			leader:   epochLog{starts: [][2]int64{{0, 0}, {3, 95}}, end: 130},
			follower: epochLog{starts: [][2]int64{{0, 0}, {2, 97}}, end: 110},
			hw:       60, want: 95,
		},
		{
			name:     "follower with an epoch the leader never had, below the leader's next epoch",
			leader:   epochLog{starts: [][2]int64{{0, 0}, {2, 30}, {4, 60}}, end: 90},
			follower: epochLog{starts: [][2]int64{{0, 0}, {2, 30}, {3, 45}}, end: 70},
			hw:       40, want: 45,
		},
		{
			name:     "follower behind: nothing to cut",
			leader:   epochLog{starts: [][2]int64{{0, 0}, {5, 100}}, end: 200},
			follower: epochLog{starts: [][2]int64{{0, 0}}, end: 80},
			hw:       80, want: 80,
		},
		{
			name:     "empty follower",
			leader:   epochLog{starts: [][2]int64{{0, 0}}, end: 10},
			follower: epochLog{end: 0},
			hw:       0, want: 0,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.follower
			for round := 0; round < 10; round++ {
				div, e, end := Diverges(f.lastEpoch(), f.end, tc.leader.endFor)
				if !div {
					if f.end != tc.want {
						t.Fatalf("converged at %d, want %d", f.end, tc.want)
					}
					return
				}
				to := TruncationPoint(e, end, f.endFor, f.end, tc.hw)
				if to > f.end {
					t.Fatalf("truncation point %d beyond the log end %d", to, f.end)
				}
				f = f.truncated(to)
			}
			t.Fatalf("no convergence after 10 rounds; follower at %d", f.end)
		})
	}
}

// truncated cuts the log to end at off.
func (l epochLog) truncated(off int64) epochLog {
	out := epochLog{end: off}
	for _, s := range l.starts {
		if s[1] < off {
			out.starts = append(out.starts, s)
		}
	}
	return out
}

func TestTruncationPointFallbacks(t *testing.T) {
	none := func(int32) (int32, int64) { return -1, -1 }
	if got := TruncationPoint(-1, -1, none, 100, 70); got != 70 {
		t.Fatalf("unknown end: %d, want the HW 70", got)
	}
	if got := TruncationPoint(-1, 80, none, 100, 70); got != 80 {
		t.Fatalf("unknown epoch with an offset: %d, want 80", got)
	}
	if got := TruncationPoint(3, 80, none, 100, 70); got != 80 {
		t.Fatalf("follower without epochs: %d, want the leader's 80", got)
	}
	if got := TruncationPoint(3, 180, none, 100, 70); got != 100 {
		t.Fatalf("never beyond the log end: %d", got)
	}
}
