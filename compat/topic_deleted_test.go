package compat

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/internal/wait"
)

// A topic deleted and created again under the same name starts with no
// committed offsets: deletion removes them from every group, as Kafka's
// onPartitionsDeleted does (else the group would resume the new topic at
// the old one's offsets).
func TestDeletedTopicLeavesNoCommittedOffsets(t *testing.T) {
	addr := bootstrap(t)
	topic, group := randomName("gone"), randomName("g")
	createTopic(t, addr, topic, 2)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	offs := kadm.Offsets{}
	offs.AddOffset(topic, 0, 5, -1)
	offs.AddOffset(topic, 1, 9, -1)
	if resp, err := adm.CommitOffsets(ctx, group, offs); err != nil || resp.Error() != nil {
		t.Fatalf("committing: %v %v", err, resp.Error())
	}
	if resp, err := adm.DeleteTopics(ctx, topic); err != nil || resp.Error() != nil {
		t.Fatalf("deleting %s: %v %v", topic, err, resp.Error())
	}
	wait.For(t, topic+" created again after its deletion", 30*time.Second, func() bool {
		resp, err := adm.CreateTopic(ctx, 2, -1, nil, topic)
		if err == nil {
			err = resp.Err
		}
		if errors.Is(err, kerr.TopicAlreadyExists) {
			return false
		}
		if err != nil {
			t.Fatalf("creating %s again: %v", topic, err)
		}
		return true
	})
	wait.For(t, "no committed offsets of the new "+topic, 15*time.Second, func() bool {
		got, err := adm.FetchOffsets(ctx, group)
		if err != nil || got.Error() != nil {
			return false
		}
		n := 0
		got.Each(func(o kadm.OffsetResponse) {
			if o.Topic == topic && o.At >= 0 {
				n++
			}
		})
		return n == 0
	})
}
