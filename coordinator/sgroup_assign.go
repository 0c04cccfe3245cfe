package coordinator

// The share groups' server-side assignor, after the principles of Kafka's
// SimpleAssignor: every assignable partition goes to at least one member
// subscribed to its topic; with more members than partitions, partitions
// are shared, as evenly as possible, and every member gets one; with
// fewer, members get partitions in numbers that differ by at most one;
// and what a member had it keeps where balance allows (stickiness).

import "sort"

// shareAssignMember is a member as the assignor sees it.
type shareAssignMember struct {
	id      string
	topics  map[topicID]bool
	current tpSet
}

// simpleAssign assigns the partitions (each topic's, by id) to the
// members.
func simpleAssign(members []shareAssignMember, partitions map[topicID][]int32) map[string]tpSet {
	out := make(map[string]tpSet, len(members))
	sort.Slice(members, func(i, j int) bool { return members[i].id < members[j].id })
	for _, m := range members {
		out[m.id] = tpSet{}
	}
	var all []tidp
	for id, ps := range partitions {
		for _, p := range ps {
			all = append(all, tidp{id, p})
		}
	}
	if len(all) == 0 || len(members) == 0 {
		return out
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].id != all[j].id {
			return string(all[i].id[:]) < string(all[j].id[:])
		}
		return all[i].p < all[j].p
	})
	a := &shareAssignment{out: out, owners: make(map[tidp]int, len(all))}
	nm, np := len(members), len(all)
	sharing, perMember := 1, 1
	if nm > np {
		sharing = (nm + np - 1) / np
	} else {
		perMember = (np + nm - 1) / nm
	}
	// Keep what members had, within the caps.
	for _, m := range members {
		for _, p := range sortedParts(m.current) {
			if m.topics[p.id] && a.has(p, partitions) && len(out[m.id]) < perMember && a.owners[p] < sharing {
				a.give(m.id, p)
			}
		}
	}
	// Every partition gets an owner: the least loaded eligible member.
	for _, p := range all {
		if a.owners[p] > 0 {
			continue
		}
		if best := a.leastLoaded(members, p); best != "" {
			a.give(best, p)
		}
	}
	// Every member gets a partition: the least shared eligible one.
	for _, m := range members {
		if len(out[m.id]) > 0 {
			continue
		}
		var best tidp
		found := false
		for _, p := range all {
			if m.topics[p.id] && (!found || a.owners[p] < a.owners[best]) {
				best, found = p, true
			}
		}
		if found {
			a.give(m.id, best)
		}
	}
	return out
}

// shareAssignment is an assignment being built.
type shareAssignment struct {
	out    map[string]tpSet
	owners map[tidp]int
}

func (a *shareAssignment) give(member string, p tidp) {
	a.out[member][p] = struct{}{}
	a.owners[p]++
}

func (a *shareAssignment) has(p tidp, partitions map[topicID][]int32) bool {
	for _, q := range partitions[p.id] {
		if q == p.p {
			return true
		}
	}
	return false
}

// leastLoaded is the eligible member with the fewest partitions (by id on
// a tie), or "".
func (a *shareAssignment) leastLoaded(members []shareAssignMember, p tidp) string {
	best := ""
	for _, m := range members {
		if m.topics[p.id] && (best == "" || len(a.out[m.id]) < len(a.out[best])) {
			best = m.id
		}
	}
	return best
}

// sortedParts lists a set in topic id, partition order.
func sortedParts(s tpSet) []tidp {
	out := make([]tidp, 0, len(s))
	for p := range s {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].id != out[j].id {
			return string(out[i].id[:]) < string(out[j].id[:])
		}
		return out[i].p < out[j].p
	})
	return out
}
