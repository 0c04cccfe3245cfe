package coordinator

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/protocol"
)

// snapshot is a consumer group's persistent state, for comparing a
// group before and after a reload.
type cgSnapshot struct {
	Epoch, AssignEpoch int32
	Subs               map[string]memberSub
	Curs               map[string]memberAssign
	Target             map[string]tpSet
	Owners             map[tidp]int32
	Instances          map[string]string
	SubMeta            map[string]topicMeta
	Regexes            map[string][]string
}

func (e *groupEnv) cgSnap(id string) cgSnapshot {
	var s cgSnapshot
	e.cgInspect(id, func(cg *consumerGroup) {
		s = cgSnapshot{Epoch: cg.epoch, AssignEpoch: cg.assignEpoch, Subs: map[string]memberSub{}, Curs: map[string]memberAssign{},
			Target: map[string]tpSet{}, Owners: map[tidp]int32{}, Instances: map[string]string{}, SubMeta: map[string]topicMeta{},
			Regexes: map[string][]string{}}
		for id, m := range cg.members {
			s.Subs[id], s.Curs[id] = m.sub, m.cur
		}
		for k, v := range cg.target {
			s.Target[k] = v
		}
		for k, v := range cg.owners {
			s.Owners[k] = v
		}
		for k, v := range cg.instances {
			s.Instances[k] = v
		}
		for k, v := range cg.subMeta {
			s.SubMeta[k] = v
		}
		for k, v := range cg.regexes {
			s.Regexes[k] = v.topics
		}
	})
	return s
}

// A coordinator that loads the partition rebuilds every consumer group
// from its records: epochs, members, targets, assignments mid-revocation,
// static members away, regexes; the members carry on.
func TestConsumerGroupReplayFromLog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newCGEnv(t, nil)
		e.h.setTopic("r-1", 3)
		re := "r-.*"
		m1, m2 := e.newMember("g", "m1", "a", "b"), e.newMember("g", "m2", "a")
		m2.regex = &re
		s := e.newMember("g", "s", "b")
		s.inst = ptr("i-s")
		for _, m := range []*simMember{m1, m2, s} {
			if r := m.joinSim(); r.err != nil {
				t.Fatal(r.err)
			}
		}
		e.settle("g", m1, m2, s)
		// Leave m3 mid-join and s away for now, so the state has
		// revocations and a -2 in it.
		m3 := e.newMember("g", "m3", "a", "b")
		m3.joinSim()
		m1.beatSim()
		e.hb(cgHeartbeat{group: "g", memberID: "s", instanceID: ptr("i-s"), epoch: -2})
		// A group that was deleted stays deleted; an empty one stays.
		e.newMember("gone", "x", "a").joinSim()
		e.hb(cgHeartbeat{group: "gone", memberID: "x", epoch: -1})
		if err := e.c.deleteGroup(context.Background(), "gone"); err != nil {
			t.Fatalf("delete: %v", err)
		}
		e.newMember("empty", "y", "a").joinSim()
		e.hb(cgHeartbeat{group: "empty", memberID: "y", epoch: -1})
		before := e.cgSnap("g")
		beforeState := e.cgState("g")

		e.co.LeadershipChanged(OffsetsTopic, 0, false, 1)
		e.load(2)
		if after := e.cgSnap("g"); !reflect.DeepEqual(after, before) {
			t.Fatalf("reloaded state differs:\n got %+v\nwant %+v", after, before)
		}
		if s := e.cgState("g"); s != beforeState {
			t.Fatalf("reloaded state %s, was %s", s, beforeState)
		}
		if s := e.state("gone"); s != "unknown" {
			t.Fatalf("deleted group came back: %s", s)
		}
		if s := e.cgState("empty"); s != cgEmpty {
			t.Fatalf("empty group reloaded as %s", s)
		}
		// The members go on from where they were, s comes back.
		s.id = "s-2"
		if r := s.joinSim(); r.err != nil {
			t.Fatalf("static member after reload: %v", r.err)
		}
		e.settle("g", m1, m2, m3, s)
		e.checkDisjointCover(map[string]int32{"a": 4, "b": 2, "r-1": 3}, m1, m2, m3, s)
		// Sessions run again after the load: a silent member is fenced.
		for i := 0; i < 10; i++ {
			time.Sleep(5 * time.Second)
			m1.beatSim()
			m2.beatSim()
			s.beatSim()
		}
		synctest.Wait()
		e.cgInspect("g", func(cg *consumerGroup) {
			if cg.members["m3"] != nil {
				t.Fatal("m3's session did not expire after the reload")
			}
		})
	})
}

