package broker

// Share partitions on their leader (KIP-932, Kafka's SharePartitionManager
// and SharePartition): one broker/share state machine per (share group,
// topic partition) this broker leads, created by the first ShareFetch or
// ShareAcknowledge that names it.
//
// Loading reads the persisted state from the share coordinator
// (ReadShareGroupState) with the partition's leader epoch, which fences
// the previous leader's writes. A state the group coordinator initialized
// without a start offset (-1) starts where share.auto.offset.reset says:
// latest (the default) is the high watermark, earliest the log start
// offset, by_duration the first record no older than the duration; that
// start is written at once, so a leader move does not move it.
//
// Acknowledgements are written (WriteShareGroupState) before they are
// answered, so an acknowledgement a consumer was told succeeded survives a
// leader move or a crash. Writes of one share partition are serialised
// (wmu) because each carries the changed offsets as they are when it is
// taken: a later write must not be overtaken by an earlier one.
// Acquisitions are not written, as in Kafka: after a failover the records
// acquired then are delivered again.
//
// Acquisition locks expire on a timer per share partition (the next
// deadline of the state machine); expired records become Available again
// and waiting ShareFetches are woken. A share partition whose broker
// partition has a new leader epoch (leadership lost, or lost and won back)
// is dropped and loaded afresh.
//
// Lock order: sharePart.wmu, then sharePart.mu, then Partition.mu; the
// shareParts.mu is never held while taking another.

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/config"
	"gregor/broker/metadata"
	"gregor/broker/share"
)

// ShareState is a share partition's persisted state as its leader reads
// it: the start offset (-1 when share.auto.offset.reset is to decide),
// the state epoch and the state batches from the start on.
type ShareState struct {
	Start      int64
	StateEpoch int32
	Batches    []share.Batch
}

// SharePersister reaches the share coordinators (the coordinator package's
// persister). Errors wrap the *kerr.Error the coordinator answered.
type SharePersister interface {
	ReadShareState(ctx context.Context, group string, topic [16]byte, partition, leaderEpoch int32) (ShareState, error)
	WriteShareState(ctx context.Context, group string, topic [16]byte, partition, stateEpoch, leaderEpoch int32, w share.Write) error
}

// SetSharePersister installs the persister share partitions load and
// write their state with. Without one, ShareFetch answers
// COORDINATOR_NOT_AVAILABLE.
func (b *Broker) SetSharePersister(p SharePersister) { b.shares.persister.Store(&p) }

// sharePartKey names a share partition.
type sharePartKey struct {
	group     string
	topic     metadata.Uuid
	partition int32
}

// shareParts are the share partitions this broker leads.
type shareParts struct {
	persister atomic.Pointer[SharePersister]
	mu        sync.Mutex
	// guarded by mu:
	parts map[sharePartKey]*sharePart
	// sessions is the share session cache (share_sessions.go).
	sessions shareSessions
}

// sharePart is one share partition on its leader.
type sharePart struct {
	key         sharePartKey
	b           *Broker
	p           *Partition
	leaderEpoch int32
	// ready closes when loading ends; loadErr is then set.
	ready   chan struct{}
	loadErr error

	// wmu serialises writes to the persister; taken before mu.
	wmu sync.Mutex
	// laterQueued is set while a background write (persistLater) waits
	// for wmu: further changes ride on it rather than queue another.
	laterQueued atomic.Bool

	mu sync.Mutex
	// guarded by mu:
	sp         *share.Partition
	stateEpoch int32
	timer      *time.Timer
	timerAt    int64 // unix ms the timer fires at; 0: none armed
	dropped    bool
}

// persister is the installed persister, or nil.
func (s *shareParts) get() SharePersister {
	if p := s.persister.Load(); p != nil {
		return *p
	}
	return nil
}

