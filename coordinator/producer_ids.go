package coordinator

import (
	"context"
	"sync"
)

// producerIDBlock is how many ids are reserved at once (Kafka's block size).
const producerIDBlock = 1000

// producerIDs hands out producer ids from blocks reserved through the host.
type producerIDs struct {
	host Host

	mu sync.Mutex
	// guarded by mu:
	next, end int64
}

func (p *producerIDs) allocate(ctx context.Context) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next >= p.end {
		start, err := p.host.AllocateProducerIDs(ctx, producerIDBlock)
		if err != nil {
			return -1, err
		}
		p.next, p.end = start, start+producerIDBlock
	}
	id := p.next
	p.next++
	return id, nil
}
