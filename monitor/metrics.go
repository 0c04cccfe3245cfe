package monitor

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"gregor/broker"
	"gregor/broker/quota"
	"gregor/broker/storage"
	"gregor/coordinator"
	"gregor/protocol"
)

// Sources are what the monitor reads.
type Sources struct {
	Broker *broker.Broker
	Coord  *coordinator.Coordinator
	Net    *protocol.Server
	// Listeners are the bound listener addresses, by name.
	Listeners map[string]string
	// Version is the build's version line.
	Version string
	// MaxGroups bounds the groups with series of their own and a row on
	// the status page (gregor.metrics.max.groups); 0 is no bound.
	MaxGroups int
}

// Metrics is the broker's Prometheus registry.
type Metrics struct {
	Registry *prometheus.Registry
	// Observer is to be set as the protocol server's Observer.
	Observer protocol.Observer
	lag      *lagCollector
}

// NewMetrics registers every collector.
func NewMetrics(src Sources) *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{Registry: reg, Observer: newRequestMetrics(reg), lag: newLagCollector(src)}
	reg.MustRegister(&brokerCollector{src: src}, &clusterCollector{src: src}, m.lag)
	return m
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// desc is a shorthand for the collector's descriptions.
func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("gregor_"+name, help, labels, nil)
}

