package coordinator

// WriteTxnMarkers (key 27), versions 0-1: a transaction coordinator on
// another broker asks this one to write commit or abort markers to
// partitions it leads. A partition led elsewhere is
// NOT_LEADER_OR_FOLLOWER, an unknown one UNKNOWN_TOPIC_OR_PARTITION, a
// stale producer epoch INVALID_PRODUCER_EPOCH. Markers on
// __consumer_offsets also settle the transaction's pending offsets.
// Only brokers may: ALTER or CLUSTER_ACTION on the cluster is needed, else
// every partition is CLUSTER_AUTHORIZATION_FAILED.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (c *txnCoordinator) handleWriteTxnMarkers(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.WriteTxnMarkersRequest)
	resp := req.Response().(*kmsg.WriteTxnMarkersResponse)
	broker := c.allowed(req, acl.Alter, acl.Cluster, acl.ClusterName) || c.authorize(req, acl.ClusterAction, acl.Cluster, acl.ClusterName)
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		for _, m := range r.Markers {
			rm := kmsg.NewWriteTxnMarkersResponseMarker()
			rm.ProducerID = m.ProducerID
			for _, t := range m.Topics {
				rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
					rp.Partition = p
					part := topicPartition{t.Topic, p}
					switch _, _, local := c.host.PartitionLeader(t.Topic, p); {
					case !broker:
						rp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
					case !c.host.PartitionExists(t.Topic, p):
						rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
					case !local:
						rp.ErrorCode = kerr.NotLeaderForPartition.Code
					default:
						rp.ErrorCode = c.errCode(c.writeLocalMarker(ctx, part, m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch))
					}
					rt.Partitions = append(rt.Partitions, rp)
				}
				rm.Topics = append(rm.Topics, rt)
			}
			resp.Markers = append(resp.Markers, rm)
		}
		return resp, nil
	})
	return nil, nil
}
