package coordinator

// Reconciliation of a member towards its target assignment, as Kafka's
// CurrentAssignmentBuilder: a pure function of the member's current
// assignment, the target and the partitions' current owners.
//
// A member keeps what stays its, gives up (revokes) what goes, and takes
// what is new only once the previous owner released it:
//
//	STABLE                 a newer target: reconcile towards it
//	UNREVOKED_PARTITIONS   wait until the member no longer reports any
//	                       partition it must revoke, then move to the
//	                       next epoch and reconcile again
//	UNRELEASED_PARTITIONS  take the partitions released meanwhile
//	UNKNOWN                (a state a newer version wrote) fence the
//	                       member unless it owns nothing
//
// A member that changes its subscription gives up the partitions of the
// topics it left at once, even while it is still revoking others
// (KAFKA-19431), and a partition the member itself is revoking is not
// waited for when its target gives it back (KAFKA-19449).

import "github.com/twmb/franz-go/pkg/kerr"

// subscription is what a member subscribes to as of this heartbeat: the
// ids of the topics it resolves to (nil: every topic), and whether it
// changed on this heartbeat.
type subscription struct {
	topics  map[topicID]bool
	changed bool
}

func (s subscription) has(id topicID) bool { return s.topics == nil || s.topics[id] }

// reconcile returns the member's next assignment. owned is what the
// member reported owning, nil if it did not say; ownerEpoch gives the
// epoch of a partition's current owner, -1 when it is free.
func reconcile(cur memberAssign, targetEpoch int32, target tpSet, ownerEpoch func(tidp) int32, owned tpSet, sub subscription) (memberAssign, *kerr.Error) {
	switch cur.state {
	case memberStable:
		if cur.epoch != targetEpoch {
			return nextAssignment(cur, cur.epoch, targetEpoch, target, ownerEpoch, owned, sub), nil
		}
		if sub.changed {
			return dropUnsubscribed(cur, owned, sub), nil
		}
		return cur, nil
	case memberUnrevoked:
		if ownsAny(owned, cur.revoking) {
			if sub.changed {
				return dropUnsubscribed(cur, owned, sub), nil
			}
			return cur, nil
		}
		return nextAssignment(cur, cur.epoch+1, targetEpoch, target, ownerEpoch, owned, sub), nil
	case memberUnreleased:
		return nextAssignment(cur, cur.epoch, targetEpoch, target, ownerEpoch, owned, sub), nil
	default:
		if owned == nil || len(owned) > 0 {
			return cur, kerr.FencedMemberEpoch
		}
		return nextAssignment(cur, targetEpoch, targetEpoch, target, ownerEpoch, owned, sub), nil
	}
}

// dropUnsubscribed moves the member's partitions of topics it no longer
// subscribes to into revoking, its epoch and previous epoch unchanged
// (Kafka's updateCurrentAssignment): it is asked to revoke them now, or,
// if it no longer owns them, they are simply gone from its assignment.
func dropUnsubscribed(cur memberAssign, owned tpSet, sub subscription) memberAssign {
	var keep, revoking tpSet
	for p := range cur.assigned {
		if sub.has(p.id) {
			continue
		}
		if keep == nil {
			keep, revoking = cur.assigned.clone(), cur.revoking.clone()
		}
		delete(keep, p)
		revoking[p] = struct{}{}
	}
	if keep == nil {
		return cur
	}
	next := cur
	next.assigned = keep
	if len(revoking) > 0 && ownsAny(owned, revoking) {
		next.state, next.revoking = memberUnrevoked, revoking
	}
	return next
}

// ownsAny reports whether the member still owns one of revoking; a member
// that did not report what it owns is assumed to own everything.
func ownsAny(owned, revoking tpSet) bool {
	if owned == nil {
		return true
	}
	for p := range owned {
		if _, ok := revoking[p]; ok {
			return true
		}
	}
	return false
}

// withEpoch moves an assignment to epoch, remembering the previous one.
func withEpoch(a memberAssign, epoch int32) memberAssign {
	a.prevEpoch, a.epoch = a.epoch, epoch
	return a
}

// nextAssignment computes the member's next step at memberEpoch towards
// the target of targetEpoch.
func nextAssignment(cur memberAssign, memberEpoch, targetEpoch int32, target tpSet, ownerEpoch func(tidp) int32, owned tpSet, sub subscription) memberAssign {
	keep, revoke, add := make(tpSet), make(tpSet), make(tpSet)
	unreleased := false
	for p := range cur.assigned {
		if _, ok := target[p]; ok && sub.has(p.id) {
			keep[p] = struct{}{}
		} else {
			revoke[p] = struct{}{}
		}
	}
	for p := range target {
		if _, ok := keep[p]; ok || !sub.has(p.id) {
			continue
		}
		// A partition this member is revoking is its own to take back:
		// only one member owns a partition at a time.
		if _, mine := cur.revoking[p]; ownerEpoch(p) != -1 && !mine {
			unreleased = true
			continue
		}
		add[p] = struct{}{}
	}
	if len(revoke) > 0 && ownsAny(owned, revoke) {
		// Revoke first, at the member's epoch.
		next := withEpoch(cur, memberEpoch)
		next.state, next.assigned, next.revoking = memberUnrevoked, keep, revoke
		return next
	}
	for p := range add {
		keep[p] = struct{}{}
	}
	next := withEpoch(cur, targetEpoch)
	next.state, next.assigned, next.revoking = memberStable, keep, tpSet{}
	if unreleased {
		next.state = memberUnreleased
	}
	return next
}
