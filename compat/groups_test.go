package compat

// Consumer groups with franz-go: partitions split with no overlap, handed
// over when a member leaves, consumption resumes after the committed
// offset, static members keep their assignment, and the admin APIs
// (list, describe, lag, delete, delete offsets) agree.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/internal/brokertest"
	"gregor/internal/wait"
)

// assignments tracks what a group member owns, from its callbacks.
type assignments struct {
	mu    sync.Mutex
	owned map[int32]bool
}

func (a *assignments) opts() []kgo.Opt {
	a.owned = make(map[int32]bool)
	return []kgo.Opt{
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			a.mu.Lock()
			defer a.mu.Unlock()
			for _, ps := range m {
				for _, p := range ps {
					a.owned[p] = true
				}
			}
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			a.mu.Lock()
			defer a.mu.Unlock()
			for _, ps := range m {
				for _, p := range ps {
					delete(a.owned, p)
				}
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			a.mu.Lock()
			defer a.mu.Unlock()
			for _, ps := range m {
				for _, p := range ps {
					delete(a.owned, p)
				}
			}
		}),
	}
}

func (a *assignments) get() []int32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := slices.Collect(maps.Keys(a.owned))
	slices.Sort(out)
	return out
}

// groupMember starts a consumer in group on topic, polling in the
// background until the test ends.
func groupMember(t *testing.T, addr, group, topic string, extra ...kgo.Opt) (*kgo.Client, *assignments) {
	t.Helper()
	a := &assignments{}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.HeartbeatInterval(100 * time.Millisecond),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, a.opts()...)
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			cl.PollFetches(ctx)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		cl.Close()
	})
	return cl, a
}

// waitFor is wait.For: poll with a bound, say what was awaited.
var waitFor = wait.For

func all(n int32) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(i)
	}
	return out
}

func testGroupSplitAndHandOver(t *testing.T, balancer kgo.GroupBalancer) {
	addr := bootstrap(t)
	topic, group := randomName("grp"), randomName("g")
	createTopic(t, addr, topic, 6)
	_, a := groupMember(t, addr, group, topic, kgo.Balancers(balancer))
	waitFor(t, "the first member to own all 6 partitions", 20*time.Second, func() bool {
		return slices.Equal(a.get(), all(6))
	})
	bcl, b := groupMember(t, addr, group, topic, kgo.Balancers(balancer))
	waitFor(t, "two members to split 6 partitions with no overlap", 20*time.Second, func() bool {
		pa, pb := a.get(), b.get()
		if len(pa) == 0 || len(pb) == 0 {
			return false
		}
		u := append(slices.Clone(pa), pb...)
		slices.Sort(u)
		return slices.Equal(u, all(6))
	})
	t.Logf("split: %v / %v", a.get(), b.get())
	// The second member leaves: the first takes everything back.
	bcl.LeaveGroup()
	waitFor(t, "the remaining member to own all 6 partitions after the other left", 20*time.Second, func() bool {
		return slices.Equal(a.get(), all(6))
	})
}

func TestGroupSplitAndHandOverEager(t *testing.T) {
	testGroupSplitAndHandOver(t, kgo.RangeBalancer())
}

func TestGroupSplitAndHandOverCooperative(t *testing.T) {
	testGroupSplitAndHandOver(t, kgo.CooperativeStickyBalancer())
}

