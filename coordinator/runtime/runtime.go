package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/records"
)

// Log is what the runtime needs from the broker's log.
type Log interface {
	// AppendInternal appends a batch to a partition this broker leads at
	// leaderEpoch, without waiting for replication, and returns the
	// offsets of its first and last records.
	AppendInternal(topic string, partition, leaderEpoch int32, batch []byte) (base, last int64, err error)
	// AwaitCommitted waits until the partition's high watermark passes
	// last while this broker leads it at leaderEpoch.
	AwaitCommitted(ctx context.Context, topic string, partition, leaderEpoch int32, last int64) error
	// ReadCommitted reads whole committed batches from offset; it returns
	// them and the high watermark.
	ReadCommitted(topic string, partition int32, offset int64, maxBytes int32) ([]byte, int64, error)
	// LogStartOffsetOf is a local partition's log start offset.
	LogStartOffsetOf(topic string, partition int32) int64
	// LogEndOffsetOf is a local partition's log end offset.
	LogEndOffsetOf(topic string, partition int32) int64
}

// Machine is a coordinator's state for one partition. The runtime calls
// Replay for every committed batch while loading, then Loaded, and
// Unloaded once the shard's leadership ends (after Loaded, or after an
// interrupted load); the three never run concurrently.
type Machine interface {
	// Replay folds one committed batch into the state. An error is logged
	// and the batch skipped.
	Replay(batch []byte) error
	// Loaded ends the load: the state is complete and requests may use it.
	Loaded()
	// Unloaded answers whatever still waits on the shard with
	// NOT_COORDINATOR and stops the machine's timers. It must not wait
	// for request work.
	Unloaded()
}

// Runtime holds the shards of one internal topic that this broker leads.
type Runtime[M Machine] struct {
	topic      string
	log        Log
	newMachine func(*Shard[M]) M
	logger     zerolog.Logger

	mu sync.Mutex
	// guarded by mu:
	shards map[int32]*Shard[M]
	closed bool

	wg sync.WaitGroup // shard lifetimes
}

// New returns a runtime for topic; newMachine makes the state machine of
// a shard as it starts loading.
func New[M Machine](topic string, log Log, newMachine func(*Shard[M]) M, logger zerolog.Logger) *Runtime[M] {
	return &Runtime[M]{topic: topic, log: log, newMachine: newMachine, logger: logger, shards: make(map[int32]*Shard[M])}
}

// Shard is one partition's state machine with its leadership term.
type Shard[M Machine] struct {
	Partition int32
	// Epoch is the partition's leader epoch when the shard was loaded:
	// the coordinator epoch of transaction markers.
	Epoch   int32
	Machine M

	rt     *Runtime[M]
	ctx    context.Context // ends when the shard unloads
	cancel context.CancelFunc
	loaded chan struct{}
}

// Leadership starts or ends this broker's coordination of a partition. It
// never blocks on the shards' work: a load runs in the background, an
// unload only ends the old shard's context.
func (r *Runtime[M]) Leadership(partition int32, leader bool, epoch int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.shards[partition]
	if old != nil && leader && old.Epoch == epoch {
		return // the same term, reported again
	}
	if old != nil {
		old.cancel()
		delete(r.shards, partition)
	}
	if !leader || r.closed {
		return
	}
	s := r.newShard(partition, epoch)
	r.shards[partition] = s
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		s.run()
	}()
}

func (r *Runtime[M]) newShard(partition, epoch int32) *Shard[M] {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Shard[M]{Partition: partition, Epoch: epoch, rt: r, ctx: ctx, cancel: cancel, loaded: make(chan struct{})}
	s.Machine = r.newMachine(s)
	return s
}

// run is a shard's lifetime: load, serve until leadership ends, unload.
func (s *Shard[M]) run() {
	start := time.Now()
	if s.replay() {
		s.Machine.Loaded()
		close(s.loaded)
		s.rt.logger.Info().Str("topic", s.rt.topic).Int32("partition", s.Partition).Int32("coordinator_epoch", s.Epoch).
			Dur("took", time.Since(start)).Msg("coordinator partition loaded")
	}
	<-s.ctx.Done()
	s.Machine.Unloaded()
}

