package compat

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// InitProducerId with a producer id and epoch (KIP-360) for a
// transactional id the coordinator has no state for, new or expired after
// transactional.id.expiration.ms, gets a new producer id at epoch 0, as in
// Kafka: that is how a producer recovers once its id expired (sarama
// sends its last id and epoch). Gregor once answered PRODUCER_FENCED, and
// such a producer could never produce again. A producer id without an
// epoch, or an epoch without an id, is INVALID_REQUEST.
func TestInitProducerIDForUnknownTransactionalID(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	init := func(id string, pid int64, epoch int16) *kmsg.InitProducerIDResponse {
		t.Helper()
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID = kmsg.StringPtr(id)
		req.TransactionTimeoutMillis = 10000
		req.ProducerID, req.ProducerEpoch = pid, epoch
		for {
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			// The coordinator may still be loading its partition.
			if resp.ErrorCode == kerr.CoordinatorLoadInProgress.Code || resp.ErrorCode == kerr.CoordinatorNotAvailable.Code ||
				resp.ErrorCode == kerr.NotCoordinator.Code || resp.ErrorCode == kerr.ConcurrentTransactions.Code {
				if ctx.Err() != nil {
					t.Fatalf("InitProducerId for %s: still %v", id, kerr.ErrorForCode(resp.ErrorCode))
				}
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return resp
		}
	}
	id := randomName("recovering")
	resp := init(id, 12345, 3)
	if resp.ErrorCode != 0 || resp.ProducerID < 0 || resp.ProducerEpoch != 0 {
		t.Fatalf("InitProducerId (12345, 3) for a transactional id with no state: %v, id %d epoch %d; want a new producer id at epoch 0",
			kerr.ErrorForCode(resp.ErrorCode), resp.ProducerID, resp.ProducerEpoch)
	}
	// Now it has state: the same stale pair is fenced, the current pair
	// bumps the epoch.
	if stale := init(id, 12345, 3); stale.ErrorCode != kerr.ProducerFenced.Code && stale.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("a stale (12345, 3) after the id has state: %v, want PRODUCER_FENCED", kerr.ErrorForCode(stale.ErrorCode))
	}
	if cur := init(id, resp.ProducerID, resp.ProducerEpoch); cur.ErrorCode != 0 || cur.ProducerID != resp.ProducerID || cur.ProducerEpoch != 1 {
		t.Fatalf("the current pair: %v, id %d epoch %d; want %d at epoch 1", kerr.ErrorForCode(cur.ErrorCode), cur.ProducerID, cur.ProducerEpoch, resp.ProducerID)
	}
	for _, half := range [][2]int64{{-1, 0}, {5, -1}} {
		if r := init(randomName("half"), half[0], int16(half[1])); r.ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("InitProducerId (%d, %d): %v, want INVALID_REQUEST", half[0], half[1], kerr.ErrorForCode(r.ErrorCode))
		}
	}
}
