package coordinator

import (
	"time"

	"github.com/rs/zerolog"

	"gregor/protocol"
)

// Config is the coordinators' part of the broker configuration.
type Config struct {
	BrokerID int32

	OffsetsTopicPartitions   int32
	OffsetsTopicReplication  int16
	OffsetsTopicSegmentBytes int64
	OffsetsRetention         time.Duration
	OffsetsRetentionCheck    time.Duration
	InitialRebalanceDelay    time.Duration
	MinSessionTimeout        time.Duration
	MaxSessionTimeout        time.Duration
	MaxGroupSize             int32

	TxnTopicPartitions  int32
	TxnTopicReplication int16
	TxnTopicMinISR      int32
	TxnMaxTimeout       time.Duration
	TxnIDExpiration     time.Duration
	TxnAbortCheckPeriod time.Duration
}

// Coordinator owns the group and transaction coordinators of a broker.
type Coordinator struct {
	cfg  Config
	host Host
	log  zerolog.Logger
	pids *producerIDs
	txn  txnCoordinator
	grp  groupCoordinator
}

// New returns the coordinators for a broker.
func New(cfg Config, host Host, log zerolog.Logger) *Coordinator {
	c := &Coordinator{cfg: cfg, host: host, log: log, pids: &producerIDs{host: host}}
	c.txn.parts = make(map[int32]*txnPartition)
	c.txn.stop = make(chan struct{})
	c.startTxns()
	c.grp.parts = make(map[int32]*groupPartition)
	c.grp.stop = make(chan struct{})
	c.startGroups()
	return c
}

// Register adds the coordinators' APIs to the registry.
func (c *Coordinator) Register(r *protocol.Registry) {
	for _, a := range c.apis() {
		r.Register(a)
	}
}

func (c *Coordinator) apis() []protocol.API {
	return append(c.groupAPIs(), c.txnAPIs()...)
}

// LeadershipChanged is called by the broker when this broker gains or
// loses leadership of an internal topic partition: the coordinator for the
// groups or transactional ids that hash to it loads or unloads them.
func (c *Coordinator) LeadershipChanged(topic string, partition int32, leader bool, epoch int32) {
	switch topic {
	case OffsetsTopic:
		c.groupLeadership(partition, leader, epoch)
	case TransactionTopic:
		c.txnLeadership(partition, leader, epoch)
	}
}

// Close stops the coordinators' background work.
func (c *Coordinator) Close() {
	c.closeGroups()
	c.closeTxns()
}

// Internal topic names.
const (
	OffsetsTopic     = "__consumer_offsets"
	TransactionTopic = "__transaction_state"
)
