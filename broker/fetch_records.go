package broker

// A fetch's record bytes are not read: each partition's batches are a
// file range of a segment (storage.Section), spliced into the response
// (protocol.Spliced) and sent from the file by the connection writer
// (sendfile on plaintext connections). The section keeps its segment file
// open, with the bytes it had, until the response is written or dropped,
// whatever retention, compaction or truncation do meanwhile (see
// broker/storage/section.go).

import (
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
