package broker

// PartitionStat is a partition's figures for the metrics endpoint and the
// status page.
type PartitionStat struct {
	Topic     string
	Partition int32
	// Leader: this broker leads the partition.
	Leader bool
	// LeaderID, Replicas and ISR are the partition's metadata; Adding
	// are the replicas an ongoing reassignment adds (among Replicas).
	LeaderID int32
	Replicas []int32
	Adding   []int32
	// Reassigning: a reassignment of the partition is in progress.
	Reassigning    bool
	ISR            []int32
	MinISR         int
	LogStartOffset int64
	LogEndOffset   int64
	HighWatermark  int64
	LastStable     int64
	SizeBytes      int64
	Segments       int
}

// UnderReplicated: led here with fewer in-sync replicas than the
// replication factor: the replicas less those a reassignment is adding
// (Kafka's Partition.isUnderReplicated), so a reassignment does not raise
// the alarm while its new replicas catch up.
func (ps PartitionStat) UnderReplicated() bool {
	return ps.Leader && len(ps.ISR) < len(ps.Replicas)-len(ps.Adding)
}

// UnderMinISR: led here with fewer in-sync replicas than
// min.insync.replicas (bounded by the replicas, as Kafka's
// Partition.effectiveMinIsr): acks=all produces to it fail.
func (ps PartitionStat) UnderMinISR() bool { return ps.Leader && len(ps.ISR) < ps.MinISR }

// AtMinISR: led here with exactly min.insync.replicas in sync.
func (ps PartitionStat) AtMinISR() bool { return ps.Leader && len(ps.ISR) == ps.MinISR }

// PartitionStats lists the partitions this broker holds a replica of.
func (b *Broker) PartitionStats() []PartitionStat {
	var out []PartitionStat
	for _, t := range b.Topics() {
		minISR := int(t.Config().MinInsyncReplicas)
		for _, p := range t.Partitions() {
			p.mu.Lock()
			lg, st := p.log, p.state
			p.mu.Unlock()
			if lg == nil {
				continue
			}
			out = append(out, PartitionStat{
				Topic: t.Name, Partition: p.ID, Leader: p.IsLeader(),
				LeaderID: st.Leader, Replicas: st.Replicas, Adding: st.Adding, Reassigning: len(st.Adding) > 0 || len(st.Removing) > 0, ISR: st.ISR, MinISR: min(minISR, len(st.Replicas)),
				LogStartOffset: p.LogStartOffset(), LogEndOffset: p.LogEndOffset(),
				HighWatermark: p.HighWatermark(), LastStable: p.LastStableOffset(),
				SizeBytes: lg.Size(), Segments: lg.SegmentCount(),
			})
		}
	}
	return out
}
