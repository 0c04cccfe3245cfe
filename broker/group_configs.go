package broker

// Group configs (config resource type GROUP, KIP-848/KIP-932): per-group
// overrides such as share.auto.offset.reset, altered with
// IncrementalAlterConfigs and AlterConfigs and read with DescribeConfigs.
// Kafka keeps them in its KRaft metadata; Gregor keeps them in memory on
// the broker that was asked, so in a cluster they must be set on every
// broker (or on the group's coordinator and the leaders of its
// partitions), and a restart forgets them.

import (
	"context"
	"maps"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/config"
)

// groupConfigStore holds the group configs.
type groupConfigStore struct {
	mu sync.Mutex
	// guarded by mu:
	byGroup map[string]map[string]string
}

// GroupConfig is a group's config overrides; nil when it has none. The
// map is the caller's.
func (b *Broker) GroupConfig(group string) map[string]string {
	s := &b.groupConfigs
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byGroup[group]) == 0 {
		return nil
	}
	return maps.Clone(s.byGroup[group])
}

// setGroupConfigs replaces a group's overrides after validating them as
// Kafka's GroupConfig.validate does.
func (b *Broker) setGroupConfigs(_ context.Context, group string, next map[string]string, validateOnly bool) error {
	if group == "" {
		return errorf(kerr.InvalidRequest, "Group name must not be empty")
	}
	if err := b.Config().ValidateGroupConfigs(next); err != nil {
		return errorf(kerr.InvalidConfig, "%v", err)
	}
	if validateOnly {
		return nil
	}
	s := &b.groupConfigs
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byGroup == nil {
		s.byGroup = make(map[string]map[string]string)
	}
	if len(next) == 0 {
		delete(s.byGroup, group)
	} else {
		s.byGroup[group] = maps.Clone(next)
	}
	b.log.Info().Str("group", group).Interface("configs", next).Msg("group configs altered")
	return nil
}

// groupEntries describes every group config of a group: its override, or
// the broker's value or fixed default.
func (b *Broker) groupEntries(group string) []config.Entry {
	over := b.GroupConfig(group)
	cfg := b.Config()
	out := make([]config.Entry, 0, len(config.GroupKeys))
	for _, k := range config.GroupKeys {
		v, src := k.Default, config.SourceDefault
		if k.Broker != "" {
			if bv, ok := cfg.BrokerValue(k.Broker); ok {
				v = bv
			}
		}
		if ov, ok := over[k.Name]; ok {
			v, src = ov, config.SourceGroup
		}
		typ := config.Int
		if k.Default != "" {
			typ = config.String
		}
		out = append(out, config.Entry{Name: k.Name, Value: &v, Source: src, Type: typ, Doc: k.Doc})
	}
	return out
}
