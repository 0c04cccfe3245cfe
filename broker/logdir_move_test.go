package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/config"
	"gregor/broker/metadata"
	"gregor/broker/records"
	"gregor/broker/storage"
	"gregor/internal/wait"
)

// alterLogDir asks for moves of topic's partitions to dir and returns
// each partition's error code.
func (tb *testBroker) alterLogDir(dir, topic string, parts ...int32) map[int32]int16 {
	tb.t.Helper()
	req := kmsg.NewPtrAlterReplicaLogDirsRequest()
	d := kmsg.NewAlterReplicaLogDirsRequestDir()
	d.Dir = dir
	dt := kmsg.NewAlterReplicaLogDirsRequestDirTopic()
	dt.Topic, dt.Partitions = topic, parts
	d.Topics = append(d.Topics, dt)
	req.Dirs = append(req.Dirs, d)
	resp := tb.call(req).(*kmsg.AlterReplicaLogDirsResponse)
	out := make(map[int32]int16)
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[p.Partition] = p.ErrorCode
		}
	}
	return out
}

// logDirsOf returns, by log dir, the replicas and copies (IsFuture) of
// topic's partition p DescribeLogDirs lists.
func (tb *testBroker) logDirsOf(topic string, p int32) map[string][]kmsg.DescribeLogDirsResponseDirTopicPartition {
	tb.t.Helper()
	resp := tb.call(kmsg.NewPtrDescribeLogDirsRequest()).(*kmsg.DescribeLogDirsResponse)
	out := make(map[string][]kmsg.DescribeLogDirsResponseDirTopicPartition)
	for _, d := range resp.Dirs {
		for _, t := range d.Topics {
			for _, rp := range t.Partitions {
				if t.Topic == topic && rp.Partition == p {
					out[d.Dir] = append(out[d.Dir], rp)
				}
			}
		}
	}
	return out
}

