package coordinator

// DescribeTransactions (key 65), version 0: the state of transactional ids
// this broker coordinates. The empty id is INVALID_REQUEST, an id
// coordinated elsewhere NOT_COORDINATOR, an unknown one
// TRANSACTIONAL_ID_NOT_FOUND (as Kafka's
// TransactionCoordinator.handleDescribeTransactions, in that order); an
// id answered with an error has no state, producer id, epoch, timeout or
// start time (all zero, as Kafka leaves them). States are named as Kafka
// names them (Empty, Ongoing, PrepareCommit, ...); the start timestamp is
// -1 without an ongoing transaction. DESCRIBE on the transactional id is
// needed, else TRANSACTIONAL_ID_AUTHORIZATION_FAILED; the partitions of
// topics the principal may not DESCRIBE are left out.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (c *txnCoordinator) handleDescribeTransactions(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeTransactionsRequest)
	resp := req.Response().(*kmsg.DescribeTransactionsResponse)
	for _, id := range r.TransactionalIDs {
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID = id
		st.Topics = []kmsg.DescribeTransactionsResponseTransactionStateTopic{}
		if !c.authorize(req, acl.Describe, acl.TransactionalID, id) {
			st.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		if id == "" {
			st.ErrorCode = kerr.InvalidRequest.Code
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		d, err := c.txnSnapshot(id)
		if err != nil {
			st.ErrorCode = c.errCode(err)
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		st.State = d.state.String()
		st.TimeoutMillis = d.timeoutMs
		st.StartTimestamp = d.startMs
		st.ProducerID, st.ProducerEpoch = d.pid, d.epoch
		for _, p := range d.sortedParts() {
			if !c.allowed(req, acl.Describe, acl.Topic, p.topic) {
				continue // only the partitions of topics the principal may describe
			}
			if n := len(st.Topics); n == 0 || st.Topics[n-1].Topic != p.topic {
				t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
				t.Topic = p.topic
				st.Topics = append(st.Topics, t)
			}
			t := &st.Topics[len(st.Topics)-1]
			t.Partitions = append(t.Partitions, p.partition)
		}
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp, nil
}

// txnSnapshot copies an id's state. A fresh, never persisted id counts as
// unknown.
func (c *txnCoordinator) txnSnapshot(id string) (txnData, error) {
	ts, err := c.shardOf(id)
	if err != nil {
		return txnData{}, err
	}
	m := ts.lookup(id)
	if m == nil {
		return txnData{}, kerr.TransactionalIDNotFound
	}
	d, removed := m.data()
	if removed || d.pid < 0 {
		return txnData{}, kerr.TransactionalIDNotFound
	}
	return d, nil
}