// Descriptions of the scrape-time metrics. Names that existed before
// client_golang (the connection, byte, request, authentication and
// partition metrics) are kept.
var (
	dConnsOpen       = desc("connections_open", "Client connections open.")
	dConnsTotal      = desc("connections_total", "Client connections accepted.")
	dConnsDropped    = desc("connections_dropped_total", "Connections closed by the broker for bad input or a failed handler.")
	dConnsRejected   = desc("connections_rejected_total", "Connections closed on accept for max.connections.per.ip.")
	dConnsHeld       = desc("connections_held_total", "Connections the acceptor held until a slot freed (max.connections, listener.name.<l>.max.connections, or file descriptors near the process limit).")
	dAcceptHeld      = desc("acceptor_held_seconds_total", "Time the acceptors spent holding a connection for a free slot.")
	dConnsEvicted    = desc("connections_evicted_total", "Client connections closed to make room for an inter-broker one over max.connections.")
	dConnsThrottled  = desc("connections_ip_throttled_total", "Connections closed unserved, after their throttle time, for their IP's connection_creation_rate quota.")
	dConnsIdle       = desc("connections_idle_closed_total", "Connections closed by connections.max.idle.ms.")
	dConnsCreated    = desc("listener_connections_created_total", "Connections served, by listener (Kafka's connection-creation-total).", "listener")
	dConnsClosed     = desc("listener_connections_closed_total", "Connections closed, by listener (Kafka's connection-close-total).", "listener")
	dConnsStalled    = desc("connections_stalled_closed_total", "Connections closed for stopping mid-request while holding request memory others waited for.")
	dConns           = desc("connections", "Open connections, by listener and principal.", "listener", "principal")
	dConnsMuted      = desc("connections_throttled", "Open connections muted by a quota throttle now.")
	dConnLimit       = desc("connection_limit", "Connection limits in force (max.connections, max.connections.per.ip).", "limit")
	dQueued          = desc("queued_request_bytes", "Request bytes held for all connections (bounded by queued.max.request.bytes).")
	dAuthFailed      = desc("authentication_failed_total", "Failed authentications (TLS handshakes, SASL exchanges), by listener and mechanism.", "listener", "mechanism")
	dAuthOK          = desc("authentication_succeeded_total", "Successful authentications, by listener and mechanism.", "listener", "mechanism")
	dBytesIn         = desc("network_received_bytes_total", "Request bytes received.")
	dBytesOut        = desc("network_sent_bytes_total", "Response bytes sent.")
	dRequests        = desc("requests_total", "Requests received, by API.", "api")
	dPartLeader      = desc("partition_leader", "1 when this broker leads the partition.", "topic", "partition")
	dPartStart       = desc("partition_log_start_offset", "Log start offset.", "topic", "partition")
	dPartEnd         = desc("partition_log_end_offset", "Log end offset.", "topic", "partition")
	dPartHW          = desc("partition_high_watermark", "High watermark.", "topic", "partition")
	dPartLSO         = desc("partition_last_stable_offset", "Last stable offset.", "topic", "partition")
	dPartSize        = desc("partition_size_bytes", "Bytes in the partition's segments.", "topic", "partition")
	dPartSegments    = desc("partition_segments", "Segments of the partition's log.", "topic", "partition")
	dPartISR         = desc("partition_isr_size", "In-sync replicas.", "topic", "partition")
	dPartReplicas    = desc("partition_replicas", "Replicas of the partition.", "topic", "partition")
	dPartUnder       = desc("partition_under_replicated", "1 when the partition is led here with fewer in-sync replicas than replicas.", "topic", "partition")
	dPartitions      = desc("partitions", "Partitions with a replica on this broker, those in offline log dirs included (Kafka's PartitionCount).")
	dLeaders         = desc("leader_partitions", "Partitions led by this broker.")
	dUnder           = desc("under_replicated_partitions", "Partitions led here with fewer in-sync replicas than replicas.")
	dReassigning     = desc("reassigning_partitions", "Partitions led here with a reassignment in progress (Kafka's ReassigningPartitions).")
	dUnderMinISR     = desc("under_min_isr_partitions", "Partitions led here with fewer in-sync replicas than min.insync.replicas (acks=all produces fail; Kafka's UnderMinIsrPartitionCount).")
	dAtMinISR        = desc("at_min_isr_partitions", "Partitions led here with exactly min.insync.replicas in sync.")
	dOffline         = desc("offline_partitions", "Partitions without a leader (reported by the controller only, so a cluster reports each once).")
	dGlobalTopics    = desc("global_topics", "Topics in the cluster (reported by the controller only; Kafka's GlobalTopicCount).")
	dGlobalParts     = desc("global_partitions", "Partitions in the cluster (reported by the controller only; Kafka's GlobalPartitionCount).")
	dImbalance       = desc("preferred_replica_imbalance", "Partitions not led by their preferred (first) replica, leaderless ones included (reported by the controller only; Kafka's PreferredReplicaImbalanceCount).")
	dOfflineReplicas = desc("offline_replicas", "This broker's replicas in offline log dirs (Kafka's OfflineReplicaCount).")
	dOfflineDirs     = desc("offline_log_dirs", "Log dirs taken offline by a disk failure (Kafka's OfflineLogDirectoryCount).")
	dShrinks         = desc("isr_shrinks_total", "ISR shrinks made by this broker as leader.")
	dExpands         = desc("isr_expands_total", "ISR expansions made by this broker as leader.")
	dISRFailures     = desc("isr_update_failures_total", "ISR changes this broker as leader failed to write: refused because another change of the partition came first, or not made (Kafka's FailedIsrUpdatesPerSec).")
	dElections       = desc("leader_elections_total", "Leader changes made by this broker as controller.")
	dUnclean         = desc("unclean_leader_elections_total", "Leaders this broker as controller elected from outside the ISR (records may be lost).")
	dController      = desc("controller_active", "1 when this broker is the controller.")
	dZKConnected     = desc("zookeeper_connected", "1 while the ZooKeeper session is up (absent without ZooKeeper).")
	dZKState         = desc("zookeeper_session_state", "The ZooKeeper session's state, as the go-zookeeper client names it: StateHasSession, StateConnecting, StateDisconnected, StateExpired, ... (value 1).", "state")
	dTopicBytesIn    = desc("topic_bytes_in_total", "Record bytes appended by producers, by topic.", "topic")
	dTopicRecordsIn  = desc("topic_records_in_total", "Records appended by producers, by topic.", "topic")
	dTopicBytesOut   = desc("topic_bytes_out_total", "Record bytes sent to consumers, by topic.", "topic")
	dTopicRecordsOut = desc("topic_records_out_total", "Records sent to consumers, by topic.", "topic")
	dTopicProduce    = desc("topic_produce_requests_total", "Partitions of produce requests that reached the log, by topic (Kafka's TotalProduceRequestsPerSec).", "topic")
	dTopicProduceErr = desc("topic_failed_produce_requests_total", "Of those, the ones that failed other than by an expected error (not the leader, too large, corrupt, storage), by topic (Kafka's FailedProduceRequestsPerSec).", "topic")
	dReplBytesIn     = desc("replication_bytes_in_total", "Record bytes fetched from leaders by this broker as a follower (Kafka's ReplicationBytesInPerSec; not in gregor_topic_bytes_in_total).")
	dReplBytesOut    = desc("replication_bytes_out_total", "Record bytes sent to followers by this broker as a leader (Kafka's ReplicationBytesOutPerSec; not in gregor_topic_bytes_out_total).")
	dLogFlushes      = desc("log_flushes_total", "Flushes (fsyncs) of logs' active segments, by log.flush.interval.messages/ms or on demand (Kafka's LogFlushRateAndTimeMs rate).")
	dLogFlushTime    = desc("log_flush_seconds_total", "Time spent in those flushes.")
	dPartErrors      = desc("partition_errors_total", "Partitions of Produce and Fetch responses that carried an error, by API and error.", "api", "error")
	dRespErrors      = desc("response_errors_total", "Error codes in responses of every other API, each ErrorCode field not NONE (top-level, topic, partition, group, resource), by API and error, as Kafka's RequestMetrics ErrorsPerSec.", "api", "error")
	dFetchSessions   = desc("fetch_session_cache_size", "Incremental fetch sessions cached (KIP-227).")
	dFetchSessParts  = desc("fetch_session_cache_partitions", "Partitions held by cached fetch sessions.")
	dQuotaRate       = desc("quota_usage", "A client's measured rate against its quota (bytes/s, request percentage, or controller mutation tokens left), by quota kind and the matched entity's user and client id.", "quota", "user", "client_id")
	dQuotaLimit      = desc("quota_limit", "The quota that applies to a measured client, labelled as gregor_quota_usage.", "quota", "user", "client_id")
	dThrottled       = desc("quota_throttles_total", "Requests whose client was throttled, by quota kind.", "quota")
	dUptime          = desc("uptime_seconds", "Seconds since the broker started.")
	dBuild           = desc("build_info", "The build (value 1).", "version")
)

