package broker

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// How long a stopping broker keeps its connections open once its
// leaderships are handed over: until no produce is waiting for
// replication and none was answered for produceQuiet (clients answered
// NOT_LEADER_OR_FOLLOWER with the new leader have moved away; one whose
// request a closing connection drops would instead wait for its next
// metadata refresh), but at most produceDrainLimit.
const (
	produceQuiet      = 200 * time.Millisecond
	produceDrainLimit = 3 * time.Second
)

// ControlledShutdown hands this broker's work over before it stops
// serving, as Kafka's controlled shutdown does. It stops replicating (so
// that no leader puts this broker back into an ISR it is leaving), has
// the backend move the leadership of every partition it leads to another
// ISR member and take it out of the ISRs it follows in, and waits until
// those states are in force here: every acks=all produce waiting on a
// partition it led is then answered NOT_LEADER_OR_FOLLOWER (with the new
// leader, once that one knows it leads: handover.go), and the leaders of
// the partitions it followed no longer wait for it. It then waits for
// producers to go quiet. Only then may the
// listeners close. With controlled.shutdown.enable=false it only stops
// replicating.
func (b *Broker) ControlledShutdown(ctx context.Context) error {
	b.follow.close()
	if !b.cfg.ControlledShutdownEnable {
		return nil
	}
	var errs []error
	b.handover.begin()
	if err := b.backend.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := b.awaitApplied(ctx); err != nil {
		errs = append(errs, fmt.Errorf("applying the handed over states: %w", err))
	}
	if b.confirmHandovers(ctx) > 0 {
		// Producers have somewhere to go: let them move before closing.
		b.awaitProduceQuiet(ctx, produceQuiet, produceDrainLimit)
	}
	return errors.Join(errs...)
}

// awaitProduceQuiet waits until no acks=all produce is waiting and none
// was answered for quiet, at most limit or until ctx ends.
func (b *Broker) awaitProduceQuiet(ctx context.Context, quiet, limit time.Duration) {
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(quiet / 4)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		last := time.Unix(0, b.lastProduce.Load())
		if b.produceWaits.Load() == 0 && time.Since(last) >= quiet {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
