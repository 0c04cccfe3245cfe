package compat

// Consumer groups and transactions with Apache Kafka's own tools:
// kafka-console-consumer.sh in a group (it resumes where it stopped),
// kafka-consumer-groups.sh (--list, --describe with --members and --state,
// --reset-offsets --dry-run/--execute, --delete-offsets, --delete), the
// console consumer reading __consumer_offsets through Kafka's
// OffsetsMessageFormatter, and kafka-transactions.sh (list, describe).
// franz-go sets things up and checks the results. KAFKA_TOOLS_DIR names the
// bin directory of an Apache Kafka distribution; the parsers accept the
// output of the Scala tools (Kafka 2.x, 3.x) and the Java ones (3.7+, 4.x).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// runBoth runs a script under a bounded timeout and returns its stdout,
// stderr and exit error without failing the test.
func (k *kafkaTools) runBoth(script string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(k.dir, script), args...)
	cmd.Stdin = strings.NewReader("")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%v (%v)", err, ctx.Err())
	}
	return stdout.String(), stderr.String(), err
}

// groups runs kafka-consumer-groups.sh. The tool reports failures as an
// "Error: ..." line on stdout and still exits 0, so such a line fails the
// test like a non-zero exit does.
func (k *kafkaTools) groups(t *testing.T, args ...string) string {
	t.Helper()
	args = append([]string{"--bootstrap-server", k.addr}, args...)
	out, errOut, err := k.runBoth("kafka-consumer-groups.sh", args...)
	failed := err != nil
	for _, l := range toolLines(out) {
		if strings.HasPrefix(strings.TrimSpace(l), "Error:") {
			failed = true
		}
	}
	if failed {
		t.Fatalf("kafka-consumer-groups.sh %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, ccTail(out), ccTail(errOut))
	}
	return out
}

// consumeInGroup runs the console consumer in a group until it has printed
// n values (one a line).
func (k *kafkaTools) consumeInGroup(t *testing.T, topic, group string, n int) []string {
	t.Helper()
	out := k.run(t, "", "kafka-console-consumer.sh", "--bootstrap-server", k.addr, "--topic", topic,
		"--group", group, "--from-beginning", "--max-messages", strconv.Itoa(n), "--timeout-ms", "60000")
	return toolLines(out)
}

// ktTable parses a whitespace-aligned table of kafka-consumer-groups.sh:
// a header line holding the column want (e.g. "LOG-END-OFFSET"), then rows
// with as many fields as the header, as column → value maps. Lines with a
// different number of fields (messages, "Error: ..." statuses) are no rows.
func ktTable(out, want string) []map[string]string {
	var header []string
	var rows []map[string]string
	for _, l := range toolLines(out) {
		f := strings.Fields(l)
		if containsString(f, want) {
			header = f
			continue
		}
		if header == nil || len(f) != len(header) {
			continue
		}
		row := make(map[string]string, len(f))
		for i, h := range header {
			row[h] = f[i]
		}
		rows = append(rows, row)
	}
	return rows
}

func containsString(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// ktDescribe runs --describe --group and returns the rows of topic by
// partition, each with CURRENT-OFFSET, LOG-END-OFFSET and LAG as numbers.
type ktOffsetRow struct {
	current, end, lag int64
	consumerID        string
	clientID          string
}

func (k *kafkaTools) describeOffsets(t *testing.T, group, topic string) (map[int32]ktOffsetRow, string) {
	t.Helper()
	out := k.groups(t, "--describe", "--group", group)
	rows := map[int32]ktOffsetRow{}
	for _, r := range ktTable(out, "LOG-END-OFFSET") {
		if r["TOPIC"] != topic {
			continue
		}
		if g, ok := r["GROUP"]; ok && g != group {
			t.Errorf("--describe --group %s printed a row of group %q:\n%s", group, g, out)
		}
		p, err := strconv.ParseInt(r["PARTITION"], 10, 32)
		if err != nil {
			t.Fatalf("--describe: bad PARTITION %q:\n%s", r["PARTITION"], out)
		}
		var row ktOffsetRow
		for col, dst := range map[string]*int64{"CURRENT-OFFSET": &row.current, "LOG-END-OFFSET": &row.end, "LAG": &row.lag} {
			v, err := strconv.ParseInt(r[col], 10, 64)
			if err != nil {
				t.Fatalf("--describe: column %s of partition %d is %q, not a number:\n%s", col, p, r[col], out)
			}
			*dst = v
		}
		row.consumerID, row.clientID = r["CONSUMER-ID"], r["CLIENT-ID"]
		if _, dup := rows[int32(p)]; dup {
			t.Fatalf("--describe lists partition %d of %s twice:\n%s", p, topic, out)
		}
		rows[int32(p)] = row
	}
	return rows, out
}

// ktResetPlan parses the NEW-OFFSET table of --reset-offsets. Some Java
// releases print its rows without line breaks, so the output is read as
// a stream of fields: group, topic, partition, offset, again and again.
func ktResetPlan(t *testing.T, out, group, topic string) map[int32]int64 {
	t.Helper()
	f := strings.Fields(out)
	start := -1
	for i, x := range f {
		if x == "NEW-OFFSET" {
			start = i + 1
		}
	}
	if start < 0 {
		t.Fatalf("--reset-offsets printed no NEW-OFFSET table:\n%s", out)
	}
	plan := map[int32]int64{}
	for i := start; i+3 < len(f); {
		p, err1 := strconv.ParseInt(f[i+2], 10, 32)
		o, err2 := strconv.ParseInt(f[i+3], 10, 64)
		if f[i] == group && f[i+1] == topic && err1 == nil && err2 == nil {
			plan[int32(p)] = o
			i += 4
			continue
		}
		i++
	}
	return plan
}

// ktCommitted reads the console consumer's output over __consumer_offsets
// and returns, per partition of group and topic, the last committed offset
// it printed (-1 for a deletion) and how many records it saw. It accepts
// the JSON of org.apache.kafka.tools.consumer.OffsetsMessageFormatter
// ({"key":{...,"data":{"group","topic","partition"}},"value":{...,
// "data":{"offset",...}}}, records possibly not separated by line breaks)
// and the text of the Scala formatter ("[group,topic,partition]::
// OffsetAndMetadata(offset=N, ...)", or "::NULL").
func ktCommitted(out, group, topic string) (map[int32]int64, int) {
	last := map[int32]int64{}
	n := 0
	for pos := 0; ; {
		i := strings.Index(out[pos:], `{"key"`)
		if i < 0 {
			break
		}
		dec := json.NewDecoder(strings.NewReader(out[pos+i:]))
		dec.UseNumber()
		var rec struct {
			Key *struct {
				Data json.RawMessage `json:"data"`
			} `json:"key"`
			Value *struct {
				Data json.RawMessage `json:"data"`
			} `json:"value"`
		}
		if err := dec.Decode(&rec); err != nil {
			pos += i + 1
			continue
		}
		pos += i + int(dec.InputOffset())
		if rec.Key == nil {
			continue
		}
		var key struct {
			Group     string `json:"group"`
			Topic     string `json:"topic"`
			Partition *int32 `json:"partition"`
		}
		if json.Unmarshal(rec.Key.Data, &key) != nil || key.Group != group || key.Topic != topic || key.Partition == nil {
			continue // another group, or a record of another type ("unknown")
		}
		n++
		if rec.Value == nil {
			last[*key.Partition] = -1
			continue
		}
		var val struct {
			Offset *int64 `json:"offset"`
		}
		if json.Unmarshal(rec.Value.Data, &val) == nil && val.Offset != nil {
			last[*key.Partition] = *val.Offset
		}
	}
	scala := regexp.MustCompile(`\[` + regexp.QuoteMeta(group) + `,` + regexp.QuoteMeta(topic) + `,(\d+)\]::(NULL|[^\n]*?(?:offset=|OffsetMetadata\[)(\d+))`)
	for _, m := range scala.FindAllStringSubmatch(out, -1) {
		p, _ := strconv.ParseInt(m[1], 10, 32)
		n++
		if m[2] == "NULL" {
			last[int32(p)] = -1
			continue
		}
		o, _ := strconv.ParseInt(m[3], 10, 64)
		last[int32(p)] = o
	}
	return last, n
}

// ktClient returns a franz-go client and its admin for setup and checks.
func ktClient(t *testing.T, addr string, opts ...kgo.Opt) (*kgo.Client, *kadm.Client) {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, kadm.NewClient(cl)
}

// ktProduce writes values to topic, value i to partition i%partitions.
func ktProduce(t *testing.T, cl *kgo.Client, topic string, partitions int32, values []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for i, v := range values {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i) % partitions, Value: []byte(v)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing to %s: %v", topic, err)
	}
}

// ktFetchOffsets returns the group's committed offsets of topic.
func ktFetchOffsets(t *testing.T, adm *kadm.Client, group, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resps, err := adm.FetchOffsets(ctx, group)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		t.Fatalf("fetching the offsets of %s: %v", group, err)
	}
	got := map[int32]int64{}
	for p, r := range resps[topic] {
		got[p] = r.At
	}
	return got
}

