package broker

// Followers: a partition this broker replicates but does not lead fetches
// from its leader with the Fetch API (replica id set), one fetcher per
// leader broker for all partitions it leads. Divergence after a leader
// change is found the KIP-320/KIP-595 way: each fetch carries the epoch of
// the follower's last batch, the leader answers with the diverging epoch
// and its end offset, and the follower truncates exactly its divergent
// tail before fetching again.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/records"
	"gregor/broker/replica"
	"gregor/broker/storage"
)

// fetchers runs one fetcher per leader broker.
type fetchers struct {
	b  *Broker
	mu sync.Mutex
	// guarded by mu:
	byLeader map[int32]*fetcher
	// stopping are fetchers stopped for want of partitions, until they
	// end (close waits for them too).
	stopping []*fetcher
	closed   bool
}

// fetcher replicates the partitions one leader leads.
type fetcher struct {
	f      *fetchers
	leader int32
	stop   chan struct{}
	done   chan struct{}
	// kick ends a wait (a backoff, an idle pause) when partitions are
	// added.
	kick chan struct{}

	mu sync.Mutex
	// guarded by mu:
	parts map[*Partition]int32 // partition -> leader epoch followed
	// added is set when a partition (or a new epoch of one) is added
	// after the last snapshot; abort ends the fetch in flight, so that
	// the new partition is fetched at once rather than after the leader's
	// long poll (a new leader holds its high watermark until every ISR
	// follower has fetched from it).
	added bool
	abort context.CancelFunc

	// troubles is the fetcher goroutine's own (follower_trouble.go).
	troubles *troubles
}

// follow makes p replicate from leader at epoch (and stop following any
// other leader).
func (fs *fetchers) follow(p *Partition, leader, epoch int32) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.closed {
		return
	}
	for id, f := range fs.byLeader {
		if id != leader {
			fs.removeLocked(f, p)
		}
	}
	f := fs.byLeader[leader]
	if f == nil {
		f = &fetcher{f: fs, leader: leader, stop: make(chan struct{}), done: make(chan struct{}), kick: make(chan struct{}, 1), parts: make(map[*Partition]int32)}
		fs.byLeader[leader] = f
		go f.run()
	}
	f.mu.Lock()
	if e, ok := f.parts[p]; !ok || e != epoch {
		p.followerInSync.Store(false) // unknown until the leader answers
		f.parts[p] = epoch
		f.added = true
		if f.abort != nil {
			f.abort()
		}
		select {
		case f.kick <- struct{}{}:
		default:
		}
	}
	f.mu.Unlock()
}

// unfollow stops replicating p.
func (fs *fetchers) unfollow(p *Partition) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, f := range fs.byLeader {
		fs.removeLocked(f, p)
	}
}

// removeLocked stops f following p, and stops f once it follows nothing,
// as Kafka's AbstractFetcherManager.shutdownIdleFetcherThreads does after
// partitions leave their fetchers: a broker whose partitions were led by
// many brokers over time (brokers replaced, ids retired) keeps no fetcher
// for each. A later follow of that leader starts a new one. Called
// holding fs.mu.
func (fs *fetchers) removeLocked(f *fetcher, p *Partition) {
	f.mu.Lock()
	delete(f.parts, p)
	idle := len(f.parts) == 0
	f.mu.Unlock()
	if !idle || fs.byLeader[f.leader] != f {
		return
	}
	delete(fs.byLeader, f.leader)
	close(f.stop)
	live := fs.stopping[:0]
	for _, s := range fs.stopping {
		select {
		case <-s.done:
		default:
			live = append(live, s)
		}
	}
	clear(fs.stopping[len(live):])
	fs.stopping = append(live, f)
}

// close stops every fetcher and waits for them.
func (fs *fetchers) close() {
	fs.mu.Lock()
	fs.closed = true
	all := fs.byLeader
	fs.byLeader = map[int32]*fetcher{}
	stopping := fs.stopping
	fs.stopping = nil
	fs.mu.Unlock()
	for _, f := range all {
		close(f.stop)
	}
	for _, f := range all {
		<-f.done
	}
	for _, f := range stopping {
		<-f.done
	}
}

type followed struct {
	p     *Partition
	epoch int32
}

func (f *fetcher) snapshot() []followed {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.added = false
	out := make([]followed, 0, len(f.parts))
	for p, e := range f.parts {
		out = append(out, followed{p, e})
	}
	return out
}

// sleep waits d, until partitions are added or until the fetcher stops;
// it reports whether to go on.
func (f *fetcher) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-f.stop:
		return false
	case <-t.C:
		return true
	case <-f.kick:
		return true
	}
}

