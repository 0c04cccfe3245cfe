package integration

// Three brokers on ZooKeeper whose only listener is SASL_PLAINTEXT with
// OAUTHBEARER, also between brokers (sasl.mechanism.inter.broker.protocol=
// OAUTHBEARER): each broker logs in to the others with an unsecured token
// for the unsecuredLoginStringClaim_sub of its listener's JAAS config, as
// Kafka's default login callback handler does. ACLs are on and only that
// subject (User:broker) and the admin are super users, so replication
// works only if the brokers authenticate as themselves.

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/oauth"

	"gregor/internal/brokertest"
	"gregor/internal/sectest"
	"gregor/internal/zktest"
	"gregor/protocol/sasl"
)

// oauthClusterSet is broker id's configuration.
func oauthClusterSet(zkAddr string, id int32, port int) map[string]string {
	return map[string]string{
		"broker.id":                            strconv.Itoa(int(id)),
		"zookeeper.connect":                    zkAddr + "/gregor-oauth",
		"zookeeper.session.timeout.ms":         "4000",
		"listeners":                            "SASL_PLAINTEXT://127.0.0.1:" + strconv.Itoa(port),
		"security.inter.broker.protocol":       "SASL_PLAINTEXT",
		"sasl.enabled.mechanisms":              "OAUTHBEARER",
		"sasl.mechanism.inter.broker.protocol": "OAUTHBEARER",
		"listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config": sectest.OAuthJAAS("broker"),
		"authorizer.class.name":                    "kafka.security.authorizer.AclAuthorizer",
		"super.users":                              "User:broker;User:admin",
		"default.replication.factor":               "3",
		"offsets.topic.replication.factor":         "3",
		"transaction.state.log.replication.factor": "3",
		"offsets.topic.num.partitions":             "3",
		"transaction.state.log.num.partitions":     "3",
		"replica.lag.time.max.ms":                  "3000",
		"gregor.log.level":                         "debug",
	}
}

func oauthClient(t *testing.T, sub string, seeds []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	m := oauth.Oauth(func(context.Context) (oauth.Auth, error) {
		return oauth.Auth{Token: sasl.UnsecuredToken(sub, time.Now(), time.Hour)}, nil
	})
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.SASL(m)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestSecureClusterOAuthBearerBetweenBrokers: a topic of replication
// factor 3 gets all three replicas in sync, records produced with
// acks=all are read back, the leader logs the followers' logins as
// User:broker with OAUTHBEARER, and no broker fails to authenticate.
func TestSecureClusterOAuthBearerBetweenBrokers(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster tests start ZooKeeper and several brokers")
	}
	zkp := zktest.Start(t)
	brokers := map[int32]*brokertest.Broker{}
	var seeds []string
	for id := int32(1); id <= 3; id++ {
		port := brokertest.FreePort(t)
		brokers[id] = brokertest.Start(t, brokertest.Options{Port: port, Set: oauthClusterSet(zkp.Addr, id, port)})
		seeds = append(seeds, brokers[id].Addr)
	}
	adm := kadm.NewClient(oauthClient(t, "admin", seeds))
	waitFor(t, "3 brokers in metadata over SASL_PLAINTEXT/OAUTHBEARER", 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		m, err := adm.Metadata(ctx)
		return err == nil && len(m.Brokers) == 3
	})
	const topic = "oauth-replicated"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "3 in-sync replicas of "+topic+" replicating over OAUTHBEARER", 30*time.Second, func() bool { return isrOf(adm, topic) == 3 })
	producer := oauthClient(t, "admin", seeds, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	const n = 50
	for i := 0; i < n; i++ {
		if err := producer.ProduceSync(ctx, kgo.StringRecord(strconv.Itoa(i))).FirstErr(); err != nil {
			t.Fatalf("produce %d with acks=all: %v", i, err)
		}
	}
	consumer := oauthClient(t, "admin", seeds, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	consumeAll(t, consumer, n)
	// The followers fetch from the leader: it logs their logins.
	const login = `"principal":"User:broker","mechanism":"OAUTHBEARER"`
	leader := brokers[leaderOfTopic(t, adm, topic)]
	waitFor(t, "the leader to log the followers' OAUTHBEARER logins as User:broker", 10*time.Second, func() bool {
		return strings.Contains(leader.Logs(1<<30), login)
	})
	for id, b := range brokers {
		if strings.Contains(b.Logs(1<<30), "inter-broker authentication failed") {
			t.Errorf("broker %d logged a failed inter-broker authentication", id)
		}
	}
}
