package broker

// ElectLeaders (key 43), versions 0-2.
//
// Runs leader elections through the backend (kafka-leader-election.sh,
// kadm's ElectLeaders). v0 always elects the preferred replica; v1+ carries
// the election type: 0 preferred, 1 unclean (any other type is
// INVALID_REQUEST). Only the controller elects, as in Kafka: a Kafka 4
// broker forwards ElectLeaders to its controller, so another broker here
// sends the election to the controller over the inter-broker listener and
// relays its answer (a request forwarded so is not forwarded again: a
// broker no longer controller answers it NOT_CONTROLLER, as ZooKeeper-mode
// Kafka's controller did). Per partition, as Kafka's controller answers: none when
// the leader moved; ELECTION_NOT_NEEDED when the preferred replica already
// leads (preferred) or the leader is live (unclean);
// PREFERRED_LEADER_NOT_AVAILABLE when the preferred replica is not live
// and in the ISR; ELIGIBLE_LEADERS_NOT_AVAILABLE when no replica is live
// (unclean); UNKNOWN_TOPIC_OR_PARTITION for a partition that does not
// exist; INVALID_TOPIC_EXCEPTION for a topic being deleted. A null topic
// list means every partition, and then, as Kafka does, partitions that
// needed no election are left out of the answer. A partition named twice
// is answered once. The request waits up to its timeout for this broker's
// metadata to show the elected leaders; partitions still pending then are
// REQUEST_TIMED_OUT. Elections need ALTER on the cluster, else
// CLUSTER_AUTHORIZATION_FAILED (v1+ also at the top) for every partition.

import (
	"context"
	"errors"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/broker/metadata"
	"gregor/protocol"
)

