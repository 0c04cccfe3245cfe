package broker

// Leader hints (KIP-951): a Produce v10+ answered NOT_LEADER_OR_FOLLOWER
// names the partition's current leader and epoch, and the response lists
// those leaders' endpoints, so a client moves its batches at once rather
// than waiting for its next metadata refresh (franz-go waits up to its
// 5 s metadata minimum age for one). After a controlled shutdown or any
// other leadership move, this is what keeps producers from stalling.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/protocol"
)

// hintProduceLeaders fills CurrentLeader and NodeEndpoints of a Produce
// response for the partitions it answers NOT_LEADER_OR_FOLLOWER.
func (b *Broker) hintProduceLeaders(req *protocol.Request, resp *kmsg.ProduceResponse) {
	b.lastProduce.Store(time.Now().UnixNano())
	if req.Version < 10 || req.Conn == nil {
		return
	}
	listed := map[int32]bool{}
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		var t *Topic
		if req.Version >= 13 {
			t = b.TopicByID(rt.TopicID)
		} else {
			t = b.Topic(rt.Topic)
		}
		if t == nil {
			continue
		}
		for j := range rt.Partitions {
			sp := &rt.Partitions[j]
			if sp.ErrorCode != kerr.NotLeaderForPartition.Code {
				continue
			}
			p := t.Partition(sp.Partition)
			if p == nil {
				continue
			}
			st := p.State()
			sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = st.Leader, st.LeaderEpoch
			if st.Leader < 0 || listed[st.Leader] {
				continue
			}
			listed[st.Leader] = true
			if host, port, rack, ok := b.listenerEndpoint(st.Leader, req.Conn.Listener); ok {
				ne := kmsg.NewProduceResponseBroker()
				ne.NodeID, ne.Host, ne.Port, ne.Rack = st.Leader, host, port, rack
				resp.Brokers = append(resp.Brokers, ne)
			}
		}
	}
}

// listenerEndpoint is where broker id listens on the named listener, for
// the NodeEndpoints of KIP-951 answers; ok is false if it is unknown.
func (b *Broker) listenerEndpoint(id int32, listener string) (host string, port int32, rack *string, ok bool) {
	bi, ok := b.BrokerByID(id)
	if !ok {
		return "", 0, nil, false
	}
	ep, ok := bi.Endpoints[listener]
	if !ok {
		return "", 0, nil, false
	}
	if bi.Rack != "" {
		r := bi.Rack
		rack = &r
	}
	return ep.Host, ep.Port, rack, true
}