// sharePartition returns the loaded share partition of group on p,
// loading it if needed; p must be led here.
func (b *Broker) sharePartition(ctx context.Context, group string, t *Topic, p *Partition) (*sharePart, error) {
	if !p.IsLeader() {
		return nil, kerr.NotLeaderForPartition
	}
	key := sharePartKey{group: group, topic: t.ID, partition: p.ID}
	epoch := p.LeaderEpoch()
	s := &b.shares
	s.mu.Lock()
	sp := s.parts[key]
	if sp != nil && sp.leaderEpoch != epoch {
		delete(s.parts, key)
		sp.drop()
		sp = nil
	}
	load := sp == nil
	if load {
		sp = &sharePart{key: key, b: b, p: p, leaderEpoch: epoch, ready: make(chan struct{})}
		if s.parts == nil {
			s.parts = make(map[sharePartKey]*sharePart)
		}
		s.parts[key] = sp
	}
	s.mu.Unlock()
	if load {
		sp.loadErr = sp.load(ctx)
		close(sp.ready)
		if sp.loadErr != nil {
			s.forget(sp)
		}
	}
	select {
	case <-sp.ready:
	case <-ctx.Done():
		return nil, kerr.RequestTimedOut
	}
	if sp.loadErr != nil {
		return nil, sp.loadErr
	}
	if !load {
		cfg := b.sharePartConfig(group)
		sp.mu.Lock()
		sp.sp.SetConfig(cfg)
		sp.mu.Unlock()
	}
	return sp, nil
}

// forget removes sp from the map if it is still there.
func (s *shareParts) forget(sp *sharePart) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.parts[sp.key] == sp {
		delete(s.parts, sp.key)
	}
}

// closeAll stops every share partition's timer (broker shutdown).
func (s *shareParts) closeAll() {
	s.mu.Lock()
	parts := s.parts
	s.parts = nil
	s.mu.Unlock()
	for _, sp := range parts {
		sp.drop()
	}
}

// drop stops the share partition's timer; it serves nothing more.
func (sp *sharePart) drop() {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.dropped = true
	if sp.timer != nil {
		sp.timer.Stop()
	}
}

// shareKafkaErr turns a persister error into the Kafka error a client
// gets, as Kafka's SharePartition.fetchPersisterError turns the share
// coordinator's answers: the coordinator moving or loading is
// COORDINATOR_NOT_AVAILABLE, a fenced leader epoch NOT_LEADER_OR_FOLLOWER,
// GROUP_ID_NOT_FOUND, UNKNOWN_TOPIC_OR_PARTITION and FENCED_STATE_EPOCH
// stay, anything else (a write the coordinator timed out included) is
// UNKNOWN_SERVER_ERROR. A request given up on before the persister
// answered is REQUEST_TIMED_OUT.
func shareKafkaErr(err error) error {
	var ke *kerr.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ke):
		switch ke {
		case kerr.NotCoordinator, kerr.CoordinatorNotAvailable, kerr.CoordinatorLoadInProgress:
			return kerr.CoordinatorNotAvailable
		case kerr.FencedLeaderEpoch:
			return kerr.NotLeaderForPartition
		case kerr.GroupIDNotFound, kerr.UnknownTopicOrPartition, kerr.FencedStateEpoch:
			return ke
		}
		return kerr.UnknownServerError
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return kerr.RequestTimedOut
	}
	return kerr.CoordinatorNotAvailable
}

// load reads the persisted state and builds the state machine.
func (sp *sharePart) load(ctx context.Context) error {
	per := sp.b.shares.get()
	if per == nil {
		return kerr.CoordinatorNotAvailable
	}
	k := sp.key
	st, err := per.ReadShareState(ctx, k.group, k.topic, k.partition, sp.leaderEpoch)
	if err != nil {
		sp.b.log.Info().Err(err).Str("group", k.group).Str("topic", sp.p.topic.Name).Int32("partition", k.partition).Msg("reading share partition state")
		return shareKafkaErr(err)
	}
	start, resolved := st.Start, false
	if start < 0 {
		if start, err = sp.resetOffset(); err != nil {
			return err
		}
		resolved = true
	}
	start = max(start, sp.p.LogStartOffset())
	sp.mu.Lock()
	sp.sp = share.New(sp.b.sharePartConfig(k.group), start, st.Batches)
	sp.stateEpoch = st.StateEpoch
	sp.mu.Unlock()
	sp.b.log.Debug().Str("group", k.group).Str("topic", sp.p.topic.Name).Int32("partition", k.partition).
		Int64("start", start).Int32("leader_epoch", sp.leaderEpoch).Msg("share partition loaded")
	if resolved {
		return sp.persist(ctx, true)
	}
	return nil
}

// resetOffset is where a share partition without a start offset starts:
// share.auto.offset.reset of the group (latest by default).
func (sp *sharePart) resetOffset() (int64, error) {
	v, ok := sp.b.GroupConfig(sp.key.group)[config.GroupShareAutoOffsetReset]
	if !ok {
		v = "latest"
	}
	strategy, d, err := config.ParseShareAutoOffsetReset(v)
	if err != nil {
		strategy = "latest"
	}
	switch strategy {
	case "earliest":
		return sp.p.LogStartOffset(), nil
	case "by_duration":
		return sp.offsetAfter(sp.b.now().Add(-d).UnixMilli())
	}
	return sp.p.HighWatermark(), nil
}

