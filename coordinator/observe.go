package coordinator

// Read-only views for operators (consumer lag, the status page): the
// groups and open transactions this broker coordinates, copied under each
// one's lock. Nothing here changes state.

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// GroupView is a group this broker coordinates, as of one moment.
type GroupView struct {
	Group string
	// Type is "classic" or "consumer" (KIP-848), as ListGroups v5 names it.
	Type         string
	State        string
	ProtocolType string
	Protocol     string
	Generation   int32
	Members      []MemberView
	// Offsets are the committed offsets, sorted by topic and partition
	// (pending transactional commits not included).
	Offsets []CommittedOffset
}

// MemberView is one member of a group; Assignment is what the leader
// assigned it (the consumer protocol's bytes for "consumer" groups). In a
// KIP-848 consumer group (ProtocolType "consumer", Generation the group
// epoch) it is the partitions the member holds now, in the same encoding.
type MemberView struct {
	ID, ClientID, ClientHost string
	InstanceID               *string
	Assignment               []byte
}

// CommittedOffset is a group's committed offset of one partition.
type CommittedOffset struct {
	Topic     string
	Partition int32
	Offset    int64
}

// Groups lists the groups of every __consumer_offsets partition this
// broker leads and has loaded, sorted by id: each group is reported by
// exactly one broker of a cluster.
func (c *Coordinator) Groups() []GroupView {
	var out []GroupView
	for _, s := range c.groups.rt.Loaded() {
		for _, g := range s.Machine.list() {
			if v, ok := g.view(c.host); ok {
				out = append(out, v)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

func (g *group) view(h Host) (GroupView, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var v GroupView
	switch {
	case g.consumer != nil:
		cg := g.consumer
		v = GroupView{Group: g.id, Type: "consumer", State: cg.state(), ProtocolType: consumerProtocolType, Protocol: cg.preferredAssignor(nil), Generation: cg.epoch}
		for _, m := range cg.sortedMembers() {
			v.Members = append(v.Members, MemberView{ID: m.sub.id, ClientID: m.sub.clientID, ClientHost: m.sub.clientHost, InstanceID: m.sub.instanceID, Assignment: heldAssignment(h, m.cur.assigned)})
		}
	case g.state == groupDead:
		return GroupView{}, false
	default:
		v = GroupView{Group: g.id, Type: "classic", State: g.state.String(), ProtocolType: g.protocolType, Protocol: g.protocol, Generation: g.generation}
		for _, m := range g.sortedMembers() {
			v.Members = append(v.Members, MemberView{ID: m.id, ClientID: m.clientID, ClientHost: m.clientHost, InstanceID: m.instanceID, Assignment: append([]byte(nil), m.assignment...)})
		}
	}
	for _, tp := range sortedTPs(g.offsets) {
		v.Offsets = append(v.Offsets, CommittedOffset{Topic: tp.topic, Partition: tp.partition, Offset: g.offsets[tp].offset})
	}
	return v, true
}

// heldAssignment encodes a consumer group member's partitions as the
// classic consumer protocol's assignment, topics by name (those of deleted
// topics left out).
func heldAssignment(h Host, s tpSet) []byte {
	a := kmsg.NewConsumerMemberAssignment()
	for _, tp := range s.byTopic() {
		if name, _, ok := h.TopicNameOf(tp.id); ok {
			a.Topics = append(a.Topics, kmsg.ConsumerMemberAssignmentTopic{Topic: name, Partitions: tp.parts})
		}
	}
	return a.AppendTo(nil)
}

// TxnView is a transaction this broker coordinates that is not complete.
type TxnView struct {
	TransactionalID string
	ProducerID      int64
	Epoch           int16
	State           string
	StartMs         int64 // when it began, -1 if unknown
	TimeoutMs       int32
	Partitions      int // partitions in it
}

// OpenTransactions lists the transactions under way (ongoing, or
// preparing to commit or abort), sorted by transactional id.
func (c *Coordinator) OpenTransactions() []TxnView {
	var out []TxnView
	for _, s := range c.txns.rt.Loaded() {
		for _, m := range s.Machine.metas() {
			d, removed := m.data()
			if removed || d.pid < 0 {
				continue
			}
			switch d.state {
			case kmsg.TransactionStateOngoing, kmsg.TransactionStatePrepareCommit, kmsg.TransactionStatePrepareAbort:
			default:
				continue
			}
			out = append(out, TxnView{TransactionalID: m.id, ProducerID: d.pid, Epoch: d.epoch, State: d.state.String(), StartMs: d.startMs, TimeoutMs: d.timeoutMs, Partitions: len(d.parts)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TransactionalID < out[j].TransactionalID })
	return out
}
