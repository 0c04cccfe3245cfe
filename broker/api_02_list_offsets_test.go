package broker

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/metadata"
	"gregor/protocol"
)

// ListOffsets with the debugging replica id (-2) reads to the log end, as
// a broker's does, whatever the isolation level, as Kafka's fetchOffset
// bounds only a consumer (-1) by its high watermark or last stable offset;
// and its leader epoch is checked. Gregor bounded -2 by the high watermark
// like a consumer, and on the leader answered a fenced epoch anyway.
func TestListOffsetsDebuggingReplicaReadsToLogEnd(t *testing.T) {
	b, be := newDeliveryBroker(t)
	st := metadata.TopicState{Name: "t", ID: metadata.NewUuid(), Reported: time.Now()}
	st.Partitions = append(st.Partitions, metadata.PartitionState{Replicas: []int32{1, 2}, Leader: 1, LeaderEpoch: 3, ISR: []int32{1, 2}})
	be.apply.ApplyTopic(st)
	if err := b.awaitApplied(context.Background()); err != nil {
		t.Fatal(err)
	}
	reg := protocol.NewRegistry()
	b.Register(reg)
	serve := func(req kmsg.Request) kmsg.Response {
		t.Helper()
		resp, err := reg.Serve(context.Background(), &protocol.Request{Key: req.Key(), Version: req.GetVersion(), ClientID: "test", Body: req,
			Conn: &protocol.ConnInfo{Listener: "PLAINTEXT", Remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	// acks=1: appended, but the high watermark waits for replica 2.
	if code := serve(produceRequest("t", 1, []int32{0}, [][]byte{batch(t, time.Now().UnixMilli(), "a", "b")})).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatal(kerr.ErrorForCode(code))
	}
	if hw, leo := b.Partition("t", 0).HighWatermark(), b.Partition("t", 0).LogEndOffset(); hw != 0 || leo != 2 {
		t.Fatalf("high watermark %d, log end %d; want 0 and 2", hw, leo)
	}
	for _, c := range []struct {
		replica   int32
		isolation int8
		epoch     int32
		want      int64
		wantErr   *kerr.Error
	}{
		{-1, 0, -1, 0, nil},
		{-2, 0, -1, 2, nil},
		{-2, 1, 3, 2, nil},
		{-2, 0, 2, -1, kerr.FencedLeaderEpoch},
	} {
		req := kmsg.NewPtrListOffsetsRequest()
		req.SetVersion(9)
		req.ReplicaID, req.IsolationLevel = c.replica, c.isolation
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp, rp.CurrentLeaderEpoch = -1, c.epoch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		sp := serve(req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
		wantCode := int16(0)
		if c.wantErr != nil {
			wantCode = c.wantErr.Code
		}
		if sp.ErrorCode != wantCode || sp.Offset != c.want {
			t.Errorf("LATEST for replica %d (isolation %d, epoch %d): %v at %d; want %v at %d",
				c.replica, c.isolation, c.epoch, kerr.ErrorForCode(sp.ErrorCode), sp.Offset, c.wantErr, c.want)
		}
	}
}
