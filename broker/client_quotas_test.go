package broker

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/metadata"
	"gregor/protocol"
)

func alterQuota(tb *testBroker, typ string, name *string, ops ...kmsg.AlterClientQuotasRequestEntryOp) kmsg.AlterClientQuotasResponseEntry {
	tb.t.Helper()
	req := kmsg.NewPtrAlterClientQuotasRequest()
	e := kmsg.NewAlterClientQuotasRequestEntry()
	ent := kmsg.NewAlterClientQuotasRequestEntryEntity()
	ent.Type, ent.Name = typ, name
	e.Entity = append(e.Entity, ent)
	e.Ops = ops
	req.Entries = append(req.Entries, e)
	return tb.call(req).(*kmsg.AlterClientQuotasResponse).Entries[0]
}

func op(key string, v float64) kmsg.AlterClientQuotasRequestEntryOp {
	o := kmsg.NewAlterClientQuotasRequestEntryOp()
	o.Key, o.Value = key, v
	return o
}

func sp(s string) *string { return &s }

func TestAlterClientQuotasValidation(t *testing.T) {
	tb := newTestBroker(t, nil)
	for _, tc := range []struct {
		name  string
		typ   string
		ename *string
		op    kmsg.AlterClientQuotasRequestEntryOp
	}{
		{"unknown key", "client-id", sp("c"), op("bytes_per_fortnight", 1)},
		{"fractional LONG", "client-id", sp("c"), op("producer_byte_rate", 10.5)},
		{"zero", "user", sp("u"), op("request_percentage", 0)},
		{"negative", "user", sp("u"), op("controller_mutation_rate", -1)},
		{"empty name", "user", sp(""), op("producer_byte_rate", 10)},
		{"unknown type", "group", sp("g"), op("producer_byte_rate", 10)},
		{"ip with a client key", "ip", sp("127.0.0.1"), op("producer_byte_rate", 10)},
		{"client-id with the ip key", "client-id", sp("c"), op("connection_creation_rate", 10)},
		{"fractional INT", "ip", sp("127.0.0.1"), op("connection_creation_rate", 1.5)},
		{"INT overflow", "ip", sp("127.0.0.1"), op("connection_creation_rate", 1<<31)},
		{"zero rate", "ip", nil, op("connection_creation_rate", 0)},
		{"ip that is not an address", "ip", sp("not an address"), op("connection_creation_rate", 10)},
	} {
		got := alterQuota(tb, tc.typ, tc.ename, tc.op)
		if got.ErrorCode != kerr.InvalidRequest.Code || got.ErrorMessage == nil {
			t.Errorf("%s: error %d %v, want INVALID_REQUEST with a message", tc.name, got.ErrorCode, got.ErrorMessage)
		}
	}
	// ClientQuotaControlManager's words and order: above zero is checked
	// before the type, and integral means a remainder within 1e-6.
	for _, tc := range []struct {
		name, typ string
		op        kmsg.AlterClientQuotasRequestEntryOp
		msg       string
	}{
		{"negative fraction of a LONG", "client-id", op("producer_byte_rate", -1.5), "Quota producer_byte_rate must be greater than 0"},
		{"just below an integer", "client-id", op("consumer_byte_rate", 10.9999999), "consumer_byte_rate cannot be a fractional value."},
		{"INT overflow", "ip", op("connection_creation_rate", 1<<31), "Proposed value for connection_creation_rate is too large for an INT."},
	} {
		got := alterQuota(tb, tc.typ, nil, tc.op)
		if got.ErrorCode != kerr.InvalidRequest.Code || got.ErrorMessage == nil || *got.ErrorMessage != tc.msg {
			t.Errorf("%s: error %d %v, want INVALID_REQUEST %q", tc.name, got.ErrorCode, got.ErrorMessage, tc.msg)
		}
	}
	// An entity's part: its type is checked before its name.
	if got := alterQuota(tb, "group", sp(""), op("producer_byte_rate", 10)); got.ErrorMessage == nil || *got.ErrorMessage != "Unhandled client quota entity type: group" {
		t.Errorf("unknown type with an empty name: %v, want the type refused first", got.ErrorMessage)
	}
	ipUser := kmsg.NewPtrAlterClientQuotasRequest()
	ipEntry := kmsg.NewAlterClientQuotasRequestEntry()
	for _, typ := range []string{"user", "ip"} {
		ent := kmsg.NewAlterClientQuotasRequestEntryEntity()
		ent.Type = typ
		ipEntry.Entity = append(ipEntry.Entity, ent)
	}
	ipEntry.Ops = append(ipEntry.Ops, op("connection_creation_rate", 10))
	ipUser.Entries = append(ipUser.Entries, ipEntry)
	if got := tb.call(ipUser).(*kmsg.AlterClientQuotasResponse).Entries[0]; got.ErrorMessage == nil || *got.ErrorMessage != "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId" {
		t.Errorf("ip with a user: %v, want Kafka 4.0's message", got.ErrorMessage)
	}
	// A key twice in one entry refuses the entry.
	if got := alterQuota(tb, "client-id", sp("c"), op("producer_byte_rate", 10), op("producer_byte_rate", 20)); got.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("a key twice: error %d, want INVALID_REQUEST", got.ErrorCode)
	}
	// A removal is not validated: an unknown key removes nothing.
	rm := op("bytes_per_fortnight", 0)
	rm.Remove = true
	if got := alterQuota(tb, "client-id", sp("c"), rm); got.ErrorCode != 0 {
		t.Errorf("removing an unknown key: error %d %v, want none", got.ErrorCode, got.ErrorMessage)
	}
	q, _ := tb.backend.(metadata.QuotaBackend).ClientQuotas(context.Background())
	if len(q) != 0 {
		t.Errorf("refused alterations stored %v", q)
	}
	// A DOUBLE key takes fractions; a LONG one within 1e-6 of an integer.
	if got := alterQuota(tb, "client-id", nil, op("request_percentage", 12.5), op("producer_byte_rate", 1024.0000001)); got.ErrorCode != 0 {
		t.Fatalf("valid alteration: error %d %v", got.ErrorCode, got.ErrorMessage)
	}
	want := metadata.ClientQuotas{{ClientID: metadata.DefaultEntity}: {"request_percentage": 12.5, "producer_byte_rate": 1024}}
	if q, _ := tb.backend.(metadata.QuotaBackend).ClientQuotas(context.Background()); len(q) != 1 || q[metadata.QuotaEntity{ClientID: "<default>"}]["producer_byte_rate"] != 1024 || q[metadata.QuotaEntity{ClientID: "<default>"}]["request_percentage"] != 12.5 {
		t.Errorf("stored %v, want %v", q, want)
	}
	if got := tb.Quotas().Quotas(); len(got) != 1 {
		t.Errorf("quotas in force %v, want the stored ones", got)
	}
}

