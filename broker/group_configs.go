package broker

// Group configs (config resource type GROUP, KIP-848/KIP-932): per-group
// overrides such as share.auto.offset.reset, altered with
// IncrementalAlterConfigs and read with DescribeConfigs. Kafka keeps them
// in its KRaft metadata; Gregor keeps them in the metadata backend (the
// local file, or /config/groups in ZooKeeper), which delivers them to
// every broker (ApplyGroupConfigs).

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/config"
)

// namedConfigs holds named config sets (group configs, client metrics
// subscriptions) as the backend delivered them.
type namedConfigs struct {
	mu     sync.Mutex
	byName map[string]map[string]string // guarded by mu
	deliv  delivered
}

// get returns one set; nil when it has none. The map is the caller's.
func (s *namedConfigs) get(name string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byName[name]) == 0 {
		return nil
	}
	return maps.Clone(s.byName[name])
}

// value is one key of one set, without copying the set.
func (s *namedConfigs) value(name, key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.byName[name][key]
	return v, ok
}

// names returns the names of the sets there are, sorted.
func (s *namedConfigs) names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.byName))
	for name, c := range s.byName {
		if len(c) > 0 {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// replace takes every set, as a delivery from the backend.
func (s *namedConfigs) replace(all map[string]map[string]string) {
	s.mu.Lock()
	s.byName = all
	s.mu.Unlock()
	s.deliv.notify()
}

// await waits until a set is as want here.
func (s *namedConfigs) await(ctx context.Context, name string, want map[string]string) bool {
	return s.deliv.await(ctx, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return maps.Equal(s.byName[name], want)
	})
}

// GroupConfig is a group's config overrides; nil when it has none. The
// map is the caller's.
func (b *Broker) GroupConfig(group string) map[string]string {
	return b.groupConfigs.get(group)
}

// groupConfigInt is a group's override of an int config, if it has a
// valid one.
func (b *Broker) groupConfigInt(group, key string) (int64, bool) {
	v, ok := b.groupConfigs.value(group, key)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
	return n, err == nil
}

// setGroupConfigs replaces a group's overrides after validating them as
// Kafka's GroupConfig.validate does.
func (b *Broker) setGroupConfigs(ctx context.Context, group string, next map[string]string, validateOnly bool) error {
	if err := b.validGroupConfigs(group, next); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	if err := b.backend.AlterGroupConfigs(ctx, group, next); err != nil {
		return err
	}
	b.groupConfigsAltered(ctx, group, next)
	return nil
}

// validGroupConfigs validates a group's complete new configs.
func (b *Broker) validGroupConfigs(group string, next map[string]string) error {
	if group == "" {
		// Kafka's ControllerConfigurationValidator.validateGroupName.
		return errorf(kerr.InvalidRequest, "Default group resources are not allowed.")
	}
	if err := b.Config().ValidateGroupConfigs(next); err != nil {
		return errorf(kerr.InvalidConfig, "%v", err)
	}
	return nil
}

// groupConfigsAltered logs a group's new configs and waits (briefly)
// until this broker applied them.
func (b *Broker) groupConfigsAltered(ctx context.Context, group string, next map[string]string) {
	b.log.Info().Str("group", group).Interface("configs", next).Msg("group configs altered")
	if !b.groupConfigs.await(ctx, group, next) {
		b.log.Warn().Str("group", group).Msg("group configs recorded but not yet applied here")
	}
}

// ApplyGroupConfigs takes every group's configs (GroupConfigApplier).
func (a applier) ApplyGroupConfigs(groups map[string]map[string]string) {
	a.b.groupConfigs.replace(groups)
}

// groupEntries describes every group config of a group (config.GroupEntries).
func (b *Broker) groupEntries(group string) []config.Entry {
	return b.Config().GroupEntries(b.GroupConfig(group))
}
