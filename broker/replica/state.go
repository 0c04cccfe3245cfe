package replica

import (
	"slices"
	"time"
)

// Follower is what the leader knows of one follower.
type Follower struct {
	LEO int64
	// LogStart is the follower's log start offset as its last fetch gave
	// it (-1 if unknown).
	LogStart int64
	// LastCaughtUp is the last time the follower had fetched everything
	// the leader had when the follower's previous fetch arrived.
	LastCaughtUp time.Time
	lastFetch    time.Time
	lastFetchLEO int64 // the leader's LEO at lastFetch
	// joining is set while the follower's addition to the ISR is being
	// persisted: it holds the HW as if in the ISR (Kafka's maximal ISR).
	joining bool
}

// State is a leader's replication state for one partition. The partition's
// lock guards it.
type State struct {
	Self     int32
	Epoch    int32
	Replicas []int32
	ISR      []int32
	// EpochStart is the leader's LEO when it became leader: a follower is
	// in sync only once it has reached it.
	EpochStart int64
	LEO        int64
	HW         int64
	Followers  map[int32]*Follower
	// MinISR is the topic's min.insync.replicas. Capped at the number of
	// replicas (Kafka's effectiveMinIsr), it holds the high watermark
	// while the ISR is smaller, and refuses acks=all produces.
	MinISR int
	// MaxLag is replica.lag.time.max.ms: a follower outside the ISR that
	// caught up within it holds the HW (zero: none does).
	MaxLag time.Duration
	// Eligible reports whether a follower's broker may join the ISR
	// (nil: every one may); Now is the clock (nil: time.Now). Both are
	// asked only for a caught-up follower outside the ISR.
	Eligible func(id int32) bool
	Now      func() time.Time
}

// NewLeader returns the state of a replica that just became leader.
func NewLeader(self, epoch int32, replicas, isr []int32, leo, hw int64, minISR int, now time.Time) *State {
	s := &State{
		Self: self, Epoch: epoch, MinISR: minISR,
		Replicas: slices.Clone(replicas), ISR: slices.Clone(isr),
		EpochStart: leo, LEO: leo, HW: min(hw, leo),
		Followers: make(map[int32]*Follower),
	}
	for _, r := range replicas {
		if r != self {
			s.Followers[r] = s.newFollower(r, now)
		}
	}
	s.advanceHW()
	return s
}

// newFollower is a follower whose position is not known yet. As Kafka's
// Replica.resetReplicaState, an ISR follower starts as caught up "now", so
// a new leader does not evict its ISR before they fetch; any other one as
// never caught up, so it does not hold the HW until it is.
func (s *State) newFollower(id int32, now time.Time) *Follower {
	f := &Follower{LEO: -1, LogStart: -1, lastFetchLEO: -1}
	if s.InISR(id) {
		f.LastCaughtUp = now
	}
	return f
}

// InISR reports whether id is in the ISR.
func (s *State) InISR(id int32) bool { return slices.Contains(s.ISR, id) }

// Append records the leader's new LEO after an append and returns whether
// the high watermark moved.
func (s *State) Append(leo int64) bool {
	s.LEO = leo
	return s.advanceHW()
}

// UnderMinISR reports whether the ISR is smaller than min.insync.replicas
// capped at the number of replicas, as Kafka's isUnderMinIsr: a topic of
// one replica takes acks=all produces whatever its min.insync.replicas.
func (s *State) UnderMinISR() bool {
	return len(s.ISR) < min(s.MinISR, len(s.Replicas))
}

// UnderMinMaximalISR is UnderMinISR counting, as Kafka's maximal ISR, the
// followers whose addition to the ISR is pending (joining): what Kafka's
// checkEnoughReplicasReachOffset compares with min.insync.replicas when
// an acks=all produce completes.
func (s *State) UnderMinMaximalISR() bool {
	n := len(s.ISR)
	for id, f := range s.Followers {
		if f.joining && !s.InISR(id) {
			n++
		}
	}
	return n < min(s.MinISR, len(s.Replicas))
}

// SetMinISR installs a new min.insync.replicas and returns whether the
// high watermark moved (a lower one may release it).
func (s *State) SetMinISR(n int) bool {
	s.MinISR = n
	return s.advanceHW()
}

// advanceHW moves the HW to the smallest LEO in the ISR (never back). As
// Kafka's maybeIncrementLeaderHW (since KIP-966), it holds while the ISR
// is under min.insync.replicas: records acknowledged with acks=1 then are
// not visible to consumers until enough replicas have them.
//
// As there, it also waits for followers about to join the ISR: one whose
// addition is being persisted, and one that caught up within MaxLag and
// may join. Otherwise the HW could pass a follower that then joins with
// less than the HW, and, elected, would lose acknowledged records.
func (s *State) advanceHW() bool {
	if s.UnderMinISR() {
		return false
	}
	hw := s.LEO
	for _, id := range s.ISR {
		if id == s.Self {
			continue
		}
		f, ok := s.Followers[id]
		if !ok || f.LEO < 0 {
			return false // unknown follower position: hold the HW
		}
		hw = min(hw, f.LEO)
	}
	if len(s.Followers) >= len(s.ISR) { // some follower is outside the ISR
		var now time.Time
		for id, f := range s.Followers {
			if f.LEO < 0 || f.LEO >= hw || s.InISR(id) {
				continue
			}
			if !f.joining {
				if s.MaxLag <= 0 {
					continue
				}
				if now.IsZero() {
					now = s.now()
				}
				if now.Sub(f.LastCaughtUp) > s.MaxLag || s.Eligible != nil && !s.Eligible(id) {
					continue
				}
			}
			hw = f.LEO
		}
	}
	if hw > s.HW {
		s.HW = hw
		return true
	}
	return false
}