// TestDescribeClientQuotasFilterErrors: malformed filters fail the whole
// request as Kafka's do.
func TestDescribeClientQuotasFilterErrors(t *testing.T) {
	tb := newTestBroker(t, nil)
	comp := func(typ string, mt kmsg.QuotasMatchType, match *string) kmsg.DescribeClientQuotasRequestComponent {
		c := kmsg.NewDescribeClientQuotasRequestComponent()
		c.EntityType, c.MatchType, c.Match = typ, mt, match
		return c
	}
	for _, tc := range []struct {
		name  string
		comps []kmsg.DescribeClientQuotasRequestComponent
		code  int16
		msg   string // Kafka 4.0's, ClientQuotasImage.describe
	}{
		{"exact without a name", []kmsg.DescribeClientQuotasRequestComponent{comp("user", 0, nil)}, kerr.InvalidRequest.Code, "Request specified MATCH_TYPE_EXACT, but set match string to null."},
		{"default with a name", []kmsg.DescribeClientQuotasRequestComponent{comp("user", 1, sp("x"))}, kerr.InvalidRequest.Code, "Request specified MATCH_TYPE_DEFAULT, but also specified a match string."},
		{"any with a name", []kmsg.DescribeClientQuotasRequestComponent{comp("user", 2, sp("x"))}, kerr.InvalidRequest.Code, "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string."},
		{"unknown match type", []kmsg.DescribeClientQuotasRequestComponent{comp("user", 7, nil)}, kerr.InvalidRequest.Code, "Unknown match type 7"},
		{"duplicate", []kmsg.DescribeClientQuotasRequestComponent{comp("user", 2, nil), comp("user", 2, nil)}, kerr.InvalidRequest.Code, "Entity type user cannot appear more than once in the filter."},
		{"ip with user", []kmsg.DescribeClientQuotasRequestComponent{comp("user", 2, nil), comp("ip", 2, nil)}, kerr.InvalidRequest.Code, "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component."},
		{"custom type", []kmsg.DescribeClientQuotasRequestComponent{comp("group", 2, nil)}, kerr.UnsupportedVersion.Code, "Unsupported entity type group"},
		{"empty type", []kmsg.DescribeClientQuotasRequestComponent{comp("", 2, nil)}, kerr.InvalidRequest.Code, "Invalid empty entity type."},
	} {
		req := kmsg.NewPtrDescribeClientQuotasRequest()
		req.Components = tc.comps
		resp := tb.call(req).(*kmsg.DescribeClientQuotasResponse)
		if resp.ErrorCode != tc.code || resp.Entries != nil || resp.ErrorMessage == nil || *resp.ErrorMessage != tc.msg {
			t.Errorf("%s: error %d %v, %d entries; want error %d %q and none", tc.name, resp.ErrorCode, resp.ErrorMessage, len(resp.Entries), tc.code, tc.msg)
		}
	}
}

