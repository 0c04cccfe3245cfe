package compat

// A legacy message set (Produce v2, magic 1) of many compressed wrapper
// messages, each inflating to just under the broker's decompression limit
// (gregor.decompression.max.ratio x max.message.bytes = 16 MiB here), and
// all of them together to far past it. Each wrapper used to be allowed the
// whole limit, and every record of every wrapper was kept and then copied
// again into the converted batch: 60 gzip wrappers of 74 KB inflating to
// 15 MB each took a broker from 1.1 GB to 4.5 GB, and 150 of them killed
// it. The set must be refused with MESSAGE_TOO_LARGE (what one wrapper past
// the limit gets) having cost about the limit, not the set's sum, for every
// codec a legacy wrapper may use; then the broker must serve as before.
//
// Gregor only: Apache Kafka (since KAFKA-8428) refuses a message set of
// more than one compressed wrapper with INVALID_RECORD before inflating
// anything, and has no decompression limit.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
)

const (
	// lbWrappers wrappers of lbInner bytes each: 480 MiB in all, 30
	// times the limit.
	lbWrappers = 32
	lbInner    = 15 << 20
	// lbRSSGrowthBound is how much the broker's resident memory may grow
	// while it refuses one such set: about the limit (one wrapper's
	// messages, decompressed, and the buffer they are read into), with
	// room for the request and the runtime. Before the fix it grew by
	// more than the set inflates to.
	lbRSSGrowthBound = 256 << 20
)

func TestHostileLegacyBomb(t *testing.T) {
	if !usingGregor() {
		t.Skip("checks gregor's own process (its memory); Kafka refuses any set of several compressed wrappers as INVALID_RECORD")
	}
	var inner []byte
	value := make([]byte, 1024)
	for i := int64(0); len(inner) < lbInner; i++ {
		inner = append(inner, lbMessage(i, 0, nil, value)...)
	}
	for _, codec := range []struct {
		name string
		id   int8
	}{{"gzip", 1}, {"snappy-xerial", 2}, {"lz4", 3}, {"zstd", 4}} {
		t.Run(codec.name, func(t *testing.T) {
			z := hrCompress(t, codec.name, inner)
			if codec.name == "snappy-xerial" {
				z = hrXerial(inner, 32<<10) // the Java client's blocks
			}
			// A broker of its own: one whose heap an earlier set grew
			// would hide the next one's growth.
			lbProbe(t, bytes.Repeat(lbMessage(0, codec.id, nil, z), lbWrappers), len(inner))
		})
	}
}

// lbProbe starts a broker, has it accept a set of a few small wrappers,
// then refuse set (wrappers inflating to inner bytes each) within the
// memory bound, and checks it still serves a client.
func lbProbe(t *testing.T, set []byte, inner int) {
	b := brokertest.Start(t, brokertest.Options{})
	topic := randomName("legacy-bomb")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lbCreateTopic(t, ctx, b.Addr, topic)
	conn := badDial(t, b.Addr)
	defer func() { conn.Close() }()
	corr := int32(0)
	produce := func(set []byte) (int16, int64) {
		t.Helper()
		corr++
		code, base, err := lbProduce(conn, corr, topic, set)
		if err != nil {
			t.Errorf("produce of %d bytes: %v (reconnecting)", len(set), err)
			conn.Close()
			conn = badDial(t, b.Addr)
			return -1, -1
		}
		return code, base
	}

	// Several small wrappers in one set are fine, as an old producer may
	// send them; this also warms the legacy path up before measuring.
	var want []ccRecord
	var small []byte
	for w := range 3 {
		var msgs []byte
		for i := range 10 {
			r := ccRecord{O: int64(len(want)), K: []byte(fmt.Sprintf("legacy-%d-%d", w, i)), V: bytes.Repeat([]byte{'v'}, 100)}
			want = append(want, r)
			msgs = append(msgs, lbMessage(int64(i), 0, r.K, r.V)...)
		}
		small = append(small, lbMessage(9, 1, nil, hrCompress(t, "gzip", msgs))...)
	}
	if code, base := produce(small); code != 0 || base != 0 {
		t.Fatalf("3 small gzip wrappers: error %d (%v) at base offset %d, want 0 at 0", code, kerr.ErrorForCode(code), base)
	}

	t.Logf("%d wrappers inflating to %d bytes each: %d bytes on the wire", lbWrappers, inner, len(set))
	var code int16
	var base int64
	before, peak := lbPeakRSS(t, b.Pid(), func() { code, base = produce(set) })
	t.Logf("broker RSS %d MiB before, at most %d MiB while refusing it (bound: +%d MiB)", before>>20, peak>>20, lbRSSGrowthBound>>20)
	if code != kerr.MessageTooLarge.Code || base != -1 {
		t.Errorf("error %d (%v) at base offset %d, want %d (MESSAGE_TOO_LARGE) at -1", code, kerr.ErrorForCode(code), base, kerr.MessageTooLarge.Code)
	}
	if peak > before+lbRSSGrowthBound {
		t.Errorf("the set grew the broker's RSS from %d MiB to %d MiB, over the %d MiB bound", before>>20, peak>>20, lbRSSGrowthBound>>20)
	}
	if b.Pid() == 0 {
		t.Fatalf("the broker exited (code %d):\n%s", b.ExitCode(), b.Logs(4<<10))
	}

	// It serves a client as before, and stored nothing of the set.
	for i := range 5 {
		want = append(want, ccRecord{O: int64(len(want)), K: []byte(fmt.Sprintf("after-%d", i)), V: []byte("value")})
	}
	ccKgoProduce(t, ctx, b.Addr, topic, "lz4", want[30:])
	ccCheckSame(t, topic+" after the bomb", want, ccKgoRead(t, ctx, b.Addr, topic, 1))
	if logs := strings.ToLower(b.Logs(1 << 20)); strings.Contains(logs, "unexpected error answered as a storage") {
		t.Errorf("the set was answered as a storage error:\n%s", b.Logs(4<<10))
	}
}

