package coordinator

import (
	"context"
	"time"
)

// replayPartition reads an internal topic partition this broker leads from
// its log start to its high watermark, handing apply whole batches; apply
// returns the offset after the last batch it got. Read errors are retried
// until ctx ends; a batch apply cannot read is logged and skipped.
func (c *Coordinator) replayPartition(ctx context.Context, topic string, partition int32, apply func(data []byte) (int64, error)) {
	off := c.host.LogStartOffsetOf(topic, partition)
	for ctx.Err() == nil {
		data, hw, err := c.host.ReadCommitted(topic, partition, off, 1<<20)
		if err != nil {
			c.log.Warn().Err(err).Str("topic", topic).Int32("partition", partition).Msg("loading coordinator state; retrying")
			sleepCtx(ctx, 200*time.Millisecond)
			continue
		}
		if len(data) == 0 {
			if off >= hw {
				return
			}
			// Nothing readable below the high watermark yet.
			sleepCtx(ctx, 50*time.Millisecond)
			continue
		}
		next, err := apply(data)
		if err != nil {
			c.log.Error().Err(err).Str("topic", topic).Int32("partition", partition).Int64("offset", off).Msg("unreadable coordinator record; skipped")
		}
		if next <= off {
			return
		}
		off = next
	}
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
