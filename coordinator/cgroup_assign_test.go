package coordinator

// Table tests of the pure parts of consumer groups: the assignors, the
// reconciliation and the record codec.

import (
	"bytes"
	"fmt"
	"math/rand"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func tid(n byte) topicID { return topicID{n} }

func parts(id topicID, ps ...int32) tpSet {
	out := tpSet{}
	for _, p := range ps {
		out[tidp{id, p}] = struct{}{}
	}
	return out
}

func union(sets ...tpSet) tpSet {
	out := tpSet{}
	for _, s := range sets {
		for p := range s {
			out[p] = struct{}{}
		}
	}
	return out
}

func subscribed(ids ...topicID) map[topicID]bool {
	out := map[topicID]bool{}
	for _, id := range ids {
		out[id] = true
	}
	return out
}

// checkAssignment checks that every partition of the topics someone
// subscribes to is given to exactly one subscriber.
func checkAssignment(t *testing.T, members []assignMember, partitions map[topicID]int32, out map[string]tpSet) {
	t.Helper()
	seen := map[tidp]string{}
	for _, m := range members {
		for p := range out[m.id] {
			if !m.topics[p.id] {
				t.Fatalf("%s got %v of a topic it does not subscribe to", m.id, p)
			}
			if o, dup := seen[p]; dup {
				t.Fatalf("%v given to %s and %s", p, o, m.id)
			}
			seen[p] = m.id
		}
	}
	for id, n := range partitions {
		anyone := false
		for _, m := range members {
			anyone = anyone || m.topics[id]
		}
		for p := int32(0); p < n && anyone; p++ {
			if _, ok := seen[tidp{id, p}]; !ok {
				t.Fatalf("%v given to nobody", tidp{id, p})
			}
		}
	}
}

func loads(out map[string]tpSet) (lo, hi int) {
	lo = -1
	for _, s := range out {
		if lo < 0 || len(s) < lo {
			lo = len(s)
		}
		if len(s) > hi {
			hi = len(s)
		}
	}
	return lo, hi
}

func TestUniformAssignorBalancedAndSticky(t *testing.T) {
	a, b := tid(1), tid(2)
	partitions := map[topicID]int32{a: 7, b: 5}
	ms := []assignMember{
		{id: "m1", topics: subscribed(a, b)},
		{id: "m2", topics: subscribed(a, b)},
		{id: "m3", topics: subscribed(a, b)},
	}
	out := uniformAssign(ms, partitions)
	checkAssignment(t, ms, partitions, out)
	if lo, hi := loads(out); hi-lo > 1 {
		t.Fatalf("unbalanced: %d..%d", lo, hi)
	}
	// A fourth member takes only what balance needs; the others keep the
	// rest.
	for i := range ms {
		ms[i].current = out[ms[i].id]
	}
	ms = append(ms, assignMember{id: "m4", topics: subscribed(a, b)})
	out2 := uniformAssign(ms, partitions)
	checkAssignment(t, ms, partitions, out2)
	moved := 0
	for _, m := range ms[:3] {
		for p := range m.current {
			if _, kept := out2[m.id][p]; !kept {
				moved++
			}
		}
	}
	if lo, hi := loads(out2); hi-lo > 1 || moved != len(out2["m4"]) || len(out2["m4"]) != 3 {
		t.Fatalf("after m4 joined: loads %d..%d, %d moved, m4 has %d", lo, hi, moved, len(out2["m4"]))
	}
	// The same input gives the same output.
	if again := uniformAssign(ms, partitions); !reflect.DeepEqual(again, out2) {
		t.Fatal("uniform assignor is not deterministic")
	}
}

func TestUniformAssignorHeterogeneous(t *testing.T) {
	a, b, c := tid(1), tid(2), tid(3)
	partitions := map[topicID]int32{a: 6, b: 6, c: 2}
	ms := []assignMember{
		{id: "m1", topics: subscribed(a)},
		{id: "m2", topics: subscribed(a, b)},
		{id: "m3", topics: subscribed(b, c)},
		{id: "m4", topics: subscribed(c)},
	}
	out := uniformAssign(ms, partitions)
	checkAssignment(t, ms, partitions, out)
	// 14 partitions over 4 members, each with subscriptions that allow
	// 3 or 4.
	if lo, hi := loads(out); lo < 2 || hi > 4 {
		t.Fatalf("loads %d..%d: %v", lo, hi, out)
	}
	// Random subscriptions: always a valid, locally balanced assignment.
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 200; round++ {
		partitions := map[topicID]int32{}
		for i := byte(1); i <= 4; i++ {
			partitions[tid(i)] = int32(rng.Intn(6))
		}
		var ms []assignMember
		for i := 0; i < 1+rng.Intn(5); i++ {
			subs := map[topicID]bool{}
			for j := byte(1); j <= 4; j++ {
				if rng.Intn(2) == 0 {
					subs[tid(j)] = true
				}
			}
			ms = append(ms, assignMember{id: fmt.Sprintf("m%d", i), topics: subs})
		}
		out := uniformAssign(ms, partitions)
		checkAssignment(t, ms, partitions, out)
		// No single move to a subscriber can narrow a gap of two or more.
		for _, from := range ms {
			for p := range out[from.id] {
				for _, to := range ms {
					if to.topics[p.id] && len(out[to.id])+1 < len(out[from.id]) {
						t.Fatalf("round %d: %v could move from %s (%d) to %s (%d)", round, p, from.id, len(out[from.id]), to.id, len(out[to.id]))
					}
				}
			}
		}
	}
}

// Kafka's RangeAssignor: contiguous ranges, the first members one more;
// co-partitioned when subscriptions and partition counts agree; static
// members first, by instance id.
func TestRangeAssignor(t *testing.T) {
	a, b := tid(1), tid(2)
	ms := []assignMember{
		{id: "m1", topics: subscribed(a, b)},
		{id: "m0", topics: subscribed(a, b)},
	}
	out := rangeAssign(ms, map[topicID]int32{a: 3, b: 3})
	want := map[string]tpSet{
		"m0": union(parts(a, 0, 1), parts(b, 0, 1)),
		"m1": union(parts(a, 2), parts(b, 2)),
	}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("co-partitioned: %v, want %v", out, want)
	}
	// Static members come first, by instance id, whatever their ids.
	ms = []assignMember{
		{id: "a", topics: subscribed(a)},
		{id: "z", instanceID: ptr("i0"), topics: subscribed(a)},
		{id: "y", instanceID: ptr("i1"), topics: subscribed(a)},
	}
	out = rangeAssign(ms, map[topicID]int32{a: 4})
	want = map[string]tpSet{"z": parts(a, 0, 1), "y": parts(a, 2), "a": parts(a, 3)}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("static order: %v, want %v", out, want)
	}
	// Heterogeneous: each topic over its own subscribers.
	ms = []assignMember{
		{id: "m0", topics: subscribed(a)},
		{id: "m1", topics: subscribed(a, b)},
	}
	out = rangeAssign(ms, map[topicID]int32{a: 2, b: 2})
	want = map[string]tpSet{"m0": parts(a, 0), "m1": union(parts(a, 1), parts(b, 0, 1))}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("heterogeneous: %v, want %v", out, want)
	}
}

