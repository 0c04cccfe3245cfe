package broker

// Handover confirmation. A stopping broker moves each leadership it holds
// (ControlledShutdown) and answers produce requests on those partitions
// NOT_LEADER_OR_FOLLOWER naming the new leader (KIP-951). A client then
// goes straight to the new leader, which learns it leads only once its own
// ZooKeeper watch reads the new state: a client that gets there first is
// refused with a hint it already knows, and backs off (franz-go: 250 ms)
// before trying again. So while a handover is not yet confirmed, such
// answers are held: the stopping broker asks each new leader (ListOffsets
// at the new epoch, over the inter-broker listener) until it answers as
// the leader, at most handoverConfirmLimit, and only then answers.

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// handoverConfirmLimit bounds how long NOT_LEADER answers are held.
	handoverConfirmLimit = time.Second
	// handoverPoll is how often a new leader is asked.
	handoverPoll = 5 * time.Millisecond
)

// handovers tracks the leaderships a controlled shutdown moves.
type handovers struct {
	mu sync.Mutex
	// guarded by mu:
	done  chan struct{}         // nil: no handover in progress; closed once confirmed
	moved map[int32][]movedPart // by new leader
}

type movedPart struct {
	topic     string
	partition int32
	epoch     int32
}

// begin starts holding NOT_LEADER answers until confirm ends.
func (h *handovers) begin() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done == nil {
		h.done = make(chan struct{})
		h.moved = make(map[int32][]movedPart)
	}
}

// record notes a leadership this broker gave to leader at epoch.
func (h *handovers) record(topic string, partition, leader, epoch int32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done != nil {
		h.moved[leader] = append(h.moved[leader], movedPart{topic, partition, epoch})
	}
}

// pending returns the channel closed once handovers are confirmed, or nil.
func (h *handovers) pending() chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.done
}

// confirmHandovers waits until every new leader reports the leaderships
// moved to it (or handoverConfirmLimit, or ctx), then releases the held
// answers. It reports how many leaders there were to ask.
func (b *Broker) confirmHandovers(ctx context.Context) int {
	b.handover.mu.Lock()
	done, moved := b.handover.done, b.handover.moved
	b.handover.moved = nil
	b.handover.mu.Unlock()
	if done == nil {
		return 0
	}
	defer close(done)
	ctx, cancel := context.WithTimeout(ctx, handoverConfirmLimit)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for leader, parts := range moved {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !b.awaitLeads(ctx, leader, parts) {
				b.log.Warn().Int32("leader", leader).Int("partitions", len(parts)).
					Msg("controlled shutdown: a new leader did not confirm its leaderships in time")
			}
		}()
	}
	wg.Wait()
	b.log.Info().Int("leaders", len(moved)).Dur("took", time.Since(start)).Msg("controlled shutdown: new leaders confirmed")
	return len(moved)
}

// awaitLeads asks leader for the latest offsets of parts, naming each
// one's new epoch, until it answers them all as their leader (or ctx
// ends); it reports whether it did. ListOffsets, not Metadata: Metadata
// reports a leadership as soon as the broker's metadata announces it,
// while its partitions may still be applying it, and a produce arriving
// in between is refused. ListOffsets with the current leader epoch
// succeeds only where the partition itself leads at that epoch.
func (b *Broker) awaitLeads(ctx context.Context, leader int32, parts []movedPart) bool {
	req := kmsg.NewPtrListOffsetsRequest()
	req.SetVersion(4) // current leader epochs
	req.ReplicaID = -1
	byTopic := map[string]int{}
	for _, mp := range parts {
		i, ok := byTopic[mp.topic]
		if !ok {
			i = len(req.Topics)
			byTopic[mp.topic] = i
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = mp.topic
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.Timestamp = mp.partition, mp.epoch, -2 // earliest: never OFFSET_NOT_AVAILABLE
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	var conn *peerConn
	defer func() {
		if conn != nil {
			conn.close()
		}
	}()
	tick := time.NewTicker(handoverPoll)
	defer tick.Stop()
	for {
		if conn == nil {
			conn, _ = b.dialPeer(ctx, leader)
		}
		if conn != nil {
			resp, err := conn.request(ctx, req)
			if err != nil {
				conn.close()
				conn = nil
			} else if leads(resp.(*kmsg.ListOffsetsResponse), parts) {
				return true
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

// leads reports whether a ListOffsets response shows its broker leading
// every partition of parts at its epoch (or a later one: the leadership
// has moved on, and the hint given is stale anyway; or the topic is gone).
func leads(resp *kmsg.ListOffsetsResponse, parts []movedPart) bool {
	type tp struct {
		t string
		p int32
	}
	got := map[tp]int16{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			got[tp{t.Topic, p.Partition}] = p.ErrorCode
		}
	}
	for _, mp := range parts {
		code, ok := got[tp{mp.topic, mp.partition}]
		if !ok || (code != 0 && code != kerr.FencedLeaderEpoch.Code && code != kerr.UnknownTopicOrPartition.Code) {
			return false
		}
	}
	return true
}

// holdsNotLeader reports whether a produce response must wait for the
// handovers in progress: it answers some partition NOT_LEADER_OR_FOLLOWER
// while they are unconfirmed.
func (b *Broker) holdsNotLeader(resp *kmsg.ProduceResponse) bool {
	done := b.handover.pending()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode == kerr.NotLeaderForPartition.Code {
				return true
			}
		}
	}
	return false
}

// awaitHandovers waits while holdsNotLeader(resp), or until ctx ends.
func (b *Broker) awaitHandovers(ctx context.Context, resp *kmsg.ProduceResponse) {
	if !b.holdsNotLeader(resp) {
		return
	}
	select {
	case <-b.handover.pending():
	case <-ctx.Done():
	}
}
