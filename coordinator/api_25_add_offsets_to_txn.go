package coordinator

// AddOffsetsToTxn (key 25), versions 0-4.
//
// Adds the __consumer_offsets partition of a group to the producer's
// transaction, so that its TxnOffsetCommit offsets commit or abort with
// it. Errors as AddPartitionsToTxn (PRODUCER_FENCED from v2). WRITE on the
// transactional id and READ on the group are needed, else
// TRANSACTIONAL_ID_ or GROUP_AUTHORIZATION_FAILED.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (c *txnCoordinator) handleAddOffsetsToTxn(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.AddOffsetsToTxnRequest)
	resp := req.Response().(*kmsg.AddOffsetsToTxnResponse)
	switch {
	case !c.authorize(req, acl.Write, acl.TransactionalID, r.TransactionalID):
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp, nil
	case !c.authorize(req, acl.Read, acl.Group, r.Group):
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	if _, err := c.shardOf(r.TransactionalID); err != nil {
		resp.ErrorCode = c.errCode(err)
		return resp, nil
	}
	n := c.offsetsPartitions()
	if r.Group == "" || n <= 0 {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp, nil
	}
	part := topicPartition{OffsetsTopic, partitionFor(r.Group, n)}
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		resp.ErrorCode = c.errCode(c.addToTxn(ctx, r.TransactionalID, r.ProducerID, r.ProducerEpoch, req.Version >= 2, []topicPartition{part}))
		return resp, nil
	})
	return nil, nil
}
