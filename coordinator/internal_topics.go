package coordinator

import "strconv"

// InternalTopicSpec is how the coordinators' internal topics are created,
// by the coordinator that first needs one (FindCoordinator, the share
// persister) or by the broker when a client's Metadata asks for one to be
// auto-created (as Kafka's AutoTopicCreationManager.creatableTopic gives
// them their coordinators' partition counts, replication factors and
// configs): the partitions, replication factor and topic configs; ok is
// false for a topic that is not internal.
func (c *Coordinator) InternalTopicSpec(name string) (partitions int32, rf int16, configs map[string]string, ok bool) {
	return internalTopicSpec(&c.cfg, name)
}

func internalTopicSpec(cfg *Config, name string) (partitions int32, rf int16, configs map[string]string, ok bool) {
	switch name {
	case OffsetsTopic:
		configs = map[string]string{"cleanup.policy": "compact", "compression.type": "producer"}
		setSegmentBytes(configs, cfg.OffsetsTopicSegmentBytes)
		return cfg.OffsetsTopicPartitions, cfg.OffsetsTopicReplication, configs, true
	case TransactionTopic:
		configs = map[string]string{
			"cleanup.policy": "compact", "compression.type": "uncompressed", "segment.bytes": "104857600",
			"unclean.leader.election.enable": "false",
		}
		setSegmentBytes(configs, cfg.TxnTopicSegmentBytes)
		if cfg.TxnTopicMinISR > 0 {
			configs["min.insync.replicas"] = strconv.Itoa(int(cfg.TxnTopicMinISR))
		}
		return cfg.TxnTopicPartitions, cfg.TxnTopicReplication, configs, true
	case ShareStateTopic:
		configs = map[string]string{"cleanup.policy": "delete", "compression.type": "producer", "retention.ms": "-1"}
		setSegmentBytes(configs, cfg.ShareStateSegmentBytes)
		if cfg.ShareStateTopicMinISR > 0 {
			configs["min.insync.replicas"] = strconv.Itoa(int(cfg.ShareStateTopicMinISR))
		}
		rf = cfg.ShareStateTopicReplication
		if rf <= 0 {
			rf = 3
		}
		return cfg.ShareStateTopicPartitions, rf, configs, true
	}
	return 0, 0, nil, false
}