func commitV(e *groupEnv, version int16, group, member string, epoch int32, topic string, part int32, off int64) *kerr.Error {
	codes := e.c.offsetCommit(context.Background(), commitReq(group, member, epoch, topic, part, off), version)
	return asKerr(codes[topicPartition{topic, part}])
}

func asKerr(code int16) *kerr.Error {
	if code == 0 {
		return nil
	}
	return kerr.ErrorForCode(code).(*kerr.Error)
}

// Offset commits and fetches in a consumer group are checked against the
// member and its epoch, as Kafka's ConsumerGroup does.
func TestConsumerGroupOffsetChecks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newCGEnv(t, nil)
		ctx := context.Background()
		commit := func(version int16, member string, epoch int32) *kerr.Error {
			return asKerr(e.c.offsetCommit(ctx, commitReq("g", member, epoch, "a", 0, 7), version)[topicPartition{"a", 0}])
		}
		// An empty consumer group takes commits from anyone with -1.
		e.newMember("g", "m1", "a").joinSim()
		e.hb(cgHeartbeat{group: "g", memberID: "m1", epoch: -1})
		if err := commit(9, "", -1); err != nil {
			t.Fatalf("admin commit to an empty group: %v", err)
		}
		m1 := e.newMember("g", "m1", "a")
		m1.joinSim()
		for _, tc := range []struct {
			name    string
			version int16
			member  string
			epoch   int32
			want    *kerr.Error
		}{
			{"member at its epoch", 9, "m1", m1.epoch, nil},
			{"stale epoch", 9, "m1", m1.epoch - 1, kerr.StaleMemberEpoch},
			{"unknown member", 9, "zz", m1.epoch, kerr.UnknownMemberID},
			{"admin commit to an active group", 9, "", -1, kerr.UnknownMemberID},
			{"consumer member below v9", 8, "m1", m1.epoch, kerr.UnsupportedVersion},
		} {
			if err := commit(tc.version, tc.member, tc.epoch); err != tc.want {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}
		if err := asKerr(e.c.offsetCommit(ctx, commitReq("nogroup", "m", 3, "a", 0, 1), 9)[topicPartition{"a", 0}]); err != kerr.GroupIDNotFound {
			t.Errorf("v9 commit to an unknown group: %v", err)
		}
		if err := asKerr(e.c.offsetCommit(ctx, commitReq("nogroup", "m", 3, "a", 0, 1), 8)[topicPartition{"a", 0}]); err != kerr.IllegalGeneration {
			t.Errorf("v8 commit to an unknown group: %v", err)
		}
		fetch := func(member *string, epoch int32) *kerr.Error {
			_, err := e.c.fetchOffsets(context.Background(), "g", nil, false, member, epoch)
			return err
		}
		for _, tc := range []struct {
			name   string
			member *string
			epoch  int32
			want   *kerr.Error
		}{
			{"admin", nil, -1, nil},
			{"member at its epoch", ptr("m1"), m1.epoch, nil},
			{"stale epoch", ptr("m1"), m1.epoch + 1, kerr.StaleMemberEpoch},
			{"unknown member", ptr("zz"), 1, kerr.UnknownMemberID},
		} {
			if err := fetch(tc.member, tc.epoch); err != tc.want {
				t.Errorf("fetch, %s: %v, want %v", tc.name, err, tc.want)
			}
		}
		// A transactional commit at a stale epoch is ILLEGAL_GENERATION;
		// one naming no member is taken.
		tr := txnCommitReq("g", 300, "a", 1, 5)
		tr.MemberID, tr.Generation = "m1", m1.epoch+3
		if err := asKerr(e.c.txnOffsetCommit(ctx, tr, 4)[topicPartition{"a", 1}]); err != kerr.IllegalGeneration {
			t.Errorf("txn commit at a stale epoch: %v", err)
		}
		tr.MemberID, tr.Generation = "", -1
		if err := asKerr(e.c.txnOffsetCommit(ctx, tr, 4)[topicPartition{"a", 1}]); err != nil {
			t.Errorf("txn commit without a member: %v", err)
		}
	})
}

