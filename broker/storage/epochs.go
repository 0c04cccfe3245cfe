package storage

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

const epochFile = "leader-epoch-checkpoint"

// EpochEntry is the first offset written under a leader epoch.
type EpochEntry struct {
	Epoch       int32
	StartOffset int64
}

// epochCache maps leader epochs to their start offsets (KIP-101). The
// owning Log's lock guards it.
type epochCache struct {
	fs      FS
	path    string
	entries []EpochEntry
	dirty   bool
	// onDisk is what the checkpoint file holds, as loaded or last
	// written; onDiskKnown is false while the file is one that could not
	// be read.
	onDisk      []EpochEntry
	onDiskKnown bool
}

func loadEpochs(fs FS, dir string) (*epochCache, error) {
	c := &epochCache{fs: fs, path: filepath.Join(dir, epochFile)}
	data, err := readFile(fs, c.path)
	if os.IsNotExist(err) {
		c.onDiskKnown = true
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	lines, err := readCheckpointLines(data)
	if err != nil {
		// A malformed cache is rebuilt from the log by recovery.
		c.dirty = true
		return c, nil
	}
	for _, f := range lines {
		if len(f) != 2 {
			c.entries, c.dirty = nil, true
			return c, nil
		}
		e, err1 := strconv.ParseInt(f[0], 10, 32)
		o, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			c.entries, c.dirty = nil, true
			return c, nil
		}
		c.entries = append(c.entries, EpochEntry{int32(e), o})
	}
	c.onDisk, c.onDiskKnown = slices.Clone(c.entries), true
	return c, nil
}

// readCheckpointLines parses Kafka's checkpoint format: version 0, a count,
// then that many lines of space-separated fields.
func readCheckpointLines(data []byte) ([][]string, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		return strings.TrimSpace(sc.Text()), true
	}
	v, ok := next()
	if !ok || v != "0" {
		return nil, fmt.Errorf("checkpoint version %q", v)
	}
	c, ok := next()
	n, err := strconv.Atoi(c)
	if !ok || err != nil || n < 0 {
		return nil, fmt.Errorf("checkpoint count %q", c)
	}
	out := make([][]string, 0, min(n, 1<<16))
	for i := 0; i < n; i++ {
		l, ok := next()
		if !ok {
			return nil, fmt.Errorf("checkpoint has %d of %d lines", i, n)
		}
		out = append(out, strings.Fields(l))
	}
	return out, nil
}

func formatCheckpoint(lines []string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(lines))
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// assign records that epoch starts at offset, if it is newer than the
// latest known epoch.
func (c *epochCache) assign(epoch int32, offset int64) {
	if epoch < 0 {
		return
	}
	if n := len(c.entries); n > 0 {
		last := c.entries[n-1]
		if epoch <= last.Epoch {
			return
		}
		if offset < last.StartOffset {
			offset = last.StartOffset
		}
	}
	c.entries = append(c.entries, EpochEntry{epoch, offset})
	c.dirty = true
}

// truncateFromEnd drops epochs starting at or after offset.
func (c *epochCache) truncateFromEnd(offset int64) {
	i := len(c.entries)
	for i > 0 && c.entries[i-1].StartOffset >= offset {
		i--
	}
	if i != len(c.entries) {
		c.entries = c.entries[:i]
		c.dirty = true
	}
}

// truncateFromStart moves the first kept epoch to start at offset.
func (c *epochCache) truncateFromStart(offset int64) {
	i := 0
	for i+1 < len(c.entries) && c.entries[i+1].StartOffset <= offset {
		i++
	}
	if i > 0 || (len(c.entries) > 0 && c.entries[0].StartOffset < offset) {
		c.entries = c.entries[i:]
		if c.entries[0].StartOffset < offset {
			c.entries[0].StartOffset = offset
		}
		c.dirty = true
	}
}

// latest returns the newest epoch, or -1.
func (c *epochCache) latest() int32 {
	if len(c.entries) == 0 {
		return -1
	}
	return c.entries[len(c.entries)-1].Epoch
}

// endOffsetFor answers OffsetForLeaderEpoch as Kafka's leader epoch cache
// does: for the latest epoch, the log end; for an older one, the largest
// epoch at or below it and the start offset of the next epoch; for one
// older than every entry, itself and the first entry's start; for one newer
// than every entry (or none known), undefined (-1, -1).
func (c *epochCache) endOffsetFor(epoch int32, logEnd int64) (int32, int64) {
	n := len(c.entries)
	if epoch < 0 || n == 0 {
		return -1, -1
	}
	if c.entries[n-1].Epoch == epoch {
		return epoch, logEnd
	}
	hi := sort.Search(n, func(i int) bool { return c.entries[i].Epoch > epoch })
	switch {
	case hi == n:
		return -1, -1
	case hi == 0:
		return epoch, c.entries[0].StartOffset
	default:
		return c.entries[hi-1].Epoch, c.entries[hi].StartOffset
	}
}

// flush writes the cache if it changed.
func (c *epochCache) flush() error {
	if !c.dirty {
		return nil
	}
	lines := make([]string, len(c.entries))
	for i, e := range c.entries {
		lines[i] = fmt.Sprintf("%d %d", e.Epoch, e.StartOffset)
	}
	if err := writeFileAtomic(c.fs, c.path, formatCheckpoint(lines)); err != nil {
		return err
	}
	c.dirty = false
	c.onDisk, c.onDiskKnown = slices.Clone(c.entries), true
	return nil
}

// flushAtClose writes the cache of a log closing with its start and end
// offsets unless the next load would make the same of the file as it is:
// a load drops the entries starting at or past the log end and trims
// those before its start. So an epoch assigned under which no record was
// appended yet (a new leader's), or one the last load dropped, is not
// written: a broker stopping after taking over thousands of idle
// partitions wrote as many files.
func (c *epochCache) flushAtClose(start, end int64) error {
	if !c.dirty {
		return nil
	}
	settled := func(entries []EpochEntry) []EpochEntry {
		s := &epochCache{entries: slices.Clone(entries)}
		s.truncateFromEnd(end)
		s.truncateFromStart(start)
		return s.entries
	}
	if c.onDiskKnown && slices.Equal(settled(c.onDisk), settled(c.entries)) {
		return nil
	}
	return c.flush()
}
