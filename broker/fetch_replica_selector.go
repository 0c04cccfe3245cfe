package broker

// Fetching from the closest replica (KIP-392). With
// replica.selector.class set to Kafka's RackAwareReplicaSelector, a
// leader answers a consumer's Fetch v11+ that names its rack (client.rack)
// with no records and a preferred read replica, when a follower in that
// rack can serve the fetch and the leader is not in it; the consumer then
// fetches from that follower (fetchLog serves it there) until it refreshes
// its metadata or the follower fails it. As in Kafka's
// RackAwareReplicaSelector, the follower is the most caught up of the
// in-sync followers in the consumer's rack holding the fetch offset
// (between the log start its last fetch gave and its log end).

import (
	"time"
)

// preferredReadReplica returns the replica a consumer in rack fetching
// offset should read from, or -1 for this broker (the leader). The caller
// checked that replica.selector.class is the rack-aware selector.
func (p *Partition) preferredReadReplica(rack string, offset int64, now time.Time) int32 {
	b := p.b
	if rack == "" {
		return -1
	}
	rackOf := func(id int32) string {
		bi, ok := b.BrokerByID(id)
		if !ok {
			return ""
		}
		return bi.Rack
	}
	if rackOf(b.id) == rack {
		return -1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rs == nil || p.log == nil || offset < p.log.StartOffset() {
		return -1
	}
	best, bestLEO, bestLag := int32(-1), int64(0), time.Duration(0)
	for _, id := range p.rs.ISR {
		f := p.rs.Followers[id]
		if id == b.id || f == nil || f.LEO < offset || f.LogStart > offset || rackOf(id) != rack {
			continue
		}
		lag := now.Sub(f.LastCaughtUp)
		if best < 0 || f.LEO > bestLEO || f.LEO == bestLEO && lag < bestLag {
			best, bestLEO, bestLag = id, f.LEO, lag
		}
	}
	return best
}
