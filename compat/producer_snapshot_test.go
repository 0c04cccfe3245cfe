package compat

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// snapshotOffsets lists the producer snapshots in a partition directory.
func snapshotOffsets(t *testing.T, dir string) []int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, e := range ents {
		if name, ok := strings.CutSuffix(e.Name(), ".snapshot"); ok {
			if n, err := strconv.ParseInt(name, 10, 64); err == nil {
				out = append(out, n)
			}
		}
	}
	slices.Sort(out)
	return out
}

// The producer state is snapshotted when a segment rolls (as Kafka does),
// not only at a clean shutdown: after kill -9 the broker rebuilds it from
// the newest snapshot and the batches after it, rather than by reading the
// whole log, and an idempotent producer's retries are still recognised.
func TestProducerSnapshotsAtRollSurviveKill9(t *testing.T) {
	b := tcStart(t)
	topic := randomName("snap-roll")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	_, err = kadm.NewClient(cl).CreateTopic(ctx, 1, 1, map[string]*string{"internal.segment.bytes": kmsg.StringPtr("4096")}, topic)
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}
	topicID, pid, epoch := tcIdempotentProducer(t, ctx, b.Addr, topic)

	check := func(what string, batch []byte, want int64) {
		t.Helper()
		code, off := tcProduce(t, ctx, b.Addr, topic, topicID, batch)
		if code != 0 || off != want {
			t.Fatalf("%s: error %v base offset %d, want no error at offset %d", what, kerr.ErrorForCode(code), off, want)
		}
	}
	value := strings.Repeat("v", 200)
	const batches, per = 40, 4
	var sent [][]byte
	for i := range batches {
		vals := make([]string, per)
		for j := range vals {
			vals[j] = fmt.Sprintf("%d-%d-%s", i, j, value)
		}
		bt := tcBatch(pid, epoch, int32(i*per), vals...)
		sent = append(sent, bt)
		check(fmt.Sprintf("batch %d", i), bt, int64(i*per))
	}
	end := int64(batches * per)

	dir := filepath.Join(b.Dir, "data", topic+"-0")
	// A snapshot is written before the oldest is removed, so a listing
	// taken between the two sees one more: wait for at most 3.
	deadline := time.Now().Add(30 * time.Second)
	for {
		snaps := snapshotOffsets(t, dir)
		if len(snaps) > 0 && snaps[len(snaps)-1] > end {
			t.Fatalf("snapshots %v after %d records: none may be past the log end", snaps, end)
		}
		if len(snaps) > 0 && snaps[len(snaps)-1] > 0 && len(snaps) <= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no more than 3 producer snapshots, one past offset 0, in %s after %d rolled segments: snapshots %v", dir, end*250/4096, snaps)
		}
		time.Sleep(20 * time.Millisecond)
	}

	b.Kill()
	kept := snapshotOffsets(t, dir)
	b.Restart()
	tcWaitServing(t, b.Addr, topic)
	t.Logf("snapshots at the kill: %v (log end %d)", kept, end)

	// The last five batches are remembered, from the snapshot and the
	// replay of what follows it.
	for i := batches - 5; i < batches; i++ {
		check(fmt.Sprintf("resend of batch %d after kill -9", i), sent[i], int64(i*per))
	}
	gap := tcBatch(pid, epoch, int32(batches*per+3), "gap")
	if code, off := tcProduce(t, ctx, b.Addr, topic, topicID, gap); !errors.Is(kerr.ErrorForCode(code), kerr.OutOfOrderSequenceNumber) {
		t.Fatalf("a batch with a sequence gap after kill -9: error %v at %d, want OUT_OF_ORDER_SEQUENCE_NUMBER", kerr.ErrorForCode(code), off)
	}
	check("the next batch after kill -9", tcBatch(pid, epoch, int32(batches*per), "next"), end)
}
