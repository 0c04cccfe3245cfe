package broker

// A log dir whose disk fails goes offline, as in Kafka
// (LogDirFailureChannel and ReplicaManager.handleLogDirFailure). Every
// file operation of the logs goes through storage.WatchFS; the first disk
// failure met under a log dir (an I/O error, a filesystem turned
// read-only: storage.IsDiskFailure) takes the whole dir offline:
//   - each replica in it closes its log and answers KAFKA_STORAGE_ERROR
//     from then on; Metadata names this broker among its offline replicas;
//   - on ZooKeeper, the leaderships of those partitions go to other
//     in-sync replicas and this broker leaves their ISRs, as in a
//     controlled shutdown of those partitions alone; the other log dirs
//     go on serving;
//   - no new replica is placed there, moves to it are cancelled and
//     DescribeLogDirs names it with KAFKA_STORAGE_ERROR;
//   - once every log dir is offline, or the dir holding the metadata of a
//     single broker, the broker stops (Failed), as Kafka halts.
// The dir stays offline until the broker restarts; one that fails to open
// at start-up is offline from the start. A full disk is not a failure:
// appends fail with KAFKA_STORAGE_ERROR and resume once space is freed.

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/storage"
)

// handOverTimeout bounds handing the partitions of a failed log dir over.
const handOverTimeout = 30 * time.Second

// dirFailures is the state of the log dirs' health.
type dirFailures struct {
	// paths are the configured log dirs (absolute).
	paths []string
	// metaDir is the log dir holding the local metadata ("" on
	// ZooKeeper): the broker stops if it fails.
	metaDir string
	// guarded by Broker.offMu:
	offline map[string]error
	failed  chan struct{} // closed when the broker must stop
	cause   error
}

// dirOf returns the configured log dir that path lies in, or "".
func (f *dirFailures) dirOf(path string) string {
	best := ""
	for _, d := range f.paths {
		if (path == d || strings.HasPrefix(path, d+string(filepath.Separator))) && len(d) > len(best) {
			best = d
		}
	}
	return best
}

// diskFailed is told of every disk failure met under the logs. It never
// blocks on a partition: it may be called with one's lock held.
func (b *Broker) diskFailed(path string, err error) {
	dir := b.fails.dirOf(path)
	if dir == "" {
		b.log.Error().Err(err).Str("path", path).Msg("disk failure outside the log dirs")
		return
	}
	b.offMu.Lock()
	if _, ok := b.fails.offline[dir]; ok {
		b.offMu.Unlock()
		return
	}
	b.fails.offline[dir] = err
	b.offCount.Add(1)
	all := len(b.fails.offline) == len(b.fails.paths)
	b.offMu.Unlock()
	b.log.Error().Err(err).Str("dir", dir).Str("path", path).Msg("log dir failed: its replicas are offline until the broker restarts")
	switch {
	case all:
		b.fail(fmt.Errorf("every log dir has failed, the last %s: %w", dir, err))
		return
	case dir == b.fails.metaDir:
		b.fail(fmt.Errorf("the log dir holding the cluster metadata, %s, failed: %w", dir, err))
		return
	}
	if b.opened.Load() {
		// (In New, a dir failing to open holds no open replica.)
		b.spawn(func() { b.takeDirOffline(dir) })
	}
}

// fail makes the broker stop: Failed is closed.
func (b *Broker) fail(err error) {
	b.offMu.Lock()
	defer b.offMu.Unlock()
	if b.fails.cause != nil {
		return
	}
	b.fails.cause = err
	close(b.fails.failed)
	b.log.Error().Err(err).Msg("the broker cannot go on: stopping")
}

// Failed is closed once the broker cannot go on (every log dir failed);
// FailCause says why. The process should stop.
func (b *Broker) Failed() <-chan struct{} { return b.fails.failed }

// FailCause is why Failed was closed, or nil.
func (b *Broker) FailCause() error {
	b.offMu.Lock()
	defer b.offMu.Unlock()
	return b.fails.cause
}

// dirOffline reports whether a log dir has failed.
func (b *Broker) dirOffline(d *storage.Dir) bool {
	if b.offCount.Load() == 0 {
		return false
	}
	b.offMu.Lock()
	defer b.offMu.Unlock()
	_, ok := b.fails.offline[d.Path]
	return ok
}

// OfflineLogDirs counts the failed log dirs (Kafka's
// OfflineLogDirectoryCount).
func (b *Broker) OfflineLogDirs() int { return int(b.offCount.Load()) }

// takeDirOffline takes every replica in a failed log dir offline, and
// hands their leaderships over where the cluster has other replicas.
func (b *Broker) takeDirOffline(path string) {
	var dir *storage.Dir
	for _, d := range b.dirs {
		if d.Path == path {
			dir = d
		}
	}
	if dir == nil {
		return
	}
	parts := make(map[string][]int32)
	n := 0
	for _, t := range b.Topics() {
		for _, p := range t.Partitions() {
			if p.takeOffline(dir) {
				parts[t.Name] = append(parts[t.Name], p.ID)
				n++
			}
		}
	}
	b.log.Warn().Str("dir", path).Int("replicas", n).Msg("replicas of a failed log dir taken offline")
	b.handOverParts(parts, "a failed log dir")
}

