package integration

// A three-broker cluster with the ACL authorizer: brokers talk to each
// other over SASL_PLAINTEXT as User:admin, a super user, so they authorize
// each other (replication, transaction markers); ACLs created or deleted
// through any broker are in force on every broker within a second, and
// stay consistent across broker and ZooKeeper restarts.

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"gregor/internal/brokertest"
	"gregor/internal/sectest"
	"gregor/internal/zktest"
)

type aclCluster struct {
	t       *testing.T
	zk      *zktest.ZK
	chroot  string
	brokers map[int32]*brokertest.Broker
	sasl    map[int32]string // SASL_PLAINTEXT address by broker
	ports   map[int32][2]int // PLAINTEXT, SASL_PLAINTEXT
}

var aclUsers = map[string]string{"admin": "admin-secret", "alice": "alice-secret"}

func (c *aclCluster) start(id int32, dir string) *brokertest.Broker {
	p := c.ports[id]
	set := map[string]string{
		"broker.id":                            strconv.Itoa(int(id)),
		"zookeeper.connect":                    c.zk.Addr + c.chroot,
		"zookeeper.session.timeout.ms":         "4000",
		"listeners":                            fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,SASL_PLAINTEXT://127.0.0.1:%d", p[0], p[1]),
		"inter.broker.listener.name":           "SASL_PLAINTEXT",
		"sasl.enabled.mechanisms":              "PLAIN",
		"sasl.mechanism.inter.broker.protocol": "PLAIN",
		"listener.name.sasl_plaintext.plain.sasl.jaas.config": sectest.PlainJAAS("admin", aclUsers["admin"], aclUsers),
		"authorizer.class.name":                               "kafka.security.authorizer.AclAuthorizer",
		"super.users":                                         "User:admin",
		"default.replication.factor":                          "3",
		"offsets.topic.replication.factor":                    "3",
		"transaction.state.log.replication.factor":            "3",
		"offsets.topic.num.partitions":                        "3",
		"transaction.state.log.num.partitions":                "3",
		"replica.lag.time.max.ms":                             "3000",
		"group.initial.rebalance.delay.ms":                    "0",
	}
	b := brokertest.Start(c.t, brokertest.Options{Port: p[0], Dir: dir, Set: set})
	c.brokers[id] = b
	return b
}

func (c *aclCluster) client(user string, seeds []string, opts ...kgo.Opt) *kgo.Client {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.SASL(plain.Auth{User: user, Pass: aclUsers[user]}.AsMechanism())}, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

func (c *aclCluster) seeds() []string {
	var out []string
	for _, a := range c.sasl {
		out = append(out, a)
	}
	return out
}

// aclsOn returns the ACLs broker id has in force (DescribeAcls sent to it).
func (c *aclCluster) aclsOn(cl *kgo.Client) ([]string, error) {
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType, req.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		return nil, err
	}
	r := resp.(*kmsg.DescribeACLsResponse)
	if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
		return nil, err
	}
	var out []string
	for _, res := range r.Resources {
		for _, a := range res.ACLs {
			out = append(out, fmt.Sprintf("%s:%s:%s %s %s %s", res.ResourceType, res.ResourcePatternType, res.ResourceName, a.Principal, a.Operation, a.PermissionType))
		}
	}
	slices.Sort(out)
	return out, nil
}

func TestACLCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster tests start ZooKeeper and several brokers")
	}
	c := &aclCluster{t: t, zk: zktest.Start(t), chroot: "/gregor-acl", brokers: map[int32]*brokertest.Broker{}, sasl: map[int32]string{}, ports: map[int32][2]int{}}
	for id := int32(1); id <= 3; id++ {
		c.ports[id] = [2]int{brokertest.FreePort(t), brokertest.FreePort(t)}
		c.sasl[id] = "127.0.0.1:" + strconv.Itoa(c.ports[id][1])
		c.start(id, "")
	}
	adm := kadm.NewClient(c.client("admin", c.seeds()))
	waitFor(t, "3 brokers in metadata", 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		m, err := adm.Metadata(ctx)
		return err == nil && len(m.Brokers) == 3
	})
	// One admin client per broker, talking to it alone.
	on := map[int32]*kgo.Client{}
	for id, a := range c.sasl {
		on[id] = c.client("admin", []string{a})
	}

	// The brokers replicate to each other as User:admin, a super user.
	topic := "acl-replicated"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "3 in-sync replicas of every partition (followers' fetches authorized)", 30*time.Second, func() bool {
		m, err := adm.Metadata(ctx, topic)
		if err != nil {
			return false
		}
		for _, p := range m.Topics[topic].Partitions {
			if len(p.ISR) != 3 {
				return false
			}
		}
		return len(m.Topics[topic].Partitions) == 3
	})

	// everyBroker waits until every broker has want in force and returns
	// the slowest broker's delay.
	everyBroker := func(what string, want []string) time.Duration {
		t.Helper()
		start := time.Now()
		var slowest time.Duration
		for id, cl := range on {
			waitFor(t, fmt.Sprintf("%s on broker %d", what, id), 30*time.Second, func() bool {
				got, err := c.aclsOn(cl)
				return err == nil && slices.Equal(got, want)
			})
			slowest = max(slowest, time.Since(start))
		}
		t.Logf("%s: in force on every broker %v after the request returned", what, slowest)
		return slowest
	}
	grant := func(via int32, b *kadm.ACLBuilder) {
		res, err := kadm.NewClient(on[via]).CreateACLs(ctx, b)
		if err == nil {
			for _, r := range res {
				if r.Err != nil {
					err = r.Err
				}
			}
		}
		if err != nil {
			t.Fatalf("CreateACLs through broker %d: %v", via, err)
		}
	}
	aliceWrite := kadm.NewACLs().Allow("User:alice").Topics(topic).Operations(kadm.OpWrite)
	aliceTxn := kadm.NewACLs().Allow("User:alice").TransactionalIDs("acl-txn").Operations(kadm.OpWrite)
	writeACL := []string{"TOPIC:LITERAL:" + topic + " User:alice WRITE ALLOW"}
	bothACLs := []string{"TOPIC:LITERAL:" + topic + " User:alice WRITE ALLOW", "TRANSACTIONAL_ID:LITERAL:acl-txn User:alice WRITE ALLOW"}

	// Created through broker 1: in force everywhere within a second.
	grant(1, aliceWrite)
	if d := everyBroker("an ACL created through broker 1", writeACL); d > time.Second {
		t.Errorf("an ACL took %v to reach every broker", d)
	}
	// alice produces to every partition, each led by a different broker.
	alice := c.client("alice", c.seeds(), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := int32(0); p < 3; p++ {
		if err := alice.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("a")}).FirstErr(); err != nil {
			t.Fatalf("alice's produce to partition %d: %v", p, err)
		}
	}
	// A transaction across partitions led by three brokers: the
	// coordinator's markers go to the other brokers as User:admin.
	grant(2, aliceTxn)
	everyBroker("a second ACL created through broker 2", bothACLs)
	txn := c.client("alice", c.seeds(), kgo.DefaultProduceTopic(topic), kgo.TransactionalID("acl-txn"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 3; p++ {
		if err := txn.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("t")}).FirstErr(); err != nil {
			t.Fatalf("alice's transactional produce to partition %d: %v", p, err)
		}
	}
	if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("committing across three brokers: %v", err)
	}

	// A broker restarted loads the ACLs before it serves.
	c.brokers[3].Kill()
	c.start(3, c.brokers[3].Dir)
	on[3] = c.client("admin", []string{c.sasl[3]})
	if got, err := c.aclsOn(on[3]); err != nil || !slices.Equal(got, bothACLs) {
		t.Fatalf("broker 3 right after its restart: %v %v", got, err)
	}

	// ZooKeeper restarts: deleting through broker 3 reaches every broker.
	c.zk.Restart()
	waitFor(t, "DeleteAcls through broker 3 after the ZooKeeper restart", 30*time.Second, func() bool {
		res, err := kadm.NewClient(on[3]).DeleteACLs(ctx, kadm.NewACLs().Allow("User:alice").AllowHosts().TransactionalIDs("acl-txn").Operations(kadm.OpAny))
		return err == nil && len(res) > 0 && res[0].Err == nil
	})
	if d := everyBroker("an ACL deleted through broker 3 after a ZooKeeper restart", writeACL); d > time.Second {
		t.Errorf("a deletion took %v to reach every broker", d)
	}
	// The deletion is in force: alice's transactions are refused everywhere.
	for id := range c.sasl {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr("acl-txn"), 60000
		cl := c.client("alice", []string{c.sasl[id]})
		resp, err := cl.SeedBrokers()[0].Request(ctx, req)
		if err != nil || resp.(*kmsg.InitProducerIDResponse).ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code {
			t.Errorf("InitProducerId on broker %d after the deletion: %v %+v", id, err, resp)
		}
	}

	// Every broker restarted: the ACLs survive.
	for id := int32(1); id <= 3; id++ {
		c.brokers[id].Kill()
	}
	for id := int32(1); id <= 3; id++ {
		c.start(id, c.brokers[id].Dir)
		on[id] = c.client("admin", []string{c.sasl[id]})
	}
	everyBroker("the ACLs after every broker restarted", writeACL)
	waitFor(t, "alice producing again after the restarts", 60*time.Second, func() bool {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return c.client("alice", c.seeds(), kgo.DefaultProduceTopic(topic)).ProduceSync(pctx, kgo.StringRecord("b")).FirstErr() == nil
	})
}
