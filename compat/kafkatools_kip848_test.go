package compat

// KIP-848 consumer groups with Apache Kafka's own tools: the Java console
// consumer with group.protocol=consumer (its ConsumerGroupHeartbeat,
// OffsetCommit v9 and OffsetFetch v9 with member epochs), a static member
// leaving for now and coming back, and kafka-consumer-groups.sh on the
// group (--list --type, --describe with --members and --state,
// --reset-offsets, --delete). KAFKA_TOOLS_DIR names the tools' bin
// directory.

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// startConsoleConsumer runs the console consumer in the background in a
// KIP-848 group; stop sends it SIGTERM (it leaves the group) and waits.
func (k *kafkaTools) startConsoleConsumer(t *testing.T, topic, group string, props ...string) (stop func()) {
	t.Helper()
	args := []string{"--bootstrap-server", k.addr, "--topic", topic, "--group", group, "--from-beginning",
		"--consumer-property", "group.protocol=consumer"}
	for _, p := range props {
		args = append(args, "--consumer-property", p)
	}
	cmd := exec.Command(filepath.Join(k.dir, "kafka-console-consumer.sh"), args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

func TestKafkaToolsConsumerProtocol(t *testing.T) {
	k := newKafkaTools(t)
	const partitions = 3
	topic, group, static := randomName("tools848"), randomName("tools848g"), randomName("tools848s")
	createTopic(t, k.addr, topic, partitions)
	cl, adm := ktClient(t, k.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	vals := ktValues("k848", 0, 30)
	ktProduce(t, cl, topic, partitions, vals)

	// The Java consumer with the consumer group protocol reads everything
	// and commits.
	out := k.run(t, "", "kafka-console-consumer.sh", "--bootstrap-server", k.addr, "--topic", topic, "--group", group,
		"--from-beginning", "--max-messages", strconv.Itoa(len(vals)), "--timeout-ms", "60000",
		"--consumer-property", "group.protocol=consumer")
	if got := toolLines(out); !sameStrings(got, vals) {
		t.Fatalf("console consumer with group.protocol=consumer read %v, want %v", got, vals)
	}
	if got := ktFetchOffsets(t, adm, group, topic); len(got) != partitions || got[0]+got[1]+got[2] != int64(len(vals)) {
		t.Fatalf("committed offsets %v, want %d in all", got, len(vals))
	}

	// --list --type: the group is a consumer group.
	lines := toolLines(k.groups(t, "--list", "--type", "consumer"))
	if !hasRow(lines, group, "Consumer") {
		t.Fatalf("--list --type consumer does not list %s as Consumer:\n%s", group, strings.Join(lines, "\n"))
	}
	// A classic group (offsets committed by the admin API) is listed as
	// Classic, and not as Consumer.
	classic := randomName("tools848c")
	func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var offs kadm.Offsets
		offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 1, LeaderEpoch: -1})
		if resps, err := adm.CommitOffsets(ctx, classic, offs); err != nil || resps.Error() != nil {
			t.Fatalf("committing for %s: %v %v", classic, err, resps.Error())
		}
	}()
	classicList := toolLines(k.groups(t, "--list", "--type", "classic"))
	if hasRow(classicList, group, "") || !hasRow(classicList, classic, "Classic") {
		t.Fatalf("--list --type classic lists the consumer group %s, or not the classic %s:\n%s", group, classic, strings.Join(classicList, "\n"))
	}
	if hasRow(toolLines(k.groups(t, "--list", "--type", "consumer")), classic, "") {
		t.Fatalf("--list --type consumer lists the classic group %s", classic)
	}
	// --describe: offsets, lag 0; --state: the uniform assignor, Empty.
	rows, dout := k.describeOffsets(t, group, topic)
	for p, r := range rows {
		if r.lag != 0 || r.current != r.end {
			t.Errorf("--describe partition %d: %+v\n%s", p, r, dout)
		}
	}
	st := ktTable(k.groups(t, "--describe", "--group", group, "--state"), "ASSIGNMENT-STRATEGY")
	if len(st) != 1 || st[0]["ASSIGNMENT-STRATEGY"] != "uniform" || st[0]["STATE"] != "Empty" {
		t.Fatalf("--describe --state: %v", st)
	}

	// A static member: described with its instance id while it runs; it
	// leaves for now on SIGTERM and comes back to its partitions without
	// a rebalance.
	stop := k.startConsoleConsumer(t, topic, static, "group.instance.id=inst-tools")
	d := waitStable(t, adm, static, 1, partitions)
	epoch := d.Epoch
	members := ktTable(k.groups(t, "--describe", "--group", static, "--members"), "GROUP-INSTANCE-ID")
	if len(members) != 1 || members[0]["GROUP-INSTANCE-ID"] != "inst-tools" || members[0]["#PARTITIONS"] != strconv.Itoa(partitions) {
		t.Fatalf("--describe --members: %v", members)
	}
	stop()
	wait848(t, "the static member to be away (epoch -2)", func() bool {
		d := describe848(t, adm, static)
		return len(d.Members) == 1 && d.Members[0].MemberEpoch == -2
	})
	stop = k.startConsoleConsumer(t, topic, static, "group.instance.id=inst-tools")
	d = waitStable(t, adm, static, 1, partitions)
	if d.Epoch != epoch || d.Members[0].MemberEpoch < 0 {
		t.Fatalf("the static member came back at group epoch %d (was %d): %+v", d.Epoch, epoch, d)
	}
	stop()

	// --reset-offsets and --delete on the (empty) group.
	reset := k.groups(t, "--reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--execute")
	if plan := ktResetPlan(t, reset, group, topic); len(plan) != partitions {
		t.Fatalf("--reset-offsets plan %v:\n%s", plan, reset)
	}
	if got := ktFetchOffsets(t, adm, group, topic); got[0]+got[1]+got[2] != 0 {
		t.Fatalf("after --reset-offsets --to-earliest the offsets are %v", got)
	}
	del := k.groups(t, "--delete", "--group", group)
	if !strings.Contains(del, "successful") {
		t.Fatalf("--delete: %s", del)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if l, err := adm.ListGroups(ctx); err != nil || l[group].Group != "" {
		t.Fatalf("group listed after --delete: %+v %v", l[group], err)
	}
}

// hasRow reports whether a line starts with group and, if typ is set,
// names that type.
func hasRow(lines []string, group, typ string) bool {
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) > 0 && f[0] == group && (typ == "" || containsString(f, typ)) {
			return true
		}
	}
	return false
}

