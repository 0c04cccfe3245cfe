package broker

// A fetch's record bytes are not read: each partition's batches are a
// file range of a segment (storage.Section), spliced into the response
// (protocol.Spliced) and sent from the file by the connection writer
// (sendfile on plaintext connections). The section keeps its segment file
// open, with the bytes it had, until the response is written or dropped,
// whatever retention, compaction or truncation do meanwhile (see
// broker/storage/section.go).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/storage"
	"gregor/protocol"
)

// pendingRange is a section read by a run, spliced into its partition's
// records once the response's partitions are in place.
type pendingRange struct {
	topic, partition int // indexes into the response
	sec              *storage.Section
}

// recordsPending stands in a partition's records until they are spliced.
var recordsPending = []byte{0}

// startRun starts a run that builds resp.
func (fs *fetchState) startRun(resp *kmsg.FetchResponse) {
	fs.out = protocol.NewSpliced(resp)
	fs.pending, fs.cur, fs.rangeBytes = fs.pending[:0], nil, 0
	fs.sess.startRun()
}

// partitionsFor returns the slice a topic's answered partitions are
// appended to: sized for all of them unless the fetch is incremental
// (which answers few, usually).
func (fs *fetchState) partitionsFor(n int) []kmsg.FetchResponseTopicPartition {
	if fs.sess.kind == sessionIncremental {
		return nil
	}
	return make([]kmsg.FetchResponseTopicPartition, 0, n)
}

// readRecords finds the batches a fetch returns from lg for the partition
// being built (sp) and returns their length; place puts them in the
// response.
func (fs *fetchState) readRecords(lg *storage.Log, off, limit int64, maxBytes int32, minOne bool, sp *kmsg.FetchResponseTopicPartition) (int, error) {
	sec, err := lg.ReadSection(off, limit, maxBytes, minOne)
	if err != nil || sec == nil {
		return 0, err
	}
	fs.cur = sec
	sp.RecordBatches = recordsPending
	fs.rangeBytes += sec.Len()
	return sec.Len(), nil
}

// place records where partition k went in the response (topic and
// partition indexes), or that it was left out (k < 0).
func (fs *fetchState) place(k, topic, partition int) {
	if k >= 0 {
		fs.sess.placed(k, topic, partition)
	}
	if fs.cur == nil {
		return
	}
	if k < 0 { // not answered: cannot happen with records, but never leak
		fs.rangeBytes -= fs.cur.Len()
		fs.cur.Release()
	} else {
		fs.pending = append(fs.pending, pendingRange{topic, partition, fs.cur})
	}
	fs.cur = nil
}

// spliceRecords splices the sections read into their partitions.
func (fs *fetchState) spliceRecords(resp *kmsg.FetchResponse) {
	for _, pr := range fs.pending {
		fs.out.Splice(&resp.Topics[pr.topic].Partitions[pr.partition].RecordBatches, pr.sec)
	}
	clear(fs.pending)
	fs.pending = fs.pending[:0]
}

// newResponse is an empty response of last's version, for a re-run.
func (fs *fetchState) newResponse(last *protocol.Spliced) *kmsg.FetchResponse {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = last.GetVersion()
	return resp
}

// answer completes a fetch's response with its session (fetch_session.go).
// If the session moved on while the fetch waited (a duplicate request), the
// answer is INVALID_FETCH_SESSION_EPOCH with no partitions, as in Kafka.
func (fs *fetchState) answer(out *protocol.Spliced) kmsg.Response {
	if fs.b.sessions.finish(fs.sess, fs.r, out.Response.(*kmsg.FetchResponse)) {
		return out
	}
	out.Release()
	resp := fs.newResponse(out)
	resp.ErrorCode = kerr.InvalidFetchSessionEpoch.Code
	resp.SessionID = fs.sess.sess.id
	return resp
}