func (b *Broker) handleElectLeaders(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ElectLeadersRequest)
	resp := req.Response().(*kmsg.ElectLeadersResponse)
	resp.Topics = []kmsg.ElectLeadersResponseTopic{}
	typ := metadata.ElectPreferred
	if req.Version >= 1 {
		typ = r.ElectionType
	}
	var parts map[string][]int32 // nil: every partition
	var order []string
	if r.Topics != nil {
		parts = map[string][]int32{}
		for _, rt := range r.Topics {
			if _, ok := parts[rt.Topic]; !ok {
				order = append(order, rt.Topic)
				parts[rt.Topic] = []int32{}
			}
			for _, p := range rt.Partitions {
				if !slices.Contains(parts[rt.Topic], p) {
					parts[rt.Topic] = append(parts[rt.Topic], p)
				}
			}
		}
	}
	results := map[string]map[int32]error{}
	fail := func(err error) {
		if parts == nil {
			// As Kafka's broker, which takes every partition it knows.
			parts = map[string][]int32{}
			for _, t := range b.Topics() {
				for i := range t.Partitions() {
					parts[t.Name] = append(parts[t.Name], int32(i))
				}
			}
		}
		for t, ps := range parts {
			results[t] = map[int32]error{}
			for _, p := range ps {
				results[t][p] = err
			}
		}
	}
	timeout := time.Duration(r.TimeoutMillis) * time.Millisecond
	if !b.authorizeCluster(req, acl.Alter) {
		if req.Version >= 1 {
			resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		}
		fail(kerr.ClusterAuthorizationFailed)
	} else if typ != metadata.ElectPreferred && typ != metadata.ElectUnclean {
		err := errorf(kerr.InvalidRequest, "Unknown election type %d", typ)
		if req.Version >= 1 {
			resp.ErrorCode = kerr.InvalidRequest.Code
		}
		fail(err)
	} else {
		start := time.Now()
		bctx, cancel := context.WithTimeout(ctx, max(timeout, 30*time.Second))
		res, err := b.toController(bctx, req,
			func(ctx context.Context) (map[string]map[int32]error, error) {
				return b.backend.ElectLeaders(ctx, typ, parts)
			},
			func(ctx context.Context) (map[string]map[int32]error, error) {
				return b.forwardElectLeaders(ctx, typ, parts, timeout)
			})
		cancel()
		timeout -= time.Since(start)
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			fail(errorf(kerr.RequestTimedOut, "The election did not complete in time"))
		case err != nil:
			fail(err)
		default:
			results = res
			b.awaitElected(ctx, typ, results, timeout)
		}
	}
	if order == nil {
		order = slices.Sorted(func(yield func(string) bool) {
			for t := range results {
				if !yield(t) {
					return
				}
			}
		})
	}
	for _, t := range order {
		rt := kmsg.NewElectLeadersResponseTopic()
		rt.Topic = t
		ps := parts[t]
		if ps == nil {
			for p := range results[t] {
				ps = append(ps, p)
			}
			slices.Sort(ps)
		}
		for _, p := range ps {
			err := results[t][p]
			if r.Topics == nil && errors.Is(err, kerr.ElectionNotNeeded) {
				continue
			}
			rp := kmsg.NewElectLeadersResponseTopicPartition()
			rp.Partition = p
			if err != nil {
				rp.ErrorCode, rp.ErrorMessage = ErrorCode(b.log, err), errMessage(err)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		if r.Topics == nil && len(rt.Partitions) == 0 {
			continue
		}
		if rt.Partitions == nil {
			rt.Partitions = []kmsg.ElectLeadersResponseTopicPartition{}
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// forwardElectLeaders sends an election to the controller, as Kafka 4's
// broker forwards ElectLeaders (ForwardingManager), and returns the
// controller's results. With no controller known, or when the controller
// cannot be reached, it fails: NOT_CONTROLLER, REQUEST_TIMED_OUT.
func (b *Broker) forwardElectLeaders(ctx context.Context, typ int8, parts map[string][]int32, timeout time.Duration) (map[string]map[int32]error, error) {
	fr := kmsg.NewPtrElectLeadersRequest()
	fr.Version = 2
	fr.ElectionType = typ
	fr.TimeoutMillis = int32(min(timeout, time.Duration(math.MaxInt32)*time.Millisecond) / time.Millisecond)
	if parts != nil {
		fr.Topics = []kmsg.ElectLeadersRequestTopic{}
		for _, t := range slices.Sorted(maps.Keys(parts)) {
			rt := kmsg.NewElectLeadersRequestTopic()
			rt.Topic, rt.Partitions = t, slices.Clone(parts[t])
			fr.Topics = append(fr.Topics, rt)
		}
	}
	raw, err := b.sendToController(ctx, "election", fr)
	if err != nil {
		return nil, err
	}
	resp := raw.(*kmsg.ElectLeadersResponse)
	if resp.ErrorCode != 0 {
		return nil, relayedError(resp.ErrorCode, nil)
	}
	out := map[string]map[int32]error{}
	for _, rt := range resp.Topics {
		if out[rt.Topic] == nil {
			out[rt.Topic] = map[int32]error{}
		}
		for _, rp := range rt.Partitions {
			out[rt.Topic][rp.Partition] = relayedError(rp.ErrorCode, rp.ErrorMessage)
		}
	}
	return out, nil
}

// awaitElected waits up to timeout until this broker's metadata shows a
// leader for each successfully elected partition (the preferred replica
// for a preferred election, a live broker for an unclean one); those still
// pending then become REQUEST_TIMED_OUT.
func (b *Broker) awaitElected(ctx context.Context, typ int8, results map[string]map[int32]error, timeout time.Duration) {
	done := func(topic string, p int32) bool {
		t := b.Topic(topic)
		if t == nil {
			return false
		}
		part := t.Partition(p)
		if part == nil {
			return false
		}
		st := part.State()
		if typ == metadata.ElectPreferred {
			return len(st.Replicas) > 0 && st.Leader == st.Replicas[0]
		}
		if st.Leader < 0 {
			return false
		}
		brokers, _ := b.Brokers()
		return slices.ContainsFunc(brokers, func(bi metadata.BrokerInfo) bool { return bi.ID == st.Leader })
	}
	pending := func() bool {
		for t, ps := range results {
			for p, err := range ps {
				if err == nil && !done(t, p) {
					return true
				}
			}
		}
		return false
	}
	deadline := time.NewTimer(max(timeout, 0))
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for pending() {
		select {
		case <-ctx.Done():
		case <-deadline.C:
		case <-tick.C:
			continue
		}
		break
	}
	for t, ps := range results {
		for p, err := range ps {
			if err == nil && !done(t, p) {
				ps[p] = errorf(kerr.RequestTimedOut, "The leader of %s-%d was elected but is not yet known to this broker", t, p)
			}
		}
	}
}