// TestThrottledResponses: with WrapAPIs, a produce past producer_byte_rate
// carries a throttle time, and a fetch past consumer_byte_rate is
// answered empty with one (KIP-219).
func TestThrottledResponses(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.WrapAPIs(tb.reg)
	tb.createTopic("q", 1, nil)
	// The harness's client id is "test".
	if got := alterQuota(tb, "client-id", sp("test"), op("producer_byte_rate", 1000), op("consumer_byte_rate", 1000)); got.ErrorCode != 0 {
		t.Fatalf("setting quotas: %d", got.ErrorCode)
	}
	value := string(make([]byte, 30000))
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = 1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "q"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch(t, time.Now().UnixMilli(), value)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	pr := tb.call(req).(*kmsg.ProduceResponse)
	if pr.Topics[0].Partitions[0].ErrorCode != 0 || pr.ThrottleMillis <= 0 {
		t.Errorf("30 KB against 1000 B/s: error %d, throttle %d ms", pr.Topics[0].Partitions[0].ErrorCode, pr.ThrottleMillis)
	}
	fr := kmsg.NewPtrFetchRequest()
	fr.SetVersion(11)
	fr.MaxBytes = 1 << 20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "q"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fr.Topics = append(fr.Topics, ft)
	resp := tb.call(fr).(*kmsg.FetchResponse)
	if resp.ThrottleMillis <= 0 || len(resp.Topics) != 0 {
		t.Errorf("fetch of 30 KB against 1000 B/s: throttle %d ms, %d topics; want throttled and empty", resp.ThrottleMillis, len(resp.Topics))
	}
	// request_percentage: any request's handler time is past a quota of
	// a millionth of a percent.
	if got := alterQuota(tb, "client-id", sp("test"), op("request_percentage", 0.000001)); got.ErrorCode != 0 {
		t.Fatalf("setting request_percentage: %d", got.ErrorCode)
	}
	if mr := tb.call(kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse); mr.ThrottleMillis <= 0 {
		t.Errorf("Metadata past request_percentage: throttle %d ms", mr.ThrottleMillis)
	}
	// A version before KIP-219 (Metadata v5: the client does not
	// throttle itself) is answered at once all the same, its throttle
	// time set: Kafka only mutes the connection, whatever the version
	// (the throttle is capped at the one-second window, far longer than
	// the handler takes).
	start := time.Now()
	mreq := kmsg.NewPtrMetadataRequest()
	mr := tb.callAt(mreq, 5).(*kmsg.MetadataResponse)
	if took := time.Since(start); mr.ThrottleMillis <= 0 || took >= time.Duration(mr.ThrottleMillis)*time.Millisecond {
		t.Errorf("Metadata v5 past request_percentage: throttle %d ms, answered after %v; want answered before the throttle ends", mr.ThrottleMillis, took)
	}
	// The traffic was counted by topic (the produce, not the refused fetch).
	for _, tr := range tb.Traffic() {
		if tr.Topic == "q" && (tr.RecordsIn != 1 || tr.RecordsOut != 0) {
			t.Errorf("traffic of q: %+v", tr)
		}
	}
}

