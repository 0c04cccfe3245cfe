package coordinator

// The server-side assignors of consumer groups (group.consumer.assignors),
// pure functions from the members' subscriptions and current targets to
// the new target assignment.
//
//   - uniform spreads the partitions of each topic over the members
//     subscribed to it so that member loads differ by at most one where
//     subscriptions allow, keeping every partition with its current
//     owner when that does not unbalance the group (sticky).
//   - range gives each member subscribed to a topic a contiguous range of
//     its partitions, the first members (static members by instance id,
//     then members by id) one more when they do not divide evenly; with
//     equal subscriptions and partition counts, a member gets the same
//     partition numbers of every topic (co-partitioning), as Kafka's
//     RangeAssignor.

import (
	"slices"
	"sort"
)

// assignMember is a member as an assignor sees it.
type assignMember struct {
	id         string
	instanceID *string
	topics     map[topicID]bool // subscribed topics that exist
	current    tpSet            // its current target (for stickiness)
}

// assignFunc computes a target assignment; partitions gives each
// subscribed topic's partition count.
type assignFunc func(members []assignMember, partitions map[topicID]int32) map[string]tpSet

// assignors are the server assignors by name.
var assignors = map[string]assignFunc{
	"uniform": uniformAssign,
	"range":   rangeAssign,
}

// uniformAssign is the uniform assignor.
func uniformAssign(members []assignMember, partitions map[topicID]int32) map[string]tpSet {
	ms := slices.Clone(members)
	sort.Slice(ms, func(i, j int) bool { return ms[i].id < ms[j].id })
	out := make(map[string]tpSet, len(ms))
	owned := make(map[tidp]bool)
	for _, m := range ms {
		out[m.id] = make(tpSet)
	}
	// Keep what each member holds and may still have.
	for _, m := range ms {
		for p := range m.current {
			n, ok := partitions[p.id]
			if ok && m.topics[p.id] && p.p >= 0 && p.p < n && !owned[p] {
				out[m.id][p] = struct{}{}
				owned[p] = true
			}
		}
	}
	// Give out the rest, partitions with the fewest candidates first,
	// each to its least loaded candidate.
	var free []tidp
	candidates := make(map[topicID][]string)
	for id, n := range partitions {
		for _, m := range ms {
			if m.topics[id] {
				candidates[id] = append(candidates[id], m.id)
			}
		}
		for p := int32(0); p < n; p++ {
			if tp := (tidp{id, p}); !owned[tp] && len(candidates[id]) > 0 {
				free = append(free, tp)
			}
		}
	}
	sort.Slice(free, func(i, j int) bool {
		a, b := free[i], free[j]
		if ca, cb := len(candidates[a.id]), len(candidates[b.id]); ca != cb {
			return ca < cb
		}
		return tidpLess(a, b)
	})
	for _, p := range free {
		best := ""
		for _, id := range candidates[p.id] {
			if best == "" || len(out[id]) < len(out[best]) {
				best = id
			}
		}
		out[best][p] = struct{}{}
	}
	uniformBalance(out, candidates)
	return out
}

// uniformBalance moves partitions from the most loaded members to the
// least loaded ones subscribed to their topics while that narrows the
// gap by more than one. Every move lowers the sum of squared loads, so
// it ends.
func uniformBalance(out map[string]tpSet, candidates map[topicID][]string) {
	for {
		ids := make([]string, 0, len(out))
		for id := range out {
			ids = append(ids, id)
		}
		// Most loaded first; ties by id for determinism.
		sort.Slice(ids, func(i, j int) bool {
			if a, b := len(out[ids[i]]), len(out[ids[j]]); a != b {
				return a > b
			}
			return ids[i] < ids[j]
		})
		if !uniformMoveOne(out, ids, candidates) {
			return
		}
	}
}

// uniformMoveOne makes one improving move, if there is one.
func uniformMoveOne(out map[string]tpSet, byLoad []string, candidates map[topicID][]string) bool {
	for _, from := range byLoad {
		parts := make([]tidp, 0, len(out[from]))
		for p := range out[from] {
			parts = append(parts, p)
		}
		// Give up the highest partitions first.
		sort.Slice(parts, func(i, j int) bool { return tidpLess(parts[j], parts[i]) })
		for _, p := range parts {
			to := ""
			for _, id := range candidates[p.id] {
				if len(out[id])+1 < len(out[from]) && (to == "" || len(out[id]) < len(out[to]) || len(out[id]) == len(out[to]) && id < to) {
					to = id
				}
			}
			if to != "" {
				delete(out[from], p)
				out[to][p] = struct{}{}
				return true
			}
		}
	}
	return false
}

func tidpLess(a, b tidp) bool {
	if a.id != b.id {
		return string(a.id[:]) < string(b.id[:])
	}
	return a.p < b.p
}

// rangeAssign is the range assignor.
func rangeAssign(members []assignMember, partitions map[topicID]int32) map[string]tpSet {
	ms := slices.Clone(members)
	sort.Slice(ms, func(i, j int) bool {
		a, b := ms[i], ms[j]
		switch {
		case a.instanceID != nil && b.instanceID != nil:
			return *a.instanceID < *b.instanceID
		case a.instanceID != nil:
			return true
		case b.instanceID != nil:
			return false
		}
		return a.id < b.id
	})
	out := make(map[string]tpSet, len(ms))
	for _, m := range ms {
		out[m.id] = make(tpSet)
	}
	for id, n := range partitions {
		var subs []string
		for _, m := range ms {
			if m.topics[id] {
				subs = append(subs, m.id)
			}
		}
		if len(subs) == 0 {
			continue
		}
		quota, extra := n/int32(len(subs)), n%int32(len(subs))
		next := int32(0)
		for i, mid := range subs {
			q := quota
			if int32(i) < extra {
				q++
			}
			for p := next; p < next+q && p < n; p++ {
				out[mid][tidp{id, p}] = struct{}{}
			}
			next += q
		}
	}
	return out
}
