package compat

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A Metadata request naming topics by id (v12+) asks for those topics
// only, whatever names its entries carry, as Kafka's
// handleTopicMetadataRequest looks only at the ids once any is given. The
// Java admin client sends an empty name with each id, and Gregor took the
// empty name for the topic asked: kafka-topics.sh --describe --topic-id
// failed with "Use errors() when managing topic using topic name" (an
// INVALID_TOPIC_EXCEPTION answer without the id).
func TestMetadataByTopicIDIgnoresNames(t *testing.T) {
	e := newAdminEnv(t)
	topic := e.topic("md-by-id", 2, nil)
	md, err := e.adm.Metadata(e.ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	id := md.Topics[topic].ID
	unknown := [16]byte{0x7f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	for _, rt := range []kmsg.MetadataRequestTopic{
		{TopicID: id, Topic: kmsg.StringPtr("")},                  // as the Java admin client sends it
		{TopicID: unknown, Topic: kmsg.StringPtr("not-its-name")}, // a name does not stand in for an unknown id
	} {
		req.Topics = append(req.Topics, rt)
	}
	resp := e.request(req).(*kmsg.MetadataResponse)
	if len(resp.Topics) != 2 {
		t.Fatalf("%d topics answered, want 2: %+v", len(resp.Topics), resp.Topics)
	}
	for _, st := range resp.Topics {
		name := "<null>"
		if st.Topic != nil {
			name = *st.Topic
		}
		switch st.TopicID {
		case id:
			if st.ErrorCode != 0 || name != topic || len(st.Partitions) != 2 {
				t.Errorf("topic %x: %v, name %q, %d partitions; want %s with 2 partitions", id, kerr.ErrorForCode(st.ErrorCode), name, len(st.Partitions), topic)
			}
		case unknown:
			if st.ErrorCode != kerr.UnknownTopicID.Code || st.Topic != nil {
				t.Errorf("unknown topic id: %v, name %q; want UNKNOWN_TOPIC_ID without a name", kerr.ErrorForCode(st.ErrorCode), name)
			}
		default:
			t.Errorf("answered topic %q, id %x, %v: not asked for", name, st.TopicID, kerr.ErrorForCode(st.ErrorCode))
		}
	}
}

// kafka-topics.sh --describe --topic-id describes the topic.
func TestKafkaToolsDescribeByTopicID(t *testing.T) {
	k := newKafkaTools(t)
	e := newAdminEnv(t)
	topic := e.topic("describe-by-id", 1, nil)
	md, err := e.adm.Metadata(e.ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	id := md.Topics[topic].ID
	javaID := base64.RawURLEncoding.EncodeToString(id[:]) // as Kafka's Uuid.toString
	out := k.topics(t, "--describe", "--topic-id", javaID)
	if !containsTopicLine(out, topic) {
		t.Errorf("kafka-topics.sh --describe --topic-id %s printed:\n%s\nwant %s described", javaID, out, topic)
	}
}

func containsTopicLine(out, topic string) bool {
	for _, l := range toolLines(out) {
		if strings.HasPrefix(l, "Topic: "+topic+"\t") {
			return true
		}
	}
	return false
}