func (f *fetcher) run() {
	defer close(f.done)
	b := f.f.b
	log := b.log.With().Int32("leader", f.leader).Logger()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-f.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	var conn *peerConn
	var sess followerSession
	defer func() {
		if conn != nil {
			conn.close()
		}
	}()
	f.troubles = newTroubles(b.cfg.ReplicaLagTimeMax, time.Minute)
	failures := 0
	backoff := func() bool {
		failures++
		return f.sleep(fetchBackoff(failures, b.cfg.ReplicaFetchBackoff))
	}
	for ctx.Err() == nil {
		parts := f.snapshot()
		if len(f.troubles.byPart) > 0 {
			now := make(map[*Partition]bool, len(parts))
			for _, fp := range parts {
				now[fp.p] = true
			}
			f.troubles.forget(now)
		}
		if len(parts) == 0 {
			// Idle: keep no connection (the leader may restart before
			// this broker follows it again) and no backoff.
			if conn != nil {
				conn.close()
				conn = nil
			}
			failures = 0
			if !f.sleep(time.Second) {
				return
			}
			continue
		}
		if conn == nil {
			c, err := b.dialPeerBuffered(ctx, f.leader, int(b.cfg.ReplicaSocketReceiveBuffer))
			if err != nil {
				if failures%20 == 0 {
					log.Warn().Err(err).Msg("connecting to leader to replicate")
				}
				if !backoff() {
					return
				}
				continue
			}
			conn = c
		}
		full, asked := f.buildFetch(parts)
		req := sess.request(full) // follower_session.go
		if len(asked) == 0 {
			if !f.sleep(100 * time.Millisecond) {
				return
			}
			continue
		}
		resp, aborted, err := f.request(ctx, conn, req)
		if aborted {
			sess.failed() // the leader may or may not have seen it
			// Partitions were added: ask again with them. A connection
			// with a response pending is replaced.
			if err != nil {
				conn.close()
				conn = nil
			}
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn().Err(err).Msg("replica fetch failed; reconnecting")
			sess.failed()
			conn.close()
			conn = nil
			if !backoff() {
				return
			}
			continue
		}
		fr := resp.(*kmsg.FetchResponse)
		if sess.answered(fr) {
			continue // a session error: fetch again in full at once
		}
		if fr.ErrorCode != 0 {
			log.Warn().Str("error", kerr.ErrorForCode(fr.ErrorCode).Error()).Msg("replica fetch refused")
			if !backoff() {
				return
			}
			continue
		}
		progress, errs := f.handle(ctx, conn, fr, asked)
		if errs > 0 && !progress {
			if !backoff() {
				return
			}
			continue
		}
		failures = 0
	}
}

// request sends one fetch; aborted is set when follow added partitions
// meanwhile (or before it was sent).
func (f *fetcher) request(ctx context.Context, conn *peerConn, req *kmsg.FetchRequest) (resp kmsg.Response, aborted bool, err error) {
	// replica.socket.timeout.ms bounds the wait for the answer, as it
	// bounds Kafka's replica fetcher's requests (it is at least
	// replica.fetch.wait.max.ms).
	rctx, rcancel := context.WithTimeout(ctx, f.f.b.cfg.ReplicaSocketTimeout)
	defer rcancel()
	f.mu.Lock()
	if f.added {
		f.mu.Unlock()
		return nil, true, nil // not sent
	}
	f.abort = rcancel
	f.mu.Unlock()
	// The records alias the connection's buffer until the next request:
	// handle appends (copies) them before that.
	resp, err = conn.requestReuse(rctx, req)
	f.mu.Lock()
	f.abort = nil
	f.mu.Unlock()
	if err != nil && ctx.Err() == nil && errors.Is(rctx.Err(), context.Canceled) {
		return nil, true, err
	}
	return resp, false, err
}

