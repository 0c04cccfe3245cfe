package replica

// Where a follower cuts its log when the leader reports a diverging epoch
// (Fetch v12+ DivergingEpoch, or OffsetForLeaderEpoch), as Kafka's
// fetcher does (KIP-101, KIP-279, KIP-320).

// EpochEnd answers "where does epoch end in my log": the largest epoch at
// or below the one asked for and its end offset, or (-1, -1) if unknown.
type EpochEnd func(epoch int32) (int32, int64)

// TruncationPoint is the offset a follower truncates to, given the
// leader's answer (divEpoch, divEnd) for the follower's last epoch, the
// follower's own epoch history, its log end and high watermark.
//
//   - The leader knows no end offset: fall back to the high watermark.
//   - The leader knows no epoch but an offset: cut at that offset.
//   - The follower has the leader's epoch: cut at the smaller of both
//     ends of that epoch.
//   - The follower lacks it: cut at the end of its largest smaller epoch
//     (the next fetch narrows it further).
//   - The follower tracks no epochs: cut at the leader's offset.
//
// The result is never beyond the follower's log end.
func TruncationPoint(divEpoch int32, divEnd int64, follower EpochEnd, leo, hw int64) int64 {
	if divEnd < 0 {
		return min(hw, leo)
	}
	if divEpoch < 0 {
		return min(divEnd, leo)
	}
	fe, fend := follower(divEpoch)
	switch {
	case fe < 0 || fend < 0:
		return min(divEnd, leo)
	case fe != divEpoch:
		return min(fend, leo)
	default:
		return min(fend, divEnd, leo)
	}
}

// Diverges is the leader's check of a follower fetch at fetchOffset whose
// last batch has lastFetchedEpoch: it returns whether the follower's log
// diverges and, if so, the leader's (epoch, end offset) to send back.
func Diverges(lastFetchedEpoch int32, fetchOffset int64, leader EpochEnd) (bool, int32, int64) {
	if lastFetchedEpoch < 0 {
		return false, -1, -1
	}
	epoch, end := leader(lastFetchedEpoch)
	if epoch < lastFetchedEpoch || end < fetchOffset {
		return true, epoch, end
	}
	return false, -1, -1
}
