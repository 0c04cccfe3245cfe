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

import "github.com/twmb/franz-go/pkg/kerr"

// reconcile returns the member's next assignment. owned is what the
// member reported owning, nil if it did not say; ownerEpoch gives the
// epoch of a partition's current owner, -1 when it is free.
func reconcile(cur memberAssign, targetEpoch int32, target tpSet, ownerEpoch func(tidp) int32, owned tpSet) (memberAssign, *kerr.Error) {
	switch cur.state {
	case memberStable:
		if cur.epoch != targetEpoch {
			return nextAssignment(cur, cur.epoch, targetEpoch, target, ownerEpoch, owned), nil
		}
		return cur, nil
	case memberUnrevoked:
		if ownsAny(owned, cur.revoking) {
			return cur, nil
		}
		return nextAssignment(cur, cur.epoch+1, targetEpoch, target, ownerEpoch, owned), nil
	case memberUnreleased:
		return nextAssignment(cur, cur.epoch, targetEpoch, target, ownerEpoch, owned), nil
	default:
		if owned == nil || len(owned) > 0 {
			return cur, kerr.FencedMemberEpoch
		}
		return nextAssignment(cur, targetEpoch, targetEpoch, target, ownerEpoch, owned), nil
	}
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
func nextAssignment(cur memberAssign, memberEpoch, targetEpoch int32, target tpSet, ownerEpoch func(tidp) int32, owned tpSet) memberAssign {
	keep, revoke, add := make(tpSet), make(tpSet), make(tpSet)
	unreleased := false
	for p := range cur.assigned {
		if _, ok := target[p]; ok {
			keep[p] = struct{}{}
		} else {
			revoke[p] = struct{}{}
		}
	}
	for p := range target {
		if _, ok := keep[p]; ok {
			continue
		}
		if ownerEpoch(p) != -1 {
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
