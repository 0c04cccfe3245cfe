package compat

// KIP-848 consumer groups (the "consumer" group protocol,
// ConsumerGroupHeartbeat) with franz-go's next-gen consumer
// (kgo.ServerSideBalancer): the broker assigns with the uniform or range
// assignor, members come and go, static members come back to their
// partitions, regex subscriptions pick up new topics, classic and
// consumer members share a group, and a consume-transform-produce loop
// runs with transaction version 2.

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupBound bounds waits for a consumer group to settle: with Kafka's
// default heartbeat interval (5 s) a rebalance takes a few heartbeats.
const groupBound = 90 * time.Second

// kipConsumer is a franz-go group member consuming in the background and
// counting what it got.
type kipConsumer struct {
	name   string
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	recs map[string]int // value -> times received
}

// startConsumer starts a group member; next selects the KIP-848 protocol.
func startConsumer(t *testing.T, addr, name, group string, next bool, opts ...kgo.Opt) *kipConsumer {
	t.Helper()
	base := []kgo.Opt{
		kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.ClientID(name), kgo.FetchMaxWait(200 * time.Millisecond),
	}
	if next {
		base = append(base, kgo.ServerSideBalancer())
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &kipConsumer{name: name, cl: cl, cancel: cancel, done: make(chan struct{}), recs: map[string]int{}}
	go func() {
		defer close(c.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			c.mu.Lock()
			fs.EachRecord(func(r *kgo.Record) { c.recs[string(r.Value)]++ })
			c.mu.Unlock()
		}
	}()
	t.Cleanup(c.stop)
	return c
}

// stop leaves the group (committing what it consumed) and closes the
// client; calling it again does nothing.
func (c *kipConsumer) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	c.cancel()
	<-c.done
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c.cl.CommitUncommittedOffsets(ctx)
	c.cl.Close()
}

func (c *kipConsumer) got() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.recs))
	for k, v := range c.recs {
		out[k] = v
	}
	return out
}

// union is every value some consumer got.
func union848(cs ...*kipConsumer) map[string]bool {
	out := map[string]bool{}
	for _, c := range cs {
		for v := range c.got() {
			out[v] = true
		}
	}
	return out
}

func produce848(t *testing.T, addr, topic string, values []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var rs []*kgo.Record
	for _, v := range values {
		rs = append(rs, kgo.StringRecord(v))
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("producing to %s: %v", topic, err)
	}
}