func ktWaitState(t *testing.T, adm *kadm.Client, group, state string) kadm.DescribedGroup {
	t.Helper()
	var d kadm.DescribedGroup
	waitFor(t, "group "+group+" to be "+state, 30*time.Second, func() bool {
		d = describeGroup(t, adm, group)
		return d.State == state
	})
	return d
}

func ktValues(prefix string, from, to int) []string {
	var v []string
	for i := from; i < to; i++ {
		v = append(v, fmt.Sprintf("%s-%03d", prefix, i))
	}
	return v
}

func sameStrings(a, b []string) bool {
	return strings.Join(sortedCopy(a), "\x00") == strings.Join(sortedCopy(b), "\x00")
}

func TestKafkaToolsConsumerGroups(t *testing.T) {
	k := newKafkaTools(t)
	if !k.has("kafka-consumer-groups.sh") {
		t.Fatalf("KAFKA_TOOLS_DIR=%s has no kafka-consumer-groups.sh", k.dir)
	}
	const partitions = 3
	topic, other, group := randomName("tools-grp"), randomName("tools-grp-other"), randomName("tools-group")
	createTopic(t, k.addr, topic, partitions)
	createTopic(t, k.addr, other, 1)
	cl, adm := ktClient(t, k.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))

	// The console consumer in a group reads everything, commits on exit,
	// and the next run resumes after what it read.
	first := ktValues("grp", 0, 30)
	ktProduce(t, cl, topic, partitions, first)
	if got := k.consumeInGroup(t, topic, group, len(first)); !sameStrings(got, first) {
		t.Fatalf("console consumer --group %s read %d values %v, want the %d produced", group, len(got), got, len(first))
	}
	if got := ktFetchOffsets(t, adm, group, topic); fmt.Sprint(got) != fmt.Sprint(map[int32]int64{0: 10, 1: 10, 2: 10}) {
		t.Errorf("after the first console consumer the group's offsets are %v, want 10 on each of the %d partitions", got, partitions)
	}
	second := ktValues("grp", 30, 45)
	ktProduce(t, cl, topic, partitions, second)
	if got := k.consumeInGroup(t, topic, group, len(second)); !sameStrings(got, second) {
		t.Fatalf("console consumer --group %s run again read %v, want only the %d new values %v", group, got, len(second), second)
	}
	committed := ktFetchOffsets(t, adm, group, topic)
	if len(committed) != partitions {
		t.Fatalf("group %s has committed offsets %v for %s, want all %d partitions", group, committed, topic, partitions)
	}
	for p, o := range committed {
		if o != 15 {
			t.Errorf("after the second console consumer, partition %d is committed at %d, want 15", p, o)
		}
	}
	ktWaitState(t, adm, group, "Empty")

	// Offsets for a second topic, committed by the admin API, for
	// --delete-offsets to remove later (so the group keeps the first
	// topic's offsets and stays alive until --delete).
	func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var offs kadm.Offsets
		offs.Add(kadm.Offset{Topic: other, Partition: 0, At: 0, LeaderEpoch: -1})
		resps, err := adm.CommitOffsets(ctx, group, offs)
		if err == nil {
			err = resps.Error()
		}
		if err != nil {
			t.Fatalf("committing an offset of %s for %s: %v", other, group, err)
		}
	}()

	// --list
	if !containsLine(toolLines(k.groups(t, "--list")), group) {
		t.Fatalf("kafka-consumer-groups --list does not list %s", group)
	}

	// --describe of the empty group: every partition at its end, lag 0.
	rows, out := k.describeOffsets(t, group, topic)
	if len(rows) != partitions {
		t.Fatalf("--describe --group %s lists partitions %v of %s, want %d:\n%s", group, rows, topic, partitions, out)
	}
	for p, r := range rows {
		if r.current != 15 || r.end != 15 || r.lag != 0 {
			t.Errorf("--describe partition %d: CURRENT-OFFSET %d LOG-END-OFFSET %d LAG %d, want 15 15 0:\n%s", p, r.current, r.end, r.lag, out)
		}
	}

	// A live franz-go member: --describe --members, --describe --state,
	// and --describe naming it as the owner of every partition.
	live, err := kgo.NewClient(kgo.SeedBrokers(k.addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ClientID("tools-live"), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	liveOpen := true
	defer func() {
		if liveOpen {
			live.Close()
		}
	}()
	pollCtx, stopPoll := context.WithCancel(context.Background())
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for pollCtx.Err() == nil {
			live.PollFetches(pollCtx)
		}
	}()
	var d kadm.DescribedGroup
	waitFor(t, "the franz-go member to own all partitions of "+topic, 30*time.Second, func() bool {
		d = describeGroup(t, adm, group)
		return d.State == "Stable" && len(d.Members) == 1 && len(d.AssignedPartitions()[topic]) == partitions
	})
	member := d.Members[0].MemberID

	mout := k.groups(t, "--describe", "--group", group, "--members")
	mrows := ktTable(mout, "#PARTITIONS")
	if len(mrows) != 1 {
		t.Fatalf("--describe --members lists %d members, want 1:\n%s", len(mrows), mout)
	}
	if r := mrows[0]; r["CONSUMER-ID"] != member || r["CLIENT-ID"] != "tools-live" || r["#PARTITIONS"] != strconv.Itoa(partitions) {
		t.Errorf("--describe --members: CONSUMER-ID %q CLIENT-ID %q #PARTITIONS %q, want %q tools-live %d:\n%s",
			r["CONSUMER-ID"], r["CLIENT-ID"], r["#PARTITIONS"], member, partitions, mout)
	}

	sout := k.groups(t, "--describe", "--group", group, "--state")
	var stateLine []string
	for _, l := range toolLines(sout) {
		if f := strings.Fields(l); len(f) > 0 && f[0] == group {
			stateLine = f
		}
	}
	switch {
	case len(stateLine) < 4:
		t.Errorf("--describe --state has no line for %s:\n%s", group, sout)
	case stateLine[len(stateLine)-1] != "1" || stateLine[len(stateLine)-2] != "Stable" ||
		!containsString(stateLine, d.Protocol) || !regexp.MustCompile(`\(\d+\)`).MatchString(strings.Join(stateLine, " ")):
		t.Errorf("--describe --state: %q, want coordinator (id), strategy %s, Stable, 1 member:\n%s", stateLine, d.Protocol, sout)
	}

	rows, out = k.describeOffsets(t, group, topic)
	if len(rows) != partitions {
		t.Fatalf("--describe with a live member lists partitions %v, want %d:\n%s", rows, partitions, out)
	}
	for p, r := range rows {
		if r.consumerID != member || r.clientID != "tools-live" || r.lag != 0 {
			t.Errorf("--describe partition %d: CONSUMER-ID %q CLIENT-ID %q LAG %d, want %q tools-live 0:\n%s", p, r.consumerID, r.clientID, r.lag, member, out)
		}
	}
	stopPoll()
	<-polled
	live.Close() // leaves the group
	liveOpen = false
	ktWaitState(t, adm, group, "Empty")

	// --reset-offsets --to-earliest: --dry-run shows the plan and changes
	// nothing; --execute commits it.
	starts := map[int32]int64{}
	func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		lo, err := adm.ListStartOffsets(ctx, topic)
		if err == nil {
			err = lo.Error()
		}
		if err != nil {
			t.Fatalf("listing start offsets of %s: %v", topic, err)
		}
		lo.Each(func(o kadm.ListedOffset) { starts[o.Partition] = o.Offset })
	}()
	if len(starts) != partitions {
		t.Fatalf("start offsets of %s: %v", topic, starts)
	}
	for _, mode := range []string{"--dry-run", "--execute"} {
		rout := k.groups(t, "--reset-offsets", "--to-earliest", "--topic", topic, "--group", group, mode)
		plan := ktResetPlan(t, rout, group, topic)
		if fmt.Sprint(plan) != fmt.Sprint(starts) {
			t.Errorf("--reset-offsets --to-earliest %s planned %v, want the start offsets %v:\n%s", mode, plan, starts, rout)
		}
		want := committed
		if mode == "--execute" {
			want = starts
		}
		if got := ktFetchOffsets(t, adm, group, topic); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("after --reset-offsets %s the group's offsets are %v, want %v", mode, got, want)
		}
	}
	rows, out = k.describeOffsets(t, group, topic)
	for p, r := range rows {
		if r.current != starts[p] || r.lag != 15-starts[p] {
			t.Errorf("--describe after the reset, partition %d: CURRENT-OFFSET %d LAG %d, want %d %d:\n%s", p, r.current, r.lag, starts[p], 15-starts[p], out)
		}
	}

	// __consumer_offsets through Kafka's formatter: the last record of each
	// partition of the group holds the offset just reset to.
	cout := k.readConsumerOffsets(t)
	last, n := ktCommitted(cout, group, topic)
	if n == 0 || fmt.Sprint(last) != fmt.Sprint(starts) {
		t.Errorf("__consumer_offsets read with the offsets formatter: %d records of %s/%s, latest %v, want the reset offsets %v:\n%s",
			n, group, topic, last, starts, ccTail(cout))
	}

	// --delete-offsets of the second topic.
	dout := k.groups(t, "--delete-offsets", "--group", group, "--topic", other)
	drows := ktTable(dout, "STATUS")
	if len(drows) != 1 || drows[0]["TOPIC"] != other || drows[0]["PARTITION"] != "0" || drows[0]["STATUS"] != "Successful" {
		t.Errorf("--delete-offsets --topic %s printed rows %v, want %s 0 Successful:\n%s", other, drows, other, dout)
	}
	if got := ktFetchOffsets(t, adm, group, other); len(got) != 0 {
		t.Errorf("after --delete-offsets the group still has offsets %v for %s", got, other)
	}
	if got := ktFetchOffsets(t, adm, group, topic); fmt.Sprint(got) != fmt.Sprint(starts) {
		t.Errorf("--delete-offsets of %s changed the offsets of %s to %v, want %v", other, topic, got, starts)
	}

	// --delete: gone from --list and from the coordinator.
	delOut := k.groups(t, "--delete", "--group", group)
	if !strings.Contains(delOut, "'"+group+"'") || !strings.Contains(delOut, "successful") {
		t.Errorf("--delete --group %s printed %q, want that the deletion of '%s' was successful", group, delOut, group)
	}
	if containsLine(toolLines(k.groups(t, "--list")), group) {
		t.Errorf("kafka-consumer-groups --list still lists %s after --delete", group)
	}
	func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resps, err := adm.FetchOffsets(ctx, group)
		if err == nil {
			err = resps.Error()
		}
		switch {
		case errors.Is(err, kerr.GroupIDNotFound): // newer coordinators: no such group
		case err != nil:
			t.Errorf("fetching the offsets of the deleted group %s: %v", group, err)
		case len(resps) != 0:
			t.Errorf("after --delete the group still has offsets %v", resps)
		}
	}()
}