// logBytes reads every batch of a partition's log from its start.
func logBytes(t *testing.T, p *Partition) (start int64, data []byte) {
	t.Helper()
	lg, _, err := p.replicaLog(-1)
	if err != nil {
		t.Fatal(err)
	}
	start, end := lg.StartOffset(), lg.NextOffset()
	for off := start; off < end; {
		b, err := lg.Read(off, end, 1<<20, true)
		if err != nil || len(b) == 0 {
			t.Fatalf("reading from %d: %v", off, err)
		}
		data = append(data, b...)
		if _, err := records.Split(b, func(batch []byte) error {
			h, err := records.ParseHeader(batch)
			off = h.NextOffset()
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	return start, data
}

func twoDirBroker(t *testing.T, d1, d2 string, set map[string]string) *testBroker {
	props := map[string]string{"log.dirs": d1 + "," + d2}
	for k, v := range set {
		props[k] = v
	}
	// Small segments (log.segment.bytes may not go below 1 MiB).
	tb := newTestBroker(t, props)
	tb.topicConfigs = map[string]string{"internal.segment.bytes": "4096"}
	return tb
}

// A replica moves to the other log dir while it takes produce requests,
// with a log start inside a batch (DeleteRecords): the moved log holds
// the same bytes, offsets, start and leader epochs, DescribeLogDirs shows
// the copy while it moves, the old directory is gone, and a restart finds
// the replica in its new dir. A move under way at a stop goes on from its
// copy after the restart.
func TestMoveReplicaBetweenLogDirs(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	tb := twoDirBroker(t, d1, d2, map[string]string{"replica.alter.log.dirs.io.max.bytes.per.second": "1"})
	tb.createTopic("mv", 1, nil)
	p := tb.Partition("mv", 0)
	from := p.dir.Path
	to := d1
	if from == d1 {
		to = d2
	}
	for i := range 200 {
		tb.produce("mv", 0, batch(t, int64(1000+i), fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i), fmt.Sprintf("c%d", i)))
	}
	if _, _, err := p.deleteRecordsBefore(31, false); err != nil { // inside the batch at 30
		t.Fatal(err)
	}
	epochs := p.log.Epochs()

	var wg sync.WaitGroup
	stop := make(chan struct{})
	var produced []int64
	var produceErr error
	var mu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 3000; i++ { // bounded: 4 KB segments hold a descriptor each
			select {
			case <-stop:
				return
			default:
			}
			resp := tb.call(produceRequest("mv", -1, []int32{0}, [][]byte{batch(t, int64(5000+i), fmt.Sprintf("during%d", i))})).(*kmsg.ProduceResponse)
			rp := resp.Topics[0].Partitions[0]
			mu.Lock()
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				produceErr = err
				mu.Unlock()
				return
			}
			produced = append(produced, rp.BaseOffset)
			mu.Unlock()
		}
	}()
	// A consumer fetches throughout: the swap must not fail its fetches.
	var fetchErrs []int16
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp := tb.call(sessionFetchReq(0, -1, 1<<20, "mv", map[int32]int64{0: 31})).(*kmsg.FetchResponse)
			if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
				mu.Lock()
				fetchErrs = append(fetchErrs, code)
				mu.Unlock()
			}
		}
	}()
	wait.For(t, "records produced before the move", 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(produced) >= 5 || produceErr != nil
	})
	codes := tb.alterLogDir(filepath.Join(to, "x", ".."), "mv", 0) // the same dir, unclean
	if codes[0] != 0 {
		t.Fatalf("AlterReplicaLogDirs to %s: %v", to, kerr.ErrorForCode(codes[0]))
	}
	// At 1 byte/s the copy stalls after its first batch: produce goes on
	// meanwhile, then the quota is lifted (a dynamic broker config).
	wait.For(t, "DescribeLogDirs listing the stalled copy in "+to, 5*time.Second, func() bool {
		dirs := tb.logDirsOf("mv", 0)
		return len(dirs[to]) == 1 && dirs[to][0].IsFuture && dirs[to][0].OffsetLag > 0
	})
	mu.Lock()
	atAlter := len(produced)
	mu.Unlock()
	wait.For(t, "records produced during the move", 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(produced) >= atAlter+5 || produceErr != nil
	})
	ireq := kmsg.NewPtrIncrementalAlterConfigsRequest()
	ir := kmsg.NewIncrementalAlterConfigsRequestResource()
	ir.ResourceType = kmsg.ConfigResourceTypeBroker
	ic := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	ic.Name, ic.Value = "replica.alter.log.dirs.io.max.bytes.per.second", kmsg.StringPtr("100000000")
	ir.Configs = append(ir.Configs, ic)
	ireq.Resources = append(ireq.Resources, ir)
	iresp := tb.call(ireq).(*kmsg.IncrementalAlterConfigsResponse)
	if err := kerr.ErrorForCode(iresp.Resources[0].ErrorCode); err != nil {
		t.Fatalf("lifting the quota: %v", err)
	}
	wait.For(t, "the move to "+to+" to finish", 20*time.Second, func() bool {
		dirs := tb.logDirsOf("mv", 0)
		return len(dirs[to]) == 1 && !dirs[to][0].IsFuture && len(dirs[from]) == 0
	})
	close(stop)
	wg.Wait()
	if produceErr != nil {
		t.Fatalf("produce during the move: %v", produceErr)
	}
	if len(fetchErrs) > 0 {
		t.Errorf("fetches during the move failed: %v", fetchErrs)
	}
	if len(produced) <= atAlter {
		t.Fatal("nothing was produced during the move")
	}
	if p.LogStartOffset() != 31 {
		t.Fatalf("log start after the move %d, want 31", p.LogStartOffset())
	}
	if want := produced[len(produced)-1] + 1; p.LogEndOffset() != want {
		t.Fatalf("log end after the move %d, want %d", p.LogEndOffset(), want)
	}
	if got := p.log.Epochs(); !slices.Equal(got, epochs) {
		t.Fatalf("leader epochs after the move %v, want %v", got, epochs)
	}
	_, moved := logBytes(t, p)
	for i, off := range produced {
		lg, _, _ := p.replicaLog(-1)
		b, err := lg.Read(off, off+1, 1<<20, true)
		if err != nil || !bytes.Contains(b, []byte(fmt.Sprintf("during%d", i))) {
			t.Fatalf("record %d produced during the move at offset %d: %q, %v", i, off, b, err)
		}
	}
	// The old files go once the move is done.
	wait.For(t, "only "+to+"/mv-0 left of the partition's directories", 5*time.Second, func() bool {
		for _, d := range []string{from, to} {
			ents, _ := os.ReadDir(d)
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), "mv-0") && (d == from || e.Name() != "mv-0") {
					return false
				}
			}
		}
		return true
	})
	if _, err := os.Stat(filepath.Join(to, "mv-0")); err != nil {
		t.Fatalf("the moved replica: %v", err)
	}

	// A restart opens it from its new dir, whole.
	tb.Close()
	tb2 := twoDirBroker(t, d1, d2, nil)
	p2 := tb2.Partition("mv", 0)
	wait.For(t, "the restarted replica to open", 10*time.Second, func() bool {
		p2.mu.Lock()
		defer p2.mu.Unlock()
		return p2.log != nil
	})
	if p2.dir.Path != to {
		t.Fatalf("after a restart the replica is in %s, want %s", p2.dir.Path, to)
	}
	if _, again := logBytes(t, p2); !bytes.Equal(again, moved) {
		t.Fatalf("the moved log reads %d bytes after a restart, %d before", len(again), len(moved))
	}
}

