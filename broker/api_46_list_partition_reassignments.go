package broker

// ListPartitionReassignments (key 46), version 0 (KIP-455).
//
// Lists the ongoing reassignments (kafka-reassign-partitions.sh --verify
// and --list, kadm's ListPartitionReassignments): for each partition being
// reassigned, its replicas (target and original), the replicas being added
// and those being removed. Null topics list every ongoing reassignment;
// otherwise only those of the named partitions. As Kafka does, partitions
// that are not being reassigned, and unknown ones, are left out. A backend
// that does not answer within the request's timeout (at least 30 s) gives
// REQUEST_TIMED_OUT. DESCRIBE on the cluster is needed, else
// CLUSTER_AUTHORIZATION_FAILED.

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (b *Broker) handleListPartitionReassignments(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ListPartitionReassignmentsRequest)
	resp := req.Response().(*kmsg.ListPartitionReassignmentsResponse)
	resp.Topics = []kmsg.ListPartitionReassignmentsResponseTopic{}
	if !b.authorizeCluster(req, acl.Describe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		for _, rt := range r.Topics { // the partitions asked for, without replicas
			st := kmsg.NewListPartitionReassignmentsResponseTopic()
			st.Topic = rt.Topic
			for _, p := range rt.Partitions {
				sp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
				sp.Partition = p
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil
	}
	var parts map[string][]int32 // nil: everything
	if r.Topics != nil {
		parts = map[string][]int32{}
		for _, rt := range r.Topics {
			ps := parts[rt.Topic]
			if ps == nil {
				ps = []int32{}
			}
			parts[rt.Topic] = append(ps, rt.Partitions...)
		}
	}
	timeout := time.Duration(r.TimeoutMillis) * time.Millisecond
	bctx, cancel := context.WithTimeout(ctx, max(timeout, 30*time.Second))
	res, err := b.backend.ListPartitionReassignments(bctx, parts)
	cancel()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = errorf(kerr.RequestTimedOut, "Listing the reassignments did not complete in time")
		}
		resp.ErrorCode, resp.ErrorMessage = ErrorCode(b.log, err), errMessage(err)
		return resp, nil
	}
	names := make([]string, 0, len(res))
	for t := range res {
		names = append(names, t)
	}
	slices.Sort(names)
	for _, t := range names {
		if len(res[t]) == 0 {
			continue
		}
		rt := kmsg.NewListPartitionReassignmentsResponseTopic()
		rt.Topic = t
		ps := make([]int32, 0, len(res[t]))
		for p := range res[t] {
			ps = append(ps, p)
		}
		slices.Sort(ps)
		for _, p := range ps {
			ra := res[t][p]
			rp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
			rp.Partition = p
			rp.Replicas, rp.AddingReplicas, rp.RemovingReplicas = nonNil(ra.Replicas), nonNil(ra.Adding), nonNil(ra.Removing)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
