package compat

import (
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The error messages of the controller's answers are Kafka's text alone,
// as its ApiError carries them (kafka-leader-election.sh and
// kafka-reassign-partitions.sh print them after the exception's name).
// Gregor's began with the code's name and default text ("ELECTION_NOT_NEEDED:
// Leader election is not needed.: Leader election not needed for topic
// partition.").
func TestElectLeadersMessageIsKafkas(t *testing.T) {
	e := newAdminEnv(t)
	topic := e.topic("elect-msg", 1, nil)
	req := kmsg.NewPtrElectLeadersRequest()
	req.Version, req.ElectionType, req.TimeoutMillis = 2, 0, 5000
	rt := kmsg.NewElectLeadersRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{0}
	req.Topics = append(req.Topics, rt)
	resp := e.request(req).(*kmsg.ElectLeadersResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("ElectLeaders answered %+v", resp.Topics)
	}
	rp := resp.Topics[0].Partitions[0]
	wantCode(t, "preferred election of a partition its preferred replica leads", rp.ErrorCode, kerr.ElectionNotNeeded)
	if want := "Leader election not needed for topic partition."; rp.ErrorMessage == nil || *rp.ErrorMessage != want {
		t.Errorf("message %q, want %q", deref(rp.ErrorMessage), want)
	}
}

// ElectLeaders and AlterPartitionReassignments refusals carry Kafka 4's
// messages (ReplicationControlManager.electLeader and
// alterPartitionReassignment, validateManualPartitionAssignment), which
// the tools print: Gregor answered with ZooKeeper-era or its own wording
// ("The partition does not exist.", "No reassignment is in progress for
// t-0", "Duplicate replica ids in partition reassignment replica list").
func TestElectAndReassignRefusalMessagesAreKafkas(t *testing.T) {
	e := newAdminEnv(t)
	topic := e.topic("ctrl-msg", 1, nil)
	missing := randomName("ctrl-msg-missing")
	id := e.brokerID()

	elect := func(typ int8, topic string, p int32) kmsg.ElectLeadersResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrElectLeadersRequest()
		req.Version, req.ElectionType, req.TimeoutMillis = 2, typ, 5000
		rt := kmsg.NewElectLeadersRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{p}
		req.Topics = append(req.Topics, rt)
		resp := e.request(req).(*kmsg.ElectLeadersResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("ElectLeaders answered %+v", resp.Topics)
		}
		return resp.Topics[0].Partitions[0]
	}
	for _, c := range []struct {
		what  string
		typ   int8
		topic string
		p     int32
		code  *kerr.Error
		msg   string
	}{
		{"preferred, topic does not exist", 0, missing, 0, kerr.UnknownTopicOrPartition, "No such topic as " + missing},
		{"preferred, partition does not exist", 0, topic, 7, kerr.UnknownTopicOrPartition, "No such partition as " + topic + "-7"},
		{"unclean, leader alive", 1, topic, 0, kerr.ElectionNotNeeded, "Leader election not needed for topic partition."},
	} {
		rp := elect(c.typ, c.topic, c.p)
		wantCode(t, "ElectLeaders "+c.what, rp.ErrorCode, c.code)
		if rp.ErrorMessage == nil || *rp.ErrorMessage != c.msg {
			t.Errorf("ElectLeaders %s: message %q, want %q", c.what, deref(rp.ErrorMessage), c.msg)
		}
	}

	reassign := func(topic string, p int32, replicas []int32) kmsg.AlterPartitionAssignmentsResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
		req.TimeoutMillis = 5000
		rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
		rp.Partition, rp.Replicas = p, replicas
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := e.request(req).(*kmsg.AlterPartitionAssignmentsResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("AlterPartitionReassignments answered %+v", resp.Topics)
		}
		return resp.Topics[0].Partitions[0]
	}
	for _, c := range []struct {
		what     string
		topic    string
		p        int32
		replicas []int32
		code     *kerr.Error
		msg      string
	}{
		{"cancel, topic does not exist", missing, 0, nil, kerr.UnknownTopicOrPartition, "Unable to find a topic named " + missing + "."},
		{"cancel, partition does not exist", topic, 5, nil, kerr.UnknownTopicOrPartition, "Unable to find partition " + topic + ":5."},
		{"cancel, nothing in progress", topic, 0, nil, kerr.NoReassignmentInProgress, "No partition reassignment is in progress."},
		{"empty target", topic, 0, []int32{}, kerr.InvalidReplicaAssignment, "The manual partition assignment includes an empty replica list."},
		{"a broker twice", topic, 0, []int32{id, id}, kerr.InvalidReplicaAssignment, "The manual partition assignment includes the broker " + strconv.Itoa(int(id)) + " more than once."},
		{"a negative broker id", topic, 0, []int32{id, -1}, kerr.InvalidReplicaAssignment, "The manual partition assignment includes broker -1, but no such broker is registered."},
	} {
		rp := reassign(c.topic, c.p, c.replicas)
		wantCode(t, "AlterPartitionReassignments "+c.what, rp.ErrorCode, c.code)
		if rp.ErrorMessage == nil || *rp.ErrorMessage != c.msg {
			t.Errorf("AlterPartitionReassignments %s: message %q, want %q", c.what, deref(rp.ErrorMessage), c.msg)
		}
	}
}