// replay reads the partition from its log start to its high watermark
// into the machine. It reports whether it got there before the shard
// ended. Read errors are retried.
//
// It first waits for the high watermark to reach the log end offset it
// found: a new leader's high watermark can lag records the previous
// leader had committed (and answered for) until its followers fetch
// again, and a state loaded without them would lose those writes (a
// share partition's last acknowledgements, a group's last commit).
func (s *Shard[M]) replay() bool {
	r := s.rt
	if !s.awaitLogEnd() {
		return false
	}
	off := r.log.LogStartOffsetOf(r.topic, s.Partition)
	for s.ctx.Err() == nil {
		data, hw, err := r.log.ReadCommitted(r.topic, s.Partition, off, 1<<20)
		if err != nil {
			r.logger.Warn().Err(err).Str("topic", r.topic).Int32("partition", s.Partition).Msg("loading coordinator state; retrying")
			sleepCtx(s.ctx, 200*time.Millisecond)
			continue
		}
		if len(data) == 0 {
			if off >= hw {
				return true
			}
			sleepCtx(s.ctx, 50*time.Millisecond) // nothing readable below the high watermark yet
			continue
		}
		next := s.replayBatches(data, off)
		if next <= off {
			return true
		}
		off = next
	}
	return false
}

// awaitLogEnd waits until everything in the log when loading began is
// committed; false if the shard ended first.
func (s *Shard[M]) awaitLogEnd() bool {
	r := s.rt
	leo := r.log.LogEndOffsetOf(r.topic, s.Partition)
	for leo > 0 && s.ctx.Err() == nil {
		err := r.log.AwaitCommitted(s.ctx, r.topic, s.Partition, s.Epoch, leo-1)
		if err == nil {
			return true
		}
		if s.ctx.Err() == nil {
			r.logger.Warn().Err(err).Str("topic", r.topic).Int32("partition", s.Partition).Int64("log_end", leo).
				Msg("waiting for the high watermark to reach the log end before loading; retrying")
			sleepCtx(s.ctx, 200*time.Millisecond)
		}
	}
	return s.ctx.Err() == nil
}

// replayBatches hands each batch of data to the machine and returns the
// offset after the last one.
func (s *Shard[M]) replayBatches(data []byte, off int64) int64 {
	next := off
	records.Split(data, func(batch []byte) error {
		h, err := records.ParseHeader(batch)
		if err != nil {
			return err
		}
		next = h.NextOffset()
		if err := s.Machine.Replay(batch); err != nil {
			s.rt.logger.Error().Err(err).Str("topic", s.rt.topic).Int32("partition", s.Partition).
				Int64("offset", h.BaseOffset).Msg("unreadable coordinator record; skipped")
		}
		return nil
	})
	return next
}

// Shard returns the loaded shard of a partition, or the error a client
// should see: NOT_COORDINATOR when this broker does not lead it,
// COORDINATOR_LOAD_IN_PROGRESS while it loads.
func (r *Runtime[M]) Shard(partition int32) (*Shard[M], error) {
	r.mu.Lock()
	s := r.shards[partition]
	r.mu.Unlock()
	if s == nil || s.ctx.Err() != nil {
		return nil, kerr.NotCoordinator
	}
	select {
	case <-s.loaded:
		return s, nil
	default:
		return nil, kerr.CoordinatorLoadInProgress
	}
}

// Current returns a partition's shard, loaded or not, or nil.
func (r *Runtime[M]) Current(partition int32) *Shard[M] {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.shards[partition]
}

// Loaded lists the loaded shards.
func (r *Runtime[M]) Loaded() []*Shard[M] {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Shard[M], 0, len(r.shards))
	for _, s := range r.shards {
		select {
		case <-s.loaded:
			out = append(out, s)
		default:
		}
	}
	return out
}

// Loading reports whether some shard is still loading.
func (r *Runtime[M]) Loading() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.shards {
		select {
		case <-s.loaded:
		default:
			return true
		}
	}
	return false
}