// OffsetCommit and OffsetFetch v10 name topics by id.
func TestOffsetCommitFetchByTopicID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newCGEnv(t, nil)
		aid, _, _ := e.h.TopicIDOf("a")
		unknown := topicID{0xee}
		r := kmsg.NewOffsetCommitRequest()
		r.Group, r.Generation = "g", -1
		for _, id := range []topicID{aid, unknown} {
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.TopicID = id
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset = 2, 42
			rt.Partitions = append(rt.Partitions, rp)
			r.Topics = append(r.Topics, rt)
		}
		unknownIDs := e.c.namesFromIDs(&r, 10)
		codes := e.c.offsetCommit(context.Background(), &r, 10)
		if unknownIDs[0] || !unknownIDs[1] || codes[topicPartition{"a", 2}] != 0 {
			t.Fatalf("v10 commit: unknown %v codes %v", unknownIDs, codes)
		}
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group, rg.MemberEpoch = "g", -1
		for _, id := range []topicID{aid, unknown} {
			rt := kmsg.NewOffsetFetchRequestGroupTopic()
			rt.TopicID, rt.Partitions = id, []int32{2}
			rg.Topics = append(rg.Topics, rt)
		}
		g := e.c.fetchGroupOffsets(context.Background(), &protocol.Request{}, &rg, false, 10)
		if g.ErrorCode != 0 || len(g.Topics) != 2 || g.Topics[0].TopicID != aid || g.Topics[0].Partitions[0].Offset != 42 ||
			g.Topics[1].TopicID != unknown || g.Topics[1].Partitions[0].ErrorCode != kerr.UnknownTopicID.Code {
			t.Fatalf("v10 fetch: %+v", g)
		}
		rg.Topics = nil
		if g := e.c.fetchGroupOffsets(context.Background(), &protocol.Request{}, &rg, false, 10); len(g.Topics) != 1 || g.Topics[0].TopicID != aid {
			t.Fatalf("v10 fetch of all: %+v", g)
		}
	})
}

// ListGroups shows both kinds with their types and states;
// DescribeGroups and ConsumerGroupDescribe each describe theirs; a
// consumer group is deleted only once empty, its offsets with it, and
// offsets of subscribed topics are not deleted.
func TestConsumerGroupListDescribeDelete(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newCGEnv(t, nil)
		ctx := context.Background()
		m := e.newMember("cg", "m1", "a")
		m.joinSim()
		if code := commitCode(t, e, "classic", "", -1, "a", 0, 3); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
		if err := commitV(e, 9, "cg", "m1", m.epoch, "b", 0, 5); err != nil {
			t.Fatal(err)
		}
		list := func(types, states []string) map[string]kmsg.ListGroupsResponseGroup {
			out := map[string]kmsg.ListGroupsResponseGroup{}
			for _, s := range e.c.rt.Loaded() {
				for _, g := range s.Machine.list() {
					if lg, ok := listedGroup(g); ok && typeMatches(types, lg.GroupType) && stateMatches(states, lg.GroupState) {
						out[lg.Group] = lg
					}
				}
			}
			return out
		}
		all := list(nil, nil)
		if lg := all["cg"]; lg.GroupType != "consumer" || lg.ProtocolType != "consumer" || lg.GroupState != cgStable {
			t.Fatalf("consumer group listed as %+v", lg)
		}
		if lg := all["classic"]; lg.GroupType != "classic" || lg.GroupState != "Empty" {
			t.Fatalf("classic group listed as %+v", lg)
		}
		if got := list([]string{"CONSUMER"}, nil); len(got) != 1 || got["cg"].Group != "cg" {
			t.Fatalf("type filter: %v", got)
		}
		if got := list(nil, []string{"stable"}); len(got) != 1 {
			t.Fatalf("state filter: %v", got)
		}
		if d := e.c.describeGroup("cg", 6); d.ErrorCode != kerr.GroupIDNotFound.Code || d.State != "Dead" {
			t.Fatalf("DescribeGroups of a consumer group: %+v", d)
		}
		if d := e.c.describeConsumerGroup("classic"); d.ErrorCode != kerr.GroupIDNotFound.Code {
			t.Fatalf("ConsumerGroupDescribe of a classic group: %+v", d)
		}
		d := e.c.describeConsumerGroup("cg")
		if d.ErrorCode != 0 || d.State != cgStable || d.AssignorName != "uniform" || len(d.Members) != 1 ||
			d.Members[0].MemberType != 1 || len(d.Members[0].Assignment.TopicPartitions) != 1 || d.Members[0].Assignment.TopicPartitions[0].Topic != "a" {
			t.Fatalf("ConsumerGroupDescribe: %+v", d)
		}
		codes, gerr := e.c.offsetDelete(ctx, offsetDeleteReq("cg", topicPartition{"a", 0}, topicPartition{"b", 0}))
		if gerr != nil || codes[topicPartition{"a", 0}] != kerr.GroupSubscribedToTopic.Code || codes[topicPartition{"b", 0}] != 0 {
			t.Fatalf("offset delete: %v %v", codes, gerr)
		}
		if err := e.c.deleteGroup(ctx, "cg"); err != kerr.NonEmptyGroup {
			t.Fatalf("deleting an active group: %v", err)
		}
		e.hb(cgHeartbeat{group: "cg", memberID: "m1", epoch: -1})
		if err := e.c.deleteGroup(ctx, "cg"); err != nil {
			t.Fatalf("deleting the empty group: %v", err)
		}
		if s := e.state("cg"); s != "unknown" {
			t.Fatalf("deleted group is %s", s)
		}
	})
}

