package compat

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
)

// A batch of an old segment found bad on a clean restart (a disk's bit
// flip) costs that segment's batches from it on, not the rest of the log:
// a segment that needs no recovery is cut alone when its index is rebuilt,
// as Kafka's LogLoader.loadSegmentFiles recovers one, and a batch is bad
// also when its base offset (outside the CRC) leaves the segment. Gregor
// deleted every later segment, so a consumer lost them and the log end
// went back, or took the flipped base offset for the segment's end.
func TestBadBatchInOldSegmentOnCleanRestartKeepsTheRest(t *testing.T) {
	for _, c := range []struct {
		name string
		at   int // byte of the segment's middle batch to flip
	}{
		{"bad CRC", 40},        // in the max timestamp
		{"bad base offset", 0}, // its high byte
	} {
		t.Run(c.name, func(t *testing.T) { badBatchInOldSegment(t, c.at) })
	}
}

func badBatchInOldSegment(t *testing.T, at int) {
	b := brokertest.Start(t, brokertest.Options{Dir: t.TempDir()})
	topic := randomName("recover-old")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, map[string]*string{"internal.segment.bytes": kmsg.StringPtr("4096")}, topic); err != nil {
		t.Fatal(err)
	}
	const n = 200
	for i := range n {
		v := fmt.Sprintf("%03d-%s", i, strings.Repeat("x", 100))
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("producing record %d: %v", i, err)
		}
	}
	b.Stop() // clean
	part := filepath.Join(b.Dir, "data", topic+"-0")
	segs, _ := filepath.Glob(filepath.Join(part, "*.log"))
	if len(segs) < 4 {
		t.Fatalf("test needs several segments, has %v", segs)
	}
	first := filepath.Join(part, "00000000000000000000.log")
	data, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	// One record per batch, all of one size: the middle batch's start.
	size := 12 + int(binary.BigEndian.Uint32(data[8:12]))
	if len(data)%size != 0 {
		t.Fatalf("segment of %d bytes is not of batches of %d", len(data), size)
	}
	mid := len(data) / size / 2
	data[mid*size+at] ^= 0x5a
	if err := os.WriteFile(first, data, 0o644); err != nil {
		t.Fatal(err)
	}
	b.Restart()

	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("listing end offsets after the restart: %v", err)
	}
	if o, _ := ends.Lookup(topic, 0); o.Offset != n {
		t.Fatalf("log end after the restart %d, want %d", o.Offset, n)
	}
	recs := ccKgoRead(t, ctx, b.Addr, topic, 1)
	for i, r := range recs {
		want := int64(i)
		if i >= mid {
			want = int64(len(data)/size + i - mid) // the next segment on
		}
		if r.O != want || !strings.HasPrefix(string(r.V), fmt.Sprintf("%03d-", r.O)) {
			t.Fatalf("record %d read after the restart is at offset %d holding %.8q; want offset %d and the record produced there", i, r.O, r.V, want)
		}
	}
	if want := n - (len(data)/size - mid); len(recs) != want {
		t.Fatalf("read %d records after the restart, want %d: all but those of the old segment from its bad batch on", len(recs), want)
	}
}
