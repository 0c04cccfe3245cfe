package integration

// Two brokers on ZooKeeper whose only listener is SASL_PLAINTEXT with
// PLAIN, also between brokers, and connections.max.reauth.ms of 2 s: the
// follower's fetch connection re-authenticates before its session ends,
// as Kafka's SaslClientAuthenticator renews a broker's channels (KIP-368),
// instead of being closed by the leader at each session's end.

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"gregor/internal/brokertest"
	"gregor/internal/sectest"
	"gregor/internal/zktest"
)

const reauthSession = 2 * time.Second

func reauthClusterSet(zkAddr string, id int32, port int) map[string]string {
	users := map[string]string{"admin": secAdminPass}
	return map[string]string{
		"broker.id":                                           strconv.Itoa(int(id)),
		"zookeeper.connect":                                   zkAddr + "/gregor-reauth",
		"zookeeper.session.timeout.ms":                        "4000",
		"listeners":                                           "SASL_PLAINTEXT://127.0.0.1:" + strconv.Itoa(port),
		"security.inter.broker.protocol":                      "SASL_PLAINTEXT",
		"sasl.enabled.mechanisms":                             "PLAIN",
		"sasl.mechanism.inter.broker.protocol":                "PLAIN",
		"listener.name.sasl_plaintext.plain.sasl.jaas.config": sectest.PlainJAAS("admin", secAdminPass, users),
		"connections.max.reauth.ms":                           strconv.Itoa(int(reauthSession.Milliseconds())),
		"default.replication.factor":                          "2",
		"offsets.topic.replication.factor":                    "2",
		"transaction.state.log.replication.factor":            "2",
		"offsets.topic.num.partitions":                        "1",
		"transaction.state.log.num.partitions":                "1",
		"replica.lag.time.max.ms":                             "3000",
		"gregor.log.level":                                    "debug",
	}
}

// TestInterBrokerConnectionsReauthenticate: with a 2 s SASL session, the
// leader sees the follower re-authenticate on its open connection several
// times, closes no connection for an ended session, and the follower never
// has to reconnect; acks=all produce still works afterwards.
func TestInterBrokerConnectionsReauthenticate(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster tests start ZooKeeper and several brokers")
	}
	zkp := zktest.Start(t)
	brokers := map[int32]*brokertest.Broker{}
	var seeds []string
	for id := int32(1); id <= 2; id++ {
		port := brokertest.FreePort(t)
		brokers[id] = brokertest.Start(t, brokertest.Options{Port: port, Set: reauthClusterSet(zkp.Addr, id, port)})
		seeds = append(seeds, brokers[id].Addr)
	}
	client := func(opts ...kgo.Opt) *kgo.Client {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...),
			kgo.SASL(plain.Auth{User: "admin", Pass: secAdminPass}.AsMechanism())}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	adm := kadm.NewClient(client())
	waitFor(t, "2 brokers in metadata over SASL_PLAINTEXT", 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		m, err := adm.Metadata(ctx)
		return err == nil && len(m.Brokers) == 2
	})
	const topic = "reauth-replicated"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 1, 2, nil, topic); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "2 in-sync replicas of "+topic, 30*time.Second, func() bool { return isrOf(adm, topic) == 2 })
	leader := brokers[leaderOfTopic(t, adm, topic)]
	// The follower fetches every replica.fetch.wait.max.ms: over 3
	// sessions it re-authenticates at least 3 times.
	const reauth = `"principal":"User:admin","mechanism":"PLAIN"`
	countReauths := func() int {
		n := 0
		for _, l := range strings.Split(leader.Logs(1<<30), "\n") {
			if strings.Contains(l, reauth) && strings.Contains(l, `"reauthentication":true`) {
				n++
			}
		}
		return n
	}
	waitFor(t, "the leader to see 3 re-authentications of User:admin (the follower's fetch connection renewing its 2 s session)", 30*time.Second, func() bool {
		return countReauths() >= 3
	})
	for id, b := range brokers {
		logs := b.Logs(1 << 30)
		if strings.Contains(logs, "SASL session expired") {
			t.Errorf("broker %d closed a connection whose SASL session ended without re-authentication", id)
		}
		if strings.Contains(logs, "replica fetch failed") {
			t.Errorf("broker %d's replica fetcher lost its connection", id)
		}
		if strings.Contains(logs, "inter-broker authentication failed") {
			t.Errorf("broker %d failed to authenticate to another broker", id)
		}
	}
	producer := client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	for i := 0; i < 10; i++ {
		if err := producer.ProduceSync(ctx, kgo.StringRecord(strconv.Itoa(i))).FirstErr(); err != nil {
			t.Fatalf("produce %d with acks=all: %v", i, err)
		}
	}
	if n := isrOf(adm, topic); n != 2 {
		t.Fatalf("%d in-sync replicas of %s after the re-authentications, want 2", n, topic)
	}
}