func produceValues(t *testing.T, addr, topic string, values []string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var rs []*kgo.Record
	for _, v := range values {
		rs = append(rs, &kgo.Record{Value: []byte(v)})
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// consumeN reads n records as a group member, commits them and leaves.
func consumeN(t *testing.T, addr, group, topic string, n int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.HeartbeatInterval(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []string
	for len(got) < n {
		fs := cl.PollRecords(ctx, n-len(got))
		if ctx.Err() != nil {
			t.Fatalf("timed out with %d of %d records", len(got), n)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Errorf("fetch: %v", err) })
		var recs []*kgo.Record
		fs.EachRecord(func(r *kgo.Record) {
			got = append(got, string(r.Value))
			recs = append(recs, r)
		})
		if err := cl.CommitRecords(ctx, recs...); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	return got
}

func TestGroupResumesAfterCommittedOffset(t *testing.T) {
	addr := bootstrap(t)
	topic, group := randomName("resume"), randomName("g")
	createTopic(t, addr, topic, 1)
	produceValues(t, addr, topic, seq("a", 50))
	first := consumeN(t, addr, group, topic, 30)
	if !slices.Equal(first, seq("a", 50)[:30]) {
		t.Fatalf("first member read %v", first)
	}
	produceValues(t, addr, topic, seq("b", 10))
	rest := consumeN(t, addr, group, topic, 30)
	want := append(seq("a", 50)[30:], seq("b", 10)...)
	if !slices.Equal(rest, want) {
		t.Fatalf("second member read %v, want %v (no re-delivery, nothing skipped)", rest, want)
	}
}

func TestGroupStaticMemberKeepsAssignment(t *testing.T) {
	addr := bootstrap(t)
	topic, group := randomName("static"), randomName("g")
	createTopic(t, addr, topic, 4)
	adm, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ac := kadm.NewClient(adm)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cl1, a1 := staticMember(t, addr, group, topic, "i1")
	_, a2 := staticMember(t, addr, group, topic, "i2")
	waitFor(t, "two static members to split 4 partitions", 20*time.Second, func() bool {
		return len(a1.get())+len(a2.get()) == 4 && len(a1.get()) > 0 && len(a2.get()) > 0
	})
	before := describeGroup(t, ac, group)
	owned := a1.get()
	// A static member that closes does not leave: its place waits for it.
	cl1.close()
	cl3, a3 := staticMember(t, addr, group, topic, "i1")
	defer cl3.close()
	waitFor(t, "the returning static member to get its partitions back", 20*time.Second, func() bool {
		return slices.Equal(a3.get(), owned)
	})
	// The coordinator takes it back without a rebalance; franz-go's
	// leader may then rejoin once to check the stored plan (KIP-814), so
	// the group is awaited Stable.
	var after kadm.DescribedGroup
	waitFor(t, "the group to be Stable with both static members", 20*time.Second, func() bool {
		after = describeGroup(t, ac, group)
		return after.State == "Stable" && len(after.Members) == 2 && slices.Equal(a3.get(), owned)
	})
	_ = ctx
	t.Logf("members before %d after %d", len(before.Members), len(after.Members))
}

type closer struct{ close func() }

func staticMember(t *testing.T, addr, group, topic, instance string) (closer, *assignments) {
	a := &assignments{}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.InstanceID(instance), kgo.HeartbeatInterval(100 * time.Millisecond),
		kgo.SessionTimeout(30 * time.Second),
	}, a.opts()...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			cl.PollFetches(ctx)
		}
	}()
	var once sync.Once
	c := closer{close: func() {
		once.Do(func() {
			cancel()
			<-done
			cl.Close()
		})
	}}
	t.Cleanup(c.close)
	return c, a
}

