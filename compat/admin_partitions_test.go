package compat

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// alterReassignment asks AlterPartitionReassignments to move one partition
// to replicas (nil: cancel) and returns its error code.
func (e *adminEnv) alterReassignment(t *testing.T, topic string, partition int32, replicas []int32) int16 {
	t.Helper()
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	req.TimeoutMillis = 10000
	rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
	rp.Partition, rp.Replicas = partition, replicas
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := e.request(req).(*kmsg.AlterPartitionAssignmentsResponse)
	wantCode(t, "AlterPartitionReassignments top-level", resp.ErrorCode, nil)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("AlterPartitionReassignments answered %+v", resp.Topics)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// Kafka's ReplicationControlManager.alterPartitionReassignment looks the
// partition up before anything else: a partition that does not exist is
// UNKNOWN_TOPIC_OR_PARTITION whether the request cancels or gives an
// invalid target; only an existing one is NO_REASSIGNMENT_IN_PROGRESS or
// INVALID_REPLICA_ASSIGNMENT.
func TestAlterPartitionReassignmentsUnknownPartitionFirst(t *testing.T) {
	e := newAdminEnv(t)
	topic := e.topic("reassignorder", 1, nil)
	missing := randomName("reassignmissing")
	id := e.brokerID()

	wantCode(t, "cancel, topic does not exist", e.alterReassignment(t, missing, 0, nil), kerr.UnknownTopicOrPartition)
	wantCode(t, "cancel, partition does not exist", e.alterReassignment(t, topic, 5, nil), kerr.UnknownTopicOrPartition)
	wantCode(t, "empty target, topic does not exist", e.alterReassignment(t, missing, 0, []int32{}), kerr.UnknownTopicOrPartition)
	wantCode(t, "duplicate target, partition does not exist", e.alterReassignment(t, topic, 5, []int32{id, id}), kerr.UnknownTopicOrPartition)

	wantCode(t, "cancel, nothing in progress", e.alterReassignment(t, topic, 0, nil), kerr.NoReassignmentInProgress)
	wantCode(t, "empty target", e.alterReassignment(t, topic, 0, []int32{}), kerr.InvalidReplicaAssignment)
	wantCode(t, "duplicate target", e.alterReassignment(t, topic, 0, []int32{id, id}), kerr.InvalidReplicaAssignment)
}

// Kafka's TransactionCoordinator.handleDescribeTransactions answers the
// empty transactional id INVALID_REQUEST, an unknown one
// TRANSACTIONAL_ID_NOT_FOUND, and leaves the state, producer id, epoch,
// timeout and start time of an id answered with an error at zero.
func TestDescribeTransactionsEmptyAndUnknownIDs(t *testing.T) {
	e := newAdminEnv(t)
	check := func(st kmsg.DescribeTransactionsResponseTransactionState, id string, want *kerr.Error) {
		t.Helper()
		if st.TransactionalID != id {
			t.Fatalf("answer for %q, want %q", st.TransactionalID, id)
		}
		wantCode(t, "DescribeTransactions of "+strconv.Quote(id), st.ErrorCode, want)
		if st.State != "" || st.ProducerID != 0 || st.ProducerEpoch != 0 || st.TimeoutMillis != 0 || st.StartTimestamp != 0 || len(st.Topics) != 0 {
			t.Fatalf("DescribeTransactions of %q with an error: %+v, want no state, producer, timeout or start time (all zero)", id, st)
		}
	}
	// An unknown id, through its coordinator (the client looks it up).
	unknown := randomName("describetxnunknown")
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.TransactionalIDs = []string{unknown}
	resp := e.request(req).(*kmsg.DescribeTransactionsResponse)
	if len(resp.TransactionStates) != 1 {
		t.Fatalf("DescribeTransactions answered %+v", resp.TransactionStates)
	}
	check(resp.TransactionStates[0], unknown, kerr.TransactionalIDNotFound)

	// The empty id, to each broker itself: the client would look its
	// coordinator up first, which FindCoordinator refuses.
	req.TransactionalIDs = []string{""}
	brokers, err := e.adm.ListBrokers(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range brokers {
		raw, err := e.cl.Broker(int(b.NodeID)).Request(e.ctx, req)
		if err != nil {
			t.Fatalf("DescribeTransactions to broker %d: %v", b.NodeID, err)
		}
		resp := raw.(*kmsg.DescribeTransactionsResponse)
		if len(resp.TransactionStates) != 1 {
			t.Fatalf("DescribeTransactions answered %+v", resp.TransactionStates)
		}
		check(resp.TransactionStates[0], "", kerr.InvalidRequest)
	}
}

// Kafka's ReplicationControlManager.createPartitions checks that a
// request gives one assignment per new partition before it takes the
// partitions from the controller mutation quota: with the client's bucket
// empty, a wrong number of assignments is INVALID_REPLICA_ASSIGNMENT, not
// THROTTLING_QUOTA_EXCEEDED.
func TestCreatePartitionsAssignmentCountBeforeQuota(t *testing.T) {
	addr := bootstrap(t)
	e := newAdminEnv(t)
	topic := e.topic("partsquota", 1, nil)
	client := randomName("partsmutator")
	// 1 partition a second: a bucket of 11 tokens.
	setQuotaInForce(t, addr, clientEntity(client), kadm.AlterClientQuotaOp{Key: "controller_mutation_rate", Value: 1})
	grow := func(count int32, assignments int) int16 {
		t.Helper()
		// A fresh connection each time: a throttled one holds requests
		// back for the throttle time (KIP-219).
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID(client), kgo.RetryTimeout(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.TimeoutMillis = 10000
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = topic, count
		for range assignments {
			rt.Assignment = append(rt.Assignment, kmsg.CreatePartitionsRequestTopicAssignment{Replicas: []int32{e.brokerID()}})
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(e.ctx, cl)
		if err != nil {
			t.Fatalf("CreatePartitions: %v", err)
		}
		if resp.Version < 3 {
			t.Skipf("CreatePartitions v%d: the quota is strict from v3", resp.Version)
		}
		if len(resp.Topics) != 1 {
			t.Fatalf("CreatePartitions answered %+v", resp.Topics)
		}
		return resp.Topics[0].ErrorCode
	}
	wantCode(t, "growing by 20 with tokens left", grow(21, 0), nil)
	wantCode(t, "growing by 10 with the bucket empty", grow(31, 0), kerr.ThrottlingQuotaExceeded)
	wantCode(t, "one assignment for 10 new partitions, the bucket empty", grow(31, 1), kerr.InvalidReplicaAssignment)
}

// Kafka's TransactionStateManager.listTransactionStates throws
// InvalidRegularExpression for a transactional id pattern (v2+) that does
// not compile: the answer is INVALID_REGULAR_EXPRESSION, with no states
// and no unknown state filters.
func TestListTransactionsInvalidPattern(t *testing.T) {
	e := newAdminEnv(t)
	req := kmsg.NewPtrListTransactionsRequest()
	req.StateFilters = []string{"NoSuchState"}
	req.DurationFilterMillis = -1
	bad := "(ab(cd"
	req.TransactionalIDPattern = &bad
	raw, err := e.cl.Broker(int(e.brokerID())).Request(e.ctx, req)
	if err != nil {
		t.Fatalf("ListTransactions: %v", err)
	}
	resp := raw.(*kmsg.ListTransactionsResponse)
	if resp.Version < 2 {
		t.Skipf("ListTransactions v%d has no transactional id pattern", resp.Version)
	}
	wantCode(t, "ListTransactions with an invalid pattern", resp.ErrorCode, kerr.InvalidRegularExpression)
	if len(resp.TransactionStates) != 0 || len(resp.UnknownStateFilters) != 0 {
		t.Fatalf("ListTransactions with an invalid pattern answered states %+v, unknown state filters %v; want none", resp.TransactionStates, resp.UnknownStateFilters)
	}
}

// Kafka's controller charges a validate-only CreatePartitions or
// CreateTopics to the controller mutation quota as it would the real one
// (ReplicationControlManager applies applyPartitionChangeQuota before the
// QuorumController drops a validate-only request's records): once the
// client's bucket is empty, a validate-only request is refused with
// THROTTLING_QUOTA_EXCEEDED too.
func TestValidateOnlyChargedToMutationQuota(t *testing.T) {
	addr := bootstrap(t)
	e := newAdminEnv(t)
	topic := e.topic("validatequota", 1, nil)
	client := randomName("validatemutator")
	// 1 partition a second: a bucket of 11 tokens.
	setQuotaInForce(t, addr, clientEntity(client), kadm.AlterClientQuotaOp{Key: "controller_mutation_rate", Value: 1})
	send := func(req kmsg.Request) kmsg.Response {
		t.Helper()
		// A fresh connection each time: a throttled one holds requests
		// back for the throttle time (KIP-219).
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID(client), kgo.RetryTimeout(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		resp, err := cl.Request(e.ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
		}
		return resp
	}
	grow := func(count int32) int16 {
		t.Helper()
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.TimeoutMillis, req.ValidateOnly = 10000, true
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = topic, count
		req.Topics = append(req.Topics, rt)
		resp := send(req).(*kmsg.CreatePartitionsResponse)
		if resp.Version < 3 {
			t.Skipf("CreatePartitions v%d: the quota is strict from v3", resp.Version)
		}
		return resp.Topics[0].ErrorCode
	}
	create := func(name string, partitions int32) int16 {
		t.Helper()
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis, req.ValidateOnly = 10000, true
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, 1
		req.Topics = append(req.Topics, rt)
		resp := send(req).(*kmsg.CreateTopicsResponse)
		if resp.Version < 6 {
			t.Skipf("CreateTopics v%d: the quota is strict from v6", resp.Version)
		}
		return resp.Topics[0].ErrorCode
	}
	wantCode(t, "validate-only growth by 20 with tokens left", grow(21), nil)
	wantCode(t, "validate-only growth by 1 with the bucket empty", grow(2), kerr.ThrottlingQuotaExceeded)
	wantCode(t, "validate-only creation of 1 partition with the bucket empty", create(randomName("validatequota"), 1), kerr.ThrottlingQuotaExceeded)
	td, err := e.adm.ListTopics(e.ctx, topic)
	if err != nil || td[topic].Err != nil || len(td[topic].Partitions) != 1 {
		t.Fatalf("after validate-only requests %s has %d partitions (%v %v), want 1", topic, len(td[topic].Partitions), err, td[topic].Err)
	}
}

// TestCreatePartitionsUnknownTopicWithoutMessage: Kafka 4's controller
// answers CreatePartitions of a topic it does not have
// UNKNOWN_TOPIC_OR_PARTITION without a message, so the Java admin client
// says "This server does not host this topic-partition."; "The topic 'x'
// does not exist." was ZooKeeper-mode Kafka's.
func TestCreatePartitionsUnknownTopicWithoutMessage(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrCreatePartitionsRequest()
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = randomName("no-such-topic"), 3
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Topics[0]; got.ErrorCode != kerr.UnknownTopicOrPartition.Code || got.ErrorMessage != nil {
		t.Fatalf("CreatePartitions of an unknown topic: %v %q, want UNKNOWN_TOPIC_OR_PARTITION without a message", kerr.ErrorForCode(got.ErrorCode), deref(got.ErrorMessage))
	}
}