// offsetAfter is the first offset whose timestamp is at least ts, else
// the high watermark.
func (sp *sharePart) offsetAfter(ts int64) (int64, error) {
	lg, err := sp.p.fetchLog(-1, -1, false)
	if err != nil {
		return 0, err
	}
	hw := sp.p.HighWatermark()
	off, _, ok, err := lg.OffsetForTimestamp(ts, hw)
	if err != nil {
		return 0, kerr.KafkaStorageError
	}
	if !ok {
		return hw, nil
	}
	return off, nil
}

// sharePartConfig bounds a group's share partitions: its
// share.partition.max.record.locks and share.delivery.count.limit, else
// the broker's group.share keys. Kafka's SharePartition reads them anew
// each time, so a change applies to loaded partitions too.
func (b *Broker) sharePartConfig(group string) share.Config {
	c := b.Config()
	cfg := share.Config{MaxInFlight: int64(c.ShareGroupPartitionMaxRecordLocks), MaxDeliveries: int16(c.ShareGroupDeliveryCountLimit)}
	if n, ok := b.groupConfigInt(group, config.GroupShareMaxRecordLocks); ok && n > 0 {
		cfg.MaxInFlight = n
	}
	if n, ok := b.groupConfigInt(group, config.GroupShareDeliveryLimit); ok && n > 0 && n <= math.MaxInt16 {
		cfg.MaxDeliveries = int16(n)
	}
	return cfg
}

// shareRenewEnabled reports whether a group's consumers may renew their
// locks (share.renew.acknowledge.enable, true unless set false).
func (b *Broker) shareRenewEnabled(group string) bool {
	v, ok := b.groupConfigs.value(group, config.GroupShareRenewAck)
	return !ok || !strings.EqualFold(strings.TrimSpace(v), "false")
}

// shareLockMs is a group's acquisition lock duration: its
// share.record.lock.duration.ms, else group.share.record.lock.duration.ms.
func (b *Broker) shareLockMs(group string) int64 {
	def := b.Config().ShareGroupRecordLockDuration.Milliseconds()
	if def <= 0 {
		def = 30000
	}
	if n, ok := b.groupConfigInt(group, config.GroupShareRecordLock); ok && n > 0 {
		return n
	}
	return def
}

// shareReadCommitted reports whether a group reads only committed
// records (share.isolation.level).
func (b *Broker) shareReadCommitted(group string) bool {
	v := b.GroupConfig(group)[config.GroupShareIsolationLevel]
	return strings.EqualFold(strings.TrimSpace(v), "read_committed")
}

// persist writes what changed since the last write (everything, with
// all). A failed write leaves the changes to be written again.
func (sp *sharePart) persist(ctx context.Context, all bool) error {
	sp.wmu.Lock()
	defer sp.wmu.Unlock()
	return sp.persistLocked(ctx, all)
}

// persistLocked is persist with wmu held.
func (sp *sharePart) persistLocked(ctx context.Context, all bool) error {
	per := sp.b.shares.get()
	if per == nil {
		return kerr.CoordinatorNotAvailable
	}
	sp.mu.Lock()
	w, ok := sp.sp.TakeWrite()
	if all {
		w, ok = sp.sp.Snapshot(), true
	}
	stateEpoch := sp.stateEpoch
	sp.mu.Unlock()
	if !ok {
		return nil
	}
	k := sp.key
	err := per.WriteShareState(ctx, k.group, k.topic, k.partition, stateEpoch, sp.leaderEpoch, w)
	if err == nil {
		return nil
	}
	sp.mu.Lock()
	sp.sp.Unwritten(w)
	sp.mu.Unlock()
	if fenced(err) {
		sp.b.shares.forget(sp)
		sp.drop()
	}
	sp.b.log.Warn().Err(err).Str("group", k.group).Str("topic", sp.p.topic.Name).Int32("partition", k.partition).Msg("writing share partition state")
	return shareKafkaErr(err)
}

// fenced reports whether a write failed because another leader or a new
// state epoch owns the share partition: it must be loaded afresh.
func fenced(err error) bool {
	return errors.Is(err, kerr.FencedStateEpoch) || errors.Is(err, kerr.FencedLeaderEpoch) ||
		errors.Is(err, kerr.InvalidRequest) || errors.Is(err, kerr.UnknownTopicOrPartition)
}

