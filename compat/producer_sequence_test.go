package compat

import (
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// writeMarkerTo0 writes a transaction marker for a producer to partition
// 0 of topic with WriteTxnMarkers, as a coordinator does, and returns
// the partition's error code.
func writeMarkerTo0(t *testing.T, cl *kgo.Client, topic string, pid int64, epoch int16, commit bool, coordinatorEpoch int32) int16 {
	t.Helper()
	ctx := t.Context()
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = pid, epoch, commit, coordinatorEpoch
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = topic, []int32{0}
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	kresp, err := leaderOf0(t, ctx, cl, topic).Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	return kresp.(*kmsg.WriteTxnMarkersResponse).Markers[0].Topics[0].Partitions[0].ErrorCode
}

// testPID is a producer id no InitProducerId of the test run hands out.
func testPID() int64 { return 1<<40 + rand.Int64N(1<<40) }

// A producer whose epoch a marker moved on (transaction version 2 bumps
// the epoch at every commit or abort) has no sequence at that epoch yet:
// its next batch must be sequence 0, as Kafka's ProducerAppendInfo
// .checkSequence takes the last sequence of an entry with no batches as
// -1. Gregor accepted any sequence there, so a batch that overtook the
// epoch's first one (retried after an error) was written before it.
func TestSequenceAfterEpochBumpingMarkerStartsAtZero(t *testing.T) {
	cl, topic, _ := dpClient(t)
	pid := testPID()
	if code := produceRawTo0(t, cl, topic, tcBatch(pid, 0, 0, "a", "b")); code != 0 {
		t.Fatalf("first idempotent batch: %v", kerr.ErrorForCode(code))
	}
	if code := writeMarkerTo0(t, cl, topic, pid, 1, false, 0); code != 0 {
		t.Fatalf("abort marker at epoch 1: %v", kerr.ErrorForCode(code))
	}
	if code := produceRawTo0(t, cl, topic, tcBatch(pid, 1, 3, "gap")); code != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("sequence 3 as the first batch of the epoch the marker set: %v, want OUT_OF_ORDER_SEQUENCE_NUMBER", kerr.ErrorForCode(code))
	}
	if code := produceRawTo0(t, cl, topic, tcBatch(pid, 1, 0, "first")); code != 0 {
		t.Fatalf("sequence 0 at the marker's epoch: %v, want it written", kerr.ErrorForCode(code))
	}
	if code := produceRawTo0(t, cl, topic, tcBatch(pid, 1, 1, "next")); code != 0 {
		t.Fatalf("sequence 1 after 0: %v, want it written", kerr.ErrorForCode(code))
	}
}

// The same holds for a producer a marker introduces to the partition (its
// transaction held nothing here): the marker sets its epoch, and its
// first batch at that epoch must be sequence 0.
func TestSequenceAfterMarkerOfUnknownProducerStartsAtZero(t *testing.T) {
	cl, topic, _ := dpClient(t)
	pid := testPID()
	if code := writeMarkerTo0(t, cl, topic, pid, 3, true, 0); code != 0 {
		t.Fatalf("commit marker for a producer new to the partition: %v", kerr.ErrorForCode(code))
	}
	if code := produceRawTo0(t, cl, topic, tcBatch(pid, 3, 5, "gap")); code != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("sequence 5 at the marker's epoch: %v, want OUT_OF_ORDER_SEQUENCE_NUMBER", kerr.ErrorForCode(code))
	}
	// A new epoch starts anywhere only for a producer with none known;
	// here the next epoch starts at 0 too.
	if code := produceRawTo0(t, cl, topic, tcBatch(pid, 4, 5, "gap")); code != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("sequence 5 at a new epoch: %v, want OUT_OF_ORDER_SEQUENCE_NUMBER", kerr.ErrorForCode(code))
	}
	if code := produceRawTo0(t, cl, topic, tcBatch(pid, 3, 0, "first")); code != 0 {
		t.Fatalf("sequence 0 at the marker's epoch: %v, want it written", kerr.ErrorForCode(code))
	}
}
