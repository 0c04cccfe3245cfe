package main

// gregor-bench hostile: what an operator sees while clients misbehave.
// One broker with its default limits; a well-behaved canary producer
// (idempotent, acks=all, one 100 B record every 5 ms, each waited for)
// runs through every phase, and each phase puts one kind of misbehaving
// client beside it for the phase's duration:
//   - quiet: none, the baseline;
//   - big-frames: connections that each announce a request of
//     socket.request.max.bytes (100 MiB) and send 6 bytes of it (a
//     broker that allocates what a frame announces holds 100 MiB for
//     each);
//   - half-sent: connections that announce 100 MiB, send 1 MiB of it and
//     stop, holding the bytes reserved for requests being read
//     (queued.max.request.bytes) while others wait;
//   - unread-fetches: connections that each pipeline fetches of a 16 MiB
//     topic and never read an answer;
//   - conn-churn: new connections as fast as four loops can open them,
//     each sending ApiVersions, reading the answer and closing;
//   - corrupt-batches: produce requests of 512 KiB batches whose CRC is
//     wrong, from four loops as fast as the broker answers.
// For each: the canary's acks (and errors) and its latency p50, p99 and
// max, the broker's resident memory before and at its peak (sampled every
// 50 ms), its CPU, and what became of the misbehaving connections. At the
// end the canary topic must hold exactly the records acknowledged, and
// the topic the corrupt batches went to must be empty.

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	hostileFrame   = 104857600 // socket.request.max.bytes' default
	hostileBulkMiB = 16
)

// hostileEnv is the broker under attack and the topics the phases use.
type hostileEnv struct {
	addr    string
	pid     int
	canary  string
	bulk    string // 16 MiB that unread-fetches ask for
	corrupt string // where corrupt-batches send, which must stay empty
	conns   int
}

// hostileResult is one phase as the operator and the canary saw it.
type hostileResult struct {
	acked, failed    int
	firstErr         error
	p50, p99, maxLat time.Duration
	rssBefore, rssPk float64
	cpu              float64 // broker CPU, in cores
	attack           string  // what became of the misbehaving clients
}

func hostileCmd(args []string) {
	fs := flag.NewFlagSet("hostile", flag.ExitOnError)
	gregorBin := fs.String("gregor", "bin/gregor", "gregor binary")
	duration := fs.Duration("duration", 10*time.Second, "how long each phase runs")
	conns := fs.Int("conns", 1000, "connections in big-frames (a tenth of them in half-sent)")
	fs.Parse(args)
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	raiseFileLimit(uint64(2**conns + 1024))

	addr := freeAddr()
	pid, stop := startBroker(ctx, *gregorBin, "hostile", addr)
	defer stop()
	e := &hostileEnv{addr: addr, pid: pid, conns: *conns}
	var err error
	if e.canary, err = newTopic(ctx, addr, 1); err != nil {
		fail(err)
	}
	if e.bulk, err = newTopic(ctx, addr, 1); err != nil {
		fail(err)
	}
	if e.corrupt, err = newTopic(ctx, addr, 1); err != nil {
		fail(err)
	}
	if err := fillTopic(ctx, addr, e.bulk, "none", hostileBulkMiB<<10, 1<<10); err != nil {
		fail(fmt.Errorf("filling %s: %w", e.bulk, err))
	}

	canary, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(e.canary), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0), kgo.RecordDeliveryTimeout(30*time.Second))
	if err != nil {
		fail(err)
	}
	defer canary.Close()
	if err := canary.ProduceSync(ctx, kgo.StringRecord("warm-up")).FirstErr(); err != nil {
		fail(fmt.Errorf("canary warm-up: %w", err))
	}
	acked := 1

	fmt.Printf("one broker, default limits; canary: idempotent acks=all, one 100 B record every 5 ms; phases of %v\n", *duration)
	fmt.Printf("%-16s %8s %6s %8s %8s %8s %14s %6s  %s\n", "phase", "acks", "errors", "p50 ms", "p99 ms", "max ms", "RSS MB", "CPU", "the misbehaving clients")
	for _, ph := range []struct {
		name   string
		attack func(ctx context.Context, e *hostileEnv) func() string
	}{
		{"quiet", func(context.Context, *hostileEnv) func() string { return func() string { return "-" } }},
		{"big-frames", bigFrames},
		{"half-sent", halfSent},
		{"unread-fetches", unreadFetches},
		{"conn-churn", connChurn},
		{"corrupt-batches", corruptBatches},
	} {
		r := hostilePhase(ctx, e, canary, *duration, ph.attack)
		acked += r.acked
		errs := fmt.Sprint(r.failed)
		if r.firstErr != nil {
			errs += fmt.Sprintf(" (%v)", r.firstErr)
		}
		fmt.Printf("%-16s %8d %6s %8.2f %8.2f %8.1f %6.0f -> %5.0f %5.0f%%  %s\n", ph.name, r.acked, errs,
			ms(r.p50), ms(r.p99), ms(r.maxLat), r.rssBefore, r.rssPk, r.cpu*100, r.attack)
		if ctx.Err() != nil {
			return
		}
	}

	// Nothing acknowledged is lost or doubled, nothing corrupt was stored.
	adm := kadm.NewClient(canary)
	ends, err := adm.ListEndOffsets(ctx, e.canary, e.corrupt)
	if err != nil {
		fail(err)
	}
	if o, _ := ends.Lookup(e.canary, 0); o.Offset != int64(acked) {
		fail(fmt.Errorf("canary topic ends at offset %d, but %d records were acknowledged", o.Offset, acked))
	}
	if o, _ := ends.Lookup(e.corrupt, 0); o.Offset != 0 {
		fail(fmt.Errorf("the corrupt batches' topic ends at offset %d: a corrupt batch was stored", o.Offset))
	}
	fmt.Printf("afterwards: the canary topic holds exactly the %d records acknowledged; the corrupt batches' topic is empty\n", acked)
}