// buildFetch asks for every followed partition from its log end. A
// throttled partition that is behind its leader (quota.go) asks for what
// the follower quota has left, and is left out once that is used up.
func (f *fetcher) buildFetch(parts []followed) (*kmsg.FetchRequest, map[string]map[int32]followed) {
	b := f.f.b
	quotaLeft := int64(-1) // not yet asked
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.ReplicaID = b.id
	req.MaxWaitMillis = int32(b.cfg.ReplicaFetchWait / time.Millisecond)
	req.MinBytes = int32(b.cfg.ReplicaFetchMin)
	req.MaxBytes = int32(b.cfg.ReplicaFetchResponseMax)
	req.IsolationLevel = 0
	req.SessionID, req.SessionEpoch = 0, -1
	asked := make(map[string]map[int32]followed)
	byTopic := make(map[string]int)
	for _, fp := range parts {
		p := fp.p
		p.mu.Lock()
		lg := p.log
		following := lg != nil && p.rs == nil && !p.closed && p.state.LeaderEpoch == fp.epoch
		var leo, start int64
		lastEpoch := int32(-1)
		if following {
			leo, start = lg.NextOffset(), lg.StartOffset()
			if leo > start {
				lastEpoch = lg.LatestEpoch()
			}
		}
		p.mu.Unlock()
		if !following {
			continue
		}
		maxBytes := int64(b.cfg.ReplicaFetchMax)
		if p.followerThrottled() && !p.followerInSync.Load() {
			if quotaLeft < 0 {
				quotaLeft = max(b.quotas.follower.allowance(b.now()), 0)
			}
			if quotaLeft == 0 {
				continue // throttled: fetched once the quota allows
			}
			maxBytes = min(maxBytes, quotaLeft)
			quotaLeft -= maxBytes
		}
		i, ok := byTopic[p.tp.Topic]
		if !ok {
			t := kmsg.NewFetchRequestTopic()
			t.Topic = p.tp.Topic
			req.Topics = append(req.Topics, t)
			i = len(req.Topics) - 1
			byTopic[p.tp.Topic] = i
			asked[p.tp.Topic] = make(map[int32]followed)
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p.ID
		rp.CurrentLeaderEpoch = fp.epoch
		rp.FetchOffset = leo
		rp.LastFetchedEpoch = lastEpoch
		rp.LogStartOffset = start
		rp.PartitionMaxBytes = int32(maxBytes)
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		asked[p.tp.Topic][p.ID] = fp
	}
	return req, asked
}

// handle applies a fetch response; it reports whether any partition made
// progress and how many failed.
func (f *fetcher) handle(ctx context.Context, conn *peerConn, fr *kmsg.FetchResponse, asked map[string]map[int32]followed) (progress bool, errs int) {
	b := f.f.b
	for _, t := range fr.Topics {
		for i := range t.Partitions {
			sp := &t.Partitions[i]
			fp, ok := asked[t.Topic][sp.Partition]
			if !ok {
				continue
			}
			p := fp.p
			var err error
			switch {
			case sp.ErrorCode == kerr.OffsetOutOfRange.Code:
				err = f.resetOutOfRange(ctx, conn, fp)
			case sp.ErrorCode != 0:
				err = kerr.ErrorForCode(sp.ErrorCode)
			case sp.DivergingEpoch.Epoch >= 0 || sp.DivergingEpoch.EndOffset >= 0:
				err = p.truncateDiverging(fp.epoch, sp.DivergingEpoch.Epoch, sp.DivergingEpoch.EndOffset)
				progress = progress || err == nil
			default:
				var n int
				n, err = p.appendAsFollower(fp.epoch, sp.RecordBatches, sp.HighWatermark, sp.LogStartOffset)
				progress = progress || n > 0 || err == nil
				b.ops.replBytesIn.Add(uint64(max(n, 0)))
				if p.followerThrottled() {
					// In sync or not, throttled traffic counts (Kafka too).
					b.quotas.follower.record(n, b.now())
				}
			}
			if err == nil {
				if recovered, d := f.troubles.succeeded(p, b.now()); recovered {
					b.log.Info().Str("topic", p.tp.Topic).Int32("partition", p.ID).Int32("leader", f.leader).Dur("failed_for", d).Msg("replicating partition again")
				}
				continue
			}
			errs++
			warn, d, n := f.troubles.failed(p, b.now())
			var ke *kerr.Error
			if !errors.As(err, &ke) || !ke.Retriable {
				b.log.Warn().Err(err).Str("topic", p.tp.Topic).Int32("partition", p.ID).Int32("leader", f.leader).Msg("replicating partition")
			} else if warn {
				// Retried quietly so far; by now the leader has dropped
				// this replica from the ISR.
				b.log.Warn().Err(err).Str("topic", p.tp.Topic).Int32("partition", p.ID).Int32("leader", f.leader).Dur("failing_for", d).Int("failures", n).Msg("replicating partition keeps failing")
			}
		}
	}
	return progress, errs
}

// resetOutOfRange handles OFFSET_OUT_OF_RANGE: a follower behind the
// leader's log start starts over there; one ahead of the leader's end
// (possible only after an unclean election) truncates to it.
func (f *fetcher) resetOutOfRange(ctx context.Context, conn *peerConn, fp followed) error {
	b := f.f.b
	p := fp.p
	ask := func(ts int64) (int64, error) {
		req := kmsg.NewPtrListOffsetsRequest()
		req.SetVersion(4)
		req.ReplicaID = b.id
		t := kmsg.NewListOffsetsRequestTopic()
		t.Topic = p.tp.Topic
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.Timestamp = p.ID, fp.epoch, ts
		t.Partitions = append(t.Partitions, rp)
		req.Topics = append(req.Topics, t)
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		resp, err := conn.request(rctx, req)
		if err != nil {
			return -1, err
		}
		lr := resp.(*kmsg.ListOffsetsResponse)
		if len(lr.Topics) != 1 || len(lr.Topics[0].Partitions) != 1 {
			return -1, fmt.Errorf("malformed ListOffsets response")
		}
		lp := lr.Topics[0].Partitions[0]
		if lp.ErrorCode != 0 {
			return -1, kerr.ErrorForCode(lp.ErrorCode)
		}
		return lp.Offset, nil
	}
	end, err := ask(-1)
	if err != nil {
		return err
	}
	start, err := ask(-2)
	if err != nil {
		return err
	}
	return p.resetAsFollower(fp.epoch, start, end)
}

// followingLocked reports whether p still follows at epoch.
func (p *Partition) followingLocked(epoch int32) bool {
	return p.log != nil && p.rs == nil && !p.closed && p.state.LeaderEpoch == epoch
}

// appendAsFollower appends batches fetched from the leader, with their
// offsets and epochs as the leader wrote them, and takes the leader's high
// watermark and log start offset. It returns the bytes appended.
func (p *Partition) appendAsFollower(epoch int32, data []byte, leaderHW, leaderStart int64) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.followingLocked(epoch) {
		return 0, kerr.NotLeaderForPartition
	}
	now := p.b.now()
	appended, err := appendCopied(p.log, data, func(h *records.Header, batch []byte) {
		p.producer.replay(h, batch, now)
	})
	if err == nil {
		p.snapshotIfRolledLocked()
	}
	p.refreshUnstableLocked()
	leo := p.log.NextOffset()
	p.leo.Store(leo)
	if leaderHW >= 0 {
		p.hw.Store(min(leaderHW, leo))
		// Caught up with the leader's high watermark: in sync as the
		// follower quota sees it (Kafka's isReplicaInSync, lag <= 0).
		p.followerInSync.Store(leo >= leaderHW)
	}
	if leaderStart > p.log.StartOffset() && leaderStart <= leo {
		if derr := p.log.DeleteRecordsBefore(leaderStart); derr == nil {
			p.start.Store(p.log.StartOffset())
			p.producer.trimBelow(p.start.Load())
			p.refreshUnstableLocked()
		}
	}
	p.notify()
	if err != nil {
		// A partial batch at the end of a size-limited response is not
		// an error: the next fetch starts at it.
		if errors.Is(err, records.ErrShort) {
			return appended, nil
		}
		return appended, err
	}
	return appended, nil
}