// The request's errors, as Kafka gives them.
func TestAlterReplicaLogDirsErrors(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	tb := twoDirBroker(t, d1, d2, nil)
	tb.createTopic("e", 1, nil)
	own := tb.Partition("e", 0).dir.Path
	for _, c := range []struct {
		dir, topic string
		want       error
	}{
		{filepath.Join(d1, "nope"), "e", kerr.LogDirNotFound},
		{"relative", "e", kerr.LogDirNotFound},
		{d1, "unknown", kerr.UnknownTopicOrPartition},
		{d1, strings.Repeat("x", 230), kerr.InvalidTopicException},
		{own, "e", nil},
	} {
		if got := kerr.ErrorForCode(tb.alterLogDir(c.dir, c.topic, 0)[0]); got != c.want {
			t.Errorf("%s to %s: %v, want %v", c.topic, c.dir, got, c.want)
		}
	}
	if code := tb.alterLogDir(d1, "e", 7)[7]; code != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("partition 7 of a 1-partition topic: %v", kerr.ErrorForCode(code))
	}
}

// A move under way when the broker stops starts again at the next start
// and completes; a complete copy whose replica was already retired (the
// broker stopped between the two renames) is taken as the replica.
func TestLogDirMoveAcrossRestarts(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	tb := twoDirBroker(t, d1, d2, map[string]string{"replica.alter.log.dirs.io.max.bytes.per.second": "1"})
	tb.createTopic("r", 3, nil)
	for i := range 50 {
		tb.produce("r", 0, batch(t, int64(i), fmt.Sprintf("v%d", i)))
		tb.produce("r", 1, batch(t, int64(i), fmt.Sprintf("w%d", i)))
		tb.produce("r", 2, batch(t, int64(i), fmt.Sprintf("x%d", i)))
	}
	// Log starts only the checkpoint files remember (inside the first
	// segment).
	for _, p := range []int32{1, 2} {
		if _, _, err := tb.Partition("r", p).deleteRecordsBefore(7, false); err != nil {
			t.Fatal(err)
		}
	}
	p0 := tb.Partition("r", 0)
	from := p0.dir.Path
	to := d1
	if from == d1 {
		to = d2
	}
	_, before := logBytes(t, p0)
	moveUnderWay(t, tb, "r", 0, to)
	tb.Close()
	future := futureDir(t, to, "r", 0)
	// A file of the copy's own: the move goes on from this copy, so the
	// replica ends up holding it, rather than a copy made afresh.
	marker := "resumed-copy-marker"
	if err := os.WriteFile(filepath.Join(future, marker), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	// Partition 1 stopped between the renames: its replica is retired,
	// its complete copy is in the other dir.
	p1from := filepath.Join(from, "r-1")
	if _, err := os.Stat(p1from); err != nil {
		p1from = filepath.Join(to, "r-1")
	}
	p1to := d1
	if filepath.Dir(p1from) == d1 {
		p1to = d2
	}
	if err := os.Rename(p1from, filepath.Join(p1to, "r-1.0123456789abcdef0123456789abcdef-future")); err != nil {
		t.Fatal(err)
	}
	// Partition 2 stopped after both renames, before a checkpoint named
	// it in its new dir: the old dir's checkpoint still holds its start.
	p2from := filepath.Join(from, "r-2")
	if _, err := os.Stat(p2from); err != nil {
		p2from = filepath.Join(to, "r-2")
	}
	p2to := d1
	if filepath.Dir(p2from) == d1 {
		p2to = d2
	}
	if err := os.Rename(p2from, filepath.Join(p2to, "r-2")); err != nil {
		t.Fatal(err)
	}

	tb2 := twoDirBroker(t, d1, d2, nil)
	q0 := tb2.Partition("r", 0)
	wait.For(t, "the resumed move of r-0 to "+to+" to finish", 10*time.Second, func() bool {
		dirs := tb2.logDirsOf("r", 0)
		return len(dirs[to]) == 1 && !dirs[to][0].IsFuture && len(dirs[from]) == 0
	})
	if _, after := logBytes(t, q0); !bytes.Equal(after, before) {
		t.Fatalf("r-0 reads %d bytes after the resumed move, %d before", len(after), len(before))
	}
	if _, err := os.Stat(filepath.Join(to, "r-0", marker)); err != nil {
		t.Fatalf("the move of r-0 did not go on from the copy it had made before the stop: %v", err)
	}
	dirs := tb2.logDirsOf("r", 1)
	if len(dirs[p1to]) != 1 || dirs[p1to][0].IsFuture || dirs[p1to][0].Size == 0 {
		t.Fatalf("r-1 after the restart: %+v, want its replica in %s", dirs, p1to)
	}
	for p, dir := range map[int32]string{1: p1to, 2: p2to} {
		q := tb2.Partition("r", p)
		if q.LogEndOffset() != 50 || q.LogStartOffset() != 7 || q.dir.Path != dir {
			t.Fatalf("r-%d after the restart: log %d to %d in %s, want 7 to 50 in %s", p, q.LogStartOffset(), q.LogEndOffset(), q.dir.Path, dir)
		}
	}
}

// Partitions created together spread over the log dirs, as Kafka's
// LogManager places each new log in the dir holding the fewest.
func TestNewReplicasSpreadOverLogDirs(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	tb := twoDirBroker(t, d1, d2, nil)
	tb.createTopic("spread", 8, nil)
	counts := map[string]int{}
	for p := range int32(8) {
		counts[tb.Partition("spread", p).dir.Path]++
	}
	if counts[d1] != 4 || counts[d2] != 4 {
		t.Fatalf("8 partitions placed %d in %s and %d in %s, want 4 and 4", counts[d1], d1, counts[d2], d2)
	}
}

// Deleting a topic while one of its replicas moves stops the move and
// leaves nothing of the partition in either dir.
func TestTopicDeletedWhileMoving(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	tb := twoDirBroker(t, d1, d2, map[string]string{"replica.alter.log.dirs.io.max.bytes.per.second": "1"})
	tb.createTopic("gone", 1, nil)
	for i := range 20 {
		tb.produce("gone", 0, batch(t, int64(i), fmt.Sprintf("v%d", i)))
	}
	to := d1
	if tb.Partition("gone", 0).dir.Path == d1 {
		to = d2
	}
	if code := tb.alterLogDir(to, "gone", 0)[0]; code != 0 {
		t.Fatal(kerr.ErrorForCode(code))
	}
	wait.For(t, "the copy of gone-0 listed in "+to, 5*time.Second, func() bool {
		dirs := tb.logDirsOf("gone", 0)
		return len(dirs[to]) == 1 && dirs[to][0].IsFuture
	})
	tb.deleteTopic("gone")
	wait.For(t, "nothing of gone-0 left in either log dir", 10*time.Second, func() bool {
		for _, d := range []string{d1, d2} {
			ents, _ := os.ReadDir(d)
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), "gone-0") {
					return false
				}
			}
		}
		return true
	})
}

