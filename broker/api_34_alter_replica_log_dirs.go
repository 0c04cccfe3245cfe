package broker

// AlterReplicaLogDirs (key 34), versions 0-2: move replicas this broker
// holds to another of its log dirs (logdir_move.go), as Kafka's
// ReplicaManager.alterReplicaLogDirs does. ALTER on the cluster is
// needed, else CLUSTER_AUTHORIZATION_FAILED for every partition. Per
// partition:
//   - a topic name too long for the copy's directory name:
//     INVALID_TOPIC_EXCEPTION;
//   - a path that is not one of log.dirs (absolute, as DescribeLogDirs
//     names them): LOG_DIR_NOT_FOUND;
//   - a partition the cluster does not have: UNKNOWN_TOPIC_OR_PARTITION;
//   - a partition this broker holds no replica of: REPLICA_NOT_AVAILABLE,
//     and the dir is remembered, so a replica created here later (a
//     reassignment) is created in it (kafka-reassign-partitions retries
//     until the replica exists);
//   - the replica's own dir: nothing to do (a move elsewhere under way is
//     cancelled);
//   - the dir a move under way already goes to: nothing to do;
//   - another dir: the move under way, if any, is cancelled and a move
//     there starts, unless a log dir is offline: KAFKA_STORAGE_ERROR, as
//     Kafka creates no future log then (LogManager.getOrCreateLog). The
//     response does not wait for the move: DescribeLogDirs shows the copy
//     (IsFuture) until it is done.

import (
	"context"
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/broker/storage"
	"gregor/protocol"
)

func (b *Broker) handleAlterReplicaLogDirs(_ context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.AlterReplicaLogDirsRequest)
	resp := req.Response().(*kmsg.AlterReplicaLogDirsResponse)
	allowed := b.authorizeCluster(req, acl.Alter)
	// Kafka keys the request by partition: a partition named twice goes
	// to the last dir given.
	var order []storage.TP
	dest := make(map[storage.TP]string)
	for _, d := range r.Dirs {
		for _, t := range d.Topics {
			for _, p := range t.Partitions {
				tp := storage.TP{Topic: t.Topic, Partition: p}
				if _, ok := dest[tp]; !ok {
					order = append(order, tp)
				}
				dest[tp] = d.Dir
			}
		}
	}
	byTopic := make(map[string]int)
	for _, tp := range order {
		code := kerr.ClusterAuthorizationFailed.Code
		if allowed {
			code = b.alterReplicaLogDir(tp, dest[tp])
		}
		i, ok := byTopic[tp.Topic]
		if !ok {
			i = len(resp.Topics)
			byTopic[tp.Topic] = i
			rt := kmsg.NewAlterReplicaLogDirsResponseTopic()
			rt.Topic = tp.Topic
			resp.Topics = append(resp.Topics, rt)
		}
		rp := kmsg.NewAlterReplicaLogDirsResponseTopicPartition()
		rp.Partition, rp.ErrorCode = tp.Partition, code
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
	}
	return resp, nil
}

// alterReplicaLogDir moves tp's replica to the log dir at path and returns
// the partition's error code.
func (b *Broker) alterReplicaLogDir(tp storage.TP, path string) int16 {
	if storage.FutureNameLen(tp) > 255 {
		return kerr.InvalidTopicException.Code
	}
	var to *storage.Dir
	if filepath.IsAbs(path) {
		for _, d := range b.dirs {
			if d.Path == filepath.Clean(path) {
				to = d
			}
		}
	}
	if to == nil {
		return kerr.LogDirNotFound.Code
	}
	if b.dirOffline(to) {
		return kerr.KafkaStorageError.Code
	}
	p := b.Partition(tp.Topic, tp.Partition)
	if p == nil {
		return kerr.UnknownTopicOrPartition.Code
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.offline.Load() {
		return kerr.KafkaStorageError.Code
	}
	if p.log == nil || p.closed {
		b.placeMu.Lock()
		b.preferred[tp] = to
		b.placeMu.Unlock()
		return kerr.ReplicaNotAvailable.Code
	}
	switch {
	case p.dir == to:
		p.cancelMoveLocked("moved back to its own log dir")
	case p.move != nil && p.move.to == to:
	default:
		p.cancelMoveLocked("moved to another log dir")
		if b.offCount.Load() > 0 {
			// As Kafka's LogManager.getOrCreateLog refuses a future log
			// while any log dir is offline: a copy made for this
			// partition earlier may be on the offline dir.
			return kerr.KafkaStorageError.Code
		}
		if err := p.startMoveLocked(to); err != nil {
			b.log.Warn().Err(err).Str("topic", tp.Topic).Int32("partition", tp.Partition).Str("to", to.Path).Msg("starting a log dir move")
			return kerr.KafkaStorageError.Code
		}
	}
	return 0
}
