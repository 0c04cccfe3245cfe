package protocol

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestLongStringFindsEveryKindOfStringField(t *testing.T) {
	long := strings.Repeat("x", MaxStringLen+1)
	most := strings.Repeat("x", MaxStringLen)
	for _, c := range []struct {
		what string
		req  kmsg.Request
		want string
	}{
		{"a string", &kmsg.OffsetCommitRequest{Group: long}, "Group"},
		{"the longest string Kafka takes", &kmsg.OffsetCommitRequest{Group: most}, ""},
		{"a nullable string", &kmsg.InitProducerIDRequest{TransactionalID: &long}, "TransactionalID"},
		{"a null string", &kmsg.InitProducerIDRequest{}, ""},
		{"a string in an array of structs", &kmsg.FetchRequest{Topics: []kmsg.FetchRequestTopic{{Topic: "t"}, {Topic: long}}}, "Topics.Topic"},
		{"an array of strings", &kmsg.DescribeGroupsRequest{Groups: []string{"a", long}}, "Groups"},
		{"a nullable string beside arrays", &kmsg.ConsumerGroupHeartbeatRequest{SubscribedTopicRegex: &long}, "SubscribedTopicRegex"},
		{"a string behind a pointer to a struct", &kmsg.StreamsGroupHeartbeatRequest{UserEndpoint: &kmsg.StreamsGroupHeartbeatRequestUserEndpoint{Host: long}}, "UserEndpoint.Host"},
		{"an array of strings in a struct behind a pointer", &kmsg.StreamsGroupHeartbeatRequest{Topology: &kmsg.StreamsGroupHeartbeatRequestTopology{Subtopologies: []kmsg.StreamsGroupHeartbeatRequestTopologySubtopology{{SourceTopics: []string{long}}}}}, "Topology.Subtopologies.SourceTopics"},
		{"a nullable array of structs", &kmsg.MetadataRequest{Topics: []kmsg.MetadataRequestTopic{{Topic: &long}}}, "Topics.Topic"},
	} {
		if got := LongString(c.req); got != c.want {
			t.Errorf("%s: LongString = %q, want %q", c.what, got, c.want)
		}
	}
}

func TestFitStringsCutsMessagesOnly(t *testing.T) {
	msg := strings.Repeat("é", MaxStringLen) // two bytes each: the cut falls inside one
	resp := &kmsg.DescribeConfigsResponse{Resources: []kmsg.DescribeConfigsResponseResource{{ErrorMessage: &msg, ResourceName: "t"}}}
	if got, cut := fitStrings(resp); got != "" || !cut {
		t.Fatalf("fitStrings reported %q (cut %v) for a response whose only long string is a message", got, cut)
	}
	cut := *resp.Resources[0].ErrorMessage
	if len(cut) > MaxStringLen || !utf8.ValidString(cut) || !strings.HasSuffix(cut, "...") {
		t.Errorf("the message was cut to %d bytes, valid UTF-8 %v, ending %q", len(cut), utf8.ValidString(cut), cut[len(cut)-4:])
	}
	if len(msg) != 2*MaxStringLen {
		t.Errorf("the handler's own string changed")
	}
	long := strings.Repeat("m", MaxStringLen+1)
	jg := &kmsg.JoinGroupResponse{MemberID: long}
	if got, _ := fitStrings(jg); got != "MemberID" {
		t.Errorf("fitStrings = %q for a member id over the limit, want MemberID", got)
	}
	sf := &kmsg.ShareFetchResponse{Topics: []kmsg.ShareFetchResponseTopic{{Partitions: []kmsg.ShareFetchResponseTopicPartition{{AcknowledgeErrorMessage: &long}}}}}
	if got, cut := fitStrings(sf); got != "" || !cut || len(*sf.Topics[0].Partitions[0].AcknowledgeErrorMessage) > MaxStringLen {
		t.Errorf("ShareFetch's AcknowledgeErrorMessage over the limit: fitStrings = %q, cut %v", got, cut)
	}
	if got, cut := fitStrings(&kmsg.ProduceResponse{Topics: []kmsg.ProduceResponseTopic{{Topic: "t"}}}); got != "" || cut {
		t.Errorf("a response without long strings: fitStrings = %q, cut %v", got, cut)
	}
}

// BenchmarkFitStringsFetchResponse is what the check costs each fetch
// response: its partitions hold no strings and are not visited.
func BenchmarkFitStringsFetchResponse(b *testing.B) {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 12
	for i := range 3 {
		rt := kmsg.FetchResponseTopic{Topic: "topic-" + string(rune('a'+i))}
		for p := range 100 {
			rt.Partitions = append(rt.Partitions, kmsg.FetchResponseTopicPartition{Partition: int32(p), RecordBatches: make([]byte, 16)})
		}
		resp.Topics = append(resp.Topics, rt)
	}
	b.ReportAllocs()
	for b.Loop() {
		if f, _ := fitStrings(resp); f != "" {
			b.Fatal("too long")
		}
	}
}

func BenchmarkFitStringsProduceResponse(b *testing.B) {
	resp := kmsg.NewPtrProduceResponse()
	resp.Version = 9
	for i := range 3 {
		rt := kmsg.ProduceResponseTopic{Topic: "topic-" + string(rune('a'+i))}
		rt.Partitions = append(rt.Partitions, kmsg.ProduceResponseTopicPartition{Partition: int32(i)})
		resp.Topics = append(resp.Topics, rt)
	}
	b.ReportAllocs()
	for b.Loop() {
		if f, _ := fitStrings(resp); f != "" {
			b.Fatal("too long")
		}
	}
}
