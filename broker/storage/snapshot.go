package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Producer state snapshots: "<20-digit offset>.snapshot" in the partition
// directory holds the producer state as of that log offset, in a format the
// caller owns. The newest snapshotsKept are kept: the caller writes one
// when a segment rolls, so that a restart after a crash, or a truncation of
// the log's tail, replays the log from the newest snapshot at or below its
// end rather than from its start (Kafka keeps one per segment).
const snapshotExt = ".snapshot"

const snapshotsKept = 3

func (l *Log) snapshotPath(offset int64) string {
	return filepath.Join(l.dir, fmt.Sprintf("%020d%s", offset, snapshotExt))
}

func (l *Log) listSnapshots() []int64 {
	if snaps := l.openSnaps; snaps != nil {
		l.openSnaps = nil
		return snaps
	}
	ents, _ := l.fs.ReadDir(l.dir)
	return snapshotOffsets(ents)
}

// snapshotOffsets returns the offsets of the snapshot files in a listing,
// sorted (never nil).
func snapshotOffsets(ents []os.DirEntry) []int64 {
	out := []int64{}
	for _, e := range ents {
		if name, ok := strings.CutSuffix(e.Name(), snapshotExt); ok {
			if n, err := strconv.ParseInt(name, 10, 64); err == nil {
				out = append(out, n)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// WriteSnapshot stores a producer state snapshot taken at offset and
// removes all but the newest snapshotsKept. The caller serializes calls
// for one log, and with DeleteSnapshotsAfter.
func (l *Log) WriteSnapshot(offset int64, data []byte) error {
	l.snapMu.Lock()
	defer l.snapMu.Unlock()
	if l.snapGone {
		return ErrClosed // deleted: the directory may be another log's now
	}
	if err := writeFileAtomic(l.fs, l.snapshotPath(offset), data); err != nil {
		return err
	}
	snaps := l.listSnapshots()
	for _, old := range snaps[:max(len(snaps)-snapshotsKept, 0)] {
		l.fs.Remove(l.snapshotPath(old))
	}
	return nil
}

// HasSnapshot reports whether a snapshot taken at offset is stored.
func (l *Log) HasSnapshot(offset int64) bool {
	l.snapMu.Lock()
	defer l.snapMu.Unlock()
	if l.snapGone {
		return false
	}
	_, err := l.fs.Stat(l.snapshotPath(offset))
	return err == nil
}

// DeleteSnapshot removes the snapshot taken at offset.
func (l *Log) DeleteSnapshot(offset int64) {
	l.snapMu.Lock()
	defer l.snapMu.Unlock()
	if !l.snapGone {
		l.fs.Remove(l.snapshotPath(offset))
	}
}

// DeleteSnapshotsAfter removes the snapshots taken after offset (they
// describe a tail the log no longer has).
func (l *Log) DeleteSnapshotsAfter(offset int64) {
	for _, s := range l.listSnapshots() {
		if s > offset {
			l.fs.Remove(l.snapshotPath(s))
		}
	}
}

// ActiveBase is the base offset of the active segment: it changes when
// the log rolls.
func (l *Log) ActiveBase() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.segments[len(l.segments)-1].base
}

// LatestSnapshot returns the newest snapshot at or below the log end,
// deleting any beyond it (they describe a truncated tail).
func (l *Log) LatestSnapshot() (offset int64, data []byte, ok bool) {
	leo := l.NextOffset()
	snaps := l.listSnapshots()
	for i := len(snaps) - 1; i >= 0; i-- {
		if snaps[i] > leo {
			l.fs.Remove(l.snapshotPath(snaps[i]))
			continue
		}
		data, err := readFile(l.fs, l.snapshotPath(snaps[i]))
		if err != nil {
			continue
		}
		return snaps[i], data, true
	}
	return 0, nil, false
}

// DeleteSnapshots removes every snapshot (after a truncation below them).
func (l *Log) DeleteSnapshots() {
	for _, s := range l.listSnapshots() {
		l.fs.Remove(l.snapshotPath(s))
	}
}
