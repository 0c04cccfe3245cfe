package compat

// Authorization details found in the third security review, against the
// shared ACL broker (startACL).

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// createNamed creates topics with the given names as admin.
func (a *aclBroker) createNamed(t *testing.T, partitions int32, names ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := a.admin(t).CreateTopics(ctx, partitions, 1, nil, names...)
	if err != nil {
		t.Fatalf("creating %v: %v", names, err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("creating %s: %v", r.Topic, r.Err)
		}
	}
}

// TestDescribeTopicPartitionsCursorSkipsUndescribable: as Kafka's
// DescribeTopicPartitionsRequestHandler, topics the principal may not
// describe are filtered out before the page is cut, so NextCursor names
// the next describable topic (never one whose existence it would disclose),
// and every refused named topic is answered, however small the page.
func TestDescribeTopicPartitionsCursorSkipsUndescribable(t *testing.T) {
	a := startACL(t)
	base := randomName("dtpcur")
	ta, tb, tc, td := base+"-a", base+"-b", base+"-c", base+"-d"
	a.createNamed(t, 2, ta, tb, tc, td)
	a.grant(t, kadm.NewACLs().Allow(principal(aclAlice)).Topics(ta, tc).Operations(kadm.OpDescribe))

	page := func(topics []string, cursor string) *kmsg.DescribeTopicPartitionsResponse {
		req := kmsg.NewPtrDescribeTopicPartitionsRequest()
		for _, n := range topics {
			req.Topics = append(req.Topics, kmsg.DescribeTopicPartitionsRequestTopic{Topic: n})
		}
		req.ResponsePartitionLimit = 2
		if cursor != "" {
			req.Cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: cursor}
		}
		return a.do(t, aclAlice, req).(*kmsg.DescribeTopicPartitionsResponse)
	}
	codes := func(resp *kmsg.DescribeTopicPartitionsResponse) map[string]int16 {
		m := map[string]int16{}
		for _, st := range resp.Topics {
			m[deref(st.Topic)] = st.ErrorCode
		}
		return m
	}

	// Every topic, from the cursor at base-a: the page is base-a's two
	// partitions, and the next describable topic is base-c.
	all := page(nil, ta)
	if len(all.Topics) != 1 || deref(all.Topics[0].Topic) != ta {
		t.Fatalf("listing every topic from %s: topics %v, want only %s", ta, codes(all), ta)
	}
	if all.NextCursor == nil || all.NextCursor.Topic != tc || all.NextCursor.Partition != 0 {
		t.Fatalf("listing every topic from %s: NextCursor %+v, want %s partition 0 (%s is not describable)", ta, all.NextCursor, tc, tb)
	}

	// The four named: base-a fills the page, base-c is next, and the two
	// refused topics are answered all the same.
	named := page([]string{td, tc, tb, ta}, "")
	got := codes(named)
	if len(named.Topics) != 3 || got[ta] != 0 || got[tb] != kerr.TopicAuthorizationFailed.Code || got[td] != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("naming %s..d: topics %v, want %s described and %s, %s TOPIC_AUTHORIZATION_FAILED", base, got, ta, tb, td)
	}
	if named.NextCursor == nil || named.NextCursor.Topic != tc {
		t.Fatalf("naming %s..d: NextCursor %+v, want %s", base, named.NextCursor, tc)
	}
	next := page([]string{td, tc, tb, ta}, tc)
	got = codes(next)
	if len(next.Topics) != 2 || got[tc] != 0 || got[td] != kerr.TopicAuthorizationFailed.Code || next.NextCursor != nil {
		t.Fatalf("naming %s..d from %s: topics %v, NextCursor %+v; want %s described, %s refused, no cursor", base, tc, got, next.NextCursor, tc, td)
	}
}
