package coordinator

// The persister: how share partition leaders and the group coordinator
// reach the share coordinator of a key (Kafka's DefaultStatePersister).
// The key hashes to a __share_group_state partition; when this broker
// leads it the shard is called directly, else its leader is sent the
// request. Answers that say the coordinator moved or is loading are
// retried, with a backoff, until ctx ends.

import (
	"context"
	"errors"
	"fmt"

	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/share"
)

// ShareState is a share partition's persisted state, as its leader reads
// it.
type ShareState struct {
	Start      int64
	StateEpoch int32
	Batches    []share.Batch
}

// ShareSummary is a share partition's start offset and the offsets from
// it on whose delivery is complete (-1: not known).
type ShareSummary struct {
	Start            int64
	StateEpoch       int32
	LeaderEpoch      int32
	DeliveryComplete int32
}

// ShareStateError is a share coordinator's refusal.
type ShareStateError struct {
	Err *kerr.Error
	Msg string
}

func (e *ShareStateError) Error() string {
	if e.Msg != "" {
		return e.Err.Message + ": " + e.Msg
	}
	return e.Err.Message
}

func (e *ShareStateError) Unwrap() error { return e.Err }

// retriable are the share coordinator's answers that a retry may get
// past: it moved, loads, or cannot write now.
func retriable(e *kerr.Error) bool {
	switch e {
	case kerr.NotCoordinator, kerr.CoordinatorLoadInProgress, kerr.CoordinatorNotAvailable, kerr.RequestTimedOut,
		kerr.NotLeaderForPartition:
		return true
	}
	return false
}

// shareCall is one key's operation, done locally or sent to its
// coordinator.
type shareCall struct {
	local  func() shareOp
	remote kmsg.Request
	parse  func(kmsg.Response) shareOp
}

// call runs an operation at the key's coordinator until it is answered
// with something other than a retriable error, or ctx ends.
func (c *shareCoordinator) call(ctx context.Context, k shareKey, sc shareCall) shareOp {
	backoff := 20 * time.Millisecond
	var last shareOp
	for {
		op, ok := c.callOnce(ctx, k, sc)
		if op.err == nil || !retriable(op.err) {
			return op
		}
		if ok {
			last = op
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			if last.err == nil {
				last = opFail(kerr.CoordinatorNotAvailable, "the share coordinator of "+k.coordinatorKey()+" did not answer")
			}
			return last
		case <-t.C:
		}
		backoff = min(backoff*2, 500*time.Millisecond)
	}
}

// callOnce tries once; ok is false when no coordinator could be asked.
func (c *shareCoordinator) callOnce(ctx context.Context, k shareKey, sc shareCall) (shareOp, bool) {
	n := c.cfg.ShareStateTopicPartitions
	if n <= 0 {
		return opFail(kerr.CoordinatorNotAvailable, "share.coordinator.state.topic.num.partitions is not set"), false
	}
	if err := c.ensureTopic(ctx); err != nil {
		return opFail(kerr.CoordinatorNotAvailable, err.Error()), false
	}
	p := partitionFor(k.coordinatorKey(), n)
	leader, _, local := c.host.PartitionLeader(ShareStateTopic, p)
	switch {
	case local:
		op := sc.local()
		c.await(ctx, &op)
		return op, true
	case leader < 0:
		return opFail(kerr.CoordinatorNotAvailable, ""), false
	}
	resp, err := c.host.SendToBroker(ctx, leader, sc.remote)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Debug().Err(err).Int32("broker", leader).Str("share_partition", k.coordinatorKey()).Msg("share coordinator request failed; retrying")
		}
		return opFail(kerr.CoordinatorNotAvailable, err.Error()), false
	}
	return sc.parse(resp), true
}

// ensureTopic creates __share_group_state on first use, as Kafka does.
func (c *shareCoordinator) ensureTopic(ctx context.Context) error {
	if c.host.PartitionExists(ShareStateTopic, 0) {
		return nil
	}
	partitions, rf, configs, _ := internalTopicSpec(&c.cfg, ShareStateTopic)
	if err := c.host.EnsureInternalTopic(ctx, ShareStateTopic, partitions, rf, configs); err != nil {
		return fmt.Errorf("creating %s: %w", ShareStateTopic, err)
	}
	return nil
}