// handOverParts moves the leadership of partitions this broker cannot
// serve (why) to other in-sync replicas and takes it out of their ISRs.
func (b *Broker) handOverParts(parts map[string][]int32, why string) {
	if len(parts) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), handOverTimeout)
	defer cancel()
	go func() {
		select {
		case <-b.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := b.backend.HandOver(ctx, parts); err != nil {
		b.log.Error().Err(err).Str("why", why).Msg("handing partitions over")
	}
}

// offlineHandOverEvery bounds how often an offline replica still named
// leader or in the ISR asks to hand over (a failed attempt is retried at
// the next metadata change or ISR check).
const offlineHandOverEvery = 5 * time.Second

// handOverOfflineLocked hands an offline replica's partition over if the
// metadata still names this broker its leader or an ISR member beside
// others, at most every offlineHandOverEvery.
func (p *Partition) handOverOfflineLocked() {
	st := p.state
	if !slices.Contains(st.ISR, p.b.id) || len(st.ISR) < 2 {
		return
	}
	now := time.Now().UnixNano()
	last := p.offlineHandOver.Load()
	if now-last < int64(offlineHandOverEvery) || !p.offlineHandOver.CompareAndSwap(last, now) {
		return
	}
	tp := map[string][]int32{p.tp.Topic: {p.ID}}
	p.b.spawn(func() { p.b.handOverParts(tp, "a failed log dir") })
}

// takeOffline takes p's replica offline if its log is in dir, and cancels
// a move of it into dir; it reports whether the replica went offline.
func (p *Partition) takeOffline(dir *storage.Dir) bool {
	p.mu.Lock()
	if p.move != nil && p.move.to == dir {
		p.cancelMoveLocked("its target log dir failed")
	}
	if p.log == nil || p.dir != dir || p.closed || p.offline.Load() {
		p.mu.Unlock()
		return false
	}
	wasLeader := p.rs != nil
	p.setOffline(true)
	p.cancelMoveLocked("its log dir failed")
	p.b.follow.unfollow(p)
	p.stopLeadingLocked()
	lg := p.log
	p.log, p.producer = nil, nil
	p.notify()
	epoch := p.epoch.Load()
	p.offlineHandOver.Store(time.Now().UnixNano()) // takeDirOffline hands it over
	p.mu.Unlock()
	// Closed apart, without the partition's lock: a call stalled on the
	// dying disk (an fsync of the log's background flush holds the log's
	// lock) must not hold up the partition or the hand-over of the rest.
	go func() {
		if err := lg.CloseHandles(); err != nil {
			p.b.log.Debug().Err(err).Str("topic", p.tp.Topic).Int32("partition", p.ID).Msg("closing the log of an offline replica")
		}
	}()
	if wasLeader && p.topic.Internal {
		p.b.tellLeadership(p.tp.Topic, p.ID, false, epoch)
	}
	return true
}

// notLocalErr is what a partition without a usable local log answers: an
// offline replica (its log dir failed) KAFKA_STORAGE_ERROR, any other
// NOT_LEADER_OR_FOLLOWER.
func (p *Partition) notLocalErr() error {
	if p.offline.Load() {
		return kerr.KafkaStorageError
	}
	return kerr.NotLeaderForPartition
}

// lockDirs makes (if missing) and locks every log dir (storage.LockDir),
// as Kafka's LogManager.createAndValidateLogDirs and lockLogDirs do before
// anything is loaded: a dir another process holds stops start-up with
// Kafka's message, before any log is recovered or truncated under the
// broker using it. A dir that cannot be made, read or locked (a disk
// failure, a path that is a file, a dir the broker may not write) is
// offline from the start (diskFailed), as Kafka takes a dir failing with
// an IOException there for an offline one; the others serve.
func (b *Broker) lockDirs() error {
	for _, d := range b.fails.paths {
		lk, err := storage.LockDir(b.fs, d)
		var errno syscall.Errno
		switch {
		case err == nil:
			b.dirLocks = append(b.dirLocks, lk)
			continue
		case errors.Is(err, storage.ErrDirLocked):
			return fmt.Errorf("Failed to acquire lock on file %s in %s. A Kafka instance in another process or thread is using this directory.", storage.LockFile, d)
		case !errors.As(err, &errno):
			return fmt.Errorf("log dir %s: %w", d, err)
		}
		b.diskFailed(d, fmt.Errorf("failed to create or validate log dir %s: %w", d, err))
		if c := b.FailCause(); c != nil {
			return c
		}
	}
	return nil
}

// pathOffline reports whether the log dir at path is offline.
func (b *Broker) pathOffline(path string) bool {
	b.offMu.Lock()
	defer b.offMu.Unlock()
	_, ok := b.fails.offline[path]
	return ok
}

// releaseDirLocks gives the log dirs' locks up.
func (b *Broker) releaseDirLocks() {
	for _, lk := range b.dirLocks {
		lk.Release()
	}
	b.dirLocks = nil
}