// brokerCollector reads the broker's state at each scrape.
type brokerCollector struct{ src Sources }

func (c *brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dConnsOpen, dConnsTotal, dConnsDropped, dConnsRejected, dConnsHeld, dAcceptHeld, dConnsEvicted, dConnsThrottled, dConnsIdle, dConnsCreated, dConnsClosed, dConnsStalled, dConns, dConnsMuted, dConnLimit, dQueued,
		dAuthFailed, dAuthOK, dBytesIn, dBytesOut, dRequests, dPartLeader, dPartStart, dPartEnd, dPartHW, dPartLSO, dPartSize, dPartSegments,
		dPartISR, dPartReplicas, dPartUnder, dPartitions, dLeaders, dUnder, dReassigning, dUnderMinISR, dAtMinISR, dOffline, dGlobalTopics, dGlobalParts, dImbalance, dOfflineReplicas, dOfflineDirs, dShrinks, dExpands, dISRFailures, dElections, dUnclean, dController,
		dZKConnected, dZKState, dTopicBytesIn, dTopicRecordsIn, dTopicBytesOut, dTopicRecordsOut, dTopicProduce, dTopicProduceErr, dReplBytesIn, dReplBytesOut, dLogFlushes, dLogFlushTime, dPartErrors, dRespErrors, dFetchSessions, dFetchSessParts,
		dQuotaRate, dQuotaLimit, dThrottled, dUptime, dBuild} {
		ch <- d
	}
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func (c *brokerCollector) Collect(ch chan<- prometheus.Metric) {
	c.collectNet(ch)
	c.collectPartitions(ch)
	c.collectCluster(ch)
	c.collectQuotas(ch)
}