// A static Java consumer rolled back from group.protocol=consumer to
// classic (stopped, restarted with the same group.instance.id) takes its
// place in the group, which becomes a classic group again, as in Kafka
// (classicGroupJoinToConsumerGroup downgrades the group when the last
// consumer-protocol member is replaced): kafka-consumer-groups.sh lists
// it as Classic, with the client-side assignor. Gregor kept a consumer
// group assigned by the broker.
func TestKafkaToolsStaticRollbackToClassic(t *testing.T) {
	k := newKafkaTools(t)
	const partitions = 2
	topic, group := randomName("rollback"), randomName("rollbackg")
	createTopic(t, k.addr, topic, partitions)
	cl, adm := ktClient(t, k.addr)
	stop := k.startConsoleConsumer(t, topic, group, "group.instance.id=inst-rollback")
	waitStable(t, adm, group, 1, partitions)
	stop()
	wait848(t, "the static member to be away (epoch -2)", func() bool {
		d := describe848(t, adm, group)
		return len(d.Members) == 1 && d.Members[0].MemberEpoch == -2
	})
	groupType := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := kmsg.NewPtrListGroupsRequest().RequestWith(ctx, cl)
		if err != nil {
			return ""
		}
		for _, g := range resp.Groups {
			if g.Group == group {
				return g.GroupType + "/" + g.GroupState
			}
		}
		return ""
	}
	k.startConsoleConsumer(t, topic, group, "group.instance.id=inst-rollback", "group.protocol=classic")
	last := ""
	if !waitUntil(groupBound, func() bool { last = groupType(); return last == "classic/Stable" }) {
		t.Fatalf("after the static member came back with the classic protocol the group is %q; want a Stable classic group", last)
	}
	lines := toolLines(k.groups(t, "--list", "--type", "classic"))
	if !hasRow(lines, group, "Classic") {
		t.Fatalf("--list --type classic does not list %s as Classic:\n%s", group, strings.Join(lines, "\n"))
	}
	st := ktTable(k.groups(t, "--describe", "--group", group, "--state"), "ASSIGNMENT-STRATEGY")
	if len(st) != 1 || st[0]["ASSIGNMENT-STRATEGY"] != "range" || st[0]["STATE"] != "Stable" || st[0]["#MEMBERS"] != "1" {
		t.Fatalf("--describe --state: %v", st)
	}
}
