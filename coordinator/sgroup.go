package coordinator

// KIP-932 share groups (group type "share"): the broker assigns partitions
// with Kafka's simple assignor, several members may share a partition,
// and members take their assignment at once (nothing is revoked: records
// are acknowledged one by one on the partition leaders, not committed as
// offsets). As Kafka's GroupMetadataManager and ShareGroup do.
//
// A share group is a group (group.go) whose share field is set; it shares
// the group's lock and shard with the other protocols, and never changes
// type. Its state is what its records say (sgroup_records.go): each change
// is computed as records, appended, then applied by the code that replays
// them. Timers are soft state.
//
// Share partitions are assigned only once their state is initialized at
// the share coordinator (ShareGroupStatePartitionMetadata): a heartbeat
// that subscribes the group to partitions not yet initialized records them
// as initializing and asks the share coordinators to initialize them
// (start offset -1: share.auto.offset.reset decides when a leader first
// reads them); once they answer, the partitions are recorded initialized,
// the group epoch is bumped and the next heartbeat assigns them. A joining
// member's heartbeat waits for that (up to the write timeout) so it gets
// its assignment at once.
//
// Epochs: the group epoch is bumped when a member joins, leaves or changes
// its subscription, when subscribed topics change, and when partitions
// are initialized; the assignment epoch is the group epoch the target was
// computed for; a member's epoch is the assignment epoch it was given.

import (
	"hash/fnv"
	"sort"
)

// shareState is a share group's state, as Kafka reports it.
const (
	sgEmpty  = "Empty"
	sgStable = "Stable"
)

// shareProtocolType is the protocol type ListGroups shows share groups
// with.
const shareProtocolType = "share"

// sgMember is a member of a share group.
type sgMember struct {
	id         string
	rackID     *string
	clientID   string
	clientHost string
	topics     []string // sorted

	epoch     int32
	prevEpoch int32
	assigned  tpSet

	// Soft state, guarded by the group's lock.
	session memberTimer
}

// initTopic is a topic's partitions in ShareGroupStatePartitionMetadata.
type initTopic struct {
	name  string
	parts map[int32]bool
	atMs  int64 // when initialization was asked for (soft state)
}

func (it *initTopic) clone() *initTopic {
	out := &initTopic{name: it.name, parts: make(map[int32]bool, len(it.parts)), atMs: it.atMs}
	for p := range it.parts {
		out.parts[p] = true
	}
	return out
}

// shareGroup is the state of a share group.
type shareGroup struct {
	epoch       int32
	metaHash    int64
	assignEpoch int32
	members     map[string]*sgMember
	target      map[string]tpSet
	// Share partition state metadata: the partitions whose state is
	// being initialized, is initialized, and the topics whose state is
	// being deleted.
	initializing map[topicID]*initTopic
	initialized  map[topicID]*initTopic
	deleting     map[topicID]string
	stateMeta    bool // a ShareGroupStatePartitionMetadata record exists
}

func newShareGroup() *shareGroup {
	return &shareGroup{
		assignEpoch: -1,
		members:     make(map[string]*sgMember), target: make(map[string]tpSet),
		initializing: make(map[topicID]*initTopic), initialized: make(map[topicID]*initTopic), deleting: make(map[topicID]string),
	}
}

// state is Empty without members, else Stable (Kafka's ShareGroupState).
func (sg *shareGroup) state() string {
	if len(sg.members) == 0 {
		return sgEmpty
	}
	return sgStable
}

// sortedMembers lists the members by id.
func (sg *shareGroup) sortedMembers() []*sgMember {
	out := make([]*sgMember, 0, len(sg.members))
	for _, m := range sg.members {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// subscribedNames is the union of the members' subscriptions, with one
// member replaced by topics (nil: removed).
func (sg *shareGroup) subscribedNames(replace string, topics []string, present bool) map[string]bool {
	out := make(map[string]bool)
	for id, m := range sg.members {
		if id == replace {
			continue
		}
		for _, t := range m.topics {
			out[t] = true
		}
	}
	if present {
		for _, t := range topics {
			out[t] = true
		}
	}
	return out
}

// metadataHash is a hash of the subscribed topics' metadata (name, id,
// partitions): a change of it bumps the group epoch. Kafka stores its own
// hash in ShareGroupMetadataValue; this one only has to change when the
// metadata does.
func metadataHash(meta map[string]topicMeta) int64 {
	if len(meta) == 0 {
		return 0
	}
	names := make([]string, 0, len(meta))
	for n := range meta {
		names = append(names, n)
	}
	sort.Strings(names)
	h := fnv.New64a()
	for _, n := range names {
		t := meta[n]
		h.Write([]byte(n))
		h.Write(t.id[:])
		h.Write([]byte{byte(t.partitions >> 24), byte(t.partitions >> 16), byte(t.partitions >> 8), byte(t.partitions)})
	}
	return int64(h.Sum64())
}
