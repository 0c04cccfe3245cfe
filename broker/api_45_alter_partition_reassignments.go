package broker

// AlterPartitionReassignments (key 45), versions 0-1 (KIP-455).
//
// Moves partitions to new replica lists through the backend
// (kafka-reassign-partitions.sh --execute/--cancel, kadm's
// AlterPartitionAssignments). Per partition, as Kafka's controller
// answers: none when the reassignment was recorded (it then completes in
// the background: the new replicas catch up and join the ISR, then the
// replicas become the target and the removed ones are deleted);
// UNKNOWN_TOPIC_OR_PARTITION first, for a partition that does not exist
// or a topic being deleted; null replicas cancel an ongoing reassignment,
// or are NO_REASSIGNMENT_IN_PROGRESS; INVALID_REPLICA_ASSIGNMENT for an
// empty list, duplicate ids, or brokers the cluster does not know (a
// broker that is down but holds replicas is known: the reassignment
// completes once it has returned and caught up, as in Kafka 4), or a
// cancel whose revert would be an unclean leader election (every in-sync
// replica is one being added) on a topic that does not allow one. v1's AllowReplicationFactorChange
// false makes a target of another size INVALID_REPLICATION_FACTOR, and is
// echoed back. Targets that would put a broker past
// gregor.max.broker.partitions are POLICY_VIOLATION, in request order
// (partition_limit.go), and are not passed on. A partition named twice is answered once, with the last
// target given. A backend that does not answer within the request's
// timeout (at least 30 s) gives REQUEST_TIMED_OUT. ALTER on the cluster is
// needed, else CLUSTER_AUTHORIZATION_FAILED everywhere. Only the
// controller reassigns, as in Kafka: another broker forwards the
// reassignment to it, as a Kafka 4 broker does, and relays its answer
// (as ElectLeaders, api_43_elect_leaders.go).

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
	"gregor/protocol"
)

func (b *Broker) handleAlterPartitionReassignments(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := req.Response().(*kmsg.AlterPartitionAssignmentsResponse)
	allowRF := true
	if req.Version >= 1 {
		allowRF = r.AllowReplicationFactorChange
		resp.AllowReplicationFactorChange = allowRF
	}
	if !b.authorizeCluster(req, acl.Alter) {
		return reassignmentsDenied(r, resp), nil
	}
	targets := map[string]map[int32][]int32{}
	var order []string
	porder := map[string][]int32{}
	for _, rt := range r.Topics {
		if _, ok := targets[rt.Topic]; !ok {
			order = append(order, rt.Topic)
			targets[rt.Topic] = map[int32][]int32{}
		}
		for _, rp := range rt.Partitions {
			if _, ok := targets[rt.Topic][rp.Partition]; !ok {
				porder[rt.Topic] = append(porder[rt.Topic], rp.Partition)
			}
			var rs []int32 // nil: cancel
			if rp.Replicas != nil {
				rs = slices.Clone(rp.Replicas)
				if rs == nil {
					rs = []int32{}
				}
			}
			targets[rt.Topic][rp.Partition] = rs
		}
	}
	refused := b.reassignmentLimit(targets)
	timeout := time.Duration(r.TimeoutMillis) * time.Millisecond
	var results map[string]map[int32]error
	var failed error
	if len(targets) > 0 {
		bctx, cancel := context.WithTimeout(ctx, max(timeout, 30*time.Second))
		res, err := b.toController(bctx, req,
			func(ctx context.Context) (map[string]map[int32]error, error) {
				return b.backend.AlterPartitionReassignments(ctx, targets, allowRF)
			},
			func(ctx context.Context) (map[string]map[int32]error, error) {
				return b.forwardReassignments(ctx, targets, allowRF, timeout)
			})
		cancel()
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			failed = errorf(kerr.RequestTimedOut, "The reassignment was not recorded in time")
		case err != nil:
			failed = err
		default:
			results = res
		}
	}
	resp.Topics = make([]kmsg.AlterPartitionAssignmentsResponseTopic, 0, len(order))
	for _, t := range order {
		rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		rt.Topic = t
		rt.Partitions = make([]kmsg.AlterPartitionAssignmentsResponseTopicPartition, 0, len(porder[t]))
		for _, p := range porder[t] {
			rp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			rp.Partition = p
			err, refusedHere := refused[t][p]
			if !refusedHere {
				err = failed
			}
			if err == nil {
				var ok bool
				if err, ok = results[t][p]; !ok {
					err = errorf(kerr.UnknownServerError, "No result for %s-%d", t, p)
				}
			}
			if err != nil {
				rp.ErrorCode, rp.ErrorMessage = ErrorCode(b.log, err), errMessage(err)
			} else {
				b.log.Info().Str("topic", t).Int32("partition", p).Ints32("replicas", targets[t][p]).Msg("partition reassignment requested")
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// reassignmentsDenied is Kafka's answer without ALTER on the cluster:
// CLUSTER_AUTHORIZATION_FAILED at the top and for every partition.
func reassignmentsDenied(r *kmsg.AlterPartitionAssignmentsRequest, resp *kmsg.AlterPartitionAssignmentsResponse) *kmsg.AlterPartitionAssignmentsResponse {
	resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	for _, rt := range r.Topics {
		st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, kerr.ClusterAuthorizationFailed.Code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// forwardReassignments sends reassignments to the controller, as Kafka
// 4's broker forwards AlterPartitionReassignments, and returns the
// controller's results (failing as forwardElectLeaders does).
func (b *Broker) forwardReassignments(ctx context.Context, targets map[string]map[int32][]int32, allowRF bool, timeout time.Duration) (map[string]map[int32]error, error) {
	fr := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	fr.Version = 1
	fr.AllowReplicationFactorChange = allowRF
	fr.TimeoutMillis = int32(min(timeout, time.Duration(math.MaxInt32)*time.Millisecond) / time.Millisecond)
	for _, t := range slices.Sorted(maps.Keys(targets)) {
		rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
		rt.Topic = t
		for _, p := range slices.Sorted(maps.Keys(targets[t])) {
			rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
			rp.Partition, rp.Replicas = p, targets[t][p]
			rt.Partitions = append(rt.Partitions, rp)
		}
		fr.Topics = append(fr.Topics, rt)
	}
	raw, err := b.sendToController(ctx, "reassignment", fr)
	if err != nil {
		return nil, err
	}
	resp := raw.(*kmsg.AlterPartitionAssignmentsResponse)
	if resp.ErrorCode != 0 {
		return nil, relayedError(resp.ErrorCode, resp.ErrorMessage)
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