func (s *State) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// SetJoining marks a follower whose addition to the ISR is being
// persisted (on) or no longer is, and returns whether the HW moved.
func (s *State) SetJoining(id int32, on bool) bool {
	f, ok := s.Followers[id]
	if !ok || f.joining == on {
		return false
	}
	f.joining = on
	return s.advanceHW()
}

// Tick re-evaluates the HW as time passes, and returns whether it moved:
// a follower outside the ISR holds it only while it caught up within
// MaxLag and its broker may join, and one that stopped fetching (killed,
// or its broker gone) is otherwise waited for until the next append or
// fetch.
func (s *State) Tick() bool { return s.advanceHW() }

// ClearJoining ends every follower's joining (a state of the partition
// newer than the one their ISR additions were based on is in force, which
// says whether they were made) and returns whether the HW moved.
func (s *State) ClearJoining() bool {
	cleared := false
	for _, f := range s.Followers {
		if f.joining {
			f.joining, cleared = false, true
		}
	}
	return cleared && s.advanceHW()
}

// FetchResult is what a follower fetch changed.
type FetchResult struct {
	HWMoved bool
	// ExpandISR is set when the follower caught up and should join the
	// ISR; the caller persists the new ISR and then calls SetISR.
	ExpandISR bool
}

// FollowerFetch records a fetch from follower id at fetchOffset (its LEO)
// with its log start offset.
func (s *State) FollowerFetch(id int32, fetchOffset, logStart int64, now time.Time) FetchResult {
	f, ok := s.Followers[id]
	if !ok {
		return FetchResult{}
	}
	f.LogStart = logStart
	switch {
	case fetchOffset >= s.LEO:
		f.LastCaughtUp = later(f.LastCaughtUp, now)
	case fetchOffset >= f.lastFetchLEO:
		f.LastCaughtUp = later(f.LastCaughtUp, f.lastFetch)
	}
	f.LEO, f.lastFetch, f.lastFetchLEO = fetchOffset, now, s.LEO
	r := FetchResult{HWMoved: s.advanceHW()}
	if !s.InISR(id) && fetchOffset >= s.HW && fetchOffset >= s.EpochStart {
		r.ExpandISR = true
	}
	return r
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Laggards returns the ISR followers that have not caught up within
// maxLag; the caller removes them (persisting the ISR) with SetISR. As
// Kafka's Replica.isCaughtUp, a follower whose log end is the leader's is
// never one, however long ago it last fetched: a follower that stops
// fetching from an idle partition stays in sync until the leader appends.
func (s *State) Laggards(now time.Time, maxLag time.Duration) []int32 {
	var out []int32
	for _, id := range s.ISR {
		if id == s.Self {
			continue
		}
		f, ok := s.Followers[id]
		if !ok || f.LEO != s.LEO && now.Sub(f.LastCaughtUp) > maxLag {
			out = append(out, id)
		}
	}
	return out
}

// SetReplicas installs a new assignment at the same leader epoch (a
// reassignment adds or removes replicas without a new leader): an added
// follower starts unknown and caught up "now", as at a leader's start; a
// follower no longer assigned is forgotten unless the ISR still holds it.
// The assignment and the leader epoch may reach the leader in either
// order, so the leader must not wait for a new epoch to know a replica.
func (s *State) SetReplicas(replicas []int32, now time.Time) {
	s.Replicas = slices.Clone(replicas)
	for _, r := range replicas {
		if r != s.Self && s.Followers[r] == nil {
			s.Followers[r] = s.newFollower(r, now)
		}
	}
	for id := range s.Followers {
		if !slices.Contains(replicas, id) && !s.InISR(id) {
			delete(s.Followers, id)
		}
	}
}

// SetISR installs a new ISR (after it was persisted) and returns whether
// the high watermark moved. A follower that leaves the ISR counts as never
// caught up until it fetches again: the leader took it out for lagging,
// or the controller did because its broker is stopping (a controlled
// shutdown, a replica that cannot serve), and it must not hold the HW as
// one about to join (Kafka 4 does not let a broker in controlled shutdown
// hold it, isReplicaIsrEligible; ZooKeeper-mode Kafka bumped the leader
// epoch, whose resetReplicaState has the same effect).
func (s *State) SetISR(isr []int32) bool {
	for _, id := range s.ISR {
		if f := s.Followers[id]; f != nil && !slices.Contains(isr, id) {
			f.LastCaughtUp, f.lastFetch, f.lastFetchLEO = time.Time{}, time.Time{}, s.LEO
		}
	}
	s.ISR = slices.Clone(isr)
	for _, id := range isr {
		if f := s.Followers[id]; f != nil {
			f.joining = false
		}
	}
	return s.advanceHW()
}

// Without returns isr without the ids in drop.
func Without(isr, drop []int32) []int32 {
	out := make([]int32, 0, len(isr))
	for _, id := range isr {
		if !slices.Contains(drop, id) {
			out = append(out, id)
		}
	}
	return out
}
