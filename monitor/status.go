package monitor

// The status page: one server-rendered HTML document, refreshed by the
// browser every few seconds (a meta refresh), with its styles inline and
// no scripts, so it works on an air-gapped host in any browser.

import (
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker"
	"gregor/broker/metadata"
	"gregor/coordinator"
)

//go:embed status.html
var pageFS embed.FS

var pageTmpl = template.Must(template.New("status.html").Funcs(template.FuncMap{
	"ids":       joinIDs,
	"bytes":     humanBytes,
	"since":     func(t time.Time) string { return time.Since(t).Round(time.Second).String() },
	"members":   members,
	"unixMilli": time.UnixMilli,
}).ParseFS(pageFS, "status.html"))

// refreshSeconds is how often the page reloads itself.
const refreshSeconds = 5

// page is what the template renders.
type page struct {
	Refresh   int
	Now       time.Time
	Version   string
	ClusterID string
	Self      int32
	Started   time.Time
	Status    metadata.Status
	Brokers   []brokerRow
	Listeners []listenerRow
	Limits    []limitRow
	Topics    []topicRow
	Groups    []GroupLag
	AllGroups int // Groups holds at most gregor.metrics.max.groups of them
	Txns      []coordinator.TxnView
	Quotas    []quotaRow
}

type brokerRow struct {
	ID         int32
	Addresses  string
	Rack       string
	Controller bool
	Self       bool
	Registered time.Time // zero when not known
}

type listenerRow struct {
	Name, Addr  string
	Connections int
}

type limitRow struct{ Name, Value string }

type topicRow struct {
	Name       string
	Internal   bool
	Partitions []partitionRow
	Under      int
}

type partitionRow struct {
	Index                      int32
	Leader                     int32
	Replicas, ISR              []int32
	UnderReplicated, Offline   bool
	Local                      bool
	Start, End, HW, Size, Segs int64
}

type quotaRow struct {
	Entity string
	Values string
}

func (s *Server) buildPage() page {
	b := s.src.Broker
	p := page{Refresh: refreshSeconds, Now: time.Now(), Version: s.src.Version, ClusterID: b.ClusterID(), Self: b.ID(), Started: b.Started(), Status: b.Status()}
	brokers, controller := b.Brokers()
	for _, bi := range brokers {
		var addrs []string
		for name, ep := range bi.Endpoints {
			addrs = append(addrs, fmt.Sprintf("%s://%s:%d", name, ep.Host, ep.Port))
		}
		sort.Strings(addrs)
		p.Brokers = append(p.Brokers, brokerRow{ID: bi.ID, Addresses: strings.Join(addrs, " "), Rack: bi.Rack, Controller: bi.ID == controller, Self: bi.ID == b.ID(), Registered: bi.Registered})
	}
	sort.Slice(p.Brokers, func(i, j int) bool { return p.Brokers[i].ID < p.Brokers[j].ID })
	p.Listeners, p.Limits = s.connections()
	p.Topics = s.topics()
	p.Groups, p.AllGroups = s.metrics.lag.Groups()
	p.Txns = s.src.Coord.OpenTransactions()
	p.Quotas = s.quotas()
	return p
}

func (s *Server) connections() ([]listenerRow, []limitRow) {
	n := s.src.Net
	count := map[string]int{}
	for _, c := range n.Conns() {
		count[c.Listener]++
	}
	var ls []listenerRow
	for name, addr := range s.src.Listeners {
		ls = append(ls, listenerRow{Name: name, Addr: addr, Connections: count[name]})
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name })
	limit := func(v int) string {
		if v >= 1<<31-1 {
			return "unlimited"
		}
		return fmt.Sprint(v)
	}
	cl := n.ConnectionLimits()
	limits := []limitRow{
		{"max.connections", limit(cl.MaxConnections)},
		{"max.connections.per.ip", limit(cl.MaxConnectionsPerIP)},
		{"max.connection.creation.rate", limit(cl.MaxConnectionCreationRate)},
	}
	for host, v := range cl.MaxConnectionsPerIPOverrides {
		limits = append(limits, limitRow{"max.connections.per.ip.overrides " + host, fmt.Sprint(v)})
	}
	for l, v := range cl.MaxConnectionsPerListener {
		limits = append(limits, limitRow{"listener.name." + strings.ToLower(l) + ".max.connections", limit(v)})
	}
	idle := "never"
	if n.IdleTimeout > 0 {
		idle = n.IdleTimeout.String()
	}
	limits = append(limits,
		limitRow{"connections.max.idle.ms", idle},
		limitRow{"socket.request.max.bytes", humanBytes(int64(n.MaxRequestSize))},
		limitRow{"queued.max.request.bytes", fmt.Sprintf("%s (%s in use)", humanBytes(n.QueuedMaxRequestBytes), humanBytes(n.QueuedRequestBytes()))},
		limitRow{"gregor.connection.max.queued.bytes", humanBytes(n.ConnMaxQueuedBytes)},
	)
	return ls, limits
}

