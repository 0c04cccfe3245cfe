package broker

// PartitionStat is a partition's figures for the metrics endpoint.
type PartitionStat struct {
	Topic          string
	Partition      int32
	Leader         bool
	Replicas       int
	ISR            int
	LogStartOffset int64
	LogEndOffset   int64
	HighWatermark  int64
	LastStable     int64
	SizeBytes      int64
}

// PartitionStats lists the partitions this broker holds a replica of.
func (b *Broker) PartitionStats() []PartitionStat {
	var out []PartitionStat
	for _, t := range b.Topics() {
		for _, p := range t.Partitions() {
			p.mu.Lock()
			lg, st := p.log, p.state
			p.mu.Unlock()
			if lg == nil {
				continue
			}
			out = append(out, PartitionStat{
				Topic: t.Name, Partition: p.ID, Leader: p.IsLeader(),
				Replicas: len(st.Replicas), ISR: len(st.ISR),
				LogStartOffset: p.LogStartOffset(), LogEndOffset: p.LogEndOffset(),
				HighWatermark: p.HighWatermark(), LastStable: p.LastStableOffset(),
				SizeBytes: lg.Size(),
			})
		}
	}
	return out
}