// readConsumerOffsets runs the console consumer over __consumer_offsets
// with Kafka's offsets formatter until it has been idle for 15s: the Java
// class (Kafka 3.7+, the only one in 4.x) and, when that class is
// missing, the Scala one of older releases.
func (k *kafkaTools) readConsumerOffsets(t *testing.T) string {
	t.Helper()
	var tried []string
	for _, formatter := range []string{
		"org.apache.kafka.tools.consumer.OffsetsMessageFormatter",
		"kafka.coordinator.group.GroupMetadataManager$OffsetsMessageFormatter",
	} {
		// --skip-message-on-error: the formatter of Kafka 4.0 snapshots
		// stops at records of KIP-848 consumer groups (other key types),
		// which any 4.x broker writes; they are not what is checked here.
		args := []string{"--bootstrap-server", k.addr, "--topic", "__consumer_offsets", "--from-beginning",
			"--formatter", formatter, "--consumer-property", "exclude.internal.topics=false", "--timeout-ms", "15000",
			"--skip-message-on-error"}
		out, errOut, err := k.runBoth("kafka-console-consumer.sh", args...)
		if err == nil && !strings.Contains(errOut, "ClassNotFoundException") {
			return out
		}
		tried = append(tried, fmt.Sprintf("--formatter %s: %v\nstdout:\n%s\nstderr:\n%s", formatter, err, ccTail(out), ccTail(errOut)))
	}
	t.Fatalf("the console consumer could not read __consumer_offsets with either offsets formatter:\n%s", strings.Join(tried, "\n"))
	return ""
}

