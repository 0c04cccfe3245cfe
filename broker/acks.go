package broker

// Waiting for replication: an acks=all Produce, a coordinator's write and
// a transaction marker wait, holding no lock, until the high watermark
// passes their last offset. Every change that can move the high watermark
// or end the wait (a follower's fetch, an ISR change, a leadership change)
// notifies the partition's waiters.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/protocol"
)

// pendingAck is a partition whose acks=all produce awaits replication.
type pendingAck struct {
	p    *Partition
	last int64
	code *int16 // where to put an error; nil once done
}

// finishProduce completes a deferred produce response: it waits for the
// acks=all appends to replicate, holds NOT_LEADER answers while a
// controlled shutdown's handovers are unconfirmed, and adds the leader
// hints. A stopping broker keeps its connections open while any runs.
func (b *Broker) finishProduce(ctx context.Context, req *protocol.Request, resp *kmsg.ProduceResponse, waits []pendingAck, timeout time.Duration) (kmsg.Response, error) {
	b.produceWaits.Add(1)
	defer b.produceWaits.Add(-1)
	b.awaitAcks(ctx, waits, timeout)
	b.awaitHandovers(ctx, resp)
	b.hintProduceLeaders(req, resp)
	return resp, nil
}

// awaitAcks waits until every partition's high watermark passes its
// append, filling in errors for those that time out or lose leadership.
func (b *Broker) awaitAcks(ctx context.Context, waits []pendingAck, timeout time.Duration) {
	parts := make([]*Partition, len(waits))
	for i, w := range waits {
		parts[i] = w.p
	}
	err := awaitPartitions(ctx, parts, timeout, func() (pending int) {
		for i := range waits {
			w := &waits[i]
			if w.code == nil {
				continue
			}
			done, err := w.p.ackState(w.last)
			if err != nil {
				*w.code = ErrorCode(b.log, err)
			}
			if done {
				w.code = nil
			} else {
				pending++
			}
		}
		return pending
	})
	if err == kerr.RequestTimedOut {
		for _, w := range waits {
			if w.code != nil {
				*w.code = kerr.RequestTimedOut.Code
			}
		}
	}
}

// awaitPartitions waits, holding no lock, until pending reports nothing
// left, checking again whenever one of parts notifies its waiters (the
// high watermark, a follower's log start, the leadership moved). It
// returns REQUEST_TIMED_OUT once timeout passes, ctx's error once it ends,
// nil when done.
func awaitPartitions(ctx context.Context, parts []*Partition, timeout time.Duration, pending func() int) error {
	wake := make(chan struct{}, 1)
	for _, p := range parts {
		p.wait(wake)
		defer p.unwait(wake)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for pending() > 0 {
		select {
		case <-wake:
		case <-timer.C:
			return kerr.RequestTimedOut
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// awaitCommitted waits until the high watermark passes last.
func (b *Broker) awaitCommitted(ctx context.Context, p *Partition, last int64) error {
	if p.HighWatermark() > last {
		return nil
	}
	var code int16
	w := []pendingAck{{p: p, last: last, code: &code}}
	b.awaitAcks(ctx, w, 30*time.Second)
	if code != 0 {
		return kerr.ErrorForCode(code)
	}
	if p.HighWatermark() <= last {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return kerr.RequestTimedOut
	}
	return nil
}
