package monitor

// Metrics of the authorizer, the metadata apply path and replication
// throttles, read at each scrape.

import (
	"github.com/prometheus/client_golang/prometheus"

	"gregor/broker"
)

var (
	dACLs           = desc("acls", "ACLs in force on this broker.")
	dDenied         = desc("authorization_denied_total", "Requests (or parts of them) the authorizer denied, by operation and resource type.", "operation", "resource_type")
	dApplyDelay     = desc("metadata_apply_delay_seconds", "Delay from the metadata store reporting a partition change to the partition applying it.")
	dApplyDelayMax  = desc("metadata_apply_delay_max_seconds", "The longest metadata apply delay so far.")
	dThrottledRate  = desc("replication_throttled_rate_bytes", "Measured rate of throttled replication (leader/follower.replication.throttled.replicas), bytes per second.", "side")
	dThrottledBytes = desc("replication_throttled_bytes_total", "Bytes of throttled replication.", "side")
)

// clusterCollector exports the authorizer's, the metadata apply path's
// and the replication throttles' figures.
type clusterCollector struct{ src Sources }

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dACLs, dDenied, dApplyDelay, dApplyDelayMax, dThrottledRate, dThrottledBytes} {
		ch <- d
	}
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.src.Broker
	if az := b.Authorizer(); az != nil {
		gauge(ch, dACLs, float64(az.Snapshot().Len()))
		for _, d := range az.Denials() {
			counter(ch, dDenied, float64(d.N), d.Operation.String(), d.Type.String())
		}
	}
	st := b.MetadataApplyStats()
	buckets := make(map[float64]uint64, len(broker.ApplyDelayBuckets))
	for i, ub := range broker.ApplyDelayBuckets {
		if i < len(st.Buckets) {
			buckets[ub.Seconds()] = uint64(st.Buckets[i])
		}
	}
	ch <- prometheus.MustNewConstHistogram(dApplyDelay, uint64(st.Count), st.Sum.Seconds(), buckets)
	gauge(ch, dApplyDelayMax, st.Max.Seconds())
	qs := b.ReplicationQuotaStats()
	gauge(ch, dThrottledRate, qs.LeaderRate, "leader")
	gauge(ch, dThrottledRate, qs.FollowerRate, "follower")
	counter(ch, dThrottledBytes, float64(qs.LeaderBytes), "leader")
	counter(ch, dThrottledBytes, float64(qs.FollowerBytes), "follower")
}
