package compat

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"gregor/internal/brokertest"
)

// A topic named twice in one CreateTopics, CreatePartitions or
// DeleteTopics request is left alone and gets one answer, INVALID_REQUEST,
// as Kafka's controller gives it: librdkafka fails a whole response that
// names a topic twice ("Broker returned topic ... multiple times"), and
// Gregor once answered every entry, and deleted a topic named twice.
func TestAdminDuplicateTopicNames(t *testing.T) {
	e := newAdminEnv(t)
	a, b := randomName("dup-a"), randomName("dup-b")

	create := kmsg.NewPtrCreateTopicsRequest()
	create.TimeoutMillis = 15000
	for _, name := range []string{a, b, a} {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 1, -1
		create.Topics = append(create.Topics, rt)
	}
	cr := e.request(create).(*kmsg.CreateTopicsResponse)
	got := make(map[string][]int16)
	for _, rt := range cr.Topics {
		got[rt.Topic] = append(got[rt.Topic], rt.ErrorCode)
	}
	if len(cr.Topics) != 2 || len(got[a]) != 1 || got[a][0] != kerr.InvalidRequest.Code || len(got[b]) != 1 || got[b][0] != 0 {
		t.Fatalf("CreateTopics [a, b, a] answered %v, want a once INVALID_REQUEST and b once created", got)
	}
	md, err := e.adm.ListTopics(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if md.Has(a) {
		t.Fatalf("the topic named twice was created")
	}

	grow := kmsg.NewPtrCreatePartitionsRequest()
	grow.TimeoutMillis = 15000
	for _, n := range []int32{2, 3} {
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = b, n
		grow.Topics = append(grow.Topics, rt)
	}
	gr := e.request(grow).(*kmsg.CreatePartitionsResponse)
	if len(gr.Topics) != 1 || gr.Topics[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("CreatePartitions naming %s twice answered %+v, want one INVALID_REQUEST", b, gr.Topics)
	}

	del := kmsg.NewPtrDeleteTopicsRequest()
	del.Version = 5
	del.TimeoutMillis = 15000
	del.TopicNames = []string{b, b}
	dr, err := del.RequestWith(e.ctx, e.pinned(20, 5)) // kgo sends the newest version it may
	if err != nil {
		t.Fatal(err)
	}
	if len(dr.Topics) != 1 || dr.Topics[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("DeleteTopics v5 naming %s twice answered %+v, want one INVALID_REQUEST", b, dr.Topics)
	}

	md, err = e.adm.ListTopics(e.ctx, b)
	if err != nil || !md.Has(b) {
		t.Fatalf("the topic named twice in DeleteTopics is gone (%v)", err)
	}
	if n := len(md[b].Partitions); n != 1 {
		t.Fatalf("the topic named twice in CreatePartitions has %d partitions, want 1", n)
	}
	id := md[b].ID

	// v6 names topics by id: an id twice, or a name and an id at once.
	del = kmsg.NewPtrDeleteTopicsRequest()
	del.Version = 6
	del.TimeoutMillis = 15000
	for range 2 {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.TopicID = id
		del.Topics = append(del.Topics, rt)
	}
	both := kmsg.NewDeleteTopicsRequestTopic()
	both.Topic, both.TopicID = kmsg.StringPtr(b), id
	del.Topics = append(del.Topics, both)
	dr = e.request(del).(*kmsg.DeleteTopicsResponse)
	if len(dr.Topics) != 2 || dr.Topics[0].ErrorCode != kerr.InvalidRequest.Code || dr.Topics[1].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("DeleteTopics v6 with an id twice and a name with an id answered %+v, want two INVALID_REQUEST", dr.Topics)
	}
	if md, err = e.adm.ListTopics(e.ctx, b); err != nil || !md.Has(b) {
		t.Fatalf("the topic whose id was given twice is gone (%v)", err)
	}
}

// With delete.topic.enable=false DeleteTopics fails as a whole, as in
// Kafka: every topic it names gets TOPIC_DELETION_DISABLED (v3 and on,
// INVALID_REQUEST before), whether it exists or not.
func TestDeleteTopicsDisabled(t *testing.T) {
	if !usingGregor() {
		t.Skip("needs its own broker with delete.topic.enable=false")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{"delete.topic.enable": "false"}})
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	keep, missing := randomName("keep"), randomName("missing")
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, keep); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		version int16
		want    *kerr.Error
	}{{6, kerr.TopicDeletionDisabled}, {3, kerr.TopicDeletionDisabled}, {2, kerr.InvalidRequest}} {
		del := kmsg.NewPtrDeleteTopicsRequest()
		del.Version = c.version
		del.TimeoutMillis = 5000
		if c.version >= 6 {
			for _, n := range []string{keep, missing} {
				rt := kmsg.NewDeleteTopicsRequestTopic()
				rt.Topic = kmsg.StringPtr(n)
				del.Topics = append(del.Topics, rt)
			}
		} else {
			del.TopicNames = []string{keep, missing}
		}
		vs := kversion.Tip()
		vs.SetMaxKeyVersion(20, c.version) // kgo sends the newest version it may
		pinned, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.MaxVersions(vs))
		if err != nil {
			t.Fatal(err)
		}
		defer pinned.Close()
		resp, err := del.RequestWith(ctx, pinned)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Topics) != 2 {
			t.Fatalf("v%d: %d answers for 2 topics", c.version, len(resp.Topics))
		}
		for _, rt := range resp.Topics {
			if rt.ErrorCode != c.want.Code {
				t.Fatalf("v%d: %s answered %v, want %v", c.version, deref(rt.Topic), kerr.ErrorForCode(rt.ErrorCode), c.want)
			}
		}
	}
	md, err := kadm.NewClient(cl).ListTopics(ctx, keep)
	if err != nil || !md.Has(keep) {
		t.Fatalf("the topic is gone with deletion disabled (%v)", err)
	}
}
