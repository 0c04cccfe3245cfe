package monitor

// Consumer lag, as kafka-exporter and Burrow report it, computed where
// the committed offsets are: on the broker coordinating each group (so a
// cluster exports every group once). Lag is a partition's high watermark
// minus the group's committed offset, as kafka-consumer-groups.sh's LAG
// column (ConsumerGroupCommand.getLag) and kafka_exporter compute it: a
// committed offset past the end (records lost to an unclean election or a
// truncation, a topic deleted and made again, an offset set by hand) shows
// as negative lag, not as a group that is up to date; the high
// watermarks come from this broker for partitions it leads and from their
// leaders (ListOffsets) for the others.

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gregor/coordinator"
)

// lagTimeout bounds how long a scrape waits for other leaders' offsets.
const lagTimeout = 3 * time.Second

// lagCacheFor: scrapes and page loads within this of each other share
// one computation (and one ListOffsets per leader).
const lagCacheFor = time.Second

// GroupLag is a group with the lag of each partition it committed.
type GroupLag struct {
	coordinator.GroupView
	Partitions []PartitionLag
	// Total is the sum of the known lags above zero: how far behind the
	// group is (a partition committed past its end does not offset
	// another's lag).
	Total int64
}

// PartitionLag is one partition's committed and end offsets; End is -1
// when its leader did not answer. Lag is End minus Committed, negative when
// the group committed past the end; HasLag is false when End or Committed
// is unknown (-1).
type PartitionLag struct {
	Topic     string
	Partition int32
	Committed int64
	End       int64
	Lag       int64
	HasLag    bool
}

type lagCollector struct {
	src Sources

	mu sync.Mutex
	// guarded by mu:
	at   time.Time
	last []GroupLag
	// all is how many groups are coordinated here; last holds at most
	// Sources.MaxGroups of them.
	all int
	// states counts all of them by type and state.
	states map[groupTypeState]int
}

type groupTypeState struct{ typ, state string }

// groupStates are the states exported even when no group is in them, so
// that an alert on one finds a zero, not nothing.
var groupStates = []groupTypeState{
	{"classic", "Empty"}, {"classic", "PreparingRebalance"}, {"classic", "CompletingRebalance"}, {"classic", "Stable"},
	{"consumer", "Empty"}, {"consumer", "Assigning"}, {"consumer", "Reconciling"}, {"consumer", "Stable"},
}

func newLagCollector(src Sources) *lagCollector { return &lagCollector{src: src} }

// Groups returns the groups coordinated here with their lag, computed at
// most once per lagCacheFor: at most Sources.MaxGroups of them, those with
// the largest total lag first (then by name), and how many there are.
func (l *lagCollector) Groups() (groups []GroupLag, all int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last != nil && time.Since(l.at) < lagCacheFor {
		return l.last, l.all
	}
	l.last, l.at = l.compute(), time.Now()
	l.all = len(l.last)
	l.states = map[groupTypeState]int{}
	for _, k := range groupStates {
		l.states[k] = 0
	}
	for _, g := range l.last {
		l.states[groupTypeState{g.Type, g.State}]++
	}
	if limit := l.src.MaxGroups; limit > 0 && len(l.last) > limit {
		slices.SortFunc(l.last, func(a, b GroupLag) int {
			if c := cmp.Compare(b.Total, a.Total); c != 0 {
				return c
			}
			return strings.Compare(a.Group, b.Group)
		})
		l.last = slices.Clip(l.last[:limit])
	}
	return l.last, l.all
}

func (l *lagCollector) compute() []GroupLag {
	if l.src.Coord == nil {
		return []GroupLag{}
	}
	groups := l.src.Coord.Groups()
	want := map[string][]int32{}
	seen := map[string]map[int32]bool{}
	for _, g := range groups {
		for _, o := range g.Offsets {
			if seen[o.Topic] == nil {
				seen[o.Topic] = map[int32]bool{}
			}
			if !seen[o.Topic][o.Partition] {
				seen[o.Topic][o.Partition] = true
				want[o.Topic] = append(want[o.Topic], o.Partition)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), lagTimeout)
	defer cancel()
	ends := l.src.Broker.EndOffsets(ctx, want)
	out := make([]GroupLag, 0, len(groups))
	for _, g := range groups {
		gl := GroupLag{GroupView: g}
		for _, o := range g.Offsets {
			pl := PartitionLag{Topic: o.Topic, Partition: o.Partition, Committed: o.Offset, End: -1}
			if end, ok := ends[o.Topic][o.Partition]; ok {
				pl.End = end
				// A committed -1 is no position: no lag, as
				// kafka-consumer-groups.sh shows "-" for it.
				if o.Offset >= 0 {
					pl.Lag, pl.HasLag = end-o.Offset, true
					gl.Total += max(0, pl.Lag)
				}
			}
			gl.Partitions = append(gl.Partitions, pl)
		}
		out = append(out, gl)
	}
	return out
}

var (
	dLag       = desc("consumer_group_lag", "A group's lag on a partition: the high watermark minus the committed offset, negative when the group committed past the end, as kafka-consumer-groups.sh shows it (exported by the group's coordinator).", "group", "topic", "partition")
	dCommitted = desc("consumer_group_committed_offset", "A group's committed offset of a partition.", "group", "topic", "partition")
	dMembers   = desc("consumer_group_members", "Members of a group coordinated here.", "group")
	dGroupSt   = desc("consumer_group_state", "A group's state (value 1), as Kafka names it.", "group", "state")
	dGroupsBy  = desc("consumer_groups_by_state", "Groups coordinated here by type (classic, consumer) and state, all of them (Kafka's GroupCoordinatorMetrics classic-group-count and consumer-group-count by state).", "type", "state")
	dGroups    = desc("consumer_groups", "Groups coordinated here; at most gregor.metrics.max.groups of them (the largest total lag first) have series of their own.")
)

func (l *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- dLag
	ch <- dCommitted
	ch <- dMembers
	ch <- dGroupSt
	ch <- dGroups
	ch <- dGroupsBy
}

func (l *lagCollector) Collect(ch chan<- prometheus.Metric) {
	groups, all := l.Groups()
	gauge(ch, dGroups, float64(all))
	l.mu.Lock()
	for k, n := range l.states {
		gauge(ch, dGroupsBy, float64(n), k.typ, k.state)
	}
	l.mu.Unlock()
	for _, g := range groups {
		gauge(ch, dMembers, float64(len(g.Members)), g.Group)
		gauge(ch, dGroupSt, 1, g.Group, g.State)
		for _, p := range g.Partitions {
			part := strconv.Itoa(int(p.Partition))
			gauge(ch, dCommitted, float64(p.Committed), g.Group, p.Topic, part)
			if p.HasLag {
				gauge(ch, dLag, float64(p.Lag), g.Group, p.Topic, part)
			}
		}
	}
}
