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
		return appendRefused(resp, refuseMutations(only))
	}, wait, false
}

// topicMutations counts the partitions each topic of a create or delete
// request would create or delete, in request order (DeleteTopics: names,
// then topics).
func (b *Broker) topicMutations(req *protocol.Request) []int {
	var out []int
	switch r := req.Body.(type) {
	case *kmsg.CreateTopicsRequest:
		for _, t := range r.Topics {
			n := int(t.NumPartitions)
			if len(t.ReplicaAssignment) > 0 {
				n = len(t.ReplicaAssignment)
			}
			if n < 0 {
				n = int(b.cfg.NumPartitions)
			}
			out = append(out, n)
		}
	case *kmsg.DeleteTopicsRequest:
		count := func(t *Topic) int {
			if t == nil {
				return 0
			}
			return len(t.Partitions())
		}
		for _, name := range r.TopicNames {
			out = append(out, count(b.Topic(name)))
		}
		for _, t := range r.Topics {
			if t.Topic != nil {
				out = append(out, count(b.Topic(*t.Topic)))
			} else {
				out = append(out, count(b.TopicByID(t.TopicID)))
			}
		}
	case *kmsg.CreatePartitionsRequest:
		for _, t := range r.Topics {
			n := 0
			if tp := b.Topic(t.Topic); tp != nil {
				n = max(0, int(t.Count)-len(tp.Partitions()))
			}
			out = append(out, n)
		}
	}
	return out
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
