package main

// gregor dump-log: print the batches and records of log segments, and the
// entries of their indexes, as Kafka's kafka-dump-log.sh
// (DumpLogSegments) does, so the same eyes and scripts read both. The
// file formats are in broker/storage/doc.go.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"gregor/broker/records"
)

func dumpLog(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gregor dump-log", flag.ContinueOnError)
	fs.SetOutput(stderr)
	files := fs.String("files", "", "comma-separated `list` of segment (.log) and index (.index, .timeindex) files")
	data := fs.Bool("print-data-log", false, "print the records' keys and values (implies --deep-iteration)")
	deep := fs.Bool("deep-iteration", false, "print every record, not only the batches")
	maxBytes := fs.Int64("max-bytes", 1<<31-1, "read at most this many `bytes` of each .log file")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: gregor dump-log [--print-data-log] [--deep-iteration] [--max-bytes N] --files FILE[,FILE...]\n\nPrints log segments and their indexes as kafka-dump-log.sh does.")
		fs.PrintDefaults()
	}
	list, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *files != "" {
		list = append(strings.Split(*files, ","), list...)
	}
	if len(list) == 0 {
		fs.Usage()
		return 2
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	code := 0
	for _, f := range list {
		var err error
		fmt.Fprintf(w, "Dumping %s\n", f)
		switch filepath.Ext(f) {
		case ".log":
			err = dumpSegment(w, f, *deep || *data, *data, *maxBytes)
		case ".index":
			err = dumpOffsetIndex(w, f)
		case ".timeindex":
			err = dumpTimeIndex(w, f)
		default:
			err = fmt.Errorf("ignoring unknown file %s (not a .log, .index or .timeindex file)", f)
		}
		if err != nil {
			w.Flush()
			fmt.Fprintf(stderr, "gregor dump-log: %s: %v\n", f, err)
			code = 1
		}
	}
	return code
}

var codecNames = [...]string{"none", "gzip", "snappy", "lz4", "zstd"}

func codecName(c int8) string {
	if c >= 0 && int(c) < len(codecNames) {
		return codecNames[c]
	}
	return "unknown(" + strconv.Itoa(int(c)) + ")"
}

// dumpSegment prints each batch of a segment, and with deep each record.
func dumpSegment(w *bufio.Writer, path string, deep, data bool, maxBytes int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	base, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(path), ".log"), 10, 64)
	if err == nil {
		fmt.Fprintf(w, "Log starting offset: %d\n", base)
	}
	r := bufio.NewReaderSize(io.LimitReader(f, maxBytes), 1<<20)
	var pos int64
	var prefix [12]byte
	for {
		n, err := io.ReadFull(r, prefix[:])
		if err == io.EOF {
			return nil
		}
		if err != nil {
			fmt.Fprintf(w, "Found %d invalid bytes at the end of %s\n", n, filepath.Base(path))
			return nil
		}
		size := int64(int32(binary.BigEndian.Uint32(prefix[8:]))) + 12
		if size < 12+14 {
			fmt.Fprintf(w, "Found an invalid batch length %d at position %d of %s\n", size-12, pos, filepath.Base(path))
			return nil
		}
		batch := make([]byte, size)
		copy(batch, prefix[:])
		if m, err := io.ReadFull(r, batch[12:]); err != nil {
			fmt.Fprintf(w, "Found %d invalid bytes at the end of %s\n", 12+m, filepath.Base(path))
			return nil
		}
		printBatch(w, batch, pos, deep, data)
		pos += size
	}
}

