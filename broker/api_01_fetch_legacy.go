package broker

// Fetch (key 1), versions 0-3: clients that read only the legacy message
// formats, magic 0 (Fetch v0-1) and magic 1 (v2-3): kafka-python pinned to
// 0.8-0.10, sarama and franz-go pinned below 0.11, librdkafka with
// api.version.request=false. The log holds v2 batches, so each
// partition's data is down-converted (records.DownConvert) as Kafka 3.x's
// KafkaApis does: control batches dropped, headers lost, a compressed
// batch as one wrapper. An old fetch has no isolation level: it reads up
// to the high watermark, aborted records included, as in Kafka.
//
// Per partition, as Kafka, in this order:
//   - compression.type=zstd on the topic: UNSUPPORTED_COMPRESSION_TYPE;
//   - message.downconversion.enable=false on the topic (or
//     log.message.downconversion.enable=false on the broker): UNSUPPORTED_VERSION;
//   - a zstd batch at the fetch offset: UNSUPPORTED_COMPRESSION_TYPE (a
//     zstd batch after other data ends the conversion there; the client
//     meets it on its next fetch);
//   - a storage error is NOT_LEADER_OR_FOLLOWER, which these clients retry.
// The topic's config answers a follower's replica too (over
// NOT_LEADER_OR_FOLLOWER), as Kafka answers every partition with a local
// log by it.
//
// Sizes: fetch.max.bytes caps MaxBytes (v3) as for v4+. v0-2 have no
// response-wide limit, only PartitionMaxBytes. The converted data of a
// partition stays within its byte budget except for its first converted
// batch, always given whole (KIP-74), even to v0-2 clients, which Kafka
// sends a partial message instead: these clients read a whole message
// larger than they asked for, and make progress. A read that yields no
// message (transaction markers only) reads on past them.
//
// No fetch sessions (v7+) exist here. Followers fetch with v4+, and v0-3
// fetches are served as a consumer's; but they are authorized as Kafka's
// are, whatever the version: a replica id needs CLUSTER_ACTION on the
// cluster, a consumer READ on each topic (else TOPIC_AUTHORIZATION_FAILED,
// before whether the topic exists).

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/broker/config"
	"gregor/broker/records"
	"gregor/protocol"
)

// legacyFetch is one v0-3 fetch request being served.
type legacyFetch struct {
	b       *Broker
	r       *kmsg.FetchRequest
	magic   int8
	version int16
	parts   []*Partition // per requested partition in order; nil if unknown
	known   []bool       // per requested topic
	denied  []bool       // per requested topic: not authorized
	// maxBytes and minBytes are the request's, capped (fetchLimits).
	maxBytes, minBytes int32
}

// legacyMagic is the message format a Fetch version reads.
func legacyMagic(version int16) int8 {
	if version <= 1 {
		return 0
	}
	return 1
}

func (b *Broker) handleFetchLegacy(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.FetchRequest)
	lf := &legacyFetch{b: b, r: r, magic: legacyMagic(req.Version), version: req.Version}
	lf.maxBytes, lf.minBytes = fetchLimits(b.Config(), r.MaxBytes, r.MinBytes, false)
	lf.resolve()
	lf.authorize(req)
	first, bytes, errs := lf.run(req.Response().(*kmsg.FetchResponse))
	if errs || bytes >= int(lf.minBytes) || r.MaxWaitMillis <= 0 {
		return first, nil
	}
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		return lf.wait(ctx, first), nil
	})
	return nil, nil
}

// resolve looks up every requested topic and partition once.
func (lf *legacyFetch) resolve() {
	lf.known = make([]bool, len(lf.r.Topics))
	for i := range lf.r.Topics {
		rt := &lf.r.Topics[i]
		t := lf.b.Topic(rt.Topic)
		lf.known[i] = t != nil
		for _, rp := range rt.Partitions {
			var p *Partition
			if t != nil {
				p = t.Partition(rp.Partition)
			}
			lf.parts = append(lf.parts, p)
		}
	}
}

// authorize applies Kafka's fetch authorization: a replica id needs
// CLUSTER_ACTION on the cluster, a consumer READ on each topic.
func (lf *legacyFetch) authorize(req *protocol.Request) {
	lf.denied = make([]bool, len(lf.r.Topics))
	b := lf.b
	if b.authz == nil {
		return
	}
	replica := lf.r.ReplicaID >= 0
	cluster := replica && b.authorizeCluster(req, acl.ClusterAction)
	for i := range lf.r.Topics {
		if replica {
			lf.denied[i] = !cluster
		} else {
			lf.denied[i] = !b.authorize(req, acl.Read, acl.Topic, lf.r.Topics[i].Topic)
		}
	}
}

