package main

// gregor-bench downconvert: what down-conversion costs. One broker, one
// topic per codec written once by a current client (magic 2 batches);
// each round reads it all twice, alternating which goes first: with
// franz-go at its current versions (Fetch v12+, magic 2, bytes sent as
// stored) and capped at Kafka 0.10.2 (Fetch v3, magic 1: every batch
// down-converted by the broker). It reports records/s of each and the
// broker's CPU time per million records read (from /proc), whose
// difference is the conversion's cost.

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"
)

func downconvertCmd(args []string) {
	fs := flag.NewFlagSet("downconvert", flag.ExitOnError)
	gregorBin := fs.String("gregor", "bin/gregor", "gregor binary")
	rounds := fs.Int("rounds", 5, "rounds; medians are reported")
	records := fs.Int("records", 300000, "records per topic")
	size := fs.Int("size", 256, "record value bytes")
	codecs := fs.String("codecs", "none,lz4", "codecs of the topics (none, gzip, snappy, lz4)")
	fs.Parse(args)
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	addr := freeAddr()
	pid, stop := startBroker(ctx, *gregorBin, "downconvert", addr)
	defer stop()
	readers := []struct {
		name string
		opts []kgo.Opt
	}{
		{"magic 2 (current Fetch)", nil},
		{"magic 1 (Fetch v3, down-converted)", []kgo.Opt{kgo.MaxVersions(kversion.V0_10_2())}},
	}
	type key struct{ codec, reader, what string }
	results := map[key][]float64{}
	for _, codec := range strings.Split(*codecs, ",") {
		topic, err := newTopic(ctx, addr, 3)
		if err != nil {
			fail(err)
		}
		if err := fillTopic(ctx, addr, topic, codec, *records, *size); err != nil {
			fail(fmt.Errorf("writing %s: %w", codec, err))
		}
		for r := 0; r < *rounds; r++ {
			for i := range readers {
				x := readers[(i+r)%len(readers)]
				cpu0, _ := procCPU(pid)
				rate, err := readAll(ctx, addr, topic, *records, x.opts)
				if err != nil {
					fail(fmt.Errorf("%s, %s: %w", codec, x.name, err))
				}
				cpu1, _ := procCPU(pid)
				cpu := (cpu1 - cpu0) / float64(*records) * 1e6
				results[key{codec, x.name, "rate"}] = append(results[key{codec, x.name, "rate"}], rate)
				results[key{codec, x.name, "cpu"}] = append(results[key{codec, x.name, "cpu"}], cpu)
				fmt.Fprintf(os.Stderr, "round %d %-6s %-36s %9.0f records/s, broker CPU %.2f s per million records\n", r+1, codec, x.name, rate, cpu)
			}
		}
	}
	fmt.Printf("| Codec, %d B records | magic 2 records/s | magic 1 records/s | magic 1 / magic 2 | broker CPU s per 1M records, magic 2 | magic 1 | conversion cost |\n", *size)
	fmt.Printf("|---|---|---|---|---|---|---|\n")
	for _, codec := range strings.Split(*codecs, ",") {
		r2, r1 := median(results[key{codec, readers[0].name, "rate"}]), median(results[key{codec, readers[1].name, "rate"}])
		c2, c1 := median(results[key{codec, readers[0].name, "cpu"}]), median(results[key{codec, readers[1].name, "cpu"}])
		fmt.Printf("| %s | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f |\n", codec, r2, r1, r1/r2, c2, c1, c1-c2)
	}
	fmt.Printf("(%d rounds of %d records, medians, alternating order; %s)\n", *rounds, *records, time.Now().UTC().Format(time.RFC3339))
}

// fillTopic writes n records of size bytes round-robin over the topic's
// partitions, compressed with codec.
func fillTopic(ctx context.Context, addr, topic, codec string, n, size int) error {
	c, ok := map[string]kgo.CompressionCodec{"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(),
		"snappy": kgo.SnappyCompression(), "lz4": kgo.Lz4Compression()}[codec]
	if !ok {
		return fmt.Errorf("codec %q: the old formats have none, gzip, snappy and lz4", codec)
	}
	p, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(c),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(1<<16))
	if err != nil {
		return err
	}
	defer p.Close()
	value := make([]byte, size)
	rand.Read(value[:size/2]) // half random, half zeros: compressible, not trivially
	errc := make(chan error, 1)
	for i := 0; i < n; i++ {
		p.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errc <- err:
				default:
				}
			}
		})
	}
	if err := p.Flush(ctx); err != nil {
		return err
	}
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// readAll consumes n records of topic from the start and returns the rate.
func readAll(ctx context.Context, addr, topic string, n int, opts []kgo.Opt) (float64, error) {
	c, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(50 << 20)}, opts...)...)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	start := time.Now()
	got := 0
	for got < n {
		fs := c.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return 0, fmt.Errorf("after %d records: %w", got, err)
		}
		got += fs.NumRecords()
	}
	return float64(got) / time.Since(start).Seconds(), nil
}