func lbCreateTopic(t *testing.T, ctx context.Context, addr, topic string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("creating %s: %v %v", topic, err, resp.Err)
	}
}

// lbMessage is one magic 1 message with attributes attrs (the codec of a
// wrapper), offset, key and value (nil: null), timestamped now.
func lbMessage(offset int64, attrs int8, key, value []byte) []byte {
	m := []byte{0, 0, 0, 0, 1, byte(attrs)}
	m = binary.BigEndian.AppendUint64(m, uint64(time.Now().UnixMilli()))
	for _, f := range [][]byte{key, value} {
		if f == nil {
			m = binary.BigEndian.AppendUint32(m, 0xffffffff)
			continue
		}
		m = binary.BigEndian.AppendUint32(m, uint32(len(f)))
		m = append(m, f...)
	}
	binary.BigEndian.PutUint32(m, crc32.ChecksumIEEE(m[4:]))
	out := binary.BigEndian.AppendUint64(nil, uint64(offset))
	out = binary.BigEndian.AppendUint32(out, uint32(len(m)))
	return append(out, m...)
}

// lbProduce sends set to partition 0 of topic with Produce v2 (acks all)
// and returns the partition's error code and base offset. The deadline
// is long: before the fix a broker took seconds over such a set.
func lbProduce(c net.Conn, corr int32, topic string, set []byte) (int16, int64, error) {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(2)
	req.Acks = -1
	req.TimeoutMillis = 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = set
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	c.SetDeadline(time.Now().Add(90 * time.Second))
	if _, err := c.Write(badFrame(req.Key(), req.GetVersion(), corr, false, req.AppendTo(nil))); err != nil {
		return 0, 0, err
	}
	body, got, err := badReadResponse(c)
	if err != nil {
		return 0, 0, err
	}
	if got != corr {
		return 0, 0, fmt.Errorf("correlation id %d, want %d", got, corr)
	}
	resp := kmsg.NewPtrProduceResponse()
	resp.SetVersion(2)
	if err := resp.ReadFrom(body); err != nil {
		return 0, 0, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return 0, 0, errors.New("a produce response without the one partition asked for")
	}
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, p.BaseOffset, nil
}

// lbPeakRSS returns the resident memory of process pid before fn and the
// most it held while fn ran: the kernel's high-water mark (VmHWM, reset
// first through clear_refs), or where that cannot be reset the most seen
// reading VmRSS every few milliseconds.
func lbPeakRSS(t *testing.T, pid int, fn func()) (before, peak int64) {
	t.Helper()
	before = lbProcStatus(t, pid, "VmRSS")
	reset := os.WriteFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", []byte("5"), 0) == nil
	if !reset {
		t.Logf("cannot reset the broker's VmHWM: sampling VmRSS")
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	sampled := before
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if rss, err := brokertest.ProcRSS(pid); err == nil {
					sampled = max(sampled, rss)
				}
			}
		}
	}()
	fn()
	close(done)
	wg.Wait()
	peak = sampled
	if reset {
		peak = max(peak, lbProcStatus(t, pid, "VmHWM"))
	}
	return before, peak
}

// lbProcStatus reads a field of /proc/<pid>/status given in kB, in bytes.
func lbProcStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatalf("reading the broker's status: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			if f := strings.Fields(rest); len(f) == 2 && f[1] == "kB" {
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return kb << 10
				}
			}
		}
	}
	t.Fatalf("no %s in the broker's status", field)
	return 0
}
