package metadata

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf16"
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

var legalTopic = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// maxTopicNameLength is Kafka's Topic.MAX_NAME_LENGTH, in Java chars
// (UTF-16 code units).
const maxTopicNameLength = 249

// ValidateTopicName applies Kafka's topic name rules, its error in the
// words of Kafka's Topic.validate ("Topic name is invalid: ..."), which
// clients and tools print (kafka-topics.sh: "Error while executing topic
// command : Topic name is invalid: 'a b' contains one or more ...").
func ValidateTopicName(name string) error {
	var why string
	switch {
	case name == "":
		why = "the empty string is not allowed"
	case name == "." || name == "..":
		why = "'" + name + "' is not allowed"
	case len(name) > maxTopicNameLength && len(utf16.Encode([]rune(name))) > maxTopicNameLength:
		why = fmt.Sprintf("the length of '%s' is longer than the max allowed length %d", name, maxTopicNameLength)
	case !legalTopic.MatchString(name):
		why = "'" + name + "' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'"
	default:
		return nil
	}
	return errors.New("Topic name is invalid: " + why)
}

// BrokerInfo is a live broker as cluster metadata lists it.
type BrokerInfo struct {
	ID        int32
	Rack      string
	Endpoints map[string]Endpoint // by listener name
	// Protocols are the listeners' security protocols, by listener name
	// (the listener_security_protocol_map it registers); nil: each name
	// that is a protocol's is that protocol, others PLAINTEXT.
	Protocols map[string]string
	// Listeners are the listener names of Endpoints in the order they
	// are advertised (advertised.listeners), the order of the endpoints
	// it registers; nil: by name.
	Listeners []string
	// Registered is when the broker registered (the timestamp of its
	// ZooKeeper registration); zero when not known.
	Registered time.Time
}

// Endpoint is an advertised address.
type Endpoint struct {
	Host string
	Port int32
}

// PartitionState is a partition's placement and leadership as the cluster
// metadata holds it.
type PartitionState struct {
	Replicas []int32
	// Adding are the replicas an ongoing reassignment adds (in Replicas
	// too); they are not counted in the replication factor, as Kafka's
	// OngoingReassignmentState.replicationFactor.
	Adding []int32
	// Removing are the replicas an ongoing reassignment removes.
	Removing    []int32
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
	// Reported is when the backend first heard of the change delivered
	// (a ZooKeeper watch firing); zero when unknown. The broker measures
	// how long applying it took from there.
	Reported time.Time
}

// TopicSpec asks for a new topic. Assignment, if set, gives the replicas of
// each partition; otherwise the backend assigns them.
type TopicSpec struct {
	Name              string
	Partitions        int32
	ReplicationFactor int16
	Assignment        [][]int32
	Configs           map[string]string
	ValidateOnly      bool
}

// Reassignment is a partition's ongoing reassignment: its replicas (the
// target and the original ones), those being added and those being
// removed.
type Reassignment struct {
	Replicas, Adding, Removing []int32
}

// Election types of ElectLeaders (Kafka's ElectionType).
const (
	ElectPreferred int8 = 0
	ElectUnclean   int8 = 1
)

// DefaultBrokerEntity names the cluster-wide default broker configs where
// they are stored, as Kafka's /config/brokers/<default> does.
const DefaultBrokerEntity = "<default>"
