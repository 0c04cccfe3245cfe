package broker

// DescribeLogDirs (key 35), versions 0-5.
//
// Lists each log dir (absolute path) with the partitions this broker holds
// a replica of in it: their size in bytes, offset lag 0, IsFuture false;
// and the copies of replicas moving into it (AlterReplicaLogDirs): their
// size, IsFuture true, and as offset lag how far the copy's end is behind
// the replica's. A null
// topic list asks for every partition; named partitions not held here are
// left out. v4+ gives the volume's total and usable bytes (-1 when they
// cannot be read); v5's IsCordoned is always false (no cordoning).
// DESCRIBE on the cluster is needed, else CLUSTER_AUTHORIZATION_FAILED and
// no dirs.

import (
	"context"
	"slices"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/broker/storage"
	"gregor/protocol"
)

func (b *Broker) handleDescribeLogDirs(_ context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeLogDirsRequest)
	resp := req.Response().(*kmsg.DescribeLogDirsResponse)
	if !b.authorizeCluster(req, acl.Describe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code // v3+; older versions see no dirs
		return resp, nil
	}
	wanted := func(topic string, partition int32) bool { return true }
	if r.Topics != nil {
		want := make(map[string][]int32, len(r.Topics))
		for _, rt := range r.Topics {
			want[rt.Topic] = append(want[rt.Topic], rt.Partitions...)
		}
		wanted = func(topic string, partition int32) bool { return slices.Contains(want[topic], partition) }
	}
	byDir := make(map[*storage.Dir][]kmsg.DescribeLogDirsResponseDirTopic)
	for _, t := range b.Topics() {
		for _, p := range t.Partitions() {
			if !wanted(t.Name, p.ID) {
				continue
			}
			dir, size, ok := p.logDirAndSize()
			if !ok {
				continue
			}
			add := func(dir *storage.Dir, dp kmsg.DescribeLogDirsResponseDirTopicPartition) {
				topics := byDir[dir]
				if n := len(topics); n == 0 || topics[n-1].Topic != t.Name {
					dt := kmsg.NewDescribeLogDirsResponseDirTopic()
					dt.Topic = t.Name
					dt.Partitions = []kmsg.DescribeLogDirsResponseDirTopicPartition{}
					topics = append(topics, dt)
				}
				topics[len(topics)-1].Partitions = append(topics[len(topics)-1].Partitions, dp)
				byDir[dir] = topics
			}
			dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			dp.Partition, dp.Size = p.ID, size
			add(dir, dp)
			if to, size, lag, ok := p.moveInfo(); ok {
				fp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
				fp.Partition, fp.Size, fp.OffsetLag, fp.IsFuture = p.ID, size, lag, true
				add(to, fp)
			}
		}
	}
	resp.Dirs = make([]kmsg.DescribeLogDirsResponseDir, 0, len(b.dirs))
	for _, d := range b.dirs {
		rd := kmsg.NewDescribeLogDirsResponseDir()
		rd.Dir = d.Path
		if b.dirOffline(d) {
			// As Kafka names an offline log dir: its error, no
			// partitions, no sizes.
			rd.ErrorCode = kerr.KafkaStorageError.Code
			rd.Topics = []kmsg.DescribeLogDirsResponseDirTopic{}
			rd.TotalBytes, rd.UsableBytes = -1, -1
			resp.Dirs = append(resp.Dirs, rd)
			continue
		}
		rd.Topics = byDir[d]
		if rd.Topics == nil {
			rd.Topics = []kmsg.DescribeLogDirsResponseDirTopic{}
		}
		rd.TotalBytes, rd.UsableBytes = volumeBytes(d.Path)
		resp.Dirs = append(resp.Dirs, rd)
	}
	return resp, nil
}

// volumeBytes returns the total and usable bytes of the volume holding
// path, or -1, -1.
func volumeBytes(path string) (total, usable int64) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return -1, -1
	}
	return int64(st.Blocks) * int64(st.Bsize), int64(st.Bavail) * int64(st.Bsize)
}