// appendCopied appends the batches of data that lie past lg's end, with
// their offsets and leader epochs as they are (a follower's copy of its
// leader's log, or a replica's copy into another log dir), calling each
// (if not nil) with every batch appended. Runs of batches of one leader
// epoch are appended as they lie in data, one write each. A batch may
// start past the log's end: a compacted log has gaps where batches lost
// every record, and a copy keeps them (as Kafka's follower appends do).
// A batch overlapping the end is an error, except in an empty log. It
// returns the bytes appended.
func appendCopied(lg *storage.Log, data []byte, each func(h *records.Header, batch []byte)) (int, error) {
	appended := 0
	pos, runStart, runEnd := 0, 0, 0
	var ai storage.AppendInfo
	flush := func() error {
		if runEnd == runStart {
			return nil
		}
		err := lg.Append(data[runStart:runEnd], ai)
		runStart = runEnd
		return err
	}
	next := lg.NextOffset()
	_, err := records.Split(data, func(batch []byte) error {
		h, err := records.ParseHeader(batch)
		if err != nil {
			return err
		}
		start := pos
		pos += len(batch)
		if h.NextOffset() <= next {
			if appended > 0 {
				return fmt.Errorf("batch at offset %d after the batch ending at %d: offsets must increase", h.BaseOffset, next)
			}
			runStart, runEnd = pos, pos
			return nil // already have it (a resent batch)
		}
		if h.BaseOffset < next {
			if appended > 0 || lg.StartOffset() != next || h.BaseOffset < 0 || !records.CRCValid(batch) {
				return fmt.Errorf("batch at offset %d overlaps the log's end %d", h.BaseOffset, next)
			}
			// An empty log starting inside the batch (the source's log
			// start is mid-batch, after DeleteRecords) starts at the
			// batch instead, as Kafka's follower does; the caller then
			// moves the log start up to the source's.
			if err := lg.TruncateFullyAndStartAt(h.BaseOffset); err != nil {
				return err
			}
			next = h.BaseOffset
		}
		if !records.CRCValid(batch) {
			return records.ErrCRC
		}
		if runEnd > runStart && h.LeaderEpoch != ai.LeaderEpoch {
			if err := flush(); err != nil {
				return err
			}
		}
		if runEnd == runStart {
			runStart = start
			ai = storage.AppendInfo{First: h.BaseOffset, MaxTimestamp: -1, OffsetOfMaxTs: -1, LeaderEpoch: h.LeaderEpoch, FirstBatchOffset: h.BaseOffset}
		}
		runEnd = pos
		ai.Last = h.LastOffset()
		if h.MaxTimestamp > ai.MaxTimestamp {
			ai.MaxTimestamp, ai.OffsetOfMaxTs = h.MaxTimestamp, h.LastOffset()
		}
		ai.Messages += int64(h.NumRecords)
		if each != nil {
			each(&h, batch)
		}
		next = h.NextOffset()
		appended += len(batch)
		return nil
	})
	if ferr := flush(); err == nil {
		err = ferr
	}
	return appended, err
}