func adminClient(t *testing.T, addr string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// describe848 describes a consumer group with ConsumerGroupDescribe.
func describe848(t *testing.T, adm *kadm.Client, group string) kadm.DescribedConsumerGroup {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := adm.DescribeConsumerGroups(ctx, group)
	if err != nil {
		return kadm.DescribedConsumerGroup{Err: err}
	}
	return d[group]
}

// waitStable waits until the group is Stable with n members whose
// assignments together cover want partitions, each at most one apart
// (balanced), and returns the description.
func waitStable(t *testing.T, adm *kadm.Client, group string, n, want int) kadm.DescribedConsumerGroup {
	t.Helper()
	var last kadm.DescribedConsumerGroup
	ok := func() bool {
		last = describe848(t, adm, group)
		if last.Err != nil || last.State != "Stable" || len(last.Members) != n {
			return false
		}
		total, lo, hi := 0, -1, 0
		for _, m := range last.Members {
			k := 0
			for _, ps := range m.Assignment {
				k += len(ps)
			}
			total += k
			if lo < 0 || k < lo {
				lo = k
			}
			hi = max(hi, k)
		}
		return total == want && hi-lo <= 1
	}
	if !waitUntil(groupBound, ok) {
		t.Fatalf("group %s not Stable with %d members over %d partitions after %v: %+v", group, n, want, groupBound, last)
	}
	return last
}

// waitUntil is wait.Until.
func waitUntil(bound time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

func values848(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%04d", prefix, i)
	}
	return out
}

// Members join and leave a consumer group; the broker's uniform assignor
// keeps it balanced, every record is consumed, ListGroups and
// ConsumerGroupDescribe show it as a consumer group.
func TestConsumerProtocolFranz(t *testing.T) {
	addr := bootstrap(t)
	topic, group := randomName("kip848"), randomName("g848")
	createTopic(t, addr, topic, 6)
	vals := values848("v", 300)
	produce848(t, addr, topic, vals)
	adm := adminClient(t, addr)
	opts := []kgo.Opt{kgo.ConsumeTopics(topic), kgo.Balancers(kgo.CooperativeStickyBalancer())}
	c1 := startConsumer(t, addr, "c1", group, true, opts...)
	waitStable(t, adm, group, 1, 6)
	c2 := startConsumer(t, addr, "c2", group, true, opts...)
	c3 := startConsumer(t, addr, "c3", group, true, opts...)
	d := waitStable(t, adm, group, 3, 6)
	if d.AssignorName != "uniform" {
		t.Errorf("assignor %q, want uniform", d.AssignorName)
	}
	for _, m := range d.Members {
		if m.MemberType != 1 || len(m.SubscribedTopics) != 1 || m.SubscribedTopics[0] != topic {
			t.Errorf("member %+v", m)
		}
	}
	wait848(t, "every record consumed by the three members", func() bool { return len(union848(c1, c2, c3)) == len(vals) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	listed, err := adm.ListGroupsByType(ctx, []string{"consumer"})
	if err != nil || listed[group].ProtocolType != "consumer" {
		t.Fatalf("ListGroups type consumer: %+v %v", listed[group], err)
	}
	if classic, err := adm.ListGroupsByType(ctx, []string{"classic"}); err != nil || classic[group].Group != "" {
		t.Fatalf("the consumer group listed as classic: %+v %v", classic[group], err)
	}
	cancel()
	// A member leaves: the others take its partitions.
	c2.stop()
	waitStable(t, adm, group, 2, 6)
	more := values848("w", 60)
	produce848(t, addr, topic, more)
	wait848(t, "records produced after the leave consumed", func() bool {
		u := union848(c1, c3)
		for _, v := range more {
			if !u[v] {
				return false
			}
		}
		return true
	})
	c1.stop()
	c3.stop()
	// Everything consumed was committed: the group's offsets add up.
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	offs.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != int64(len(vals)+len(more)) {
		t.Fatalf("committed offsets sum to %d, want %d", total, len(vals)+len(more))
	}
	if d := describe848(t, adm, group); d.State != "Empty" {
		t.Fatalf("group after everyone left: %+v", d)
	}
}

func wait848(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !waitUntil(groupBound, cond) {
		t.Fatalf("timed out after %v waiting for %s", groupBound, what)
	}
}

// The range assignor (kgo.RangeBalancer) co-partitions two topics.
func TestConsumerProtocolRangeFranz(t *testing.T) {
	addr := bootstrap(t)
	a, b, group := randomName("kip848a"), randomName("kip848b"), randomName("g848r")
	createTopic(t, addr, a, 4)
	createTopic(t, addr, b, 4)
	adm := adminClient(t, addr)
	opts := []kgo.Opt{kgo.ConsumeTopics(a, b), kgo.Balancers(kgo.RangeBalancer())}
	startConsumer(t, addr, "r1", group, true, opts...)
	startConsumer(t, addr, "r2", group, true, opts...)
	d := waitStable(t, adm, group, 2, 8)
	if d.AssignorName != "range" {
		t.Fatalf("assignor %q, want range", d.AssignorName)
	}
	for _, m := range d.Members {
		pa, pb := sortedParts(m.Assignment[a]), sortedParts(m.Assignment[b])
		if len(pa) != 2 || !slices.Equal(pa, pb) || pa[1] != pa[0]+1 {
			t.Fatalf("member %s: %s %v, %s %v: want the same contiguous range of each", m.MemberID, a, pa, b, pb)
		}
	}
}

func sortedParts(m map[int32]struct{}) []int32 {
	var out []int32
	for p := range m {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// A static member (group.instance.id) that leaves for now (member epoch
// -2) comes back under a new member id to its partitions, without a
// rebalance. franz-go's own static leave carries no instance id, which
// Kafka refuses (INVALID_REQUEST: "InstanceId can't be null"), and so does
// Gregor; the test sends the leave a conforming client sends.
func TestConsumerProtocolStaticMemberFranz(t *testing.T) {
	addr := bootstrap(t)
	topic, group := randomName("kip848s"), randomName("g848s")
	createTopic(t, addr, topic, 4)
	adm := adminClient(t, addr)
	opts := []kgo.Opt{kgo.ConsumeTopics(topic), kgo.Balancers(kgo.CooperativeStickyBalancer())}
	s1 := startConsumer(t, addr, "s1", group, true, append(opts, kgo.InstanceID("inst-1"))...)
	startConsumer(t, addr, "s2", group, true, append(opts, kgo.InstanceID("inst-2"))...)
	d := waitStable(t, adm, group, 2, 4)
	before, epoch := assignmentOf(d, "inst-1"), d.Epoch
	memberID := memberOf(d, "inst-1")
	s1.stop()
	if code := staticLeave(t, addr, group, memberID, "inst-1"); code != 0 {
		t.Fatalf("static leave: %v", kerrName(code))
	}
	if d := describe848(t, adm, group); len(d.Members) != 2 || assignmentOf(d, "inst-1") != before {
		t.Fatalf("after the static leave, inst-1 holds %q (had %q): %+v", assignmentOf(d, "inst-1"), before, d)
	}
	startConsumer(t, addr, "s1-again", group, true, append(opts, kgo.InstanceID("inst-1"))...)
	var after kadm.DescribedConsumerGroup
	wait848(t, "inst-1 back in the group", func() bool {
		after = describe848(t, adm, group)
		for _, m := range after.Members {
			if m.InstanceID != nil && *m.InstanceID == "inst-1" && m.ClientID == "s1-again" && after.State == "Stable" {
				return true
			}
		}
		return false
	})
	if got := assignmentOf(after, "inst-1"); got != before || after.Epoch != epoch {
		t.Fatalf("inst-1 came back to %s at group epoch %d, had %s at %d", got, after.Epoch, before, epoch)
	}
}

// staticLeave sends the ConsumerGroupHeartbeat of a static member leaving
// for now.
func staticLeave(t *testing.T, addr, group, memberID, instance string) int16 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch, req.InstanceID = group, memberID, -2, &instance
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.ErrorCode
}

func kerrName(code int16) string { return kerr.ErrorForCode(code).Error() }

func memberOf(d kadm.DescribedConsumerGroup, instance string) string {
	for _, m := range d.Members {
		if m.InstanceID != nil && *m.InstanceID == instance {
			return m.MemberID
		}
	}
	return ""
}

func assignmentOf(d kadm.DescribedConsumerGroup, instance string) string {
	for _, m := range d.Members {
		if m.InstanceID != nil && *m.InstanceID == instance {
			var parts []string
			for topic, ps := range m.Assignment {
				for _, p := range sortedParts(ps) {
					parts = append(parts, fmt.Sprintf("%s/%d", topic, p))
				}
			}
			sort.Strings(parts)
			return strings.Join(parts, ",")
		}
	}
	return ""
}

// A regex subscription is resolved by the broker: a topic created later
// is consumed too.
func TestConsumerProtocolRegexFranz(t *testing.T) {
	addr := bootstrap(t)
	prefix := randomName("rx")
	group := randomName("g848x")
	createTopic(t, addr, prefix+"-one", 2)
	produce848(t, addr, prefix+"-one", values848("one", 20))
	c := startConsumer(t, addr, "rx", group, true, kgo.ConsumeRegex(), kgo.ConsumeTopics("^"+regexp.QuoteMeta(prefix)+"-.*"),
		kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.MetadataMinAge(200*time.Millisecond), kgo.MetadataMaxAge(time.Second))
	wait848(t, "the first topic's records", func() bool { return len(c.got()) == 20 })
	createTopic(t, addr, prefix+"-two", 2)
	produce848(t, addr, prefix+"-two", values848("two", 20))
	wait848(t, "the new topic's records", func() bool { return len(c.got()) == 40 })
	adm := adminClient(t, addr)
	d := describe848(t, adm, group)
	if len(d.Members) != 1 || d.Members[0].SubscribedTopicRegex == nil {
		t.Fatalf("regex member: %+v", d)
	}
}

// Classic and consumer-protocol members in one group: the classic group
// is upgraded when the next-gen member joins, both consume, and it is
// classic again when the next-gen member leaves.
func TestConsumerProtocolMixedFranz(t *testing.T) {
	addr := bootstrap(t)
	topic, group := randomName("kip848m"), randomName("g848m")
	createTopic(t, addr, topic, 4)
	adm := adminClient(t, addr)
	opts := []kgo.Opt{kgo.ConsumeTopics(topic), kgo.Balancers(kgo.CooperativeStickyBalancer())}
	classic := startConsumer(t, addr, "classic", group, false, opts...)
	classicStable := func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l, err := adm.ListGroupsByType(ctx, []string{"classic"})
		return err == nil && l[group].State == "Stable"
	}
	wait848(t, "the classic group to be Stable", classicStable)
	next := startConsumer(t, addr, "next", group, true, opts...)
	d := waitStable(t, adm, group, 2, 4)
	types := map[int8]int{}
	for _, m := range d.Members {
		types[m.MemberType]++
	}
	if types[0] != 1 || types[1] != 1 {
		t.Fatalf("member types %v, want one classic (0) and one consumer (1)", types)
	}
	vals := values848("m", 100)
	produce848(t, addr, topic, vals)
	wait848(t, "every record consumed by the two", func() bool { return len(union848(classic, next)) == len(vals) })
	if len(classic.got()) == 0 || len(next.got()) == 0 {
		t.Fatalf("one member got nothing: classic %d next %d", len(classic.got()), len(next.got()))
	}
	next.stop()
	wait848(t, "the group to be classic again", classicStable)
	more := values848("n", 40)
	produce848(t, addr, topic, more)
	wait848(t, "the classic member to consume everything new", func() bool {
		got := classic.got()
		for _, v := range more {
			if got[v] == 0 {
				return false
			}
		}
		return true
	})
}

// A consume-transform-produce loop with transaction version 2 (franz-go
// uses EndTxn v5 and no AddPartitionsToTxn/AddOffsetsToTxn once the broker
// finalizes transaction.version 2) in a KIP-848 group: every input
// record is in the output exactly once, and the producer's epoch was
// bumped by each transaction.
func TestTxnV2ConsumeTransformProduceFranz(t *testing.T) {
	addr := bootstrap(t)
	in, out, group, txnID := randomName("tv2in"), randomName("tv2out"), randomName("tv2g"), randomName("tv2tx")
	createTopic(t, addr, in, 3)
	createTopic(t, addr, out, 3)
	vals := values848("x", 200)
	produce848(t, addr, in, vals)
	checkTV2Advertised(t, addr)
	sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(addr), kgo.TransactionalID(txnID), kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(in), kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DefaultProduceTopic(out), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done, txns := 0, 0
	for done < len(vals) && ctx.Err() == nil {
		fs := sess.PollFetches(ctx)
		if fs.NumRecords() == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			sess.Produce(ctx, kgo.StringRecord("t-"+string(r.Value)), nil)
		})
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			t.Fatalf("ending a transaction: %v", err)
		}
		if committed {
			done += fs.NumRecords()
			txns++
		}
	}
	got := readAll(t, addr, out, true, len(vals))
	want := make([]string, len(vals))
	for i, v := range vals {
		want[i] = "t-" + v
	}
	if !sameSet(got, want) || len(got) != len(vals) {
		t.Fatalf("output has %d records, want each of %d once", len(got), len(vals))
	}
	adm := adminClient(t, addr)
	dt, err := adm.DescribeTransactions(ctx, txnID)
	if err != nil {
		t.Fatal(err)
	}
	d := dt[txnID]
	if int(d.ProducerEpoch) < txns {
		t.Fatalf("producer epoch %d after %d transactions: transaction version 2 bumps it every time", d.ProducerEpoch, txns)
	}
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	offs.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != int64(len(vals)) {
		t.Fatalf("committed offsets sum to %d, want %d", total, len(vals))
	}
}

// checkTV2Advertised checks that the broker finalizes transaction.version
// 2 in ApiVersions, which is what makes clients use it.
func checkTV2Advertised(t *testing.T, addr string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName, req.ClientSoftwareVersion = "gregor-compat", "1"
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range resp.FinalizedFeatures {
		if f.Name == "transaction.version" && f.MaxVersionLevel >= 2 && resp.FinalizedFeaturesEpoch >= 0 {
			return
		}
	}
	t.Skipf("the broker does not finalize transaction.version 2: %+v", resp.FinalizedFeatures)
}
