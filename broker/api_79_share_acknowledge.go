package broker

// ShareAcknowledge (key 79), versions 0-2 (v2 adds IsRenewAck and the
// response's AcquisitionLockTimeoutMillis): a share group member
// acknowledges records it acquired with ShareFetch, without fetching
// (KIP-932). The share session must exist and the epoch be its current
// one (0 is INVALID_SHARE_SESSION_EPOCH); -1 closes the session after the
// acknowledgements, releasing what the member still holds. Each
// partition's acknowledgements are applied all or none and persisted
// before the answer: INVALID_RECORD_STATE when an offset is not acquired
// by the member (a batch wholly below the start offset included),
// INVALID_REQUEST for a malformed batch or offsets never delivered.
// Authorization: READ on the group and on each topic.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/share"

	"gregor/protocol"
)

func (b *Broker) handleShareAcknowledge(_ context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ShareAcknowledgeRequest)
	resp := req.Response().(*kmsg.ShareAcknowledgeResponse)
	// As Kafka's (a map by partition): a partition named twice has its
	// last entry's acknowledgements applied, and is answered once.
	r.Topics = dedupeTopics(r.Topics,
		func(t *kmsg.ShareAcknowledgeRequestTopic) [16]byte { return t.TopicID },
		func(t *kmsg.ShareAcknowledgeRequestTopic) *[]kmsg.ShareAcknowledgeRequestTopicPartition {
			return &t.Partitions
		},
		func(p *kmsg.ShareAcknowledgeRequestTopicPartition) int32 { return p.Partition })
	group, member, e := b.checkShareRequest(req, r.GroupID, r.MemberID)
	if e != nil {
		resp.ErrorCode = e.Code
		return resp, nil
	}
	k := shareSessionKey{group, member}
	lockMs := b.shareLockMs(group)
	if req.Version >= 2 {
		resp.AcquisitionLockTimeoutMillis = int32(lockMs)
	}
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		if err := b.shares.sessions.touch(k, r.ShareSessionEpoch); err != nil {
			resp.ErrorCode = ErrorCode(b.log, err)
			return resp, nil
		}
		b.shareAckAll(ctx, req, r, resp, k, lockMs)
		if r.ShareSessionEpoch == shareEpochFinal {
			b.releaseSession(k, b.shares.sessions.close(k))
		}
		return resp, nil
	})
	return nil, nil
}

// shareAckAll applies every partition's acknowledgements.
func (b *Broker) shareAckAll(ctx context.Context, req *protocol.Request, r *kmsg.ShareAcknowledgeRequest, resp *kmsg.ShareAcknowledgeResponse, k shareSessionKey, lockMs int64) {
	renew := req.Version >= 2 && r.IsRenewAck
	topicOK := map[[16]byte]error{}
	var failed []shareTP
	leaders := map[shareTP]int32{}
	for _, rt := range r.Topics {
		st := kmsg.NewShareAcknowledgeResponseTopic()
		st.TopicID = rt.TopicID
		for _, rp := range rt.Partitions {
			tp := shareTP{rt.TopicID, rp.Partition}
			sp := kmsg.NewShareAcknowledgeResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = -1, -1
			acks := make([]shareAckBatch, 0, len(rp.AcknowledgementBatches))
			for _, ab := range rp.AcknowledgementBatches {
				acks = append(acks, shareAckBatch{ab.FirstOffset, ab.LastOffset, ab.AcknowledgeTypes})
			}
			if err := b.shareAcknowledge(ctx, req, k, tp, toShareAcks(acks), renew, lockMs, topicOK); err != nil {
				sp.ErrorCode = ErrorCode(b.log, err)
				if id, epoch, ok := b.shareLeaderOf(tp, err); ok {
					sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = id, epoch
					failed, leaders[tp] = append(failed, tp), id
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	for _, ep := range b.shareLeaderEndpoints(req, failed, func(tp shareTP) int32 { return leaders[tp] }) {
		ne := kmsg.NewShareAcknowledgeResponseNodeEndpoint()
		ne.NodeID, ne.Host, ne.Port, ne.Rack = ep.id, ep.host, ep.port, ep.rack
		resp.NodeEndpoints = append(resp.NodeEndpoints, ne)
	}
}

// shareAckBatch is an acknowledgement batch as either request carries it.
type shareAckBatch struct {
	first, last int64
	types       []int8
}

// toShareAcks converts acknowledgement batches for the state machine.
func toShareAcks(bs []shareAckBatch) []share.Ack {
	out := make([]share.Ack, 0, len(bs))
	for _, b := range bs {
		out = append(out, shareAck(b.first, b.last, b.types))
	}
	return out
}