// AlterReplicaLogDirs needs ALTER on the cluster: without it every
// partition gets CLUSTER_AUTHORIZATION_FAILED and nothing moves.
func TestAlterReplicaLogDirsNeedsClusterAlter(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	props := map[string]string{}
	for k, v := range aclSet {
		props[k] = v
	}
	tb := twoDirBroker(t, d1, d2, props)
	tb.createTopic("authz", 1, nil)
	own := tb.Partition("authz", 0).dir.Path
	to := d1
	if own == d1 {
		to = d2
	}
	req := kmsg.NewPtrAlterReplicaLogDirsRequest()
	d := kmsg.NewAlterReplicaLogDirsRequestDir()
	d.Dir = to
	dt := kmsg.NewAlterReplicaLogDirsRequestDirTopic()
	dt.Topic, dt.Partitions = "authz", []int32{0}
	d.Topics = append(d.Topics, dt)
	req.Dirs = append(req.Dirs, d)
	resp := tb.mustAs("alice", req, 2).(*kmsg.AlterReplicaLogDirsResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("without ALTER on the cluster: %v, want CLUSTER_AUTHORIZATION_FAILED", kerr.ErrorForCode(code))
	}
	if p := tb.Partition("authz", 0); p.dir.Path != own || p.move != nil {
		t.Fatal("an unauthorized request moved the replica")
	}
	resp = tb.mustAs("admin", req, 2).(*kmsg.AlterReplicaLogDirsResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("as a super user: %v", kerr.ErrorForCode(code))
	}
}