// partitionError is a response partition's error as an operation.
func partitionError(code int16, msg *string) shareOp {
	if code == 0 {
		return shareOp{}
	}
	op := opFail(kerr.ErrorForCode(code).(*kerr.Error), "")
	if msg != nil {
		op.msg = *msg
	}
	return op
}

var errMalformedShareResponse = errors.New("a share coordinator's response without the partition asked for")

// opErr turns an operation's failure into an error.
func opErr(op shareOp) error {
	if op.err == nil {
		return nil
	}
	return &ShareStateError{Err: op.err, Msg: op.msg}
}

// ReadShareState reads a share partition's state for its leader (at
// leaderEpoch), fencing earlier leaders.
func (c *Coordinator) ReadShareState(ctx context.Context, group string, topic [16]byte, partition, leaderEpoch int32) (ShareState, error) {
	k := shareKey{group, topic, partition}
	req := kmsg.NewPtrReadShareGroupStateRequest()
	req.GroupID = group
	rt := kmsg.NewReadShareGroupStateRequestTopic()
	rt.TopicID = topic
	rp := kmsg.NewReadShareGroupStateRequestTopicPartition()
	rp.Partition, rp.LeaderEpoch = partition, leaderEpoch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	op := c.shares.call(ctx, k, shareCall{
		local:  func() shareOp { return c.shares.read(k, leaderEpoch) },
		remote: req,
		parse: func(r kmsg.Response) shareOp {
			resp := r.(*kmsg.ReadShareGroupStateResponse)
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				return opFail(kerr.UnknownServerError, errMalformedShareResponse.Error())
			}
			p := &resp.Topics[0].Partitions[0]
			op := partitionError(p.ErrorCode, p.ErrorMessage)
			op.start, op.stateEpoch = p.StartOffset, p.StateEpoch
			for _, b := range p.StateBatches {
				op.batches = append(op.batches, share.Batch{First: b.FirstOffset, Last: b.LastOffset, State: share.State(b.DeliveryState), Count: b.DeliveryCount})
			}
			return op
		},
	})
	if op.err != nil {
		return ShareState{}, opErr(op)
	}
	return ShareState{Start: op.start, StateEpoch: op.stateEpoch, Batches: op.batches}, nil
}

// WriteShareState records what a share partition leader changed.
func (c *Coordinator) WriteShareState(ctx context.Context, group string, topic [16]byte, partition, stateEpoch, leaderEpoch int32, w share.Write) error {
	k := shareKey{group, topic, partition}
	req := kmsg.NewPtrWriteShareGroupStateRequest()
	req.GroupID = group
	rt := kmsg.NewWriteShareGroupStateRequestTopic()
	rt.TopicID = topic
	rp := kmsg.NewWriteShareGroupStateRequestTopicPartition()
	rp.Partition, rp.StateEpoch, rp.LeaderEpoch, rp.StartOffset = partition, stateEpoch, leaderEpoch, w.Start
	rp.DeliveryCompleteCount = -1
	for _, b := range w.Batches {
		sb := kmsg.NewWriteShareGroupStateRequestTopicPartitionStateBatch()
		sb.FirstOffset, sb.LastOffset, sb.DeliveryState, sb.DeliveryCount = b.First, b.Last, int8(b.State), b.Count
		rp.StateBatches = append(rp.StateBatches, sb)
	}
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	sw := shareWrite{stateEpoch: stateEpoch, leaderEpoch: leaderEpoch, start: w.Start, batches: w.Batches}
	op := c.shares.call(ctx, k, shareCall{
		local:  func() shareOp { return c.shares.write(k, sw) },
		remote: req,
		parse: func(r kmsg.Response) shareOp {
			resp := r.(*kmsg.WriteShareGroupStateResponse)
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				return opFail(kerr.UnknownServerError, errMalformedShareResponse.Error())
			}
			p := &resp.Topics[0].Partitions[0]
			return partitionError(p.ErrorCode, p.ErrorMessage)
		},
	})
	return opErr(op)
}

