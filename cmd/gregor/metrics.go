package main

// The Prometheus endpoint (gregor.metrics.listener, GET /metrics), in the
// text exposition format: request and connection counters from the
// protocol layer, authentication and authorization outcomes, per-partition
// offsets and sizes, and Go runtime figures.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker"
)

// serveMetrics starts the metrics endpoint; it stops with ctx.
func (s *server) serveMetrics(ctx context.Context, addr string) error {
	if addr == "" {
		return nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("gregor.metrics.listener %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", s.writeMetrics)
	// Profiles, for finding where time goes under load (the listener is
	// on loopback unless configured otherwise).
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Warn().Err(err).Msg("metrics endpoint stopped")
		}
	}()
	go func() {
		<-ctx.Done()
		hs.Close()
	}()
	s.log.Info().Str("addr", l.Addr().String()).Msg("metrics endpoint listening")
	return nil
}

// promWriter writes metric families with their HELP and TYPE once.
type promWriter struct {
	w    *bufio.Writer
	seen map[string]bool
}

func (p *promWriter) sample(name, typ, help string, labels []string, v float64) {
	if !p.seen[name] {
		p.seen[name] = true
		fmt.Fprintf(p.w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	p.w.WriteString(name)
	if len(labels) > 0 {
		p.w.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				p.w.WriteByte(',')
			}
			p.w.WriteString(labels[i])
			p.w.WriteString(`="`)
			p.w.WriteString(escapeLabel(labels[i+1]))
			p.w.WriteByte('"')
		}
		p.w.WriteByte('}')
	}
	p.w.WriteByte(' ')
	p.w.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	p.w.WriteByte('\n')
}

