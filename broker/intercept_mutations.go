package broker

// Strict controller mutation quotas, topic by topic, as Kafka's
// StrictControllerMutationQuota applies them to CreateTopics v6+,
// CreatePartitions v3+ and DeleteTopics v5+: in request order, each
// topic's partitions are taken from the client's bucket while it has
// tokens; once it is empty the remaining topics are refused with
// THROTTLING_QUOTA_EXCEEDED and the response carries the time until the
// bucket refills.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/broker/quota"
	"gregor/protocol"
)

// strictMutations takes each topic's mutations from the client's quota,
// removes the refused topics from the request, and returns a function
// adding them to the response, with the throttle time; all reports that
// every topic was refused (the request need not run).
func (b *Broker) strictMutations(req *protocol.Request, c quota.Client) (addRefused func(kmsg.Response) kmsg.Response, wait time.Duration, all bool) {
	qm := b.quotaManager()
	counts := b.topicMutations(req)
	refused := make([]bool, len(counts))
	n := 0
	for i, cnt := range counts {
		if cnt == 0 {
			continue // nothing to charge: Kafka charges a topic once it passed every check
		}
		if ok, w := qm.Mutation(c, float64(cnt), true); !ok {
			refused[i], wait = true, max(wait, w)
			n++
		}
	}
	if n == 0 {
		return nil, 0, false
	}
	if n == len(counts) {
		return nil, wait, true
	}
	only := splitTopics(req, refused)
	return func(resp kmsg.Response) kmsg.Response {
		return appendRefused(resp, b.refuseMutations(only))
	}, wait, false
}

// topicMutations counts the partitions each topic of a create or delete
// request would create or delete, in request order (DeleteTopics: names,
// then topics). As Kafka charges a topic only once it passed its checks
// (ReplicationControlManager's applyPartitionChangeQuota, after the name,
// existence, configs and placement, or for CreatePartitions after the
// count and the number of assignments; ControllerApis drops unauthorized and
// duplicated topics first), a topic bound to fail counts 0 and is left to
// the handler to answer: an existing topic is TOPIC_ALREADY_EXISTS, not
// THROTTLING_QUOTA_EXCEEDED, and costs nothing.
func (b *Broker) topicMutations(req *protocol.Request) []int {
	var out []int
	switch r := req.Body.(type) {
	case *kmsg.CreateTopicsRequest:
		seen := make(map[string]int, len(r.Topics))
		for _, t := range r.Topics {
			seen[t.Topic]++
		}
		cluster := b.allowed(req, acl.Create, acl.Cluster, acl.ClusterName)
		live := len(b.liveIDs())
		for _, t := range r.Topics {
			n := int(t.NumPartitions)
			if len(t.ReplicaAssignment) > 0 {
				n = len(t.ReplicaAssignment)
			}
			if n == -1 {
				n = int(b.cfg.NumPartitions)
			}
			rf := int(t.ReplicationFactor)
			if rf == -1 {
				rf = int(b.cfg.DefaultReplicationFactor)
			}
			if seen[t.Topic] > 1 || t.Topic == clusterMetadataTopic || b.checkNewTopicName(t.Topic) != nil ||
				!cluster && !b.allowed(req, acl.Create, acl.Topic, t.Topic) || !configsValid(t.Configs) ||
				n <= 0 || len(t.ReplicaAssignment) == 0 && (rf <= 0 || rf > live) {
				n = 0
			}
			out = append(out, n)
		}
	case *kmsg.DeleteTopicsRequest:
		cluster := b.allowed(req, acl.Delete, acl.Cluster, acl.ClusterName)
		seen := make(map[string]int)
		count := func(t *Topic) int {
			if t == nil || t.Internal || seen[t.Name] > 1 || !cluster && !b.allowed(req, acl.Delete, acl.Topic, t.Name) {
				return 0
			}
			return len(t.Partitions())
		}
		resolve := func(name *string, id [16]byte) *Topic {
			if name != nil {
				return b.Topic(*name)
			}
			return b.TopicByID(id)
		}
		for _, name := range r.TopicNames {
			seen[name]++
		}
		for _, t := range r.Topics {
			if tp := resolve(t.Topic, t.TopicID); tp != nil {
				seen[tp.Name]++
			}
		}
		for _, name := range r.TopicNames {
			out = append(out, count(b.Topic(name)))
		}
		for _, t := range r.Topics {
			out = append(out, count(resolve(t.Topic, t.TopicID)))
		}
	case *kmsg.CreatePartitionsRequest:
		seen := make(map[string]int, len(r.Topics))
		for _, t := range r.Topics {
			seen[t.Topic]++
		}
		for _, t := range r.Topics {
			n := 0
			if tp := b.Topic(t.Topic); tp != nil && seen[t.Topic] == 1 && b.allowed(req, acl.Alter, acl.Topic, t.Topic) {
				n = max(0, int(t.Count)-len(tp.Partitions()))
			}
			if t.Assignment != nil && len(t.Assignment) != n {
				n = 0 // INVALID_REPLICA_ASSIGNMENT, checked before the quota
			}
			out = append(out, n)
		}
	}
	return out
}

// configsValid reports whether a new topic's configs pass CreateTopics'
// checks.
func configsValid(cs []kmsg.CreateTopicsRequestTopicConfig) bool {
	_, err := createTopicConfigs(cs)
	return err == nil
}

// splitTopics keeps the topics not refused in req and returns a request
// of the refused ones (in the order topicMutations counts them).
func splitTopics(req *protocol.Request, refused []bool) *protocol.Request {
	only := *req
	switch r := req.Body.(type) {
	case *kmsg.CreateTopicsRequest:
		out := *r
		out.Topics, r.Topics = split(r.Topics, refused)
		only.Body = &out
	case *kmsg.DeleteTopicsRequest:
		out := *r
		out.TopicNames, r.TopicNames = split(r.TopicNames, refused[:len(r.TopicNames)])
		out.Topics, r.Topics = split(r.Topics, refused[len(refused)-len(r.Topics):])
		only.Body = &out
	case *kmsg.CreatePartitionsRequest:
		out := *r
		out.Topics, r.Topics = split(r.Topics, refused)
		only.Body = &out
	}
	return &only
}

func split[T any](items []T, refused []bool) (out, kept []T) {
	for i, it := range items {
		if refused[i] {
			out = append(out, it)
		} else {
			kept = append(kept, it)
		}
	}
	return out, kept
}

// appendRefused adds the refused topics' answers to a response.
func appendRefused(resp, refused kmsg.Response) kmsg.Response {
	switch r := resp.(type) {
	case *kmsg.CreateTopicsResponse:
		r.Topics = append(r.Topics, refused.(*kmsg.CreateTopicsResponse).Topics...)
	case *kmsg.DeleteTopicsResponse:
		r.Topics = append(r.Topics, refused.(*kmsg.DeleteTopicsResponse).Topics...)
	case *kmsg.CreatePartitionsResponse:
		r.Topics = append(r.Topics, refused.(*kmsg.CreatePartitionsResponse).Topics...)
	}
	return resp
}