func (c *brokerCollector) collectNet(ch chan<- prometheus.Metric) {
	n := c.src.Net
	st := &n.Stats
	gauge(ch, dConnsOpen, float64(st.ConnsOpen.Load()))
	counter(ch, dConnsTotal, float64(st.ConnsTotal.Load()))
	counter(ch, dConnsDropped, float64(st.ConnsDropped.Load()))
	counter(ch, dConnsRejected, float64(st.ConnsRejected.Load()))
	counter(ch, dConnsHeld, float64(st.ConnsHeld.Load()))
	counter(ch, dAcceptHeld, float64(st.AcceptHeldNanos.Load())/1e9)
	counter(ch, dConnsEvicted, float64(st.ConnsEvicted.Load()))
	counter(ch, dConnsThrottled, float64(st.ConnsThrottled.Load()))
	counter(ch, dConnsIdle, float64(st.ConnsIdleClosed.Load()))
	counter(ch, dConnsStalled, float64(st.ConnsStalledClosed.Load()))
	for _, l := range st.Listeners() {
		counter(ch, dConnsCreated, float64(l.Created), l.Listener)
		counter(ch, dConnsClosed, float64(l.Closed), l.Listener)
	}
	gauge(ch, dQueued, float64(n.QueuedRequestBytes()))
	cl := n.ConnectionLimits()
	gauge(ch, dConnLimit, float64(cl.MaxConnections), "max.connections")
	gauge(ch, dConnLimit, float64(cl.MaxConnectionsPerIP), "max.connections.per.ip")
	byKey := map[[2]string]int{}
	muted := 0
	for _, cs := range n.Conns() {
		byKey[[2]string{cs.Listener, cs.Principal.String()}]++
		if !cs.MutedUntil.IsZero() {
			muted++
		}
	}
	for k, v := range byKey {
		gauge(ch, dConns, float64(v), k[0], k[1])
	}
	gauge(ch, dConnsMuted, float64(muted))
	for _, a := range n.Auth.Counts() {
		d := dAuthFailed
		if a.OK {
			d = dAuthOK
		}
		counter(ch, d, float64(a.N), a.Listener, a.Mechanism)
	}
	counter(ch, dBytesIn, float64(st.BytesIn.Load()))
	counter(ch, dBytesOut, float64(st.BytesOut.Load()))
	for k := range st.Requests {
		if v := st.Requests[k].Load(); v > 0 {
			counter(ch, dRequests, float64(v), apiName(int16(k)))
		}
	}
}