func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func (s *server) writeMetrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	p := &promWriter{w: bufio.NewWriter(w), seen: make(map[string]bool)}
	defer p.w.Flush()

	st := &s.net.Stats
	p.sample("gregor_connections_open", "gauge", "Client connections open.", nil, float64(st.ConnsOpen.Load()))
	p.sample("gregor_connections_total", "counter", "Client connections accepted.", nil, float64(st.ConnsTotal.Load()))
	p.sample("gregor_connections_dropped_total", "counter", "Connections closed by the broker for bad input or a failed handler.", nil, float64(st.ConnsDropped.Load()))
	p.sample("gregor_connections_rejected_total", "counter", "Connections closed on accept for max.connections or max.connections.per.ip.", nil, float64(st.ConnsRejected.Load()))
	p.sample("gregor_connections_idle_closed_total", "counter", "Connections closed by connections.max.idle.ms.", nil, float64(st.ConnsIdleClosed.Load()))
	p.sample("gregor_queued_request_bytes", "gauge", "Request bytes held for all connections (bounded by queued.max.request.bytes).", nil, float64(s.net.QueuedRequestBytes()))
	auth := s.net.Auth.Counts()
	for _, ok := range []bool{false, true} {
		name, help := "gregor_authentication_failed_total", "Failed authentications (TLS handshakes, SASL exchanges), by listener and mechanism."
		if ok {
			name, help = "gregor_authentication_succeeded_total", "Successful authentications, by listener and mechanism."
		}
		for _, a := range auth {
			if a.OK == ok {
				p.sample(name, "counter", help, []string{"listener", a.Listener, "mechanism", a.Mechanism}, float64(a.N))
			}
		}
	}
	if az := s.broker.Authorizer(); az != nil {
		p.sample("gregor_acls", "gauge", "ACLs in force on this broker.", nil, float64(az.Snapshot().Len()))
		for _, d := range az.Denials() {
			p.sample("gregor_authorization_denied_total", "counter", "Requests (or parts of them) the authorizer denied, by operation and resource type.",
				[]string{"operation", d.Operation.String(), "resource_type", d.Type.String()}, float64(d.N))
		}
	}
	p.sample("gregor_network_received_bytes_total", "counter", "Request bytes received.", nil, float64(st.BytesIn.Load()))
	p.sample("gregor_network_sent_bytes_total", "counter", "Response bytes sent.", nil, float64(st.BytesOut.Load()))
	for k := range st.Requests {
		n := st.Requests[k].Load()
		if n == 0 {
			continue
		}
		name := kmsg.NameForKey(int16(k))
		if name == "" {
			name = "Unknown"
		}
		p.sample("gregor_requests_total", "counter", "Requests received, by API.", []string{"api", name}, float64(n))
	}
	for k := range st.RequestNanos {
		n := st.RequestNanos[k].Load()
		if n == 0 {
			continue
		}
		name := kmsg.NameForKey(int16(k))
		p.sample("gregor_request_seconds_sum", "counter", "Time from request arrival to response, summed by API.", []string{"api", name}, float64(n)/1e9)
	}

	stats := s.broker.PartitionStats()
	sort.Slice(stats, func(i, j int) bool {
		if stats[i].Topic != stats[j].Topic {
			return stats[i].Topic < stats[j].Topic
		}
		return stats[i].Partition < stats[j].Partition
	})
	under := 0
	for _, ps := range stats {
		l := []string{"topic", ps.Topic, "partition", strconv.Itoa(int(ps.Partition))}
		leader := 0.0
		if ps.Leader {
			leader = 1
			if ps.ISR < ps.Replicas {
				under++
			}
		}
		p.sample("gregor_partition_leader", "gauge", "1 when this broker leads the partition.", l, leader)
		p.sample("gregor_partition_log_start_offset", "gauge", "Log start offset.", l, float64(ps.LogStartOffset))
		p.sample("gregor_partition_log_end_offset", "gauge", "Log end offset.", l, float64(ps.LogEndOffset))
		p.sample("gregor_partition_high_watermark", "gauge", "High watermark.", l, float64(ps.HighWatermark))
		p.sample("gregor_partition_last_stable_offset", "gauge", "Last stable offset.", l, float64(ps.LastStable))
		p.sample("gregor_partition_size_bytes", "gauge", "Bytes in the partition's segments.", l, float64(ps.SizeBytes))
		p.sample("gregor_partition_isr_size", "gauge", "In-sync replicas.", l, float64(ps.ISR))
	}
	p.sample("gregor_partitions", "gauge", "Partitions with a replica on this broker.", nil, float64(len(stats)))
	p.sample("gregor_under_replicated_partitions", "gauge", "Partitions led here with fewer in-sync replicas than replicas.", nil, float64(under))

	s.writeApplyDelay(p)
	qs := s.broker.ReplicationQuotaStats()
	for _, side := range []struct {
		name  string
		rate  float64
		bytes int64
	}{{"leader", qs.LeaderRate, qs.LeaderBytes}, {"follower", qs.FollowerRate, qs.FollowerBytes}} {
		l := []string{"side", side.name}
		p.sample("gregor_replication_throttled_rate_bytes", "gauge", "Measured rate of throttled replication (leader.replication.throttled.replicas / follower...), bytes per second.", l, side.rate)
		p.sample("gregor_replication_throttled_bytes_total", "counter", "Bytes of throttled replication.", l, float64(side.bytes))
	}

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.sample("go_goroutines", "gauge", "Goroutines.", nil, float64(runtime.NumGoroutine()))
	p.sample("go_memstats_heap_alloc_bytes", "gauge", "Heap bytes allocated and in use.", nil, float64(ms.HeapAlloc))
	p.sample("go_memstats_sys_bytes", "gauge", "Bytes obtained from the OS.", nil, float64(ms.Sys))
	p.sample("go_gc_cycles_total", "counter", "Completed GC cycles.", nil, float64(ms.NumGC))
}

// writeApplyDelay exports how long metadata changes took from ZooKeeper
// reporting them (a watch firing) to the partition applying them, as a
// histogram, and the longest so far.
func (s *server) writeApplyDelay(p *promWriter) {
	st := s.broker.MetadataApplyStats()
	const name = "gregor_metadata_apply_delay_seconds"
	// One HELP and TYPE for the family, none for its series.
	fmt.Fprintf(p.w, "# HELP %s %s\n# TYPE %s histogram\n", name,
		"Delay from the metadata store reporting a partition change to the partition applying it.", name)
	p.seen[name+"_bucket"], p.seen[name+"_sum"], p.seen[name+"_count"] = true, true, true
	for i, ub := range broker.ApplyDelayBuckets {
		p.sample(name+"_bucket", "", "", []string{"le", strconv.FormatFloat(ub.Seconds(), 'g', -1, 64)}, float64(st.Buckets[i]))
	}
	p.sample(name+"_bucket", "", "", []string{"le", "+Inf"}, float64(st.Count))
	p.sample(name+"_sum", "", "", nil, st.Sum.Seconds())
	p.sample(name+"_count", "", "", nil, float64(st.Count))
	p.sample("gregor_metadata_apply_delay_max_seconds", "gauge", "The longest metadata apply delay so far.", nil, st.Max.Seconds())
}
