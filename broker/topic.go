package broker

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"

	"gregor/broker/config"
)

// Uuid is a Kafka topic id.
type Uuid [16]byte

// NewUuid returns a random id that is neither zero nor one Kafka reserves
// (its base64 form may not start with '-').
func NewUuid() Uuid {
	for {
		var u Uuid
		rand.Read(u[:])
		if u != (Uuid{}) && !strings.HasPrefix(u.String(), "-") {
			return u
		}
	}
}

// String is Kafka's form: URL-safe base64 without padding.
func (u Uuid) String() string { return base64.RawURLEncoding.EncodeToString(u[:]) }

// ParseUuid parses Kafka's base64 form.
func ParseUuid(s string) (Uuid, error) {
	var u Uuid
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		return u, fmt.Errorf("invalid uuid %q", s)
	}
	copy(u[:], b)
	return u, nil
}

// Internal topic names.
const (
	OffsetsTopic     = "__consumer_offsets"
	TransactionTopic = "__transaction_state"
)

// IsInternal reports whether a topic is one of Kafka's internal topics.
func IsInternal(name string) bool { return name == OffsetsTopic || name == TransactionTopic }

var legalTopic = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// ValidateTopicName applies Kafka's topic name rules.
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("topic name is empty")
	case name == "." || name == "..":
		return fmt.Errorf("topic name cannot be %q", name)
	case len(name) > 249:
		return fmt.Errorf("topic name is longer than 249 characters")
	case !legalTopic.MatchString(name):
		return fmt.Errorf("topic name %q contains characters other than ASCII alphanumerics, '.', '_' and '-'", name)
	}
	return nil
}

// PartitionState is a partition's placement and leadership as the cluster
// metadata holds it.
type PartitionState struct {
	Replicas    []int32
	Leader      int32
	LeaderEpoch int32
	ISR         []int32
	// Version is the metadata store's version of this state (ZooKeeper's
	// znode version), for compare-and-set updates of the ISR.
	Version int32
}

// TopicState is a topic as the cluster metadata holds it.
type TopicState struct {
	Name       string
	ID         Uuid
	Configs    map[string]string // overrides only
	Partitions []PartitionState
}

// Topic is a topic known to this broker.
type Topic struct {
	Name     string
	ID       Uuid
	Internal bool

	cfg        atomic.Pointer[topicConfig]
	partitions atomic.Pointer[[]*Partition]
}

type topicConfig struct {
	overrides map[string]string
	resolved  config.Topic
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
