package compat

// Kafka's strings are at most 0x7fff bytes. A flexible version's compact
// string could say more, but Kafka's generated readers refuse one, so the
// request never parses and the connection is closed. Gregor took them: a
// group or transactional id of 40,001 bytes was acknowledged, written into
// __consumer_offsets or __transaction_state with its int16 length wrapped,
// and after a restart skipped as unreadable (acknowledged state lost) or,
// for a crafted id, read back as another group's key. And a response that
// quoted a 32,767-byte name in an error message, or built a member id from
// a 32,767-byte client id, wrapped the same way and could not be decoded.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
)

const kafkaMaxString = 0x7fff

func TestStringsLongerThanKafkaAllowsCloseTheConnection(t *testing.T) {
	if !usingGregor() {
		t.Skip("needs its own broker (it restarts it)")
	}
	// One partition of each internal topic, so that a wrapped key would
	// be read back in the partition of the group it names.
	set := map[string]string{"offsets.topic.num.partitions": "1", "transaction.state.log.num.partitions": "1"}
	b := brokertest.Start(t, brokertest.Options{Set: set})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, adm := ktClient(t, b.Addr)
	topic := randomName("orders")
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	commit := func(adm *kadm.Client, group string, at int64) {
		t.Helper()
		var o kadm.Offsets
		o.AddOffset(topic, 0, at, -1)
		resp, err := adm.CommitOffsets(ctx, group, o)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.Fatalf("committing %d for a group of %d bytes: %v", at, len(group), err)
		}
	}
	committed := func(adm *kadm.Client, group string) int64 {
		t.Helper()
		resp, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			t.Fatalf("fetching the offsets of a group of %d bytes: %v", len(group), err)
		}
		o, ok := resp.Lookup(topic, 0)
		if !ok {
			return -1
		}
		if o.Err != nil {
			t.Fatalf("fetching the offsets of a group of %d bytes: %v", len(group), o.Err)
		}
		return o.At
	}
	victim := randomName("victim")
	commit(adm, victim, 5)
	// The longest id Kafka takes works, and is read back after a restart.
	longest := strings.Repeat("g", kafkaMaxString)
	commit(adm, longest, 42)

	// A group id of 65,536+len(victim) bytes whose int16 length wraps to
	// len(victim): what follows victim's name reads as the topic and
	// partition of an offset key.
	var tail []byte
	tail = binary.BigEndian.AppendUint16(tail, uint16(len(topic)))
	tail = append(tail, topic...)
	tail = binary.BigEndian.AppendUint32(tail, 0)
	evil := victim + string(tail) + strings.Repeat("Z", 1<<16-len(tail))
	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Version = 8
	oc.Group, oc.Generation = evil, -1
	oc.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: topic, Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 999999, LeaderEpoch: -1}}}}
	// A transactional id of 40,001 bytes.
	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.Version = 4
	ip.TransactionalID = kmsg.StringPtr(strings.Repeat("T", 40001))
	ip.TransactionTimeoutMillis, ip.ProducerID, ip.ProducerEpoch = 60000, -1, -1
	// A topic name of 40,001 bytes in a fetch.
	fe := kmsg.NewPtrFetchRequest()
	fe.Version = 12
	fe.MaxWaitMillis, fe.MaxBytes, fe.SessionEpoch = 10, 1<<20, -1
	fe.Topics = []kmsg.FetchRequestTopic{{Topic: strings.Repeat("f", 40001), Partitions: []kmsg.FetchRequestTopicPartition{{Partition: 0, FetchOffset: 0, PartitionMaxBytes: 1 << 20}}}}
	for _, req := range []kmsg.Request{oc, ip, fe} {
		what := kmsg.NameForKey(req.Key()) + " with a string over 32,767 bytes"
		c := hcDial(t, b.Addr)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(badFrame(req.Key(), req.GetVersion(), 1, true, req.AppendTo(nil))); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		expectClosed(t, c, what)
	}
	waitFor(t, "the broker's log line on the refused string", 10*time.Second, func() bool {
		return strings.Contains(b.Logs(1<<20), "is longer than 32767 bytes")
	})
	if got := committed(adm, victim); got != 5 {
		t.Errorf("before the restart: the victim's committed offset is %d, want 5", got)
	}

	b.Stop()
	b2 := brokertest.Start(t, brokertest.Options{Dir: b.Dir, Port: b.Port, Set: set})
	_, adm2 := ktClient(t, b2.Addr)
	if got := committed(adm2, victim); got != 5 {
		t.Errorf("after the restart: the victim's committed offset is %d, want 5", got)
	}
	if got := committed(adm2, longest); got != 42 {
		t.Errorf("after the restart: the committed offset of the 32,767-byte group is %d, want 42", got)
	}
	if logs := b2.Logs(1 << 20); strings.Contains(logs, "unreadable") {
		t.Errorf("the restarted broker skipped unreadable records of its internal topics:\n%s", logs)
	}
}

