package storage

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Names of the per log dir files (see doc.go).
const (
	// CleanShutdownFile marks a log dir shut down cleanly, under Kafka's
	// name and with its content (CleanShutdownFileHandler): a JSON
	// version 0 and the broker epoch, -1 as ZooKeeper-mode Kafka writes.
	CleanShutdownFile = ".kafka_cleanshutdown"
	// legacyCleanShutdownFile is the marker earlier Gregor versions
	// wrote; a dir holding it also shut down cleanly.
	legacyCleanShutdownFile = ".gregor-clean-shutdown"
	recoveryCheckpoint      = "recovery-point-offset-checkpoint"
	startCheckpoint         = "log-start-offset-checkpoint"
	hwCheckpoint            = "replication-offset-checkpoint"
	// cleanerCheckpoint is Kafka's LogCleanerManager offsetCheckpointFile:
	// each compacted log's first dirty offset, where its last cleaning
	// pass ended.
	cleanerCheckpoint = "cleaner-offset-checkpoint"
	partitionMetaFile = "partition.metadata"
)

// TP names a topic partition.
type TP struct {
	Topic     string
	Partition int32
}

func (tp TP) String() string { return fmt.Sprintf("%s-%d", tp.Topic, tp.Partition) }

// Checkpoint is what a log dir remembers about one partition across restarts.
type Checkpoint struct {
	TP
	RecoveryPoint int64
	StartOffset   int64
	HighWatermark int64
	CleanedTo     int64 // compaction covered the offsets below; 0: none
}

// Dir is one log dir. It is opened once at start-up; its methods are safe
// for one caller at a time (the broker's checkpoint loop and start-up),
// but for the checkpoints' (Checkpoint, AdoptCheckpoint, OpenOptions) and
// partition creation, which partitions opening side by side call.
type Dir struct {
	fs    FS
	Path  string
	clean bool
	// marks are the checkpoints read at start-up (and adopted since);
	// a partition directory created afresh drops its own.
	marksMu sync.Mutex
	marks   map[TP]*Checkpoint
}