// Close unloads every shard and waits for them.
func (r *Runtime[M]) Close() {
	r.mu.Lock()
	r.closed = true
	for p, s := range r.shards {
		s.cancel()
		delete(r.shards, p)
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// Done is closed when the shard unloads.
func (s *Shard[M]) Done() <-chan struct{} { return s.ctx.Done() }

// Context ends when the shard unloads.
func (s *Shard[M]) Context() context.Context { return s.ctx }

// Active reports whether the shard still coordinates its partition.
func (s *Shard[M]) Active() bool { return s.ctx.Err() == nil }

// AwaitLoaded waits until the shard is loaded; false if it unloaded or ctx
// ended first.
func (s *Shard[M]) AwaitLoaded(ctx context.Context) bool {
	select {
	case <-s.loaded:
		return s.ctx.Err() == nil
	case <-s.ctx.Done():
		return false
	case <-ctx.Done():
		return false
	}
}

// Write is an appended batch that may not be committed yet.
type Write struct {
	shard interface {
		await(ctx context.Context, last int64) error
	}
	// Base and Last are the offsets of the batch's first and last records.
	Base, Last int64
}

// Append writes records as one batch (transactional for pid when pid >= 0)
// at the shard's epoch. It returns once the leader has the batch; Wait
// on the result for it to be committed.
func (s *Shard[M]) Append(recs []records.Record, pid int64, epoch int16, now int64) (Write, error) {
	w, err := s.append(recs, pid, epoch, now)
	if err != nil {
		return Write{}, s.failed(err)
	}
	return w, nil
}

// AppendSplit writes records that need not be written together
// (tombstones), in as many batches as the topic's max.message.bytes
// needs, as Kafka's coordinators write such records (non-atomic). It
// returns the last batch's write, which is committed after the others.
func (s *Shard[M]) AppendSplit(recs []records.Record, now int64) (Write, error) {
	w, err := s.append(recs, -1, -1, now)
	if errors.Is(err, kerr.MessageTooLarge) && len(recs) > 1 {
		half := len(recs) / 2
		if _, err := s.AppendSplit(recs[:half], now); err != nil {
			return Write{}, err
		}
		return s.AppendSplit(recs[half:], now)
	}
	if err != nil {
		return Write{}, s.failed(err)
	}
	return w, nil
}

func (s *Shard[M]) append(recs []records.Record, pid int64, epoch int16, now int64) (Write, error) {
	if s.ctx.Err() != nil {
		return Write{}, kerr.NotCoordinator
	}
	for i := range recs {
		recs[i].OffsetDelta = int32(i)
	}
	b := &records.Batch{
		FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
		Records: recs,
	}
	if pid >= 0 {
		b.ProducerID, b.ProducerEpoch, b.Attributes = pid, epoch, records.AttrTransactional
	}
	batch, err := records.Build(b)
	if err != nil {
		return Write{}, fmt.Errorf("building a %s batch: %w", s.rt.topic, err)
	}
	base, last, err := s.rt.log.AppendInternal(s.rt.topic, s.Partition, s.Epoch, batch)
	if err != nil {
		return Write{}, err
	}
	return Write{shard: s, Base: base, Last: last}, nil
}

// Wait waits until the write is committed, the shard unloads or ctx ends.
func (w Write) Wait(ctx context.Context) error {
	if w.shard == nil {
		return nil
	}
	return w.shard.await(ctx, w.Last)
}

func (s *Shard[M]) await(ctx context.Context, last int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	err := s.rt.log.AwaitCommitted(ctx, s.rt.topic, s.Partition, s.Epoch, last)
	if err != nil {
		return s.failed(err)
	}
	return nil
}

// failed maps a log error to what the coordinator's clients should see,
// as Kafka's coordinators do: a lost leadership is NOT_COORDINATOR, a
// partition that cannot take writes now COORDINATOR_NOT_AVAILABLE. Other
// errors (fenced producers, oversized batches) are returned as they are
// for the machine to map. Each is logged with its cause.
func (s *Shard[M]) failed(err error) error {
	out := err
	var ke *kerr.Error
	switch {
	case s.ctx.Err() != nil:
		out = kerr.NotCoordinator
	case errors.As(err, &ke):
		switch ke {
		case kerr.NotLeaderForPartition, kerr.FencedLeaderEpoch, kerr.UnknownLeaderEpoch, kerr.KafkaStorageError:
			out = kerr.NotCoordinator
		case kerr.UnknownTopicOrPartition, kerr.NotEnoughReplicas, kerr.NotEnoughReplicasAfterAppend, kerr.RequestTimedOut:
			out = kerr.CoordinatorNotAvailable
		case kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidFetchSize:
			// A record past the topic's max.message.bytes (a huge
			// assignment, thousands of offsets in one commit), as
			// Kafka's coordinators answer it.
			out = kerr.UnknownServerError
		}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		out = kerr.CoordinatorNotAvailable
	}
	s.rt.logger.Warn().Err(err).Str("topic", s.rt.topic).Int32("partition", s.Partition).
		Str("answered", out.Error()).Msg("coordinator write failed")
	return out
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