// hostilePhase runs the canary beside attack for d.
func hostilePhase(ctx context.Context, e *hostileEnv, canary *kgo.Client, d time.Duration,
	attack func(context.Context, *hostileEnv) func() string) hostileResult {
	var r hostileResult
	r.rssBefore = rssMB(e.pid)
	cpu0, _ := procCPU(e.pid)
	actx, stopAttack := context.WithCancel(ctx)
	report := attack(actx, e)

	var peak atomic.Uint64
	sctx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for t := time.NewTicker(50 * time.Millisecond); ; {
			if v := uint64(rssMB(e.pid) * 1e3); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-sctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}()

	var lats []time.Duration
	value := make([]byte, 100)
	start := time.Now()
	for next := start; time.Since(start) < d && ctx.Err() == nil; next = next.Add(5 * time.Millisecond) {
		time.Sleep(time.Until(next))
		t0 := time.Now()
		err := canary.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr()
		if err != nil {
			r.failed++
			if r.firstErr == nil {
				r.firstErr = err
			}
			continue
		}
		r.acked++
		lats = append(lats, time.Since(t0))
	}
	cpu1, _ := procCPU(e.pid)
	r.cpu = (cpu1 - cpu0) / time.Since(start).Seconds()
	r.attack = report()
	stopAttack()
	stopSampling()
	<-sampled
	r.rssPk = float64(peak.Load()) / 1e3
	if len(lats) > 0 {
		slices.Sort(lats)
		r.p50, r.p99, r.maxLat = lats[len(lats)/2], lats[len(lats)*99/100], lats[len(lats)-1]
	}
	return r
}

// inLoops runs body over and over in n goroutines until ctx ends; the
// group is done once they have all stopped.
func inLoops(ctx context.Context, n int, body func()) *sync.WaitGroup {
	wg := new(sync.WaitGroup)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				body()
			}
		}()
	}
	return wg
}

// dialMany opens n connections, returning those it could.
func dialMany(addr string, n int) []net.Conn {
	out := make([]net.Conn, 0, n)
	for range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			break
		}
		out = append(out, c)
	}
	return out
}

// holdOpen reads each connection until the broker closes it, counting
// those it closed, and closes them all when ctx ends.
func holdOpen(ctx context.Context, cs []net.Conn) (closedByBroker *atomic.Int64) {
	closedByBroker = new(atomic.Int64)
	for _, c := range cs {
		go func() {
			var b [512]byte
			for {
				if _, err := c.Read(b[:]); err != nil {
					if ctx.Err() == nil && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
						closedByBroker.Add(1)
					}
					return
				}
			}
		}()
	}
	go func() {
		<-ctx.Done()
		for _, c := range cs {
			c.Close()
		}
	}()
	return closedByBroker
}

// frameStart is the start of a request announcing size bytes: its length
// and the first 6 bytes of a Produce header.
func frameStart(size int) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(size))
	return append(b, 0, 0, 0, 9, 0, 0) // api key 0, version 9, the correlation id begun
}

