package integration

// Operating a cluster: the status page of the broker coordinating a
// group, loaded in headless Chromium, shows the topics and the group's
// lag; each group's lag is exported by exactly one broker; every metric
// the Grafana dashboard queries is in the brokers' scrapes; client quotas
// set through one broker throttle clients on every broker, also after
// every broker restarted.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/net/html"

	"gregor/broker/records"
	"gregor/internal/brokertest"
	"gregor/internal/browser"
	"gregor/internal/promtest"
	"gregor/internal/wait"
	"gregor/internal/zktest"
)

// startMonitored is startCluster with each broker's status page and
// metrics on a port of its own; it returns their addresses by broker id.
func startMonitored(t *testing.T, n int) (*cluster, map[int32]string) {
	t.Helper()
	if testing.Short() {
		t.Skip("cluster tests start ZooKeeper and several brokers")
	}
	var r [4]byte
	rand.Read(r[:])
	c := &cluster{t: t, zk: zktest.Start(t), brokers: make(map[int32]*brokertest.Broker), chroot: "/gregor-" + hex.EncodeToString(r[:])}
	monitors := map[int32]string{}
	for id := int32(1); id <= int32(n); id++ {
		monitors[id] = "127.0.0.1:" + strconv.Itoa(brokertest.FreePort(t))
		c.brokers[id] = brokertest.Start(t, brokertest.Options{Set: map[string]string{
			"broker.id":                                strconv.Itoa(int(id)),
			"zookeeper.connect":                        c.zk.Addr + c.chroot,
			"zookeeper.session.timeout.ms":             "4000",
			"default.replication.factor":               strconv.Itoa(min(n, 3)),
			"offsets.topic.replication.factor":         strconv.Itoa(min(n, 3)),
			"transaction.state.log.replication.factor": strconv.Itoa(min(n, 3)),
			"offsets.topic.num.partitions":             "3",
			"transaction.state.log.num.partitions":     "3",
			"group.initial.rebalance.delay.ms":         "0",
			"gregor.metrics.listener":                  monitors[id],
		}})
	}
	c.awaitBrokers(n, 30*time.Second)
	return c, monitors
}

