package main

// gregor-bench groups: KIP-848 consumer groups against classic ones. One
// broker; each round forms a group of 4 (8 partitions) and has one member
// leave, once with the classic protocol (JoinGroup/SyncGroup, the range
// balancer in the client, 100 ms heartbeats) and once with the consumer
// protocol (ConsumerGroupHeartbeat, the broker's range assignor, a 100 ms
// heartbeat interval set by the broker), alternating which goes first.
// It reports the median time for every partition to be owned once the
// members start (join) and after the leave (rebalance).

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func groupsCmd(args []string) {
	fs := flag.NewFlagSet("groups", flag.ExitOnError)
	gregorBin := fs.String("gregor", "bin/gregor", "gregor binary")
	rounds := fs.Int("rounds", 5, "rounds; medians are reported")
	fs.Parse(args)
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	addr := freeAddr()
	_, stop := startBroker(ctx, *gregorBin, "groups", addr, "group.initial.rebalance.delay.ms=0",
		"group.consumer.min.heartbeat.interval.ms=100", "group.consumer.heartbeat.interval.ms=100",
		"group.consumer.min.session.timeout.ms=6000", "group.consumer.session.timeout.ms=6000")
	defer stop()
	kinds := []struct {
		name string
		next bool
	}{{"classic", false}, {"consumer (KIP-848)", true}}
	results := map[string]map[string][]float64{}
	for r := 0; r < *rounds; r++ {
		order := []int{0, 1}
		if r%2 == 1 {
			order = []int{1, 0}
		}
		for _, i := range order {
			k := kinds[i]
			ms, err := groupTimesWith(ctx, addr, k.next)
			if err != nil {
				fail(fmt.Errorf("%s: %w", k.name, err))
			}
			if results[k.name] == nil {
				results[k.name] = map[string][]float64{}
			}
			for _, m := range ms {
				results[k.name][m.name] = append(results[k.name][m.name], m.value)
			}
			fmt.Fprintf(os.Stderr, "round %d %-18s join %.1f ms, rebalance after a leave %.1f ms\n", r+1, k.name, ms[0].value, ms[1].value)
		}
	}
	fmt.Printf("| Group of 4, 8 partitions, 100 ms heartbeats | classic | consumer (KIP-848) | consumer/classic |\n|---|---|---|---|\n")
	for _, what := range []string{"join", "leave-rebalance"} {
		c, n := median(results["classic"][what]), median(results["consumer (KIP-848)"][what])
		fmt.Printf("| %s, ms | %.1f | %.1f | %.2f |\n", what, c, n, n/c)
	}
}
