package broker

// DeleteTopics (key 20), versions 0-6 (v6 may name topics by id).
//
// Deletion needs delete.topic.enable (default true); internal topics
// cannot be deleted. The partition directories are renamed aside and
// removed; a cluster removes them on every broker as the deletion reaches it.
// Deletion needs DELETE on the topic or on the cluster (Kafka's
// controller), else TOPIC_AUTHORIZATION_FAILED.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/broker/metadata"
	"gregor/protocol"
)

func (b *Broker) handleDeleteTopics(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DeleteTopicsRequest)
	resp := req.Response().(*kmsg.DeleteTopicsResponse)
	topics := r.Topics
	if req.Version < 6 {
		for _, n := range r.TopicNames {
			name := n
			topics = append(topics, kmsg.DeleteTopicsRequestTopic{Topic: &name})
		}
	}
	timeout := time.Duration(r.TimeoutMillis) * time.Millisecond
	clusterDelete := b.allowed(req, acl.Delete, acl.Cluster, acl.ClusterName)
	for _, rt := range topics {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		err := b.authorizeDeleteTopic(req, rt, clusterDelete, &st)
		if err == nil {
			err = b.deleteOne(ctx, rt, timeout, &st)
		}
		if err != nil {
			st.ErrorCode = ErrorCode(b.log, err)
			if req.Version >= 5 {
				st.ErrorMessage = errMessage(err)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// authorizeDeleteTopic needs DELETE on the topic (or the cluster), checked
// before whether a named topic exists; a topic named by id is looked up
// first (UNKNOWN_TOPIC_ID), and without DESCRIBE its name stays hidden.
func (b *Broker) authorizeDeleteTopic(req *protocol.Request, rt kmsg.DeleteTopicsRequestTopic, cluster bool, st *kmsg.DeleteTopicsResponseTopic) error {
	if b.authz == nil || cluster {
		return nil
	}
	if rt.Topic != nil && *rt.Topic != "" {
		if !b.authorize(req, acl.Delete, acl.Topic, *rt.Topic) {
			return kerr.TopicAuthorizationFailed
		}
		return nil
	}
	t := b.TopicByID(metadata.Uuid(rt.TopicID))
	switch {
	case t == nil:
		return kerr.UnknownTopicID
	case !b.authorize(req, acl.Describe, acl.Topic, t.Name):
		st.Topic = nil
		return kerr.TopicAuthorizationFailed
	case !b.authorize(req, acl.Delete, acl.Topic, t.Name):
		name := t.Name
		st.Topic = &name
		return kerr.TopicAuthorizationFailed
	}
	return nil
}

func (b *Broker) deleteOne(ctx context.Context, rt kmsg.DeleteTopicsRequestTopic, timeout time.Duration, st *kmsg.DeleteTopicsResponseTopic) error {
	var t *Topic
	if rt.Topic != nil && *rt.Topic != "" {
		if t = b.Topic(*rt.Topic); t == nil {
			return kerr.UnknownTopicOrPartition
		}
	} else if t = b.TopicByID(metadata.Uuid(rt.TopicID)); t == nil {
		return kerr.UnknownTopicID
	}
	name := t.Name
	st.Topic, st.TopicID = &name, t.ID
	if !b.cfg.DeleteTopicEnable {
		return errorf(kerr.TopicDeletionDisabled, "Topic deletion is disabled.")
	}
	if t.Internal {
		return errorf(kerr.InvalidRequest, "Topic %s is an internal topic and cannot be deleted.", name)
	}
	if err := b.backend.DeleteTopic(ctx, name); err != nil {
		return err
	}
	if timeout > 0 && !b.awaitGone(ctx, name, timeout) {
		return kerr.RequestTimedOut
	}
	return nil
}

// awaitGone waits until a deleted topic is gone from this broker.
func (b *Broker) awaitGone(ctx context.Context, name string, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for b.Topic(name) != nil {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
	return true
}
