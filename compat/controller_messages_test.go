package compat

import (
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