// The reconciliation steps of Kafka's CurrentAssignmentBuilder.
func TestReconcile(t *testing.T) {
	a, b := tid(1), tid(2)
	free := func(tidp) int32 { return -1 }
	heldBy := func(held tpSet, epoch int32) func(tidp) int32 {
		return func(p tidp) int32 {
			if _, ok := held[p]; ok {
				return epoch
			}
			return -1
		}
	}
	for _, tc := range []struct {
		name        string
		cur         memberAssign
		targetEpoch int32
		target      tpSet
		owner       func(tidp) int32
		owned       tpSet
		want        memberAssign
		err         *kerr.Error
		sub         subscription
	}{
		{"new partitions, all free", memberAssign{epoch: 1, state: memberStable, assigned: parts(a, 0), revoking: tpSet{}},
			2, parts(a, 0, 1), free, parts(a, 0),
			memberAssign{epoch: 2, prevEpoch: 1, state: memberStable, assigned: parts(a, 0, 1), revoking: tpSet{}}, nil, subscription{}},
		{"revoke first, at the same epoch", memberAssign{epoch: 1, prevEpoch: 0, state: memberStable, assigned: parts(a, 0, 1), revoking: tpSet{}},
			2, parts(a, 0, 2), free, parts(a, 0, 1),
			memberAssign{epoch: 1, prevEpoch: 1, state: memberUnrevoked, assigned: parts(a, 0), revoking: parts(a, 1)}, nil, subscription{}},
		{"still revoking", memberAssign{epoch: 1, prevEpoch: 1, state: memberUnrevoked, assigned: parts(a, 0), revoking: parts(a, 1)},
			2, parts(a, 0, 2), free, parts(a, 0, 1),
			memberAssign{epoch: 1, prevEpoch: 1, state: memberUnrevoked, assigned: parts(a, 0), revoking: parts(a, 1)}, nil, subscription{}},
		{"revoking, owned not reported", memberAssign{epoch: 1, prevEpoch: 1, state: memberUnrevoked, assigned: parts(a, 0), revoking: parts(a, 1)},
			2, parts(a, 0, 2), free, nil,
			memberAssign{epoch: 1, prevEpoch: 1, state: memberUnrevoked, assigned: parts(a, 0), revoking: parts(a, 1)}, nil, subscription{}},
		{"revoked: next epoch and the new partition", memberAssign{epoch: 1, prevEpoch: 1, state: memberUnrevoked, assigned: parts(a, 0), revoking: parts(a, 1)},
			2, parts(a, 0, 2), free, parts(a, 0),
			memberAssign{epoch: 2, prevEpoch: 1, state: memberStable, assigned: parts(a, 0, 2), revoking: tpSet{}}, nil, subscription{}},
		{"a partition still held elsewhere", memberAssign{epoch: 1, state: memberStable, assigned: parts(a, 0), revoking: tpSet{}},
			2, parts(a, 0, 1, 2), heldBy(parts(a, 2), 1), parts(a, 0),
			memberAssign{epoch: 2, prevEpoch: 1, state: memberUnreleased, assigned: parts(a, 0, 1), revoking: tpSet{}}, nil, subscription{}},
		{"released: taken", memberAssign{epoch: 2, prevEpoch: 1, state: memberUnreleased, assigned: parts(a, 0, 1), revoking: tpSet{}},
			2, parts(a, 0, 1, 2), free, parts(a, 0, 1),
			memberAssign{epoch: 2, prevEpoch: 2, state: memberStable, assigned: parts(a, 0, 1, 2), revoking: tpSet{}}, nil, subscription{}},
		{"reconciled: nothing", memberAssign{epoch: 2, prevEpoch: 1, state: memberStable, assigned: parts(a, 0), revoking: tpSet{}},
			2, parts(a, 0), free, parts(a, 0),
			memberAssign{epoch: 2, prevEpoch: 1, state: memberStable, assigned: parts(a, 0), revoking: tpSet{}}, nil, subscription{}},
		{"given back while revoking: taken at once (KAFKA-19449)", memberAssign{epoch: 2, prevEpoch: 2, state: memberUnrevoked, assigned: parts(a, 0, 1), revoking: parts(a, 2, 3)},
			3, parts(a, 0, 1, 2, 3), heldBy(parts(a, 2, 3), 2), parts(a, 0, 1),
			memberAssign{epoch: 3, prevEpoch: 2, state: memberStable, assigned: parts(a, 0, 1, 2, 3), revoking: tpSet{}}, nil, subscription{}},
		{"unsubscribed while revoking: revoked at once (KAFKA-19431)", memberAssign{epoch: 1, prevEpoch: 1, state: memberUnrevoked, assigned: union(parts(a, 0), parts(b, 0)), revoking: parts(a, 1)},
			2, parts(a, 0), free, union(parts(a, 0, 1), parts(b, 0)),
			memberAssign{epoch: 1, prevEpoch: 1, state: memberUnrevoked, assigned: parts(a, 0), revoking: union(parts(a, 1), parts(b, 0))}, nil,
			subscription{topics: map[topicID]bool{a: true}, changed: true}},
		{"unsubscribed when reconciled: revoked", memberAssign{epoch: 2, prevEpoch: 1, state: memberStable, assigned: union(parts(a, 0), parts(b, 0)), revoking: tpSet{}},
			2, union(parts(a, 0), parts(b, 0)), free, union(parts(a, 0), parts(b, 0)),
			memberAssign{epoch: 2, prevEpoch: 1, state: memberUnrevoked, assigned: parts(a, 0), revoking: parts(b, 0)}, nil,
			subscription{topics: map[topicID]bool{a: true}, changed: true}},
		// The previous epoch stays: a member whose last answer (its move
		// from epoch 1 to 2) was lost may still come back at epoch 1.
		{"unsubscribed while revoking at a later epoch: previous epoch kept", memberAssign{epoch: 2, prevEpoch: 1, state: memberUnrevoked, assigned: union(parts(a, 0), parts(b, 0)), revoking: parts(a, 1)},
			3, parts(a, 0), free, union(parts(a, 0, 1), parts(b, 0)),
			memberAssign{epoch: 2, prevEpoch: 1, state: memberUnrevoked, assigned: parts(a, 0), revoking: union(parts(a, 1), parts(b, 0))}, nil,
			subscription{topics: map[topicID]bool{a: true}, changed: true}},
		{"unsubscribed and already given up: gone", memberAssign{epoch: 2, prevEpoch: 1, state: memberStable, assigned: union(parts(a, 0), parts(b, 0)), revoking: tpSet{}},
			2, union(parts(a, 0), parts(b, 0)), free, parts(a, 0),
			memberAssign{epoch: 2, prevEpoch: 1, state: memberStable, assigned: parts(a, 0), revoking: tpSet{}}, nil,
			subscription{topics: map[topicID]bool{a: true}, changed: true}},
		{"a target naming a topic not subscribed: not taken", memberAssign{epoch: 1, state: memberStable, assigned: parts(a, 0), revoking: tpSet{}},
			2, union(parts(a, 0), parts(b, 0)), free, parts(a, 0),
			memberAssign{epoch: 2, prevEpoch: 1, state: memberStable, assigned: parts(a, 0), revoking: tpSet{}}, nil,
			subscription{topics: map[topicID]bool{a: true}}},
		{"unknown state owning partitions: fenced", memberAssign{epoch: 2, state: memberUnknown, assigned: parts(a, 0), revoking: tpSet{}},
			3, parts(a, 0), free, parts(a, 0), memberAssign{}, kerr.FencedMemberEpoch, subscription{}},
		{"unknown state owning nothing", memberAssign{epoch: 2, prevEpoch: 1, state: memberUnknown, assigned: parts(a, 0), revoking: tpSet{}},
			3, parts(a, 0), free, tpSet{},
			memberAssign{epoch: 3, prevEpoch: 2, state: memberStable, assigned: parts(a, 0), revoking: tpSet{}}, nil, subscription{}},
	} {
		got, err := reconcile(tc.cur, tc.targetEpoch, tc.target, tc.owner, tc.owned, tc.sub)
		if err != tc.err {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.err)
			continue
		}
		if err == nil && !got.equal(&tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

// Records round-trip, and a key and value are byte for byte Kafka's.
func TestConsumerGroupRecordCodec(t *testing.T) {
	a := tid(7)
	recs := []cgRec{
		recGroupEpoch{epoch: 5}, recGroupEpoch{del: true},
		recPartMeta{topics: []topicMeta{{name: "t", id: a, partitions: 3}}}, recPartMeta{del: true},
		recMember{id: "m", sub: &memberSub{id: "m", instanceID: ptr("i"), rackID: ptr("r"), clientID: "c", clientHost: "/h",
			topics: []string{"t", "u"}, regex: "x.*", rebalanceTimeoutMs: 300, assignor: "range",
			classic: &classicMeta{sessionTimeoutMs: 45000, protocols: []protocolMeta{{name: "range", metadata: []byte{0, 1}}}}}},
		recMember{id: "m", sub: &memberSub{id: "m", clientID: "c", clientHost: "/h", topics: []string{"t"}, rebalanceTimeoutMs: -1}},
		recMember{id: "m"},
		recTargetEpoch{epoch: 4}, recTargetEpoch{del: true},
		recTarget{member: "m", parts: parts(a, 0, 2)}, recTarget{member: "m"},
		recCurrent{member: "m", cur: &memberAssign{epoch: 4, prevEpoch: 3, state: memberUnrevoked, assigned: parts(a, 0), revoking: parts(a, 1)}},
		recCurrent{member: "m"},
		recRegex{regex: "x.*", r: &resolvedRegex{topics: []string{"x1", "x2"}, version: 9, atMs: 10}}, recRegex{regex: "x.*"},
	}
	for _, r := range recs {
		enc := r.encode("g")
		group, dec, err := decodeCGRecord(enc.Key, enc.Value)
		if err != nil || group != "g" || !reflect.DeepEqual(dec, r) {
			t.Errorf("%T round trip: group %q err %v\n got %#v\nwant %#v", r, group, err, dec, r)
		}
	}
	// ConsumerGroupMetadataKey/Value: type 3, the group as an int16
	// string; value version 0, the epoch, no tagged fields.
	enc := recGroupEpoch{epoch: 5}.encode("g")
	if !bytes.Equal(enc.Key, []byte{0, 3, 0, 1, 'g'}) || !bytes.Equal(enc.Value, []byte{0, 0, 0, 0, 0, 5, 0}) {
		t.Fatalf("metadata record: key %x value %x", enc.Key, enc.Value)
	}
	// A current assignment with a state this version does not know is
	// UNKNOWN, as Kafka's MemberState.fromValue.
	cur := recCurrent{member: "m", cur: &memberAssign{epoch: 1, state: 9, assigned: tpSet{}, revoking: tpSet{}}}.encode("g")
	_, dec, err := decodeCGRecord(cur.Key, cur.Value)
	if err != nil || dec.(recCurrent).cur.state != memberUnknown {
		t.Fatalf("unknown state: %+v %v", dec, err)
	}
}