// initializeShareState starts a share partition's state at start (-1:
// share.auto.offset.reset decides) with the group epoch as state epoch.
func (c *Coordinator) initializeShareState(ctx context.Context, group string, topic [16]byte, partition, stateEpoch int32, start int64) error {
	k := shareKey{group, topic, partition}
	req := kmsg.NewPtrInitializeShareGroupStateRequest()
	req.GroupID = group
	rt := kmsg.NewInitializeShareGroupStateRequestTopic()
	rt.TopicID = topic
	rp := kmsg.NewInitializeShareGroupStateRequestTopicPartition()
	rp.Partition, rp.StateEpoch, rp.StartOffset = partition, stateEpoch, start
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	op := c.shares.call(ctx, k, shareCall{
		local:  func() shareOp { return c.shares.initialize(k, stateEpoch, start) },
		remote: req,
		parse: func(r kmsg.Response) shareOp {
			resp := r.(*kmsg.InitializeShareGroupStateResponse)
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				return opFail(kerr.UnknownServerError, errMalformedShareResponse.Error())
			}
			p := &resp.Topics[0].Partitions[0]
			return partitionError(p.ErrorCode, p.ErrorMessage)
		},
	})
	return opErr(op)
}

// deleteShareState deletes a share partition's state.
func (c *Coordinator) deleteShareState(ctx context.Context, group string, topic [16]byte, partition int32) error {
	k := shareKey{group, topic, partition}
	req := kmsg.NewPtrDeleteShareGroupStateRequest()
	req.GroupID = group
	rt := kmsg.NewDeleteShareGroupStateRequestTopic()
	rt.TopicID = topic
	rp := kmsg.NewDeleteShareGroupStateRequestTopicPartition()
	rp.Partition = partition
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	op := c.shares.call(ctx, k, shareCall{
		local:  func() shareOp { return c.shares.remove(k) },
		remote: req,
		parse: func(r kmsg.Response) shareOp {
			resp := r.(*kmsg.DeleteShareGroupStateResponse)
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				return opFail(kerr.UnknownServerError, errMalformedShareResponse.Error())
			}
			p := &resp.Topics[0].Partitions[0]
			return partitionError(p.ErrorCode, p.ErrorMessage)
		},
	})
	return opErr(op)
}

// shareStateSummary reads a share partition's start offset.
func (c *Coordinator) shareStateSummary(ctx context.Context, group string, topic [16]byte, partition int32) (ShareSummary, error) {
	k := shareKey{group, topic, partition}
	req := kmsg.NewPtrReadShareGroupStateSummaryRequest()
	req.Version = 1
	req.GroupID = group
	rt := kmsg.NewReadShareGroupStateSummaryRequestTopic()
	rt.TopicID = topic
	rp := kmsg.NewReadShareGroupStateSummaryRequestTopicPartition()
	rp.Partition, rp.LeaderEpoch = partition, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	op := c.shares.call(ctx, k, shareCall{
		local:  func() shareOp { return c.shares.summary(k) },
		remote: req,
		parse: func(r kmsg.Response) shareOp {
			resp := r.(*kmsg.ReadShareGroupStateSummaryResponse)
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				return opFail(kerr.UnknownServerError, errMalformedShareResponse.Error())
			}
			p := &resp.Topics[0].Partitions[0]
			op := partitionError(p.ErrorCode, p.ErrorMessage)
			op.start, op.stateEpoch, op.leaderEpoch, op.complete = p.StartOffset, p.StateEpoch, p.LeaderEpoch, p.DeliveryCompleteCount
			if resp.Version < 1 {
				op.complete = -1
			}
			return op
		},
	})
	if op.err != nil {
		return ShareSummary{}, opErr(op)
	}
	return ShareSummary{Start: op.start, StateEpoch: op.stateEpoch, LeaderEpoch: op.leaderEpoch, DeliveryComplete: op.complete}, nil
}