func (c *brokerCollector) collectPartitions(ch chan<- prometheus.Metric) {
	b := c.src.Broker
	sessions, sessParts := b.FetchSessionStats()
	gauge(ch, dFetchSessions, float64(sessions))
	gauge(ch, dFetchSessParts, float64(sessParts))
	var under, underMin, atMin, leaders, reassigning int
	stats := b.PartitionStats()
	for _, ps := range stats {
		l := []string{ps.Topic, strconv.Itoa(int(ps.Partition))}
		leader := 0.0
		if ps.Leader {
			leader = 1
			leaders++
		}
		ur := 0.0
		if ps.UnderReplicated() {
			ur = 1
			under++
		}
		if ps.Leader && ps.Reassigning {
			reassigning++
		}
		if ps.UnderMinISR() {
			underMin++
		}
		if ps.AtMinISR() {
			atMin++
		}
		gauge(ch, dPartLeader, leader, l...)
		gauge(ch, dPartStart, float64(ps.LogStartOffset), l...)
		gauge(ch, dPartEnd, float64(ps.LogEndOffset), l...)
		gauge(ch, dPartHW, float64(ps.HighWatermark), l...)
		gauge(ch, dPartLSO, float64(ps.LastStable), l...)
		gauge(ch, dPartSize, float64(ps.SizeBytes), l...)
		gauge(ch, dPartSegments, float64(ps.Segments), l...)
		gauge(ch, dPartISR, float64(len(ps.ISR)), l...)
		gauge(ch, dPartReplicas, float64(len(ps.Replicas)), l...)
		gauge(ch, dPartUnder, ur, l...)
	}
	gauge(ch, dPartitions, float64(b.HostedPartitions()))
	gauge(ch, dLeaders, float64(leaders))
	gauge(ch, dUnder, float64(under))
	gauge(ch, dUnderMinISR, float64(underMin))
	gauge(ch, dReassigning, float64(reassigning))
	gauge(ch, dAtMinISR, float64(atMin))
	// Zero on the other brokers, as Kafka's controller gauges when not
	// active: summed over a cluster, each is counted once.
	cs, _ := b.ControllerStats()
	gauge(ch, dOffline, float64(cs.Offline))
	gauge(ch, dGlobalTopics, float64(cs.Topics))
	gauge(ch, dGlobalParts, float64(cs.Partitions))
	gauge(ch, dImbalance, float64(cs.Imbalanced))
	gauge(ch, dOfflineReplicas, float64(b.OfflineReplicas()))
	gauge(ch, dOfflineDirs, float64(b.OfflineLogDirs()))
	for _, t := range b.Traffic() {
		counter(ch, dTopicBytesIn, float64(t.BytesIn), t.Topic)
		counter(ch, dTopicRecordsIn, float64(t.RecordsIn), t.Topic)
		counter(ch, dTopicBytesOut, float64(t.BytesOut), t.Topic)
		counter(ch, dTopicRecordsOut, float64(t.RecordsOut), t.Topic)
		counter(ch, dTopicProduce, float64(t.ProduceRequests), t.Topic)
		counter(ch, dTopicProduceErr, float64(t.FailedProduce), t.Topic)
	}
	counter(ch, dLogFlushes, float64(storage.FlushStats.Count.Load()))
	counter(ch, dLogFlushTime, float64(storage.FlushStats.Nanos.Load())/1e9)
	replIn, replOut := b.ReplicationBytes()
	counter(ch, dReplBytesIn, float64(replIn))
	counter(ch, dReplBytesOut, float64(replOut))
	for _, e := range b.PartitionErrors() {
		d := dPartErrors
		if e.API != 0 && e.API != 1 {
			d = dRespErrors
		}
		counter(ch, d, float64(e.N), apiName(e.API), e.Error)
	}
}

func (c *brokerCollector) collectCluster(ch chan<- prometheus.Metric) {
	b := c.src.Broker
	shrinks, expands := b.ISRChanges()
	counter(ch, dShrinks, float64(shrinks))
	counter(ch, dExpands, float64(expands))
	counter(ch, dISRFailures, float64(b.ISRUpdateFailures()))
	st := b.Status()
	counter(ch, dElections, float64(st.LeaderElections))
	counter(ch, dUnclean, float64(st.UncleanLeaderElections))
	gauge(ch, dController, b2f(st.Controller))
	if st.ZooKeeper != "" {
		gauge(ch, dZKConnected, b2f(st.Connected))
		gauge(ch, dZKState, 1, st.ZooKeeper)
	}
	gauge(ch, dUptime, time.Since(b.Started()).Seconds())
	gauge(ch, dBuild, 1, c.src.Version)
}

func (c *brokerCollector) collectQuotas(ch chan<- prometheus.Metric) {
	qm := c.src.Broker.Quotas()
	for _, u := range qm.Usages() {
		gauge(ch, dQuotaRate, u.Rate, u.Kind.Key(), u.User, u.Client)
		gauge(ch, dQuotaLimit, u.Quota, u.Kind.Key(), u.User, u.Client)
	}
	for k, n := range qm.Throttled() {
		counter(ch, dThrottled, float64(n), quota.Kind(k).Key())
	}
}

func b2f(v bool) float64 {
	if v {
		return 1
	}
	return 0
}
