package coordinator

import (
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Idle transactional ids expire together: their tombstones are written in
// one batch per __transaction_state partition (not a replicated write
// each), every one is forgotten, and an id in use is kept.
func TestTxnIDExpiryBatchesTombstones(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTxnTestHost()
		c := newTxnTestCoordinator(t, h)
		const n = 3000
		for i := range n {
			if _, _, err := initTxn(t, c, fmt.Sprintf("idle-%d", i), -1, -1); err != nil {
				t.Fatal(err)
			}
		}
		// Past the expiration (an hour) for the idle ids; "recent" is
		// used just before the expiry runs.
		time.Sleep(time.Hour + time.Minute)
		synctest.Wait()
		if _, _, err := initTxn(t, c, "recent", -1, -1); err != nil {
			t.Fatal(err)
		}
		tp := topicPartition{TransactionTopic, 0}
		h.mu.Lock()
		before := len(h.logs[tp])
		h.mu.Unlock()
		c.expireTxnIDs()
		h.mu.Lock()
		writes := len(h.logs[tp]) - before
		h.mu.Unlock()
		if writes != 1 {
			t.Fatalf("%d idle ids expired in %d writes, want one batch", n, writes)
		}
		for i := range n {
			if _, err := c.txnSnapshot(fmt.Sprintf("idle-%d", i)); !errors.Is(err, kerr.TransactionalIDNotFound) {
				t.Fatalf("idle-%d after expiry: %v, want TRANSACTIONAL_ID_NOT_FOUND", i, err)
			}
		}
		if d := state(t, c, "recent"); d.pid < 0 {
			t.Fatalf("a recently used id expired: %+v", d)
		}
	})
}

// Timed-out transactions are aborted concurrently: with every marker
// write stuck (a leader that cannot replicate), eight aborts take one
// marker attempt's time, not eight.
func TestTxnTimedOutAbortsRunTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTxnTestHost()
		c := newTxnTestCoordinator(t, h)
		const n = 8
		for i := range n {
			id := fmt.Sprintf("hanging-%d", i)
			pid, epoch, err := initTxn(t, c, id, -1, -1)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.addToTxn(t.Context(), id, pid, epoch, true, []topicPartition{{"a", int32(i)}}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * time.Minute) // past their timeout (60 s)
		h.mu.Lock()
		h.blockMarkers = true
		h.mu.Unlock()
		start := time.Now()
		c.abortTimedOut()
		took := time.Since(start)
		for i := range n {
			if d := state(t, c, fmt.Sprintf("hanging-%d", i)); d.state != txnPrepareAbort {
				t.Fatalf("hanging-%d after the timeout: state %v, want prepared to abort (markers retried in the background)", i, d.state)
			}
		}
		if took >= 2*markerAttemptTime {
			t.Fatalf("%d aborts with stuck markers took %v, want about one marker attempt (%v)", n, took, markerAttemptTime)
		}
		h.mu.Lock()
		h.blockMarkers = false
		h.mu.Unlock()
	})
}
