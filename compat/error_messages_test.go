package compat

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A DeleteTopics of a name or an id the cluster does not have is answered
// with the code's own message, as Kafka's ReplicationControlManager makes
// it (new ApiError(UNKNOWN_TOPIC_OR_PARTITION), whose message is the
// Errors entry's: "This server does not host this topic-partition."). Gregor
// sent franz-go's rendering of the code, "UNKNOWN_TOPIC_OR_PARTITION: This
// server does not host this topic-partition.", which the Java admin client
// and kafka-topics.sh printed as the reason.
func TestDeleteTopicsUnknownAnsweredWithTheCodesMessage(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range []struct {
		what string
		v    int16
		want *kerr.Error
	}{
		{"by name (v5)", 5, kerr.UnknownTopicOrPartition},
		{"by id (v6)", 6, kerr.UnknownTopicID},
	} {
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.SetVersion(c.v)
		req.TimeoutMillis = 5000
		rt := kmsg.NewDeleteTopicsRequestTopic()
		if c.want == kerr.UnknownTopicID {
			rt.TopicID = [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
		} else {
			name := randomName("no-such-topic")
			rt.Topic = &name
			req.TopicNames = append(req.TopicNames, name)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		got := resp.Topics[0]
		if got.ErrorCode != c.want.Code || deref(got.ErrorMessage) != c.want.Description {
			t.Errorf("DeleteTopics %s of an unknown topic: %v %q, want %s %q", c.what, kerr.ErrorForCode(got.ErrorCode), deref(got.ErrorMessage), c.want.Message, c.want.Description)
		}
	}
}