// ktTxnTable parses the tab-separated tables of kafka-transactions.sh
// into rows keyed by the header's column names.
func ktTxnTable(out string) []map[string]string {
	var header []string
	var rows []map[string]string
	for _, l := range toolLines(out) {
		// Every cell, the last included, is padded and followed by a tab.
		cells := strings.Split(l, "\t")
		if len(cells) > 1 && cells[len(cells)-1] == "" {
			cells = cells[:len(cells)-1]
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if header == nil {
			if containsString(cells, "TransactionalId") {
				header = cells
			}
			continue
		}
		if len(cells) != len(header) {
			continue
		}
		row := map[string]string{}
		for i, h := range header {
			row[h] = cells[i]
		}
		rows = append(rows, row)
	}
	return rows
}

func (k *kafkaTools) transactions(t *testing.T, args ...string) []map[string]string {
	t.Helper()
	out := k.run(t, "", "kafka-transactions.sh", append([]string{"--bootstrap-server", k.addr}, args...)...)
	return ktTxnTable(out)
}

// ktTxnRow returns the row of id from the tool's table, failing the test
// when it is missing.
func ktTxnRow(t *testing.T, what string, rows []map[string]string, id string) map[string]string {
	t.Helper()
	for _, r := range rows {
		if r["TransactionalId"] == id {
			return r
		}
	}
	t.Fatalf("kafka-transactions %s has no row for %s: %v", what, id, rows)
	return nil
}

func TestKafkaToolsTransactions(t *testing.T) {
	k := newKafkaTools(t)
	if !k.has("kafka-transactions.sh") {
		t.Skipf("KAFKA_TOOLS_DIR=%s has no kafka-transactions.sh (it ships with Kafka 3.0 and later)", k.dir)
	}
	topic, id := randomName("tools-txn"), randomName("tools-txn-id")
	createTopic(t, k.addr, topic, 1)
	cl, adm := ktClient(t, k.addr, kgo.TransactionalID(id), kgo.TransactionTimeout(45*time.Second),
		kgo.DefaultProduceTopic(topic))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	waitTxn := func(state string) kadm.DescribedTransaction {
		t.Helper()
		var d kadm.DescribedTransaction
		waitFor(t, "transaction "+id+" to be "+state, 30*time.Second, func() bool {
			c, cc := context.WithTimeout(ctx, 5*time.Second)
			defer cc()
			ds, err := adm.DescribeTransactions(c, id)
			if err != nil {
				return false
			}
			d = ds[id]
			return d.Err == nil && d.State == state
		})
		return d
	}

	// One committed transaction.
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord("committed")).FirstErr(); err != nil {
		t.Fatalf("transactional produce: %v", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit: %v", err)
	}
	pid, epoch, err := cl.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitTxn("CompleteCommit")
	pidS := strconv.FormatInt(pid, 10)

	// list: the transactional id, its producer id and state, and a numeric
	// coordinator.
	r := ktTxnRow(t, "list", k.transactions(t, "list"), id)
	if r["ProducerId"] != pidS || r["TransactionState"] != "CompleteCommit" || !regexp.MustCompile(`^\d+$`).MatchString(r["Coordinator"]) {
		t.Errorf("kafka-transactions list: %v, want ProducerId %d, TransactionState CompleteCommit and a coordinator id", r, pid)
	}

	// describe: state, producer id and epoch, timeout.
	r = ktTxnRow(t, "describe", k.transactions(t, "describe", "--transactional-id", id), id)
	e, err := strconv.ParseInt(r["ProducerEpoch"], 10, 16)
	if r["ProducerId"] != pidS || r["TransactionState"] != "CompleteCommit" || r["TransactionTimeoutMs"] != "45000" ||
		err != nil || e < int64(epoch) || !regexp.MustCompile(`^\d+$`).MatchString(r["CoordinatorId"]) {
		t.Errorf("kafka-transactions describe: %v, want ProducerId %d, ProducerEpoch >= %d, CompleteCommit, TransactionTimeoutMs 45000", r, pid, epoch)
	}

	// An open transaction is Ongoing with its partition; aborted, it is
	// CompleteAbort.
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord("aborted")).FirstErr(); err != nil {
		t.Fatalf("transactional produce: %v", err)
	}
	r = ktTxnRow(t, "describe", k.transactions(t, "describe", "--transactional-id", id), id)
	if r["TransactionState"] != "Ongoing" || r["ProducerId"] != pidS || !strings.Contains(r["TopicPartitions"], topic+"-0") {
		t.Errorf("kafka-transactions describe of an open transaction: %v, want Ongoing, ProducerId %d, TopicPartitions %s-0", r, pid, topic)
	}
	if r = ktTxnRow(t, "list", k.transactions(t, "list"), id); r["TransactionState"] != "Ongoing" {
		t.Errorf("kafka-transactions list during the transaction: %v, want Ongoing", r)
	}
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatalf("abort: %v", err)
	}
	waitTxn("CompleteAbort")
	r = ktTxnRow(t, "describe", k.transactions(t, "describe", "--transactional-id", id), id)
	if r["TransactionState"] != "CompleteAbort" || r["ProducerId"] != pidS {
		t.Errorf("kafka-transactions describe after the abort: %v, want CompleteAbort, ProducerId %d", r, pid)
	}
}