// appendCopied refuses what a copy must not take: offsets going backwards
// after batches were appended, and a batch that fails its CRC even where
// an empty log would otherwise restart at it.
func TestAppendCopiedRefusesBadInput(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("c", 1, nil)
	lg, _, err := tb.Partition("c", 0).replicaLog(-1)
	if err != nil {
		t.Fatal(err)
	}
	at := func(base int64, values ...string) []byte {
		b := batch(t, 1000, values...)
		binary.BigEndian.PutUint64(b, uint64(base))
		return b
	}
	var backwards []byte
	backwards = append(backwards, at(0, "a", "b", "c")...)
	backwards = append(backwards, at(1, "x")...)
	backwards = append(backwards, at(3, "d")...)
	n, err := appendCopied(lg, backwards, nil)
	if err == nil {
		t.Fatal("offsets going backwards were accepted")
	}
	if lg.NextOffset() != 3 || n != len(at(0, "a", "b", "c")) {
		t.Fatalf("after refusing: log ends at %d, %d bytes appended; want 3 and the first batch", lg.NextOffset(), n)
	}

	tb.createTopic("e", 1, nil)
	empty, _, err := tb.Partition("e", 0).replicaLog(-1)
	if err != nil {
		t.Fatal(err)
	}
	if err := empty.TruncateFullyAndStartAt(100); err != nil {
		t.Fatal(err)
	}
	bad := at(99, "y", "z")
	bad[len(bad)-1] ^= 0xff // the CRC no longer holds
	if _, err := appendCopied(empty, bad, nil); err == nil {
		t.Fatal("a corrupt batch straddling an empty log's start was accepted")
	}
	if empty.StartOffset() != 100 || empty.NextOffset() != 100 {
		t.Fatalf("a refused batch moved the empty log to %d..%d", empty.StartOffset(), empty.NextOffset())
	}
	good := at(99, "y", "z")
	if _, err := appendCopied(empty, good, nil); err != nil {
		t.Fatalf("a batch straddling an empty log's start: %v", err)
	}
	if empty.NextOffset() != 101 {
		t.Fatalf("after the straddling batch the log ends at %d, want 101", empty.NextOffset())
	}
}

// Many partitions moved at once all finish, copying one chunk per log dir
// at a time.
func TestManyMovesAtOnce(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	tb := twoDirBroker(t, d1, d2, nil)
	tb.createTopic("many", 20, nil)
	for p := range int32(20) {
		tb.produce("many", p, batch(t, 1000, fmt.Sprintf("v%d", p)))
	}
	want := map[int32]string{}
	for p := range int32(20) {
		to := d1
		if tb.Partition("many", p).dir.Path == d1 {
			to = d2
		}
		want[p] = to
		if code := tb.alterLogDir(to, "many", p)[p]; code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
	}
	wait.For(t, "all 20 partitions moved", 20*time.Second, func() bool {
		for p, to := range want {
			dirs := tb.logDirsOf("many", p)
			if len(dirs[to]) != 1 || dirs[to][0].IsFuture {
				return false
			}
		}
		return true
	})
}