func (s *Server) topics() []topicRow {
	b := s.src.Broker
	local := map[string]broker.PartitionStat{}
	for _, ps := range b.PartitionStats() {
		local[fmt.Sprintf("%s/%d", ps.Topic, ps.Partition)] = ps
	}
	var out []topicRow
	for _, t := range b.Topics() {
		tr := topicRow{Name: t.Name, Internal: t.Internal}
		for _, p := range t.Partitions() {
			st := p.State()
			pr := partitionRow{Index: p.ID, Leader: st.Leader, Replicas: st.Replicas, ISR: st.ISR,
				UnderReplicated: len(st.ISR) < len(st.Replicas)-len(st.Adding), Offline: st.Leader < 0}
			if ps, ok := local[fmt.Sprintf("%s/%d", t.Name, p.ID)]; ok {
				pr.Local, pr.Start, pr.End, pr.HW, pr.Size, pr.Segs = true, ps.LogStartOffset, ps.LogEndOffset, ps.HighWatermark, ps.SizeBytes, int64(ps.Segments)
			}
			if pr.UnderReplicated || pr.Offline {
				tr.Under++
			}
			tr.Partitions = append(tr.Partitions, pr)
		}
		out = append(out, tr)
	}
	// Internal topics last: what people look for is their own.
	sort.SliceStable(out, func(i, j int) bool { return !out[i].Internal && out[j].Internal })
	return out
}

func (s *Server) quotas() []quotaRow {
	var out []quotaRow
	for e, vals := range s.src.Broker.Quotas().Quotas() {
		var parts []string
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range vals {
				if !yield(k) {
					return
				}
			}
		}) {
			parts = append(parts, fmt.Sprintf("%s=%s", k, metadata.FormatQuota(k, vals[k])))
		}
		out = append(out, quotaRow{Entity: describeEntity(e), Values: strings.Join(parts, ", ")})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Entity < out[j].Entity })
	return out
}

func describeEntity(e metadata.QuotaEntity) string {
	name := func(s string) string {
		if s == metadata.DefaultEntity {
			return "<default>"
		}
		n, err := metadata.DesanitizeEntity(s)
		if err != nil {
			return s
		}
		return n
	}
	var parts []string
	if e.User != "" {
		parts = append(parts, "user "+name(e.User))
	}
	if e.ClientID != "" {
		parts = append(parts, "client-id "+name(e.ClientID))
	}
	return strings.Join(parts, ", ")
}

// assignmentOf decodes a member's assignment.
func assignmentOf(protocolType string, b []byte) string {
	if len(b) == 0 {
		return "none"
	}
	if protocolType != "consumer" {
		return fmt.Sprintf("%d bytes", len(b))
	}
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(b); err != nil {
		return fmt.Sprintf("%d bytes (not a consumer assignment)", len(b))
	}
	var parts []string
	for _, t := range a.Topics {
		ps := slices.Clone(t.Partitions)
		slices.Sort(ps)
		parts = append(parts, t.Topic+": "+joinIDs(ps))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

func joinIDs(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ",")
}

func humanBytes(n int64) string {
	switch {
	case n < 0:
		return "unlimited"
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}

// memberRow is a member with its assignment decoded, for the template.
type memberRow struct {
	coordinator.MemberView
	Assigned string
}

func members(g GroupLag) []memberRow {
	out := make([]memberRow, len(g.Members))
	for i, m := range g.Members {
		out[i] = memberRow{MemberView: m, Assigned: assignmentOf(g.ProtocolType, m.Assignment)}
	}
	return out
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := pageTmpl.Execute(w, s.buildPage()); err != nil {
		s.log.Warn().Err(err).Msg("rendering the status page")
	}
}