// OpenDir opens a log dir, noting whether the last run shut down cleanly
// and removing the marker so a crash from now on is seen as one.
func OpenDir(fs FS, path string) (*Dir, error) {
	if err := fs.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("log dir %s: %w", path, err)
	}
	d := &Dir{fs: fs, Path: path, marks: make(map[TP]*Checkpoint)}
	for _, name := range []string{CleanShutdownFile, legacyCleanShutdownFile} {
		marker := filepath.Join(path, name)
		if !fileExists(fs, marker) {
			continue
		}
		d.clean = true
		if err := fs.Remove(marker); err != nil {
			return nil, err
		}
	}
	if d.clean {
		if err := fs.SyncDir(path); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		name string
		set  func(*Checkpoint, int64)
	}{
		{recoveryCheckpoint, func(c *Checkpoint, v int64) { c.RecoveryPoint = v }},
		{startCheckpoint, func(c *Checkpoint, v int64) { c.StartOffset = v }},
		{hwCheckpoint, func(c *Checkpoint, v int64) { c.HighWatermark = v }},
		{cleanerCheckpoint, func(c *Checkpoint, v int64) { c.CleanedTo = v }},
	} {
		if err := d.loadCheckpoint(f.name, f.set); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Clean reports whether the previous run shut down cleanly.
func (d *Dir) Clean() bool { return d.clean }

func (d *Dir) loadCheckpoint(name string, set func(*Checkpoint, int64)) error {
	data, err := readFile(d.fs, filepath.Join(d.Path, name))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	lines, err := readCheckpointLines(data)
	if err != nil {
		return nil // rebuilt conservatively: a full recovery scan
	}
	for _, f := range lines {
		if len(f) != 3 {
			continue
		}
		p, err1 := strconv.ParseInt(f[1], 10, 32)
		v, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		tp := TP{f[0], int32(p)}
		c := d.marks[tp]
		if c == nil {
			c = &Checkpoint{TP: tp}
			d.marks[tp] = c
		}
		set(c, v)
	}
	return nil
}

// Checkpoint returns what was checkpointed for tp.
func (d *Dir) Checkpoint(tp TP) (Checkpoint, bool) {
	d.marksMu.Lock()
	defer d.marksMu.Unlock()
	c, ok := d.marks[tp]
	if !ok {
		return Checkpoint{TP: tp}, false
	}
	return *c, true
}

// AdoptCheckpoint makes c what this dir remembers of its partition (taken
// from another log dir the partition moved from), until the next
// WriteCheckpoints.
func (d *Dir) AdoptCheckpoint(c Checkpoint) {
	d.marksMu.Lock()
	defer d.marksMu.Unlock()
	d.marks[c.TP] = &c
}

// OpenOptions returns the options to open tp's log with.
func (d *Dir) OpenOptions(tp TP) OpenOptions {
	c, _ := d.Checkpoint(tp)
	return OpenOptions{Clean: d.clean, RecoveryPoint: c.RecoveryPoint, StartOffset: c.StartOffset, CleanedTo: c.CleanedTo}
}

// WriteCheckpoints replaces the checkpoint files. The cleaner's lists
// only the logs compaction has covered, as Kafka's.
func (d *Dir) WriteCheckpoints(cs []Checkpoint) error {
	var rec, start, hw, cleaned []string
	for _, c := range cs {
		prefix := c.Topic + " " + strconv.Itoa(int(c.Partition)) + " "
		rec = append(rec, prefix+strconv.FormatInt(c.RecoveryPoint, 10))
		start = append(start, prefix+strconv.FormatInt(c.StartOffset, 10))
		hw = append(hw, prefix+strconv.FormatInt(c.HighWatermark, 10))
		if c.CleanedTo > 0 {
			cleaned = append(cleaned, prefix+strconv.FormatInt(c.CleanedTo, 10))
		}
	}
	for _, f := range []struct {
		name  string
		lines []string
	}{{recoveryCheckpoint, rec}, {startCheckpoint, start}, {hwCheckpoint, hw}, {cleanerCheckpoint, cleaned}} {
		if err := writeFileAtomic(d.fs, filepath.Join(d.Path, f.name), formatCheckpoint(f.lines)); err != nil {
			return err
		}
	}
	return nil
}

// MarkClean writes the clean-shutdown marker; call it last on shutdown,
// after every log is closed and checkpoints are written.
func (d *Dir) MarkClean() error {
	if err := writeFileAtomic(d.fs, filepath.Join(d.Path, CleanShutdownFile), []byte(`{"version":0,"brokerEpoch":-1}`)); err != nil {
		return err
	}
	return d.fs.SyncDir(d.Path)
}

// futureSuffix ends the directory of a replica being moved into a log dir
// from another one: "<topic>-<partition>.<random>-future", as Kafka names
// it.
const futureSuffix = "-future"

// PartitionDir is a partition directory found in a log dir.
type PartitionDir struct {
	TP
	Path    string
	TopicID string // from partition.metadata; empty if absent
	// Future says this is the copy of a replica being moved into this
	// log dir, not yet the replica.
	Future bool
}

// Partitions lists the partition directories, removing leftovers of
// interrupted creations and deletions.
func (d *Dir) Partitions() ([]PartitionDir, error) {
	ents, err := d.fs.ReadDir(d.Path)
	if err != nil {
		return nil, err
	}
	var out []PartitionDir
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		full := filepath.Join(d.Path, name)
		if isTmpName(name) || strings.HasSuffix(name, "-delete") {
			d.fs.RemoveAll(full)
			continue
		}
		future := false
		if base, ok := strings.CutSuffix(name, futureSuffix); ok {
			i := strings.LastIndexByte(base, '.')
			if i <= 0 {
				continue
			}
			name, future = base[:i], true
		}
		tp, ok := ParsePartitionDir(name)
		if !ok {
			continue
		}
		out = append(out, PartitionDir{TP: tp, Path: full, TopicID: d.readTopicID(full), Future: future})
	}
	return out, nil
}

// ParsePartitionDir splits "<topic>-<partition>".
func ParsePartitionDir(name string) (TP, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return TP{}, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || p < 0 {
		return TP{}, false
	}
	return TP{name[:i], int32(p)}, true
}