// A response never carries a string longer than a Kafka string: an error
// message quoting a 32,767-byte name is cut, and a member id built from a
// 32,767-byte client id keeps to the limit, so that the responses decode.
func TestResponsesKeepToKafkaStrings(t *testing.T) {
	addr := bootstrap(t)
	name := strings.Repeat("n", kafkaMaxString)
	c := hcDial(t, addr)

	dc := kmsg.NewPtrDescribeConfigsRequest()
	dc.Version = 0
	dc.Resources = []kmsg.DescribeConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: name}}
	dcr := kmsg.NewPtrDescribeConfigsResponse()
	raw := roundTripRaw(t, c, 1, dc, "badinput")
	decodeWhole(t, raw, dcr, "DescribeConfigs v0 for a topic of 32,767 bytes")
	if len(dcr.Resources) != 1 {
		t.Fatalf("DescribeConfigs v0: %d resources, want 1", len(dcr.Resources))
	}
	r := dcr.Resources[0]
	if r.ErrorCode == 0 || r.ResourceName != name {
		t.Errorf("DescribeConfigs v0 for a topic of 32,767 bytes: error %d for a name of %d bytes, want an error for the name", r.ErrorCode, len(r.ResourceName))
	}
	if r.ErrorMessage == nil || len(*r.ErrorMessage) > kafkaMaxString {
		t.Errorf("DescribeConfigs v0: error message of %d bytes", len(deref(r.ErrorMessage)))
	}

	if !usingGregor() {
		// Kafka builds the member id as clientId-UUID whatever its
		// length, and cannot encode the response.
		return
	}
	jg := kmsg.NewPtrJoinGroupRequest()
	jg.Version = 4 // non-flexible; a new member is given its id first
	jg.Group, jg.SessionTimeoutMillis, jg.RebalanceTimeoutMillis, jg.ProtocolType = randomName("long-client"), 10000, 10000, "consumer"
	jg.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 0}}}
	jgr := kmsg.NewPtrJoinGroupResponse()
	jgr.Version = 4
	var jraw []byte
	cl, _ := ktClient(t, addr)
	waitFor(t, "a JoinGroup answered by the group's coordinator", 20*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		fc := kmsg.NewPtrFindCoordinatorRequest() // creates __consumer_offsets
		fc.CoordinatorKey = jg.Group
		fc.RequestWith(ctx, cl)
		jc := hcDial(t, addr)
		jraw = roundTripRaw(t, jc, 2, jg, name)
		decodeWhole(t, jraw, jgr, "JoinGroup v4 from a client id of 32,767 bytes")
		return jgr.ErrorCode != 15 && jgr.ErrorCode != 14 && jgr.ErrorCode != 16
	})
	if jgr.ErrorCode != 79 { // MEMBER_ID_REQUIRED
		t.Fatalf("JoinGroup v4: error %d, want 79 (MEMBER_ID_REQUIRED)", jgr.ErrorCode)
	}
	if n := len(jgr.MemberID); n != kafkaMaxString || !strings.HasPrefix(jgr.MemberID, "nnnn") {
		t.Errorf("JoinGroup v4 from a client id of 32,767 bytes: member id of %d bytes (%.8q...), want 32,767 starting with the client id", n, jgr.MemberID)
	}
}

// roundTripRaw writes req with the given client id and returns the
// response body (after the correlation id) as received.
func roundTripRaw(t *testing.T, c interface {
	Write([]byte) (int, error)
	Read([]byte) (int, error)
	SetDeadline(time.Time) error
}, corr int32, req kmsg.Request, clientID string) []byte {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID)).AppendRequest(nil, req, corr)
	if _, err := c.Write(frame); err != nil {
		t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	var size [4]byte
	if _, err := readFull(c, size[:]); err != nil {
		t.Fatalf("%s: reading the response: %v", kmsg.NameForKey(req.Key()), err)
	}
	b := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := readFull(c, b); err != nil {
		t.Fatalf("%s: reading the response: %v", kmsg.NameForKey(req.Key()), err)
	}
	if got := int32(binary.BigEndian.Uint32(b)); got != corr {
		t.Fatalf("%s: correlation %d, want %d", kmsg.NameForKey(req.Key()), got, corr)
	}
	b = b[4:]
	if req.IsFlexible() {
		b = b[1:] // the response header's tags
	}
	return b
}

func readFull(c interface{ Read([]byte) (int, error) }, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// decodeWhole decodes raw into resp and checks that it is all of raw: a
// string whose length wrapped leaves bytes over or runs short.
func decodeWhole(t *testing.T, raw []byte, resp kmsg.Response, what string) {
	t.Helper()
	if err := resp.ReadFrom(raw); err != nil {
		t.Fatalf("%s: the response does not decode: %v", what, err)
	}
	if again := resp.AppendTo(nil); !bytes.Equal(again, raw) {
		t.Fatalf("%s: the response decodes from %d of its %d bytes", what, len(again), len(raw))
	}
}

// APPEND cannot grow a list config past what a Kafka string holds: each
// request's value fits, but the stored list would not, and every
// DescribeConfigs of the topic would have had to fail. The append that
// would cross the limit gets INVALID_CONFIG and changes nothing.
func TestAppendKeepsConfigValuesToKafkaStrings(t *testing.T) {
	_, adm := ktClient(t, bootstrap(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := randomName("append-long")
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	items := func(from int) string { // 13.5 KB of partition:broker items
		var b strings.Builder
		for i := from; i < from+1500; i++ {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%d:0", i)
		}
		return b.String()
	}
	const key = "leader.replication.throttled.replicas"
	var last error
	appended := 0
	for n := range 3 {
		v := items(100000 + n*1500)
		resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: key, Value: &v}}, topic)
		if err == nil {
			err = resps[0].Err
		}
		if last = err; err != nil {
			break
		}
		appended++
	}
	if appended != 2 || !errors.Is(last, kerr.InvalidConfig) {
		t.Fatalf("%d appends of 13.5 KB went in, the next: %v; want 2, then INVALID_CONFIG", appended, last)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil || len(rcs) != 1 || rcs[0].Err != nil {
		t.Fatalf("describing %s after the refused append: %v %v", topic, err, rcs)
	}
	for _, c := range rcs[0].Configs {
		if c.Key == key && (c.Value == nil || *c.Value != items(100000)+","+items(101500)) {
			t.Errorf("%s holds %d bytes, want the two appends", key, len(c.MaybeValue()))
		}
	}
}