// TestKafkaToolsParsers checks the parsers above on output laid out as the
// tools lay it out (their format strings, copied as layouts), so they are
// exercised even where no Kafka distribution is installed.
func TestKafkaToolsParsers(t *testing.T) {
	const g, tp = "tools-group-1", "tools-grp-2"

	// --describe of an empty group (Java ConsumerGroupCommand: "\n" before
	// the header and each row, "-" for missing values, another topic).
	row := "\n%-15s %-15s %-10s %-15s %-15s %-15s %-15s %-15s %s"
	desc := fmt.Sprintf(row, "GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID") +
		fmt.Sprintf(row, g, tp, "0", "15", "15", "0", "-", "-", "-") +
		fmt.Sprintf(row, g, tp, "1", "3", "15", "12", "m-1", "/127.0.0.1", "tools-live") +
		fmt.Sprintf(row, g, "other", "0", "0", "0", "0", "-", "-", "-") + "\n"
	rows := ktTable(desc, "LOG-END-OFFSET")
	if len(rows) != 3 || rows[1]["TOPIC"] != tp || rows[1]["LAG"] != "12" || rows[1]["CLIENT-ID"] != "tools-live" || rows[0]["CONSUMER-ID"] != "-" {
		t.Errorf("describe table parsed as %v", rows)
	}

	// --reset-offsets: rows on one line (some Java releases) or one a line.
	for _, plan := range []string{
		fmt.Sprintf("\n%-30s %-30s %-10s %-15s", "GROUP", "TOPIC", "PARTITION", "NEW-OFFSET") +
			fmt.Sprintf("%-30s %-30s %-10s %-15s", g, tp, "0", "0") + fmt.Sprintf("%-30s %-30s %-10s %-15s", g, tp, "1", "7"),
		fmt.Sprintf("\n%-15s %-15s %-10s %s", "GROUP", "TOPIC", "PARTITION", "NEW-OFFSET") +
			fmt.Sprintf("\n%-15s %-15s %-10s %s", g, tp, "0", "0") + fmt.Sprintf("\n%-15s %-15s %-10s %s", g, tp, "1", "7") + "\n",
	} {
		if got := ktResetPlan(t, plan, g, tp); fmt.Sprint(got) != "map[0:0 1:7]" {
			t.Errorf("reset plan %q parsed as %v", plan, got)
		}
	}

	// __consumer_offsets: the Java formatter of 4.x (no line breaks, a
	// deprecation notice first), of 3.8 ("unknown" keys of group records),
	// and the Scala one.
	java4 := "Option --consumer-property is deprecated and will be removed in a future version. Use --command-property instead.\n" +
		`{"key":{"type":1,"data":{"group":"` + g + `","topic":"` + tp + `","partition":0}},"value":{"version":3,"data":{"offset":15,"leaderEpoch":-1,"metadata":"","commitTimestamp":1}}}` +
		`{"key":{"type":1,"data":{"group":"x","topic":"` + tp + `","partition":0}},"value":{"version":3,"data":{"offset":99,"leaderEpoch":-1,"metadata":"","commitTimestamp":1}}}` +
		`{"key":{"type":1,"data":{"group":"` + g + `","topic":"` + tp + `","partition":0}},"value":{"version":3,"data":{"offset":0,"leaderEpoch":-1,"metadata":"","commitTimestamp":2}}}` +
		`{"key":{"type":1,"data":{"group":"` + g + `","topic":"` + tp + `","partition":1}},"value":null}`
	java38 := `{"key":{"version":2,"data":"unknown"},"value":{"version":3,"data":"unknown"}}` + "\n" +
		`{"key":{"version":1,"data":{"group":"` + g + `","topic":"` + tp + `","partition":0}},"value":{"version":3,"data":{"offset":0,"leaderEpoch":-1,"metadata":"","commitTimestamp":2}}}` + "\n" +
		`{"key":{"version":1,"data":{"group":"` + g + `","topic":"` + tp + `","partition":1}},"value":null}` + "\n"
	scala := "[" + g + "," + tp + ",0]::OffsetAndMetadata(offset=15, leaderEpoch=Optional.empty, metadata=, commitTimestamp=1, expireTimestamp=None)\n" +
		"[" + g + "," + tp + ",0]::OffsetAndMetadata(offset=0, leaderEpoch=Optional.empty, metadata=, commitTimestamp=2, expireTimestamp=None)\n" +
		"[" + g + "," + tp + ",1]::NULL\n"
	for name, out := range map[string]string{"java 4": java4, "java 3.8": java38, "scala": scala} {
		if last, n := ktCommitted(out, g, tp); fmt.Sprint(last) != "map[0:0 1:-1]" || n < 2 {
			t.Errorf("%s offsets formatter output parsed as %v (%d records)", name, last, n)
		}
	}

	// kafka-transactions.sh: tab after every padded cell, an empty last
	// column.
	txn := "CoordinatorId\tTransactionalId\tProducerId\tProducerEpoch\tTransactionState\tTransactionTimeoutMs\tCurrentTransactionStartTimeMs\tTransactionDurationMs\tTopicPartitions\t\n" +
		"0            \tid-1           \t7         \t0            \tCompleteCommit  \t45000               \tNone                         \tNone                 \t               \t\n"
	if r := ktTxnTable(txn); len(r) != 1 || r[0]["TransactionalId"] != "id-1" || r[0]["ProducerId"] != "7" || r[0]["TransactionState"] != "CompleteCommit" || r[0]["TopicPartitions"] != "" {
		t.Errorf("transactions table parsed as %v", r)
	}
}
