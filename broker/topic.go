package broker

import (
	"sync/atomic"

	"gregor/broker/config"
	"gregor/broker/metadata"
)

// Internal topic names.
const (
	OffsetsTopic     = "__consumer_offsets"
	TransactionTopic = "__transaction_state"
	ShareStateTopic  = "__share_group_state"
)

// IsInternal reports whether a topic is one of Kafka's internal topics.
func IsInternal(name string) bool {
	return name == OffsetsTopic || name == TransactionTopic || name == ShareStateTopic
}

// Topic is a topic known to this broker.
type Topic struct {
	Name     string
	ID       metadata.Uuid
	Internal bool

	cfg        atomic.Pointer[topicConfig]
	partitions atomic.Pointer[[]*Partition]
	// described is how many partitions Metadata last found all
	// announced (api_03_metadata.go): what it describes until the rest
	// of a larger set are.
	described atomic.Int32
}

type topicConfig struct {
	overrides map[string]string
	resolved  config.Topic
	// The partitions throttled on this broker (quota.go).
	leaderThrottled, followerThrottled throttledSet
}

// Partitions returns the topic's partitions (a snapshot).
func (t *Topic) Partitions() []*Partition {
	if p := t.partitions.Load(); p != nil {
		return *p
	}
	return nil
}

// Partition returns partition i, or nil.
func (t *Topic) Partition(i int32) *Partition {
	ps := t.Partitions()
	if i < 0 || int(i) >= len(ps) {
		return nil
	}
	return ps[i]
}

// Config returns the topic's effective configuration.
func (t *Topic) Config() config.Topic { return t.cfg.Load().resolved }

// Overrides returns the topic's config overrides (do not modify).
func (t *Topic) Overrides() map[string]string { return t.cfg.Load().overrides }