func bigFrames(ctx context.Context, e *hostileEnv) func() string {
	cs := dialMany(e.addr, e.conns)
	for _, c := range cs {
		c.Write(frameStart(hostileFrame))
	}
	closed := holdOpen(ctx, cs)
	return func() string {
		return fmt.Sprintf("%d connections each announcing 100 MiB, 6 bytes sent; %d closed by the broker", len(cs), closed.Load())
	}
}

func halfSent(ctx context.Context, e *hostileEnv) func() string {
	cs := dialMany(e.addr, max(e.conns/10, 1))
	var sent atomic.Int64
	for _, c := range cs {
		go func() {
			c.Write(frameStart(hostileFrame))
			chunk := make([]byte, 64<<10)
			for range 16 { // 1 MiB, or what the broker reads of it
				c.SetWriteDeadline(time.Now().Add(2 * time.Second))
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
			sent.Add(1)
		}()
	}
	closed := holdOpen(ctx, cs)
	return func() string {
		return fmt.Sprintf("%d connections announcing 100 MiB, %d of them sent 1 MiB and stopped; %d closed by the broker", len(cs), sent.Load(), closed.Load())
	}
}

func unreadFetches(ctx context.Context, e *hostileEnv) func() string {
	const conns, perConn = 16, 200
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12) // topics by name
	req.ReplicaID, req.MaxWaitMillis, req.MaxBytes = -1, 0, 1<<30
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = e.bulk
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = 1<<30, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("unread")).AppendRequest(nil, req, 1)
	cs := dialMany(e.addr, conns)
	var written atomic.Int64
	for _, c := range cs {
		go func() {
			for range perConn {
				c.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := c.Write(frame); err != nil {
					return
				}
				written.Add(1)
			}
		}()
	}
	go func() {
		<-ctx.Done()
		for _, c := range cs {
			c.Close()
		}
	}()
	return func() string {
		return fmt.Sprintf("%d connections pipelining fetches of %d MiB, never read: %d of %d requests accepted by the broker's socket", len(cs), hostileBulkMiB, written.Load(), conns*perConn)
	}
}

func connChurn(ctx context.Context, e *hostileEnv) func() string {
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "gregor-bench", "1"
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("churn")).AppendRequest(nil, req, 1)
	var opened, failed atomic.Int64
	inLoops(ctx, 4, func() {
		if err := oneApiVersions(e.addr, frame); err != nil {
			failed.Add(1)
			return
		}
		opened.Add(1)
	})
	start := time.Now()
	return func() string {
		n := opened.Load()
		return fmt.Sprintf("%d connections opened, answered and closed (%.0f/s), %d failed", n, float64(n)/time.Since(start).Seconds(), failed.Load())
	}
}

func oneApiVersions(addr string, frame []byte) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(frame); err != nil {
		return err
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return err
	}
	_, err = io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(size[:])))
	return err
}

func corruptBatches(ctx context.Context, e *hostileEnv) func() string {
	value := make([]byte, 100)
	batch := recordBatch(value, 512<<10/110) // under message.max.bytes, so the CRC is what refuses it
	batch[len(batch)-1] ^= 0xff              // the last record's last byte: the CRC no longer matches
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addr))
	if err != nil {
		fail(err)
	}
	_, topicID, err := partitionLeaders(ctx, cl, e.corrupt)
	if err != nil {
		fail(err)
	}
	var refused, other atomic.Int64
	var lastOther atomic.Value
	wg := inLoops(ctx, 4, func() {
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = 1, 30000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic, rt.TopicID = e.corrupt, topicID // by id from v13 (KIP-516)
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = batch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		switch {
		case ctx.Err() != nil:
		case err != nil:
			other.Add(1)
			lastOther.Store(err.Error())
		case resp.Topics[0].Partitions[0].ErrorCode == kerr.CorruptMessage.Code:
			refused.Add(1)
		default:
			other.Add(1)
			lastOther.Store(fmt.Sprint(kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)))
		}
	})
	go func() {
		<-ctx.Done()
		wg.Wait()
		cl.Close()
	}()
	return func() string {
		s := fmt.Sprintf("%d requests of a 512 KiB batch with a bad CRC refused with CORRUPT_MESSAGE", refused.Load())
		if n := other.Load(); n > 0 {
			s += fmt.Sprintf(", %d answered otherwise (last: %v)", n, lastOther.Load())
		}
		return s
	}
}