// run builds a full response into resp and reports its record bytes and
// whether any partition failed.
func (lf *legacyFetch) run(resp *kmsg.FetchResponse) (*kmsg.FetchResponse, int, bool) {
	if legacyFetchRunHook != nil {
		legacyFetchRunHook()
	}
	budget := lf.maxBytes
	total, anyErr, k, readable := 0, false, 0, 0
	resp.Topics = make([]kmsg.FetchResponseTopic, len(lf.r.Topics))
	for i := range lf.r.Topics {
		rt := &lf.r.Topics[i]
		st := &resp.Topics[i]
		*st = kmsg.NewFetchResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.FetchResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			sp := &st.Partitions[j]
			*sp = kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rt.Partitions[j].Partition
			sp.RecordBatches = []byte{}
			p := lf.parts[k]
			k++
			var err error = kerr.UnknownTopicOrPartition
			if lf.denied[i] {
				err = kerr.TopicAuthorizationFailed
			} else if lf.known[i] && p != nil {
				// v0-2 have no response-wide limit: each partition gets its first batch.
				minOne := total == 0 || lf.version < 3
				err = lf.fetchPartition(p, &rt.Partitions[j], sp, &budget, minOne)
				if err != nil && lf.b.Topic(p.tp.Topic) != p.topic {
					err = kerr.UnknownTopicOrPartition // deleted meanwhile, as in v4+
				}
				// Only a read's error ends a long poll, as in v4+.
				anyErr = anyErr || err != nil
				readable++
			}
			if err != nil {
				sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1 // as in v4+
				sp.ErrorCode = lf.errorCode(err)
			}
			total += len(sp.RecordBatches)
		}
	}
	return resp, total, anyErr || readable == 0
}

// legacyFetchRunHook, if set (by tests), is called at the start of every
// run.
var legacyFetchRunHook func()

// errorCode maps a partition's error as for these versions: a storage
// error is NOT_LEADER_OR_FOLLOWER, which old clients retry (Kafka's
// maybeDownConvertStorageError).
func (lf *legacyFetch) errorCode(err error) int16 {
	if errors.Is(err, records.ErrZstdDownConversion) {
		return kerr.UnsupportedCompressionType.Code
	}
	code := ErrorCode(lf.b.log, err)
	if code == kerr.KafkaStorageError.Code {
		code = kerr.NotLeaderForPartition.Code
	}
	return code
}

// fetchPartition reads one partition up to its high watermark and
// down-converts what it read into sp.
func (lf *legacyFetch) fetchPartition(p *Partition, rp *kmsg.FetchRequestTopicPartition, sp *kmsg.FetchResponseTopicPartition, budget *int32, minOne bool) error {
	cfg := p.topic.Config()
	lg, err := p.fetchLog(-1, -1, false)
	if err != nil {
		// Kafka's maybeConvertFetchedData answers every partition with a
		// local log, a follower's too, by the topic's config over the
		// read's error.
		if p.hostsLocalLog() {
			if e := legacyConfigRefusal(cfg); e != nil {
				return e
			}
		}
		return err
	}
	if e := legacyConfigRefusal(cfg); e != nil {
		return e
	}
	sp.HighWatermark = p.HighWatermark()
	sp.LastStableOffset = p.LastStableOffset()
	sp.LogStartOffset = p.LogStartOffset()
	if rp.FetchOffset < sp.LogStartOffset || rp.FetchOffset > p.LogEndOffset() {
		return kerr.OffsetOutOfRange
	}
	maxBytes := min(rp.PartitionMaxBytes, *budget)
	if maxBytes <= 0 && !minOne {
		return nil
	}
	maxBytes = max(maxBytes, 0)
	// Markers convert to nothing: read on past them, in reads of at least
	// legacyReadAhead bytes, for up to fetch.max.bytes read, so a client
	// whose budget covers only markers still progresses.
	readMax, read := maxBytes, 0
	for off := rp.FetchOffset; off < sp.HighWatermark; {
		data, err := lg.Read(off, sp.HighWatermark, readMax, true)
		if err != nil || len(data) == 0 {
			return err
		}
		out, next, _, err := records.DownConvert(data, lf.magic, off, int(maxBytes))
		if err != nil {
			return err
		}
		if len(out) > 0 {
			sp.RecordBatches = out
			*budget -= int32(min(len(out), int(*budget)))
			return nil
		}
		if read += len(data); next <= off || read >= int(lf.b.Config().FetchMax) {
			return nil
		}
		off, readMax = next, max(maxBytes, legacyReadAhead)
	}
	return nil
}

// legacyConfigRefusal is the error a topic's config gives every fetch
// below v4: zstd first, as Kafka's maybeConvertFetchedData refuses a zstd
// topic to any fetch below v10 before it looks at down-conversion.
func legacyConfigRefusal(cfg config.Topic) error {
	if cfg.CompressionType == "zstd" {
		return kerr.UnsupportedCompressionType
	}
	if !cfg.MessageDownConversionEnable {
		return kerr.UnsupportedVersion
	}
	return nil
}

// legacyReadAhead is the least a read past transaction markers asks for.
const legacyReadAhead = 64 << 10

// wait long-polls: it re-runs the fetch whenever a fetched partition
// changes, until enough bytes, an error, the deadline or a closed
// connection.
func (lf *legacyFetch) wait(ctx context.Context, last *kmsg.FetchResponse) kmsg.Response {
	wake := make(chan struct{}, 1)
	for _, p := range lf.parts {
		if p != nil {
			p.wait(wake)
			defer p.unwait(wake)
		}
	}
	timer := time.NewTimer(time.Duration(lf.r.MaxWaitMillis) * time.Millisecond)
	defer timer.Stop()
	// Data may have arrived between the first run and registering.
	select {
	case wake <- struct{}{}:
	default:
	}
	for {
		select {
		case <-wake:
			resp := kmsg.NewPtrFetchResponse()
			resp.Version = last.Version
			r, bytes, errs := lf.run(resp)
			last = r
			if errs || bytes >= int(lf.minBytes) {
				return last
			}
		case <-timer.C:
			r, _, _ := lf.run(last)
			return r
		case <-ctx.Done():
			return last
		}
	}
}
