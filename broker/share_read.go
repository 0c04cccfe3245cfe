package broker

// Reading the log for a share partition: the batches from its next
// offset on become spans for the state machine (control batches, and
// under read_committed batches of aborted transactions, are skipped and
// archived), and the response carries only the batches that hold
// acquired records.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/records"
	"gregor/broker/share"
)

// shareAcquired is what one acquisition on a share partition got.
type shareAcquired struct {
	records []byte
	runs    []share.Run
}

// count is the number of offsets acquired.
func (a *shareAcquired) count() int {
	n := 0
	for _, r := range a.runs {
		n += int(r.Last - r.First + 1)
	}
	return n
}

// shareAcquire is one acquisition's parameters.
type shareAcquire struct {
	member        string
	maxRecords    int
	wholeBatches  bool // a batch begun is acquired whole (share.AcquireRequest)
	maxBytes      int32
	readCommitted bool
	lockMs        int64
}

// shareReadChunk is the first read of an acquisition; each further read
// doubles it, so a fetch of a few records does not read (and allocate) a
// whole MaxBytes of log.
const shareReadChunk = 64 << 10

// acquire reads the log from the share partition's next offset and
// acquires what it can for the member, reading on while it got fewer
// records than it may and there is more to read.
func (sp *sharePart) acquire(a shareAcquire) (shareAcquired, error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.dropped || !sp.p.IsLeader() || sp.p.LeaderEpoch() != sp.leaderEpoch {
		return shareAcquired{}, kerr.NotLeaderForPartition
	}
	sp.sp.MoveStart(sp.p.LogStartOffset())
	var out shareAcquired
	budget, chunk, after := max(a.maxBytes, 1), int32(shareReadChunk), int64(-1)
	for {
		before := len(out.records)
		more, err := sp.acquireOnce(a, min(budget, chunk), &out, &after)
		budget -= int32(len(out.records) - before)
		if err != nil || !more || out.count() >= a.maxRecords || budget <= 0 {
			return out, err
		}
		chunk *= 2
	}
}

// acquireOnce is one read and acquisition; more reports whether it
// acquired anything (another read may find more). after is the last
// offset of the batches already returned.
func (sp *sharePart) acquireOnce(a shareAcquire, maxBytes int32, out *shareAcquired, after *int64) (more bool, err error) {
	s := sp.sp
	if !s.CanAcquire() {
		return false, nil
	}
	from := s.NextFetchOffset()
	limit := sp.p.HighWatermark()
	if a.readCommitted {
		limit = sp.p.LastStableOffset()
	}
	if from >= limit {
		return false, nil
	}
	lg, err := sp.p.fetchLog(-1, -1, false)
	if err != nil {
		return false, err
	}
	data, err := lg.Read(from, limit, maxBytes, true)
	if err != nil {
		return false, err
	}
	var aborted []kmsg.FetchResponseTopicPartitionAbortedTransaction
	if a.readCommitted {
		aborted = sp.p.abortedTxns(from, limit)
	}
	spans, pos, err := shareSpans(data, aborted)
	if err != nil {
		return false, kerr.CorruptMessage
	}
	runs := s.Acquire(share.AcquireRequest{Member: a.member, From: from, Spans: spans, MaxRecords: a.maxRecords - out.count(),
		WholeBatches: a.wholeBatches, Now: sp.b.now().UnixMilli(), LockMs: a.lockMs})
	sp.armLocked()
	out.records = holding(out.records, data, spans, pos, runs, after)
	for _, r := range runs {
		if n := len(out.runs); n > 0 && out.runs[n-1].Last+1 == r.First && out.runs[n-1].Count == r.Count {
			out.runs[n-1].Last = r.Last
			continue
		}
		out.runs = append(out.runs, r)
	}
	return len(runs) > 0, nil
}

// batchPos is where a batch lies in the data read.
type batchPos struct{ lo, hi int }

// shareSpans describes the batches read. With aborted (read_committed),
// batches of aborted transactions are skipped: a producer's batches from
// its aborted transaction's first offset up to its abort marker.
func shareSpans(data []byte, aborted []kmsg.FetchResponseTopicPartitionAbortedTransaction) ([]share.Span, []batchPos, error) {
	var spans []share.Span
	var pos []batchPos
	active := map[int64]bool{}
	next, at := 0, 0
	_, err := records.Split(data, func(b []byte) error {
		h, err := records.ParseHeader(b)
		if err != nil {
			return err
		}
		for next < len(aborted) && aborted[next].FirstOffset <= h.LastOffset() {
			active[aborted[next].ProducerID] = true
			next++
		}
		skip := h.IsControl()
		switch {
		case h.IsControl() && active[h.ProducerID]:
			delete(active, h.ProducerID) // the abort marker ends the transaction
		case h.IsTransactional() && active[h.ProducerID]:
			skip = true
		}
		spans = append(spans, share.Span{First: h.BaseOffset, Last: h.LastOffset(), Skip: skip})
		pos = append(pos, batchPos{lo: at, hi: at + len(b)})
		at += len(b)
		return nil
	})
	return spans, pos, err
}

// holding appends to out the batches that hold an acquired offset,
// leaving out those up to after (already returned), and moves after.
func holding(out, data []byte, spans []share.Span, pos []batchPos, runs []share.Run, after *int64) []byte {
	j := 0
	for i, s := range spans {
		for j < len(runs) && runs[j].Last < s.First {
			j++
		}
		if j < len(runs) && runs[j].First <= s.Last && !s.Skip && s.First > *after {
			out = append(out, data[pos[i].lo:pos[i].hi]...)
			*after = s.Last
		}
	}
	return out
}