func TestMonitoringACluster(t *testing.T) {
	c, monitors := startMonitored(t, 3)
	const topic, group = "status-topic", "status-group"
	c.createTopic(topic, 3, 2, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := 0; i < 30; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte("v" + strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	offs := kadm.Offsets{}
	offs.AddOffset(topic, 0, 5, -1)
	if resp, err := adm.CommitOffsets(ctx, group, offs); err != nil || resp.Error() != nil {
		t.Fatalf("committing: %v %v", err, resp.Error())
	}
	coords := adm.FindGroupCoordinators(ctx, group)
	if coords[group].Err != nil {
		t.Fatalf("finding the coordinator: %v", coords[group].Err)
	}
	coordinator := coords[group].NodeID
	badFetch(t, ctx, cl, topic, c.leaderOf(topic, 0))
	live := liveGroup(t, ctx, c, adm, topic, coordinator)

	// The lag is exported by the coordinator, and only by it.
	var lag, committed float64
	var hasLag bool
	if !wait.Until(20*time.Second, func() bool {
		f, err := promtest.TryScrape("http://" + monitors[coordinator] + "/metrics")
		if err != nil {
			return false
		}
		committed, _ = f.Value("gregor_consumer_group_committed_offset", "group", group, "topic", topic, "partition", "0")
		lag, hasLag = f.Value("gregor_consumer_group_lag", "group", group, "topic", topic, "partition", "0")
		return hasLag && lag == 25
	}) {
		t.Fatalf("the coordinator (broker %d) exports a lag of %v (present %v) with a committed offset of %v, want 25 = 30 - 5", coordinator, lag, hasLag, committed)
	}
	scrapes := map[int32]promtest.Families{}
	for id, addr := range monitors {
		scrapes[id] = promtest.Scrape(t, "http://"+addr+"/metrics")
		_, has := scrapes[id].Value("gregor_consumer_group_lag", "group", group)
		if has != (id == coordinator) {
			t.Errorf("broker %d (coordinator %d) exports the group's lag: %v", id, coordinator, has)
		}
		if v, ok := scrapes[id].Value("gregor_zookeeper_connected"); !ok || v != 1 {
			t.Errorf("broker %d: gregor_zookeeper_connected %v (present %v)", id, v, ok)
		}
	}
	controllers := 0.0
	for _, f := range scrapes {
		v, _ := f.Value("gregor_controller_active")
		controllers += v
	}
	if controllers != 1 {
		t.Errorf("%v brokers report being the controller", controllers)
	}
	checkDashboard(t, scrapes)
	checkStatusPage(t, ctx, "http://"+monitors[coordinator]+"/", topic, group, 25, live)

	// Without ZooKeeper for a while the brokers go on serving with the
	// metadata they last read, as Kafka's ZooKeeper-mode brokers do: the
	// metric says the connection is down, /readyz stays 200 while the
	// session lasts (before, it answered 503 on every broker, and a
	// readiness probe took the whole cluster out of service during a
	// ZooKeeper blip); /healthz follows only the process.
	for id, addr := range monitors {
		if code := httpStatus("http://" + addr + "/readyz"); code != 200 {
			t.Errorf("broker %d: /readyz %d before ZooKeeper stopped", id, code)
		}
	}
	connected := func(addr string) float64 {
		f, err := promtest.TryScrape("http://" + addr + "/metrics")
		if err != nil {
			return -1
		}
		v, ok := f.Value("gregor_zookeeper_connected")
		if !ok {
			return -1
		}
		return v
	}
	c.zk.Stop()
	for id, addr := range monitors {
		waitFor(t, fmt.Sprintf("broker %d's gregor_zookeeper_connected to be 0 without ZooKeeper", id), 20*time.Second, func() bool {
			return connected(addr) == 0
		})
		if code := httpStatus("http://" + addr + "/readyz"); code != 200 {
			t.Errorf("broker %d: /readyz %d while ZooKeeper is away and its session lasts, want 200", id, code)
		}
		if code := httpStatus("http://" + addr + "/healthz"); code != 200 {
			t.Errorf("broker %d: /healthz %d without ZooKeeper", id, code)
		}
	}
	c.zk.Restart()
	for id, addr := range monitors {
		waitFor(t, fmt.Sprintf("broker %d's gregor_zookeeper_connected to be 1 once ZooKeeper is back", id), 30*time.Second, func() bool {
			return connected(addr) == 1
		})
		if code := httpStatus("http://" + addr + "/readyz"); code != 200 {
			t.Errorf("broker %d: /readyz %d once ZooKeeper is back", id, code)
		}
	}
}

// httpStatus is the status code of a GET, or 0 when it fails.
func httpStatus(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// liveGroup starts a consumer in a group coordinated by the given broker
// and waits until the group is stable with the member assigned the
// topic's partitions; it returns the group's name.
func liveGroup(t *testing.T, ctx context.Context, c *cluster, adm *kadm.Client, topic string, coordinator int32) string {
	t.Helper()
	var name string
	for i := 0; i < 100 && name == ""; i++ {
		n := "status-live-" + strconv.Itoa(i)
		if co := adm.FindGroupCoordinators(ctx, n)[n]; co.Err == nil && co.NodeID == coordinator {
			name = n
		}
	}
	if name == "" {
		t.Fatalf("no group name hashes to broker %d's coordinator partitions", coordinator)
	}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.ConsumerGroup(name), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for ctx.Err() == nil {
			if consumer.PollFetches(ctx).IsClientClosed() {
				return
			}
		}
	}()
	t.Cleanup(func() {
		consumer.Close()
		<-polled
	})
	waitFor(t, "the live group to be stable with its member assigned "+topic, 30*time.Second, func() bool {
		d, err := adm.DescribeGroups(ctx, name)
		if err != nil || d[name].State != "Stable" || len(d[name].Members) != 1 {
			return false
		}
		a, ok := d[name].Members[0].Assigned.AsConsumer()
		return ok && len(a.Topics) == 1
	})
	return name
}

// badFetch asks a partition's leader for an offset past its end, so the
// scrape has a partition error to count.
func badFetch(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, leader int32) {
	t.Helper()
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	fr := kmsg.NewPtrFetchRequest()
	fr.MaxBytes = 1 << 20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic, ft.TopicID = topic, md.Topics[topic].ID
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.FetchOffset, fp.PartitionMaxBytes = 1000, 1<<20
	ft.Partitions = append(ft.Partitions, fp)
	fr.Topics = append(fr.Topics, ft)
	if _, err := fr.RequestWith(ctx, cl.Broker(int(leader))); err != nil {
		t.Fatal(err)
	}
}

// checkDashboard: every metric the Grafana dashboard queries is in some
// broker's scrape.
func checkDashboard(t *testing.T, scrapes map[int32]promtest.Families) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	names, err := promtest.DashboardMetrics(filepath.Join(filepath.Dir(file), "..", "monitor", "grafana", "gregor.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 20 {
		t.Fatalf("the dashboard queries only %d metrics: %v", len(names), names)
	}
	for _, n := range names {
		found := false
		for _, f := range scrapes {
			found = found || f.Has(n)
		}
		if !found {
			t.Errorf("the dashboard queries %s, which no broker exports", n)
		}
	}
}

// checkStatusPage loads the page in headless Chromium and reads what a
// person sees: the brokers, the topic with its partitions, and the
// group's lag.
func checkStatusPage(t *testing.T, ctx context.Context, url, topic, group string, lag int, live string) {
	t.Helper()
	bin, err := browser.Find()
	if err != nil {
		t.Skipf("the status page is not checked in a browser: %v", err)
	}
	dom, err := browser.DumpDOM(ctx, bin, url)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(strings.NewReader(dom))
	if err != nil {
		t.Fatalf("parsing the rendered DOM: %v", err)
	}
	brokers := findAll(doc, "tr", "class", "broker")
	if len(brokers) != 3 {
		t.Errorf("the page lists %d brokers, want 3", len(brokers))
	}
	for _, b := range brokers {
		if strings.Contains(text(b), "unknown") {
			t.Errorf("broker %s's uptime is unknown: %q", attr(b, "data-broker"), text(b))
		}
	}
	topics := findAll(doc, "h3", "data-topic", topic)
	if len(topics) != 1 {
		t.Fatalf("the page shows topic %s %d times:\n%s", topic, len(topics), dom)
	}
	if !strings.Contains(text(topics[0]), topic) {
		t.Errorf("the topic heading reads %q", text(topics[0]))
	}
	if n := len(findAll(doc, "tr", "class", "partition")); n < 3 {
		t.Errorf("the page shows %d partitions, want at least the topic's 3", n)
	}
	var cell *html.Node
	for _, n := range findAll(doc, "td", "data-group", group) {
		if attr(n, "data-topic") == topic && attr(n, "data-partition") == "0" {
			cell = n
		}
	}
	if cell == nil {
		t.Fatalf("no lag cell for group %s, %s-0 in the page:\n%s", group, topic, dom)
	}
	if got := strings.TrimSpace(text(cell)); got != strconv.Itoa(lag) {
		t.Errorf("the page shows a lag of %q for %s on %s-0, want %d", got, group, topic, lag)
	}
	heads := findAll(doc, "h3", "data-group", live)
	if len(heads) != 1 || !strings.Contains(text(heads[0]), "Stable") {
		t.Errorf("the live group %s shows as %d headings (%q), want one saying Stable", live, len(heads), func() string {
			if len(heads) > 0 {
				return text(heads[0])
			}
			return ""
		}())
	}
	assigned := false
	for _, m := range findAll(doc, "tr", "class", "member") {
		assigned = assigned || strings.Contains(text(m), topic+": 0,1,2")
	}
	if !assigned {
		t.Errorf("no member of %s is shown assigned %s: 0,1,2:\n%s", live, topic, dom)
	}
	if path := os.Getenv("STATUS_SCREENSHOT"); path != "" {
		if err := browser.Screenshot(ctx, bin, url, path, 1280, 1700); err != nil {
			t.Fatal(err)
		}
		t.Logf("saved a screenshot of %s to %s", url, path)
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// findAll returns the elements named tag whose attribute key has value
// (a class list containing it, for "class").
func findAll(n *html.Node, tag, key, value string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == tag {
			v := attr(n, key)
			if v == value || (key == "class" && strings.Contains(" "+v+" ", " "+value+" ")) {
				out = append(out, n)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// TestClientQuotasOnEveryBroker: a quota set through one broker throttles
// its client on every broker, and again once every broker restarted (the
// usage is in memory, the quota in ZooKeeper).
func TestClientQuotasOnEveryBroker(t *testing.T) {
	c := startCluster(t, 3, nil)
	const topic = "quota-topic"
	c.createTopic(topic, 1, 1, nil)
	adm, done := c.admin()
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	client := "quota-client"
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: &client}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1000}},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("AlterClientQuotas: %v %v", err, res)
	}
	throttledEverywhere := func(when string) {
		t.Helper()
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.ClientID(client))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		for id := range c.brokers {
			waitFor(t, fmt.Sprintf("broker %d to throttle %s %s", id, client, when), 20*time.Second, func() bool {
				return produceThrottle(ctx, cl.Broker(int(id)), topic) > 0
			})
		}
	}
	throttledEverywhere("after the quota was set")
	for _, b := range c.brokers {
		b.Kill()
	}
	for _, b := range c.brokers {
		b.Restart()
	}
	c.awaitBrokers(3, 30*time.Second)
	throttledEverywhere("after every broker restarted")
}

// produceThrottle sends one 30 KB produce request straight to a broker
// (whether or not it leads the partition: the quota counts the request)
// and returns the throttle time its response carries.
func produceThrottle(ctx context.Context, b *kgo.Broker, topic string) int32 {
	raw, err := records.Build(&records.Batch{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, LeaderEpoch: -1,
		Records: []records.Record{{Value: make([]byte, 30000)}}})
	if err != nil {
		panic(err)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = 1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = raw
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := b.Request(rctx, req)
	if err != nil {
		return 0
	}
	return resp.(*kmsg.ProduceResponse).ThrottleMillis
}
