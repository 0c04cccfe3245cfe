package main

// gregor-bench share: KIP-932 share groups. One broker; each round fills
// a one-partition topic with records and has 1, 4 and 8 franz-go share
// consumers (kgo.ShareGroup) of a new group (share.auto.offset.reset
// earliest) read it, accepting every record, in an order that alternates
// between rounds. It reports the median rate from the first record
// delivered to the last one accepted (joining is not counted), and how
// many records were delivered more than once.

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func shareCmd(args []string) {
	fs := flag.NewFlagSet("share", flag.ExitOnError)
	gregorBin := fs.String("gregor", "bin/gregor", "gregor binary")
	rounds := fs.Int("rounds", 3, "rounds; medians are reported")
	n := fs.Int("records", 100000, "records per run")
	size := fs.Int("size", 100, "record size, bytes")
	bootstrap := fs.String("bootstrap", "", "a running broker to measure instead of starting gregor")
	fs.Parse(args)
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	addr := *bootstrap
	if addr == "" {
		addr = freeAddr()
		_, stop := startBroker(ctx, *gregorBin, "share", addr,
			"group.share.min.heartbeat.interval.ms=500", "group.share.heartbeat.interval.ms=500")
		defer stop()
	}
	shareRounds(ctx, addr, *rounds, *n, *size)
}

// shareRounds measures 1, 4 and 8 consumers, rounds times, and prints
// the medians.
func shareRounds(ctx context.Context, addr string, rounds, n, size int) {
	counts := []int{1, 4, 8}
	rates := map[int][]float64{}
	for r := 0; r < rounds; r++ {
		for i := range counts {
			c := counts[(i+r)%len(counts)]
			rate, dups, err := shareRun(ctx, addr, c, n, size)
			if err != nil {
				fail(fmt.Errorf("%d consumers: %w", c, err))
			}
			rates[c] = append(rates[c], rate)
			fmt.Fprintf(os.Stderr, "round %d: %d consumers %.0f records/s, %d delivered twice\n", r+1, c, rate, dups)
		}
	}
	fmt.Printf("| Share group, one partition, %d records of %d B, all accepted | records/s (median) |\n|---|---|\n", n, size)
	for _, c := range counts {
		fmt.Printf("| %d consumer(s) | %.0f |\n", c, median(rates[c]))
	}
}

// shareRun fills a topic and has consumers read it in a new share group.
func shareRun(ctx context.Context, addr string, consumers, n, size int) (rate float64, dups int, err error) {
	topic, err := newTopic(ctx, addr, 1)
	if err != nil {
		return 0, 0, err
	}
	if err := fillTopic(ctx, addr, topic, "none", n, size); err != nil {
		return 0, 0, err
	}
	group := topic + "-g"
	if err := benchGroupConfig(ctx, addr, group, "share.auto.offset.reset", "earliest"); err != nil {
		return 0, 0, err
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var mu sync.Mutex
	seen := make(map[int64]bool, n)
	var first time.Time
	var wg sync.WaitGroup
	for i := 0; i < consumers; i++ {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ShareGroup(group), kgo.ConsumeTopics(topic), kgo.FetchMaxWait(200*time.Millisecond))
		if err != nil {
			return 0, 0, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cl.Close()
			for rctx.Err() == nil {
				rs := cl.PollFetches(rctx).Records()
				cl.MarkAcks(kgo.AckAccept, rs...)
				mu.Lock()
				if first.IsZero() && len(rs) > 0 {
					first = time.Now()
				}
				for _, r := range rs {
					if seen[r.Offset] {
						dups++
					}
					seen[r.Offset] = true
				}
				done := len(seen) >= n
				mu.Unlock()
				if done {
					cl.FlushAcks(ctx)
					cancel()
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) < n {
		return 0, dups, fmt.Errorf("got %d of %d records in 5 minutes", len(seen), n)
	}
	return float64(n) / time.Since(first).Seconds(), dups, nil
}

// benchGroupConfig sets a group config (resource type GROUP).
func benchGroupConfig(ctx context.Context, addr, group, key, value string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceType(32), group
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Value = key, kmsg.StringPtr(value)
	rr.Configs = append(rr.Configs, c)
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	return kerr.ErrorForCode(resp.Resources[0].ErrorCode)
}