func printBatch(w *bufio.Writer, batch []byte, pos int64, deep, data bool) {
	if magic, _ := records.Magic(batch); magic != 2 {
		fmt.Fprintf(w, "baseOffset: %d position: %d size: %d magic: %d (message format before v2: not decoded)\n",
			int64(binary.BigEndian.Uint64(batch)), pos, len(batch), magic)
		return
	}
	h, err := records.ParseHeader(batch)
	if err != nil {
		fmt.Fprintf(w, "position: %d size: %d: %v\n", pos, len(batch), err)
		return
	}
	tsType := "CreateTime"
	if h.Attributes&records.AttrLogAppendTime != 0 {
		tsType = "LogAppendTime"
	}
	horizon := "OptionalLong.empty"
	if h.Attributes&0x40 != 0 { // delete horizon set (KIP-534)
		horizon = fmt.Sprintf("OptionalLong[%d]", h.FirstTimestamp)
	}
	fmt.Fprintf(w, "baseOffset: %d lastOffset: %d count: %d baseSequence: %d lastSequence: %d producerId: %d producerEpoch: %d partitionLeaderEpoch: %d isTransactional: %t isControl: %t deleteHorizonMs: %s",
		h.BaseOffset, h.LastOffset(), h.NumRecords, h.BaseSequence, h.LastSequence(), h.ProducerID, h.ProducerEpoch, h.LeaderEpoch, h.IsTransactional(), h.IsControl(), horizon)
	fmt.Fprintf(w, " position: %d %s: %d size: %d magic: %d compresscodec: %s crc: %d isvalid: %t\n",
		pos, tsType, h.MaxTimestamp, len(batch), h.Magic, codecName(h.Codec()), h.CRC, records.CRCValid(batch))
	if !deep {
		return
	}
	err = records.Each(batch, func(rec *records.Record) error {
		ts := h.FirstTimestamp + rec.TimestampDelta
		if h.Attributes&records.AttrLogAppendTime != 0 {
			ts = h.MaxTimestamp
		}
		seq := int64(-1)
		if h.BaseSequence >= 0 {
			seq = int64(h.BaseSequence) + int64(rec.OffsetDelta)
		}
		keys := make([]string, len(rec.Headers))
		for i, hd := range rec.Headers {
			keys[i] = hd.Key
		}
		fmt.Fprintf(w, "| offset: %d %s: %d keySize: %d valueSize: %d sequence: %d headerKeys: [%s]",
			h.BaseOffset+int64(rec.OffsetDelta), tsType, ts, size(rec.Key), size(rec.Value), seq, strings.Join(keys, ","))
		switch {
		case h.IsControl():
			printMarker(w, rec)
		case data:
			if rec.Key != nil {
				fmt.Fprintf(w, " key: %s", printable(rec.Key))
			}
			if rec.Value != nil {
				fmt.Fprintf(w, " payload: %s", printable(rec.Value))
			}
		}
		w.WriteByte('\n')
		return nil
	})
	if err != nil {
		fmt.Fprintf(w, "| records of the batch at position %d could not be read: %v\n", pos, err)
	}
}

// printMarker prints a transaction marker (control record) as Kafka does.
func printMarker(w *bufio.Writer, rec *records.Record) {
	if len(rec.Key) < 4 || len(rec.Value) < 6 {
		fmt.Fprint(w, " controlType: unknown")
		return
	}
	typ := "ABORT"
	switch binary.BigEndian.Uint16(rec.Key[2:]) {
	case 1:
		typ = "COMMIT"
	case 0:
	default:
		typ = "UNKNOWN"
	}
	fmt.Fprintf(w, " endTxnMarker: %s coordinatorEpoch: %d", typ, int32(binary.BigEndian.Uint32(rec.Value[2:])))
}

func size(b []byte) int {
	if b == nil {
		return -1
	}
	return len(b)
}

// printable is a key or value as Kafka's default decoder prints it (a
// UTF-8 string); bytes that are not UTF-8 are escaped.
func printable(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strconv.QuoteToASCII(string(b))
}

func dumpOffsetIndex(w *bufio.Writer, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	base, _ := strconv.ParseInt(strings.TrimSuffix(filepath.Base(path), ".index"), 10, 64)
	for i := 0; i+8 <= len(b); i += 8 {
		rel, pos := binary.BigEndian.Uint32(b[i:]), binary.BigEndian.Uint32(b[i+4:])
		if rel == 0 && pos == 0 && i > 0 {
			break // preallocated, unused
		}
		fmt.Fprintf(w, "offset: %d position: %d\n", base+int64(rel), pos)
	}
	return nil
}

func dumpTimeIndex(w *bufio.Writer, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	base, _ := strconv.ParseInt(strings.TrimSuffix(filepath.Base(path), ".timeindex"), 10, 64)
	for i := 0; i+12 <= len(b); i += 12 {
		ts, rel := int64(binary.BigEndian.Uint64(b[i:])), binary.BigEndian.Uint32(b[i+8:])
		if ts == 0 && rel == 0 && i > 0 {
			break
		}
		fmt.Fprintf(w, "timestamp: %d offset: %d\n", ts, base+int64(rel))
	}
	return nil
}

// parseInterleaved parses flags given before, between or after positional
// arguments (gregor dump-log SEGMENT --print-data-log) and returns the
// positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