// A consumer group's offsets of topics nobody subscribes to expire a
// retention period after their commit; subscribed ones never do; an empty
// group whose offsets are all gone is deleted.
func TestConsumerGroupOffsetExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newCGEnv(t, func(c *Config) { c.ConsumerSessionTimeout = 3 * time.Hour })
		m := e.newMember("g", "m1", "a")
		m.joinSim()
		if err := commitV(e, 9, "g", "m1", m.epoch, "a", 0, 3); err != nil {
			t.Fatal(err)
		}
		if err := commitV(e, 9, "g", "m1", m.epoch, "b", 0, 4); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Hour)
		m.beatSim()
		e.c.expireOffsets()
		got := fetch(t, e, "g", false)
		if _, ok := got[topicPartition{"b", 0}]; ok || got[topicPartition{"a", 0}].offset != 3 {
			t.Fatalf("after expiry: %+v", got)
		}
		e.hb(cgHeartbeat{group: "g", memberID: "m1", epoch: -1})
		time.Sleep(2 * time.Hour)
		e.c.expireOffsets()
		if s := e.state("g"); s != "unknown" {
			t.Fatalf("the empty group without offsets is %s", s)
		}
	})
}

// The operators' view (consumer lag metrics, the status page) shows a
// KIP-848 group with its state, epoch and members' partitions, which
// the classic fields alone would show as a dead group.
func TestConsumerGroupOperatorView(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newCGEnv(t, nil)
		r := e.join("g", "m1", "a")
		if len(r.assignment) != 4 {
			t.Fatalf("join: %+v", r)
		}
		views := e.co.Groups()
		if len(views) != 1 {
			t.Fatalf("views: %+v", views)
		}
		v := views[0]
		if v.Group != "g" || v.State != cgStable || v.ProtocolType != "consumer" || v.Generation != 1 || len(v.Members) != 1 {
			t.Fatalf("view: %+v", v)
		}
		m := v.Members[0]
		if m.ID != "m1" || m.ClientID != "client-m1" {
			t.Fatalf("member: %+v", m)
		}
		var a kmsg.ConsumerMemberAssignment
		if err := a.ReadFrom(m.Assignment); err != nil || len(a.Topics) != 1 || a.Topics[0].Topic != "a" ||
			!slices.Equal(a.Topics[0].Partitions, []int32{0, 1, 2, 3}) {
			t.Fatalf("assignment %+v: %v", a, err)
		}
	})
}