// A copy found at start-up is resumed only as a prefix of its replica:
// cut back to the replica's end, its last batch must be the replica's
// byte for byte; an empty copy is resumed as it is.
func TestResumedMoveCopyMustMatch(t *testing.T) {
	tb := newTestBroker(t, nil)
	tb.createTopic("m", 1, nil)
	for i := range 5 {
		tb.produce("m", 0, batch(t, int64(i), fmt.Sprintf("v%d", i)))
	}
	src, _, err := tb.Partition("m", 0).replicaLog(-1)
	if err != nil {
		t.Fatal(err)
	}
	data, err := src.Read(0, src.NextOffset(), 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	var last, pos int // where the last batch starts
	if _, err := records.Split(data, func(b []byte) error {
		last, pos = pos, pos+len(b)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	copyOf := func(b []byte) *storage.Log {
		lg, err := storage.Open(storage.OSFS{}, t.TempDir(), storage.DefaultConfig(), storage.OpenOptions{Clean: true}, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { lg.Close() })
		if len(b) > 0 {
			if _, err := appendCopied(lg, b, nil); err != nil {
				t.Fatal(err)
			}
		}
		return lg
	}

	if err := matchCopy(copyOf(nil), src); err != nil {
		t.Fatalf("an empty copy: %v", err)
	}
	// One batch more than the replica has (the replica lost its tail):
	// cut back, then it matches.
	extra := slices.Clone(data[last:])
	binary.BigEndian.PutUint64(extra[0:8], uint64(src.NextOffset())) // base offset, outside the CRC
	longer := copyOf(append(slices.Clone(data), extra...))
	if err := matchCopy(longer, src); err != nil {
		t.Fatalf("a copy one batch longer: %v", err)
	}
	if longer.NextOffset() != src.NextOffset() {
		t.Fatalf("the longer copy ends at %d after the match, want %d", longer.NextOffset(), src.NextOffset())
	}
	// A last batch that differs (its leader epoch, outside the CRC): not
	// resumed.
	diff := slices.Clone(data)
	binary.BigEndian.PutUint32(diff[last+12:last+16], 9)
	if err := matchCopy(copyOf(diff), src); err == nil {
		t.Fatal("a copy whose last batch differs from the replica's was taken for a prefix of it")
	}
	// A copy that ends where the replica now starts (DeleteRecords ran
	// since): nothing of it is kept, unchecked, below the start.
	below := copyOf(data[:last])
	if _, _, err := tb.Partition("m", 0).deleteRecordsBefore(below.NextOffset(), false); err != nil {
		t.Fatal(err)
	}
	if err := matchCopy(below, src); err != nil {
		t.Fatalf("a copy ending at the replica's start: %v", err)
	}
	if below.StartOffset() != src.StartOffset() || below.Size() != 0 {
		t.Fatalf("the copy below the replica's start holds %d bytes from %d, want none from %d", below.Size(), below.StartOffset(), src.StartOffset())
	}
}

// moveUnderWay asks for a move of topic-p to dir on a broker whose moves
// are throttled, and waits until its copy is listed, part way.
func moveUnderWay(t *testing.T, tb *testBroker, topic string, p int32, dir string) {
	t.Helper()
	if code := tb.alterLogDir(dir, topic, p)[p]; code != 0 {
		t.Fatal(kerr.ErrorForCode(code))
	}
	wait.For(t, fmt.Sprintf("the throttled copy of %s-%d in %s to be listed", topic, p, dir), 5*time.Second, func() bool {
		dirs := tb.logDirsOf(topic, p)
		return len(dirs[dir]) == 1 && dirs[dir][0].IsFuture && dirs[dir][0].OffsetLag > 0
	})
}

// futureDir returns the one copy directory of topic-p in dir.
func futureDir(t *testing.T, dir, topic string, p int32) string {
	t.Helper()
	futures, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("%s-%d.*-future", topic, p)))
	if len(futures) != 1 {
		t.Fatalf("future dirs of %s-%d in %s: %v", topic, p, dir, futures)
	}
	return futures[0]
}

// partialMove fills r-0 of a broker with log dirs d1 and d2, starts a
// throttled move of it to the other dir, and stops the broker with the
// copy part way; it returns the target dir, the replica's bytes and the
// copy's directory, which holds a file of its own (marker) to tell it
// from a copy made afresh.
func partialMove(t *testing.T, d1, d2, marker string) (to string, before []byte, future string) {
	t.Helper()
	tb := twoDirBroker(t, d1, d2, map[string]string{"replica.alter.log.dirs.io.max.bytes.per.second": "1"})
	tb.createTopic("r", 1, nil)
	for i := range 50 {
		tb.produce("r", 0, batch(t, int64(i), fmt.Sprintf("v%d", i)))
	}
	p0 := tb.Partition("r", 0)
	to = d1
	if p0.dir.Path == d1 {
		to = d2
	}
	_, before = logBytes(t, p0)
	moveUnderWay(t, tb, "r", 0, to)
	tb.Close()
	future = futureDir(t, to, "r", 0)
	if err := os.WriteFile(filepath.Join(future, marker), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return to, before, future
}

// After an unclean stop a move's copy may have lost any segment's unsynced
// bytes: the move starts again rather than going on from it.
func TestLogDirMoveAfterUncleanStopStartsAgain(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	const marker = "old-copy-marker"
	to, before, _ := partialMove(t, d1, d2, marker)
	for _, d := range []string{d1, d2} {
		if err := os.Remove(filepath.Join(d, storage.CleanShutdownFile)); err != nil {
			t.Fatal(err)
		}
	}
	tb := twoDirBroker(t, d1, d2, nil)
	wait.For(t, "the move of r-0 to "+to+" to finish", 10*time.Second, func() bool {
		dirs := tb.logDirsOf("r", 0)
		return len(dirs[to]) == 1 && !dirs[to][0].IsFuture
	})
	if _, after := logBytes(t, tb.Partition("r", 0)); !bytes.Equal(after, before) {
		t.Fatalf("r-0 reads %d bytes after the move, %d before", len(after), len(before))
	}
	if _, err := os.Stat(filepath.Join(to, "r-0", marker)); err == nil {
		t.Fatal("the move went on from a copy left by an unclean stop")
	}
}

// A copy made for an earlier topic of the same name (its topic id differs)
// is removed, not resumed, and no move is started for the new topic.
func TestLogDirMoveCopyOfAnotherTopicIsRemoved(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	to, _, future := partialMove(t, d1, d2, "marker")
	from := d1
	if to == d1 {
		from = d2
	}
	meta := filepath.Join(future, "partition.metadata")
	if err := os.WriteFile(meta, []byte("version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAA\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tb := twoDirBroker(t, d1, d2, nil)
	if _, err := os.Stat(future); err == nil {
		t.Fatalf("the copy of another topic's partition is still there: %s", future)
	}
	if left, _ := filepath.Glob(filepath.Join(to, "r-0*")); len(left) > 0 {
		t.Fatalf("r-0 has directories in the move's target dir: %v", left)
	}
	dirs := tb.logDirsOf("r", 0)
	if len(dirs[from]) != 1 || dirs[from][0].IsFuture || len(dirs[to]) != 0 {
		t.Fatalf("r-0 after the restart: %+v, want its replica in %s alone", dirs, from)
	}
}

// A copy whose replica is no longer this broker's (its topic was deleted
// while the broker was down: here, a broker whose metadata knows no such
// topic) is removed once the first metadata load is in force.
func TestLogDirMoveCopyOfUnknownTopicIsRemoved(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	_, _, future := partialMove(t, d1, d2, "marker")
	// The first log dir holds the metadata: none of r here. The dirs
	// are made this cluster's, as if the topic was deleted meanwhile.
	d0 := t.TempDir()
	fresh := newTestBroker(t, map[string]string{"log.dirs": d0})
	for _, d := range []string{d1, d2} {
		if err := storage.WriteMeta(storage.OSFS{}, d, storage.Meta{BrokerID: 1, ClusterID: fresh.ClusterID()}); err != nil {
			t.Fatal(err)
		}
	}
	fresh.Close()
	newTestBroker(t, map[string]string{"log.dirs": d0 + "," + d1 + "," + d2})
	if _, err := os.Stat(future); err == nil {
		t.Fatalf("the copy of a partition this broker holds no replica of is still there: %s", future)
	}
}

// deadDirFS fails every operation under one directory with EIO, as a disk
// that died.
type deadDirFS struct {
	storage.OSFS
	dead string
}

func (f deadDirFS) under(p string) error {
	if p == f.dead || strings.HasPrefix(p, f.dead+string(filepath.Separator)) {
		return &os.PathError{Op: "io", Path: p, Err: syscall.EIO}
	}
	return nil
}

func (f deadDirFS) OpenFile(name string, flag int, perm os.FileMode) (storage.File, error) {
	if err := f.under(name); err != nil {
		return nil, err
	}
	return f.OSFS.OpenFile(name, flag, perm)
}

func (f deadDirFS) ReadDir(name string) ([]os.DirEntry, error) {
	if err := f.under(name); err != nil {
		return nil, err
	}
	return f.OSFS.ReadDir(name)
}

func (f deadDirFS) Stat(name string) (os.FileInfo, error) {
	if err := f.under(name); err != nil {
		return nil, err
	}
	return f.OSFS.Stat(name)
}

func (f deadDirFS) MkdirAll(name string, perm os.FileMode) error {
	if err := f.under(name); err != nil {
		return err
	}
	return f.OSFS.MkdirAll(name, perm)
}

// A copy found without its replica while a log dir failed to open is not
// taken for the replica (which may be in the failed dir, and the copy
// incomplete): the partition is offline, and the copy stays for a start
// with the dir back.
func TestLogDirMoveCopyKeptWhileADirIsOffline(t *testing.T) {
	d0, d1, d2 := t.TempDir(), t.TempDir(), t.TempDir()
	set := map[string]string{"log.dirs": d0 + "," + d1 + "," + d2, "replica.alter.log.dirs.io.max.bytes.per.second": "1"}
	tb := newTestBroker(t, set)
	tb.createTopic("r", 3, map[string]string{"internal.segment.bytes": "4096"})
	var p *Partition
	for i := range int32(3) {
		if q := tb.Partition("r", i); q.dir.Path == d1 {
			p = q
		}
	}
	if p == nil {
		t.Fatal("no partition of r in " + d1)
	}
	for i := range 50 {
		tb.produce("r", p.ID, batch(t, int64(i), fmt.Sprintf("v%d", i)))
	}
	moveUnderWay(t, tb, "r", p.ID, d2)
	tb.Close()
	future := futureDir(t, d2, "r", p.ID)

	delete(set, "replica.alter.log.dirs.io.max.bytes.per.second")
	set["broker.id"] = "1"
	cfg, err := config.Load(set, nil)
	if err != nil {
		t.Fatal(err)
	}
	self := metadata.BrokerInfo{ID: 1, Endpoints: map[string]metadata.Endpoint{"PLAINTEXT": {Host: "127.0.0.1", Port: 9092}}}
	b, err := New(Options{Config: cfg, Log: zerolog.Nop(), FS: deadDirFS{dead: d1}, Backend: metadata.NewLocal(d0, self)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(future); err != nil {
		t.Fatalf("the copy was not left as it was: %v", err)
	}
	if _, err := os.Stat(filepath.Join(d2, fmt.Sprintf("r-%d", p.ID))); err == nil {
		t.Fatal("the copy was taken for the replica while its replica's dir is offline")
	}
	if q := b.Partition("r", p.ID); q == nil || !q.offline.Load() {
		t.Fatalf("r-%d is not offline", p.ID)
	}
}

// While a log dir is offline no move starts, even between two healthy
// dirs: KAFKA_STORAGE_ERROR, as Kafka's LogManager.getOrCreateLog creates
// no future log while a dir is offline (a copy of the partition may be on
// it). Asking for the replica's own dir still succeeds.
func TestAlterReplicaLogDirsRefusedWhileADirIsOffline(t *testing.T) {
	d1, d2, d3 := t.TempDir(), t.TempDir(), t.TempDir()
	tb := newTestBroker(t, map[string]string{"log.dirs": d1 + "," + d2 + "," + d3})
	tb.createTopic("off", 1, nil)
	own := tb.Partition("off", 0).dir.Path
	var others []string
	for _, d := range []string{d1, d2, d3} {
		if d != own {
			others = append(others, d)
		}
	}
	dead, to := others[0], others[1]
	tb.diskFailed(dead, syscall.EIO)
	if code := tb.alterLogDir(to, "off", 0)[0]; code != kerr.KafkaStorageError.Code {
		t.Fatalf("a move from %s to %s while %s is offline: %v, want KAFKA_STORAGE_ERROR", own, to, dead, kerr.ErrorForCode(code))
	}
	if got := tb.logDirsOf("off", 0); len(got) != 1 || len(got[own]) != 1 || got[own][0].IsFuture {
		t.Fatalf("after the refused move the replica is described as %+v, want only in %s", got, own)
	}
	if code := tb.alterLogDir(own, "off", 0)[0]; code != 0 {
		t.Fatalf("the replica's own dir: %v", kerr.ErrorForCode(code))
	}
}