// armLocked sets the lock-expiry timer to the next deadline.
func (sp *sharePart) armLocked() {
	at, ok := sp.sp.NextDeadline()
	if !ok || sp.dropped || (sp.timerAt != 0 && sp.timerAt <= at) {
		return
	}
	if sp.timer != nil {
		sp.timer.Stop()
	}
	sp.timerAt = at
	d := time.Duration(at-sp.b.now().UnixMilli()) * time.Millisecond
	sp.timer = time.AfterFunc(max(d, 0), sp.expire)
}

// expire releases the records whose lock passed and wakes the fetches
// waiting on the partition.
func (sp *sharePart) expire() {
	sp.mu.Lock()
	if sp.dropped {
		sp.mu.Unlock()
		return
	}
	sp.timerAt = 0
	n := sp.sp.Expire(sp.b.now().UnixMilli())
	sp.armLocked()
	sp.mu.Unlock()
	if n > 0 {
		sp.p.notify()
		sp.persistLater()
	}
}

// persistLater writes the state a lock expiry or a session's end changed
// (delivery counts, records archived at the limit, the start offset), as
// Kafka writes every such change to the share coordinator; without it a
// new leader or a restart would hand an archived record out again with a
// fresh count. A failed write is left for the next one. At most one such
// write waits at a time: it takes every change made before it gets wmu,
// so clients opening and closing sessions fast cannot pile goroutines up
// behind a slow share coordinator.
func (sp *sharePart) persistLater() {
	if !sp.laterQueued.CompareAndSwap(false, true) {
		return
	}
	go func() {
		sp.wmu.Lock()
		defer sp.wmu.Unlock()
		// Changes from here on need a write of their own: this one may
		// have taken its changes already.
		sp.laterQueued.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		sp.persistLocked(ctx, false)
	}()
}

// releaseMember makes every record member holds here Available again (its
// share session ended).
func (sp *sharePart) releaseMember(member string) {
	sp.mu.Lock()
	n := sp.sp.ReleaseMember(member)
	sp.mu.Unlock()
	if n > 0 {
		sp.p.notify()
		sp.persistLater()
	}
}

// loaded returns the share partition of key if it is loaded, else nil.
func (s *shareParts) loaded(key sharePartKey) *sharePart {
	s.mu.Lock()
	sp := s.parts[key]
	s.mu.Unlock()
	if sp == nil {
		return nil
	}
	select {
	case <-sp.ready:
		if sp.loadErr == nil {
			return sp
		}
	default:
	}
	return nil
}

// refreshIfIdle drops a loaded share partition that no member holds
// records of, so that the next request loads it again from the share
// coordinator: its start offset may have been altered or its state
// deleted (AlterShareGroupOffsets, DeleteShareGroupOffsets, DeleteGroups
// need the group Empty). Called when a member opens a share session.
func (s *shareParts) refreshIfIdle(key sharePartKey) {
	sp := s.loaded(key)
	if sp == nil {
		return
	}
	// A write under way is not idle either: it took its changes (Dirty
	// is false again) before the share coordinator has them, and a
	// reload now would read the state before them (a session's end not
	// yet written handed its records out again at the delivery count it
	// had taken back). Holding wmu, no write starts meanwhile.
	if !sp.wmu.TryLock() {
		return
	}
	defer sp.wmu.Unlock()
	sp.mu.Lock()
	idle := len(sp.sp.Holders()) == 0 && !sp.sp.Dirty()
	sp.mu.Unlock()
	if !idle {
		return
	}
	s.mu.Lock()
	if s.parts[key] == sp {
		delete(s.parts, key)
	}
	s.mu.Unlock()
	sp.drop()
}

// sweepShareParts drops the share partitions of partitions this broker no
// longer leads at their epoch, or that are gone: their state is the new
// leader's now, and their timers stop.
func (b *Broker) sweepShareParts() {
	s := &b.shares
	s.mu.Lock()
	var stale []*sharePart
	for k, sp := range s.parts {
		t := b.TopicByID(k.topic)
		if t == nil || t.Partition(k.partition) != sp.p || !sp.p.IsLeader() || sp.p.LeaderEpoch() != sp.leaderEpoch {
			delete(s.parts, k)
			stale = append(stale, sp)
		}
	}
	s.mu.Unlock()
	for _, sp := range stale {
		sp.drop()
	}
	if len(stale) > 0 {
		b.log.Info().Int("share_partitions", len(stale)).Msg("dropped share partitions no longer led here")
	}
}