func (d *Dir) readTopicID(dir string) string {
	data, err := readFile(d.fs, filepath.Join(dir, partitionMetaFile))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "topic_id:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// WritePartitionMeta writes the partition.metadata of the partition
// directory at path, naming topicID, as Kafka rewrites a lost one once it
// knows the topic's id: the file is how a later start tells this topic's
// replica from an earlier one of the same name.
func (d *Dir) WritePartitionMeta(path, topicID string) error {
	meta := fmt.Sprintf("version: 0\ntopic_id: %s\n", topicID)
	return writeFileAtomic(d.fs, filepath.Join(path, partitionMetaFile), []byte(meta))
}

// CreatePartition makes tp's directory atomically, with partition.metadata
// holding topicID (Kafka's base64 form), and returns its path. An existing
// directory is kept.
func (d *Dir) CreatePartition(tp TP, topicID string) (string, error) {
	final := filepath.Join(d.Path, tp.String())
	if !fileExists(d.fs, final) {
		// A new log: what was checkpointed for tp here belonged to a
		// replica since deleted (an earlier topic of the same name).
		d.marksMu.Lock()
		delete(d.marks, tp)
		d.marksMu.Unlock()
	}
	return d.createPartitionDir(final, topicID)
}

// CreateFuture makes a directory for the copy of tp's replica moving into
// this log dir, as CreatePartition makes a partition's, and returns its
// path.
func (d *Dir) CreateFuture(tp TP, topicID string) (string, error) {
	return d.createPartitionDir(filepath.Join(d.Path, tp.String()+"."+randomSuffix()+randomSuffix()+futureSuffix), topicID)
}

// FutureNameLen is the length of the name of tp's future directory (a
// 32-hex-digit random part, as Kafka's UUID without dashes).
func FutureNameLen(tp TP) int { return len(tp.String()) + 1 + 32 + len(futureSuffix) }

// Promote renames a complete future directory to tp's partition directory
// in this log dir and returns its path.
func (d *Dir) Promote(future string, tp TP) (string, error) {
	final := filepath.Join(d.Path, tp.String())
	if err := d.fs.Rename(future, final); err != nil {
		return "", err
	}
	return final, d.fs.SyncDir(d.Path)
}

func (d *Dir) createPartitionDir(final, topicID string) (string, error) {
	if fileExists(d.fs, final) {
		return final, nil
	}
	tmp := siblingName(final, ".tmp-"+randomSuffix())
	if err := d.fs.MkdirAll(tmp, 0o755); err != nil {
		return "", err
	}
	if err := d.WritePartitionMeta(tmp, topicID); err != nil {
		d.fs.RemoveAll(tmp)
		return "", err
	}
	if err := d.fs.Rename(tmp, final); err != nil {
		d.fs.RemoveAll(tmp)
		return "", err
	}
	return final, d.fs.SyncDir(d.Path)
}

// MoveAside renames a partition directory that belongs to no partition of
// the cluster (Kafka's stray log) to "<name>.<random>-stray", which
// start-up leaves alone, and returns the new name. Its data is kept for
// the operator to inspect or remove.
func (d *Dir) MoveAside(path string) (string, error) {
	stray := siblingName(path, "."+randomSuffix()+"-stray")
	if err := d.fs.Rename(path, stray); err != nil {
		return "", err
	}
	return stray, d.fs.SyncDir(d.Path)
}

// RetirePartition renames a partition directory out of the way (the log must
// be closed); RemoveAll follows.
func (d *Dir) RetirePartition(path string) error {
	gone, err := d.Retire(path)
	if err != nil {
		return err
	}
	return d.fs.RemoveAll(gone)
}

// Retire renames a partition directory (its log closed) to a name start-up
// removes, syncs the log dir and returns the new name, for RemoveRetired
// to delete when it suits the caller.
func (d *Dir) Retire(path string) (string, error) {
	gone := siblingName(path, "."+randomSuffix()+"-delete")
	if err := d.fs.Rename(path, gone); err != nil {
		return "", err
	}
	return gone, d.fs.SyncDir(d.Path)
}

// RemoveRetired deletes a directory Retire renamed.
func (d *Dir) RemoveRetired(gone string) error { return d.fs.RemoveAll(gone) }

// maxNameLen is the longest file name Linux file systems take.
const maxNameLen = 255

// siblingName is path's name with suffix appended, in the same directory,
// within maxNameLen: a partition directory of a topic with a name of the
// longest Kafka allows (249 bytes) leaves no room for one. The topic part
// of the name is cut and its "-<partition>" kept, as Kafka caps the names
// of its deleted and stray logs; start-up knows each kind by its suffix.
func siblingName(path, suffix string) string {
	dir, base := filepath.Split(path)
	if over := len(base) + len(suffix) - maxNameLen; over > 0 {
		if i := strings.LastIndexByte(base, '-'); i >= over {
			base = base[:i-over] + base[i:]
		} else {
			base = base[:max(len(base)-over, 0)]
		}
	}
	return filepath.Join(dir, base+suffix)
}

// isTmpName says whether a directory name is one createPartitionDir made
// for a partition it had not finished: it ends in ".tmp-" and 16 hex
// digits, which no partition directory does (they end in "-" and a
// partition number, of at most 10 digits), even of a topic whose name
// holds ".tmp-".
func isTmpName(name string) bool {
	i := len(name) - 16
	if i < 5 || name[i-5:i] != ".tmp-" {
		return false
	}
	for _, c := range name[i:] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func randomSuffix() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// FailedDir stands for a log dir that could not be opened (its disk
// failed): it has no checkpoints and holds no partitions, and is named in
// DescribeLogDirs with its error.
func FailedDir(fs FS, path string) *Dir {
	return &Dir{fs: fs, Path: path, marks: make(map[TP]*Checkpoint)}
}
