package coordinator

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/coordinator/runtime"
)

// Host is what the coordinators need from the broker.
type Host interface {
	runtime.Log
	// EnsureInternalTopic creates an internal topic if it is missing and
	// waits until every partition has a leader.
	EnsureInternalTopic(ctx context.Context, name string, partitions int32, rf int16, configs map[string]string) error
	// PartitionExists reports whether the partition is in the metadata.
	PartitionExists(topic string, partition int32) bool
	// PartitionLeader returns a partition's leader and epoch, and whether
	// this broker is that leader.
	PartitionLeader(topic string, partition int32) (leader, epoch int32, local bool)
	// WriteTxnMarker writes a commit or abort marker for a producer to a
	// partition this broker leads and waits until it is committed.
	WriteTxnMarker(ctx context.Context, topic string, partition int32, pid int64, epoch int16, commit bool, coordinatorEpoch int32) error
	// BrokerEndpoint is a live broker's address on a listener.
	BrokerEndpoint(id int32, listener string) (host string, port int32, ok bool)
	// SendToBroker sends a request to another broker and returns its
	// response (transaction markers for partitions led elsewhere).
	SendToBroker(ctx context.Context, id int32, req kmsg.Request) (kmsg.Response, error)
	// AllocateProducerIDs reserves n producer ids, unique cluster-wide and
	// across restarts, returning the first.
	AllocateProducerIDs(ctx context.Context, n int64) (int64, error)
	// TopicIDOf returns a topic's stable id and partition count.
	TopicIDOf(name string) (id [16]byte, partitions int32, ok bool)
	// TopicNameOf returns the name and partition count of a topic by id.
	TopicNameOf(id [16]byte) (name string, partitions int32, ok bool)
	// TopicNames lists every topic, internal ones included.
	TopicNames() []string
	// TrimInternal deletes the records of an internal topic partition
	// this broker leads below offset (at most its high watermark).
	TrimInternal(topic string, partition int32, before int64) error
	// LatestOffset is a partition's high watermark, from this broker if it
	// leads the partition, else asked of its leader (ListOffsets).
	LatestOffset(ctx context.Context, topic string, partition int32) (int64, error)
	// GroupConfig is a group's config overrides (resource type GROUP:
	// share.auto.offset.reset, share.session.timeout.ms, ...); nil when
	// it has none.
	GroupConfig(group string) map[string]string
}