// truncateDiverging cuts the follower's log where it diverges from the
// leader: the leader's end offset for the follower's last epoch, or the
// follower's own end of the largest epoch both know.
func (p *Partition) truncateDiverging(epoch, divEpoch int32, divEnd int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.followingLocked(epoch) {
		return kerr.NotLeaderForPartition
	}
	to := replica.TruncationPoint(divEpoch, divEnd, p.log.EndOffsetForEpoch, p.log.NextOffset(), p.hw.Load())
	to = max(to, p.log.StartOffset())
	if to >= p.log.NextOffset() {
		// No records to cut; an epoch this replica began at its log's
		// end as leader, and wrote nothing under, still goes.
		return p.log.TruncateTo(to)
	}
	p.b.log.Info().Str("topic", p.tp.Topic).Int32("partition", p.ID).Int64("from", p.log.NextOffset()).Int64("to", to).
		Int32("diverging_epoch", divEpoch).Msg("truncating divergent log tail")
	return p.truncateLocked(to)
}

// truncateLocked cuts the log to end at off and rebuilds what depends on
// its tail.
func (p *Partition) truncateLocked(off int64) error {
	if err := p.log.TruncateTo(off); err != nil {
		return err
	}
	p.noteTruncatedLocked(off)
	if err := p.rebuildProducersLocked(false); err != nil {
		p.b.log.Warn().Err(err).Str("topic", p.tp.Topic).Int32("partition", p.ID).Msg("rebuilding producer state after truncation")
	}
	p.refreshUnstableLocked()
	leo := p.log.NextOffset()
	p.leo.Store(leo)
	if p.hw.Load() > leo {
		p.hw.Store(leo)
	}
	p.notify()
	return nil
}

// resetAsFollower brings the log within the leader's [start, end].
func (p *Partition) resetAsFollower(epoch int32, start, end int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.followingLocked(epoch) {
		return kerr.NotLeaderForPartition
	}
	leo := p.log.NextOffset()
	switch {
	case leo > end:
		p.b.log.Warn().Str("topic", p.tp.Topic).Int32("partition", p.ID).Int64("leo", leo).Int64("leader_end", end).Msg("follower ahead of leader; truncating")
		return p.truncateLocked(end)
	case leo < start:
		p.b.log.Info().Str("topic", p.tp.Topic).Int32("partition", p.ID).Int64("leo", leo).Int64("leader_start", start).Msg("follower behind the leader's log start; starting over there")
		if err := p.log.TruncateFullyAndStartAt(start); err != nil {
			return err
		}
		p.noteTruncatedLocked(leo)
		if err := p.rebuildProducersLocked(true); err != nil {
			return err
		}
		p.refreshUnstableLocked()
		p.syncOffsetsLocked()
		p.hw.Store(start)
		return nil
	}
	return nil
}

// fetchBackoff is how long a follower waits after failures fetches in a
// row failed: 100 ms per failure, up to replica.fetch.backoff.ms. Kafka's
// fetcher waits the whole backoff at once; ramping up to it lets a
// follower retry quickly after a leader change, when the first attempt
// often fails, without retrying a long outage any more often than Kafka.
func fetchBackoff(failures int, most time.Duration) time.Duration {
	return max(min(time.Duration(failures)*100*time.Millisecond, most), 0)
}