func describeGroup(t *testing.T, ac *kadm.Client, group string) kadm.DescribedGroup {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ds, err := ac.DescribeGroups(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	d := ds[group]
	if d.Err != nil {
		t.Fatalf("describe %s: %v", group, d.Err)
	}
	return d
}

func TestGroupAdmin(t *testing.T) {
	addr := bootstrap(t)
	topic, other, group := randomName("adm"), randomName("adm-other"), randomName("g")
	createTopic(t, addr, topic, 3)
	createTopic(t, addr, other, 1)
	produceValues(t, addr, topic, seq("v", 30))
	adm, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ac := kadm.NewClient(adm)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cl, a := groupMember(t, addr, group, topic, kgo.ClientID("adm-client"))
	waitFor(t, "the member to own all 3 partitions", 20*time.Second, func() bool { return len(a.get()) == 3 })
	d := describeGroup(t, ac, group)
	if d.State != "Stable" || d.Protocol == "" || d.ProtocolType != "consumer" || len(d.Members) != 1 {
		t.Fatalf("describe: %+v", d)
	}
	m := d.Members[0]
	if m.ClientID != "adm-client" || m.ClientHost != "/127.0.0.1" {
		t.Fatalf("member: client id %q host %q", m.ClientID, m.ClientHost)
	}
	if ca, ok := m.Assigned.AsConsumer(); !ok || len(ca.Topics) != 1 || len(ca.Topics[0].Partitions) != 3 {
		t.Fatalf("member assignment: %+v", m.Assigned)
	}
	listed, err := ac.ListGroups(ctx, "Stable")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := listed[group]; !ok {
		t.Fatalf("ListGroups(Stable) lacks %s: %v", group, listed.Groups())
	}
	if listed, err := ac.ListGroups(ctx, "Empty"); err != nil {
		t.Fatal(err)
	} else if _, ok := listed[group]; ok {
		t.Fatalf("ListGroups(Empty) lists the stable group %s", group)
	}

	// Commit what was read, then lag is zero everywhere.
	waitFor(t, "the member to read all 30 records and commit", 20*time.Second, func() bool {
		cl.CommitUncommittedOffsets(ctx)
		os, err := ac.FetchOffsets(ctx, group)
		if err != nil {
			return false
		}
		var sum int64
		os.Each(func(o kadm.OffsetResponse) { sum += o.At })
		return sum == 30
	})
	lag, err := ac.Lag(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if l := lag[group]; l.Error() != nil || l.Lag.Total() != 0 {
		t.Fatalf("lag: %+v err %v", l.Lag, l.Error())
	}

	// A commit for a topic the group does not consume can be deleted while
	// it is active; one it consumes cannot.
	commit := kadm.Offsets{}
	commit.Add(kadm.Offset{Topic: other, Partition: 0, At: 0, LeaderEpoch: -1})
	if cres, err := ac.CommitOffsets(ctx, group, commit); err != nil {
		t.Fatal(err)
	} else if e := cres.Error(); !errors.Is(e, kerr.UnknownMemberID) {
		t.Fatalf("a commit without a member to an active group: %v, want UNKNOWN_MEMBER_ID", e)
	}
	// Delete while non-empty: refused.
	res, err := ac.DeleteGroups(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[group].Err, kerr.NonEmptyGroup) {
		t.Fatalf("deleting an active group: %v", res[group].Err)
	}
	dres, err := ac.DeleteOffsets(ctx, group, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if e := dres[topic][0]; !errors.Is(e, kerr.GroupSubscribedToTopic) {
		t.Fatalf("deleting a consumed topic's offset: %v", e)
	}
	cl.LeaveGroup()
	waitFor(t, "the group to become Empty", 20*time.Second, func() bool {
		return describeGroup(t, ac, group).State == "Empty"
	})
	dres, err = ac.DeleteOffsets(ctx, group, kadm.TopicsSet{topic: {0: {}}})
	if err != nil || dres[topic][0] != nil {
		t.Fatalf("deleting an offset of an empty group: %v %v", err, dres)
	}
	os, err := ac.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := os.Lookup(topic, 0); ok && o.At >= 0 {
		t.Fatalf("offset of partition 0 still there after delete: %+v", o)
	}
	res, err = ac.DeleteGroups(ctx, group)
	if err != nil || res[group].Err != nil {
		t.Fatalf("deleting the empty group: %v %v", err, res[group].Err)
	}
	if d, _ := ac.DescribeGroups(ctx, group); d[group].State != "Dead" && !errors.Is(d[group].Err, kerr.GroupIDNotFound) {
		t.Fatalf("deleted group described as %+v", d[group])
	}
	if res, _ := ac.DeleteGroups(ctx, group); !errors.Is(res[group].Err, kerr.GroupIDNotFound) {
		t.Fatalf("deleting a deleted group: %v", res[group].Err)
	}
}

func TestGroupOffsetsSurviveRestart(t *testing.T) {
	if !usingGregor() {
		t.Skip("restarts its own broker")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{"group.initial.rebalance.delay.ms": "0"}})
	topic, group := randomName("restart"), randomName("g")
	createTopic(t, b.Addr, topic, 2)
	produceValues(t, b.Addr, topic, seq("r", 20))
	got := consumeN(t, b.Addr, group, topic, 20)
	sort.Strings(got)
	if len(got) != 20 {
		t.Fatalf("read %d", len(got))
	}
	b.Stop()
	b.Restart()
	adm, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ac := kadm.NewClient(adm)
	var sum int64
	waitFor(t, "the restarted broker to report the group's committed offsets", 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		os, err := ac.FetchOffsets(ctx, group)
		if err != nil {
			return false
		}
		sum = 0
		os.Each(func(o kadm.OffsetResponse) { sum += o.At })
		return sum == 20
	})
	produceValues(t, b.Addr, topic, []string{"after"})
	rest := consumeN(t, b.Addr, group, topic, 1)
	if fmt.Sprint(rest) != "[after]" {
		t.Fatalf("after restart the group read %v", rest)
	}
}