// TestAcksZeroProduceExemptFromRequestQuota: an acks=0 produce is not
// counted against request_percentage and does not mute its connection,
// as Kafka's handleProduceRequest leaves the request quota out when acks
// is 0; an acks=1 one past the quota is throttled.
func TestAcksZeroProduceExemptFromRequestQuota(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.WrapAPIs(tb.reg)
	tb.createTopic("q", 1, nil)
	if got := alterQuota(tb, "client-id", sp("test"), op("request_percentage", 0.000001)); got.ErrorCode != 0 {
		t.Fatalf("setting request_percentage: %d", got.ErrorCode)
	}
	produce := func(acks int16) (*protocol.ConnInfo, kmsg.Response) {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(9)
		req.Acks, req.TimeoutMillis = acks, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "q"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = batch(t, time.Now().UnixMilli(), "v")
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		ci := &protocol.ConnInfo{Listener: "PLAINTEXT", Remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := tb.reg.Serve(ctx, &protocol.Request{Key: 0, Version: 9, ClientID: "test", Body: req, Conn: ci})
		if err != nil {
			t.Fatalf("produce acks=%d: %v", acks, err)
		}
		return ci, resp
	}
	for i := 0; i < 3; i++ {
		if ci, resp := produce(0); resp != nil || ci.MutedUntil().After(time.Now()) {
			t.Fatalf("acks=0 produce %d past request_percentage: response %v, connection muted until %v; want no response and no mute", i, resp, ci.MutedUntil())
		}
	}
	ci, resp := produce(1)
	if pr, ok := resp.(*kmsg.ProduceResponse); !ok || pr.ThrottleMillis <= 0 || !ci.MutedUntil().After(time.Now()) {
		t.Errorf("acks=1 produce past request_percentage: response %v, connection muted until %v; want throttled and muted", resp, ci.MutedUntil())
	}
}

// TestFetchQuotaCountsWholeResponse: consumer_byte_rate counts a fetch
// response's whole size, as Kafka's FetchResponse.sizeOf (4 plus the
// body, node endpoints left out), not only its records: the size matches
// the encoded body with and without flexible versions, and a fetch that
// returns no records at all is throttled under a quota of 1 B/s.
func TestFetchQuotaCountsWholeResponse(t *testing.T) {
	for _, v := range []int16{11, 16} {
		resp := kmsg.NewPtrFetchResponse()
		resp.SetVersion(v)
		for _, name := range []string{"a", "bb"} {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic = name
			for p, n := range []int{0, 100, 300} {
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition = int32(p)
				if n > 0 {
					rp.RecordBatches = make([]byte, n)
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		want := 4 + len(resp.AppendTo(nil))
		if v >= 16 { // node endpoints are not counted
			resp.Brokers = append(resp.Brokers, kmsg.NewFetchResponseBroker())
		}
		if got := fetchQuotaSize(resp); got != want {
			t.Errorf("v%d: quota size %d, want %d", v, got, want)
		}
		if len(resp.Topics[0].Partitions[2].RecordBatches) != 300 || (v >= 16 && len(resp.Brokers) != 1) {
			t.Errorf("v%d: measuring changed the response", v)
		}
	}

	tb := newTestBroker(t, nil)
	tb.WrapAPIs(tb.reg)
	tb.createTopic("empty", 1, nil)
	if got := alterQuota(tb, "client-id", sp("test"), op("consumer_byte_rate", 1)); got.ErrorCode != 0 {
		t.Fatalf("setting consumer_byte_rate: %d", got.ErrorCode)
	}
	fr := kmsg.NewPtrFetchRequest()
	fr.SetVersion(11)
	fr.MaxBytes, fr.MaxWaitMillis = 1<<20, 0
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "empty"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fr.Topics = append(fr.Topics, ft)
	if resp := tb.call(fr).(*kmsg.FetchResponse); resp.ThrottleMillis <= 0 {
		t.Errorf("fetch of an empty partition against 1 B/s: throttle %d ms, want its framing counted and throttled", resp.ThrottleMillis)
	}
}

// TestApiVersionsCountsAgainstRequestQuota: ApiVersions is throttled
// past request_percentage like any API (KafkaApis answers it with
// sendResponseMaybeThrottle), except before SASL authentication, when
// Kafka's authenticator answers it.
func TestApiVersionsCountsAgainstRequestQuota(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.WrapAPIs(tb.reg)
	if got := alterQuota(tb, "client-id", sp("test"), op("request_percentage", 0.000001)); got.ErrorCode != 0 {
		t.Fatalf("setting request_percentage: %d", got.ErrorCode)
	}
	apiVersions := func(securityProtocol string) (*protocol.ConnInfo, *kmsg.ApiVersionsResponse) {
		req := kmsg.NewPtrApiVersionsRequest()
		req.ClientSoftwareName, req.ClientSoftwareVersion = "test", "1.0"
		ci := &protocol.ConnInfo{Listener: "L", SecurityProtocol: securityProtocol, Remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := tb.reg.Serve(ctx, &protocol.Request{Key: 18, Version: 3, ClientID: "test", Body: req, Conn: ci})
		if err != nil {
			t.Fatalf("ApiVersions: %v", err)
		}
		return ci, resp.(*kmsg.ApiVersionsResponse)
	}
	for i := 0; i < 3; i++ {
		if ci, resp := apiVersions(protocol.SASLPlaintext); resp.ThrottleMillis != 0 || ci.MutedUntil().After(time.Now()) {
			t.Fatalf("ApiVersions before SASL authentication: throttle %d ms, muted until %v; want neither", resp.ThrottleMillis, ci.MutedUntil())
		}
	}
	if ci, resp := apiVersions(protocol.Plaintext); resp.ThrottleMillis <= 0 || !ci.MutedUntil().After(time.Now()) {
		t.Errorf("ApiVersions past request_percentage: throttle %d ms, muted until %v; want throttled", resp.ThrottleMillis, ci.MutedUntil())
	}
}

// TestThrottledFetchKeepsIncrementalSession: a throttled incremental
// fetch is answered empty with its session's id, so the client goes on
// with the next epoch (Kafka's IncrementalFetchContext
// .getThrottledResponse); a throttled full fetch makes no session.
func TestThrottledFetchKeepsIncrementalSession(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.WrapAPIs(tb.reg)
	tb.createTopic("s", 1, nil)
	fetch := func(id, epoch int32) *kmsg.FetchResponse {
		fr := kmsg.NewPtrFetchRequest()
		fr.SetVersion(12)
		fr.MaxBytes, fr.MaxWaitMillis = 1<<20, 0
		fr.SessionID, fr.SessionEpoch = id, epoch
		if epoch == 0 {
			ft := kmsg.NewFetchRequestTopic()
			ft.Topic = "s"
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.PartitionMaxBytes = 1 << 20
			ft.Partitions = append(ft.Partitions, fp)
			fr.Topics = append(fr.Topics, ft)
		}
		return tb.call(fr).(*kmsg.FetchResponse)
	}
	full := fetch(0, 0)
	if full.ErrorCode != 0 || full.SessionID == 0 {
		t.Fatalf("full fetch: error %d, session %d; want a session", full.ErrorCode, full.SessionID)
	}
	if got := alterQuota(tb, "client-id", sp("test"), op("consumer_byte_rate", 1)); got.ErrorCode != 0 {
		t.Fatalf("setting consumer_byte_rate: %d", got.ErrorCode)
	}
	for epoch := int32(1); epoch <= 3; epoch++ {
		r := fetch(full.SessionID, epoch)
		if r.ThrottleMillis <= 0 || r.ErrorCode != 0 || r.SessionID != full.SessionID || len(r.Topics) != 0 {
			t.Fatalf("incremental fetch at epoch %d past 1 B/s: throttle %d, error %d, session %d (want %d), %d topics; want throttled, empty, same session",
				epoch, r.ThrottleMillis, r.ErrorCode, r.SessionID, full.SessionID, len(r.Topics))
		}
	}
	before := tb.sessions.Len()
	if r := fetch(0, 0); r.ThrottleMillis <= 0 || r.SessionID != 0 {
		t.Errorf("full fetch past 1 B/s: throttle %d, session %d; want throttled with no session", r.ThrottleMillis, r.SessionID)
	}
	if after := tb.sessions.Len(); after != before {
		t.Errorf("a throttled full fetch left a session: %d cached, %d before", after, before)
	}
}

// TestThrottledIncrementalFetchResendsItsPartitions: what a throttled
// incremental fetch would have answered is answered by the next one: a
// log start offset that moved (nothing else changed) is not taken as
// sent, as Kafka's session keeps its cached partitions when the answer
// is the empty throttled one.
func TestThrottledIncrementalFetchResendsItsPartitions(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.WrapAPIs(tb.reg)
	tb.createTopic("ls", 1, nil)
	for i := 0; i < 2; i++ {
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = 1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "ls"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = batch(t, time.Now().UnixMilli(), "v")
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		if pr := tb.callAt(req, 9).(*kmsg.ProduceResponse); pr.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("produce: error %d", pr.Topics[0].Partitions[0].ErrorCode)
		}
	}
	fetch := func(id, epoch int32) *kmsg.FetchResponse {
		fr := kmsg.NewPtrFetchRequest()
		fr.SetVersion(12)
		fr.MaxBytes, fr.MaxWaitMillis = 1<<20, 0
		fr.SessionID, fr.SessionEpoch = id, epoch
		if epoch == 0 {
			ft := kmsg.NewFetchRequestTopic()
			ft.Topic = "ls"
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.FetchOffset, fp.PartitionMaxBytes = 2, 1<<20 // at the end: no records
			ft.Partitions = append(ft.Partitions, fp)
			fr.Topics = append(fr.Topics, ft)
		}
		return tb.call(fr).(*kmsg.FetchResponse)
	}
	full := fetch(0, 0)
	if full.SessionID == 0 || len(full.Topics) != 1 || full.Topics[0].Partitions[0].LogStartOffset != 0 {
		t.Fatalf("full fetch: session %d, topics %+v", full.SessionID, full.Topics)
	}
	dr := kmsg.NewPtrDeleteRecordsRequest()
	dt := kmsg.NewDeleteRecordsRequestTopic()
	dt.Topic = "ls"
	dp := kmsg.NewDeleteRecordsRequestTopicPartition()
	dp.Offset = 1
	dt.Partitions = append(dt.Partitions, dp)
	dr.Topics = append(dr.Topics, dt)
	dr.TimeoutMillis = 5000
	if r := tb.call(dr).(*kmsg.DeleteRecordsResponse); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("DeleteRecords: error %d", r.Topics[0].Partitions[0].ErrorCode)
	}
	if got := alterQuota(tb, "client-id", sp("test"), op("consumer_byte_rate", 1)); got.ErrorCode != 0 {
		t.Fatalf("setting consumer_byte_rate: %d", got.ErrorCode)
	}
	if r := fetch(full.SessionID, 1); r.ThrottleMillis <= 0 || len(r.Topics) != 0 {
		t.Fatalf("incremental fetch past 1 B/s: throttle %d, %d topics; want throttled and empty", r.ThrottleMillis, len(r.Topics))
	}
	rm := op("consumer_byte_rate", 0)
	rm.Remove = true
	if got := alterQuota(tb, "client-id", sp("test"), rm); got.ErrorCode != 0 {
		t.Fatalf("removing consumer_byte_rate: %d", got.ErrorCode)
	}
	r := fetch(full.SessionID, 2)
	if r.ErrorCode != 0 || len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 || r.Topics[0].Partitions[0].LogStartOffset != 1 {
		t.Fatalf("incremental fetch after the throttled one: error %d, topics %+v; want the partition with log start offset 1", r.ErrorCode, r.Topics)
	}
}

// TestStrictMutationQuotaRefusesEveryTopic: topics are taken from the
// bucket in request order; once it is empty, a strict CreateTopics,
// DeleteTopics (by name and by id) and CreatePartitions answer
// THROTTLING_QUOTA_EXCEEDED for every topic asked, and change nothing.
func TestStrictMutationQuotaRefusesEveryTopic(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.WrapAPIs(tb.reg)
	tb.createTopic("kept", 1, nil)
	if got := alterQuota(tb, "client-id", sp("test"), op("controller_mutation_rate", 1)); got.ErrorCode != 0 {
		t.Fatalf("setting the quota: %d", got.ErrorCode)
	}
	create := func(name string, n int32) *kmsg.CreateTopicsResponse {
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, n, 1
		req.Topics = append(req.Topics, rt)
		return tb.call(req).(*kmsg.CreateTopicsResponse)
	}
	code := kerr.ThrottlingQuotaExceeded.Code
	// Topic by topic: the first takes the bucket's 11 tokens below zero,
	// the second of the same request is refused.
	req := kmsg.NewPtrCreateTopicsRequest()
	for _, tc := range []struct {
		name string
		n    int32
	}{{"big", 20}, {"second", 1}} {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = tc.name, tc.n, 1
		req.Topics = append(req.Topics, rt)
	}
	r := tb.call(req).(*kmsg.CreateTopicsResponse)
	got := map[string]int16{}
	for _, rt := range r.Topics {
		got[rt.Topic] = rt.ErrorCode
	}
	if len(got) != 2 || got["big"] != 0 || got["second"] != code || r.ThrottleMillis <= 0 {
		t.Fatalf("two topics with 11 tokens: %v, throttle %d; want big created, second refused, throttled", got, r.ThrottleMillis)
	}
	if tb.Topic("big") == nil || tb.Topic("second") != nil {
		t.Fatal("the first topic was not created or the second was")
	}
	if r := create("refused", 1); r.Topics[0].ErrorCode != code || r.ThrottleMillis <= 0 {
		t.Errorf("CreateTopics: error %d, throttle %d", r.Topics[0].ErrorCode, r.ThrottleMillis)
	}
	del := kmsg.NewPtrDeleteTopicsRequest()
	byName, byID := kmsg.NewDeleteTopicsRequestTopic(), kmsg.NewDeleteTopicsRequestTopic()
	byName.Topic = sp("kept")
	byID.TopicID = tb.Topic("big").ID
	del.Topics = append(del.Topics, byName, byID)
	dr := tb.call(del).(*kmsg.DeleteTopicsResponse)
	if len(dr.Topics) != 2 || dr.Topics[0].ErrorCode != code || dr.Topics[1].ErrorCode != code || dr.Topics[1].TopicID != tb.Topic("big").ID {
		t.Errorf("DeleteTopics: %+v", dr.Topics)
	}
	cp := kmsg.NewPtrCreatePartitionsRequest()
	ct := kmsg.NewCreatePartitionsRequestTopic()
	ct.Topic, ct.Count = "kept", 3
	cp.Topics = append(cp.Topics, ct)
	if r := tb.call(cp).(*kmsg.CreatePartitionsResponse); len(r.Topics) != 1 || r.Topics[0].ErrorCode != code {
		t.Errorf("CreatePartitions: %+v", r.Topics)
	}
	if tb.Topic("refused") != nil || tb.Topic("kept") == nil || len(tb.Topic("kept").Partitions()) != 1 {
		t.Error("a refused mutation changed the topics")
	}
}

// TestIPConnectionRateQuotas: connection_creation_rate on ip entities is
// stored, described and handed to the network layer (KIP-612); an ip
// combined with a user is refused.
func TestIPConnectionRateQuotas(t *testing.T) {
	tb := newTestBroker(t, nil)
	var got []IPConnectionRates
	tb.OnIPConnectionRates(func(r IPConnectionRates) { got = append(got, r) })
	if len(got) != 1 || got[0].Default != 0 || len(got[0].ByIP) != 0 {
		t.Fatalf("rates on registering %+v, want none", got)
	}
	if e := alterQuota(tb, "ip", sp("::1"), op("connection_creation_rate", 5)); e.ErrorCode != 0 {
		t.Fatalf("setting ::1: %d %v", e.ErrorCode, e.ErrorMessage)
	}
	if e := alterQuota(tb, "ip", nil, op("connection_creation_rate", 20)); e.ErrorCode != 0 {
		t.Fatalf("setting the default ip: %d %v", e.ErrorCode, e.ErrorMessage)
	}
	last := got[len(got)-1]
	if last.Default != 20 || len(last.ByIP) != 1 || last.ByIP["::1"] != 5 {
		t.Fatalf("rates in force %+v, want default 20 and ::1 at 5", last)
	}
	q, _ := tb.backend.(metadata.QuotaBackend).ClientQuotas(context.Background())
	if q[metadata.QuotaEntity{IP: metadata.SanitizeEntity("::1")}][metadata.ConnectionCreationRate] != 5 {
		t.Errorf("stored %v", q)
	}
	if n := len(tb.Quotas().Quotas()); n != 0 {
		t.Errorf("%d ip entities reached the client quota manager", n)
	}
	// Described by an ip filter, and only by one.
	describe := func(comps ...kmsg.DescribeClientQuotasRequestComponent) []kmsg.DescribeClientQuotasResponseEntry {
		req := kmsg.NewPtrDescribeClientQuotasRequest()
		req.Components = comps
		resp := tb.call(req).(*kmsg.DescribeClientQuotasResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("describe: error %d", resp.ErrorCode)
		}
		return resp.Entries
	}
	comp := func(typ string, mt kmsg.QuotasMatchType, match *string) kmsg.DescribeClientQuotasRequestComponent {
		c := kmsg.NewDescribeClientQuotasRequestComponent()
		c.EntityType, c.MatchType, c.Match = typ, mt, match
		return c
	}
	exact := describe(comp("ip", 0, sp("::1")))
	if len(exact) != 1 || exact[0].Entity[0].Type != "ip" || exact[0].Entity[0].Name == nil || *exact[0].Entity[0].Name != "::1" ||
		exact[0].Values[0].Key != "connection_creation_rate" || exact[0].Values[0].Value != 5 {
		t.Errorf("describe ip ::1: %+v", exact)
	}
	if def := describe(comp("ip", 1, nil)); len(def) != 1 || def[0].Entity[0].Name != nil || def[0].Values[0].Value != 20 {
		t.Errorf("describe the default ip: %+v", def)
	}
	if all := describe(comp("ip", 2, nil)); len(all) != 2 {
		t.Errorf("describe every ip: %d entries, want 2", len(all))
	}
	if users := describe(comp("user", 2, nil)); len(users) != 0 {
		t.Errorf("a user filter matched ip entities: %+v", users)
	}
	// An ip with a user is refused.
	req := kmsg.NewPtrAlterClientQuotasRequest()
	e := kmsg.NewAlterClientQuotasRequestEntry()
	for _, part := range []struct{ typ, name string }{{"ip", "127.0.0.1"}, {"user", "u"}} {
		ent := kmsg.NewAlterClientQuotasRequestEntryEntity()
		ent.Type, ent.Name = part.typ, sp(part.name)
		e.Entity = append(e.Entity, ent)
	}
	e.Ops = append(e.Ops, op("connection_creation_rate", 1))
	req.Entries = append(req.Entries, e)
	if r := tb.call(req).(*kmsg.AlterClientQuotasResponse).Entries[0]; r.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("ip with user: error %d, want INVALID_REQUEST", r.ErrorCode)
	}
	// Removing the key removes the rate.
	rm := kmsg.NewAlterClientQuotasRequestEntryOp()
	rm.Key, rm.Remove = "connection_creation_rate", true
	if e := alterQuota(tb, "ip", sp("::1"), rm); e.ErrorCode != 0 {
		t.Fatalf("removing ::1: %d", e.ErrorCode)
	}
	if last := got[len(got)-1]; len(last.ByIP) != 0 || last.Default != 20 {
		t.Errorf("rates after removing ::1: %+v", last)
	}
}

// A host named by an ip entity counts as its first IPv4 address, as
// Java's InetAddress.getByName gives it, and as its first address when it
// has no IPv4 one.
func TestFirstAddressPrefersIPv4(t *testing.T) {
	for _, c := range []struct {
		addrs []string
		want  string
	}{
		{[]string{"::1", "127.0.0.1"}, "127.0.0.1"},
		{[]string{"10.0.0.2", "10.0.0.1"}, "10.0.0.2"},
		{[]string{"fe80::1", "::1"}, "fe80::1"},
	} {
		var in []net.IPAddr
		for _, a := range c.addrs {
			in = append(in, net.IPAddr{IP: net.ParseIP(a)})
		}
		if got := firstAddress(in).String(); got != c.want {
			t.Errorf("firstAddress(%v) = %s, want %s", c.addrs, got, c.want)
		}
	}
}

// TestAlterClientQuotasDuplicates: as Kafka's
// ClientQuotaControlManager.alterClientQuotas, an entry naming a key
// twice, or an entity named by an earlier entry, is refused with "Ignoring
// duplicate entity ClientQuotaEntity(entries={...})" (the map printed in
// java.util.HashMap's order) and not applied; every entry of an entity
// named twice is answered so (Kafka answers once per entity), though its
// first entry was applied.
func TestAlterClientQuotasDuplicates(t *testing.T) {
	tb := newTestBroker(t, nil)
	entity := func(parts ...string) []kmsg.AlterClientQuotasRequestEntryEntity {
		var out []kmsg.AlterClientQuotasRequestEntryEntity
		for i := 0; i+1 < len(parts); i += 2 {
			ent := kmsg.NewAlterClientQuotasRequestEntryEntity()
			ent.Type = parts[i]
			if parts[i+1] != "<default>" {
				ent.Name = sp(parts[i+1])
			}
			out = append(out, ent)
		}
		return out
	}
	alter := func(entries ...kmsg.AlterClientQuotasRequestEntry) []kmsg.AlterClientQuotasResponseEntry {
		req := kmsg.NewPtrAlterClientQuotasRequest()
		req.Entries = entries
		return tb.call(req).(*kmsg.AlterClientQuotasResponse).Entries
	}
	entry := func(ent []kmsg.AlterClientQuotasRequestEntryEntity, ops ...kmsg.AlterClientQuotasRequestEntryOp) kmsg.AlterClientQuotasRequestEntry {
		e := kmsg.NewAlterClientQuotasRequestEntry()
		e.Entity, e.Ops = ent, ops
		return e
	}
	const dupAlice = "Ignoring duplicate entity ClientQuotaEntity(entries={client-id=null, user=alice})"
	got := alter(entry(entity("user", "alice", "client-id", "<default>"), op("producer_byte_rate", 10), op("producer_byte_rate", 20)))
	if got[0].ErrorCode != kerr.InvalidRequest.Code || got[0].ErrorMessage == nil || *got[0].ErrorMessage != dupAlice {
		t.Errorf("a key twice: %d %v, want INVALID_REQUEST %q", got[0].ErrorCode, got[0].ErrorMessage, dupAlice)
	}
	got = alter(
		entry(entity("client-id", "<default>", "user", "alice"), op("producer_byte_rate", 10)),
		entry(entity("user", "bob"), op("producer_byte_rate", 30)),
		entry(entity("user", "alice", "client-id", "<default>"), op("producer_byte_rate", 20)))
	for _, i := range []int{0, 2} {
		if got[i].ErrorCode != kerr.InvalidRequest.Code || got[i].ErrorMessage == nil || *got[i].ErrorMessage != dupAlice {
			t.Errorf("entry %d of an entity named twice: %d %v, want INVALID_REQUEST %q", i, got[i].ErrorCode, got[i].ErrorMessage, dupAlice)
		}
	}
	if got[1].ErrorCode != 0 {
		t.Errorf("another entity between them: %v", kerr.ErrorForCode(got[1].ErrorCode))
	}
	q, _ := tb.backend.(metadata.QuotaBackend).ClientQuotas(context.Background())
	if v := q[metadata.QuotaEntity{User: "alice", ClientID: metadata.DefaultEntity}]["producer_byte_rate"]; v != 10 {
		t.Errorf("alice's default client id has producer_byte_rate %v, want the first entry's 10", v)
	}
	if v := q[metadata.QuotaEntity{User: "bob"}]["producer_byte_rate"]; v != 30 {
		t.Errorf("bob has producer_byte_rate %v, want 30", v)
	}
	// java.util.HashMap's order, as Java 17 prints these maps.
	for _, tc := range []struct {
		parts []string
		want  string
	}{
		{[]string{"ip", "<default>"}, "{ip=null}"},
		{[]string{"user", "alice", "client-id", "<default>", "ip", "<default>"}, "{client-id=null, user=alice, ip=null}"},
		{[]string{"group", "<default>", "user", "alice", "client-id", "<default>", "ip", "<default>", "x", "<default>"}, "{x=null, client-id=null, user=alice, group=null, ip=null}"},
		{[]string{"ü", "<default>", "user", "alice"}, "{ü=null, user=alice}"},
	} {
		if got := javaQuotaEntity(entity(tc.parts...)); got != "ClientQuotaEntity(entries="+tc.want+")" {
			t.Errorf("%v printed %s, want entries=%s", tc.parts, got, tc.want)
		}
	}
}
