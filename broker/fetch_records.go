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

// readRecords splices into sp the batches a fetch returns from lg and
// returns their length.
func (fs *fetchState) readRecords(lg *storage.Log, off, limit int64, maxBytes int32, minOne bool, sp *kmsg.FetchResponseTopicPartition) (int, error) {
	sec, err := lg.ReadSection(off, limit, maxBytes, minOne)
	if err != nil || sec == nil {
		return 0, err
	}
	fs.out.Splice(&sp.RecordBatches, sec)
	return sec.Len(), nil
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
