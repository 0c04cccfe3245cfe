package integration

// Delegation tokens in a three-broker cluster: a token created through
// one broker authenticates clients on every broker, renewals and removals
// made through any broker are seen by the others, and tokens outlive a
// broker's restart (they live in ZooKeeper).

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	kgosasl "github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"gregor/internal/brokertest"
	"gregor/internal/sectest"
	"gregor/internal/zktest"
)

func TestDelegationTokensCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster tests start ZooKeeper and several brokers")
	}
	z := zktest.Start(t)
	users := map[string]string{"admin": "admin-secret", "alice": "alice-secret"}
	sasl := map[int32]string{}
	brokers := map[int32]*brokertest.Broker{}
	for id := int32(1); id <= 3; id++ {
		plainPort, saslPort := brokertest.FreePort(t), brokertest.FreePort(t)
		sasl[id] = "127.0.0.1:" + strconv.Itoa(saslPort)
		brokers[id] = brokertest.Start(t, brokertest.Options{Port: plainPort, Set: map[string]string{
			"broker.id":                            strconv.Itoa(int(id)),
			"zookeeper.connect":                    z.Addr + "/gregor-tokens",
			"zookeeper.session.timeout.ms":         "4000",
			"listeners":                            fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,SASL_PLAINTEXT://%s", plainPort, sasl[id]),
			"inter.broker.listener.name":           "SASL_PLAINTEXT",
			"sasl.enabled.mechanisms":              "PLAIN,SCRAM-SHA-256",
			"sasl.mechanism.inter.broker.protocol": "PLAIN",
			"listener.name.sasl_plaintext.plain.sasl.jaas.config":         sectest.PlainJAAS("admin", users["admin"], users),
			"listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config": sectest.ScramJAAS("admin", users["admin"]),
			"delegation.token.secret.key":                                 "cluster-token-secret",
		}})
	}
	client := func(m kgosasl.Mechanism, addr string) *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(m), kgo.RequestRetries(0), kgo.RetryTimeout(3*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	alice := func(id int32) *kadm.Client {
		return kadm.NewClient(client(plain.Auth{User: "alice", Pass: users["alice"]}.AsMechanism(), sasl[id]))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	tok, err := alice(1).CreateDelegationToken(ctx, kadm.CreateDelegationToken{})
	if err != nil {
		t.Fatalf("creating a token through broker 1: %v", err)
	}
	tokenAuth := scram.Auth{User: tok.TokenID, Pass: base64.StdEncoding.EncodeToString(tok.HMAC), IsToken: true}.AsSha256Mechanism()
	authenticates := func(id int32) error {
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		defer pcancel()
		return client(tokenAuth, sasl[id]).Ping(pctx)
	}
	for id := int32(1); id <= 3; id++ {
		waitFor(t, fmt.Sprintf("the token to authenticate on broker %d", id), 10*time.Second, func() bool { return authenticates(id) == nil })
	}

	exp, err := alice(2).RenewDelegationToken(ctx, tok.HMAC, time.Hour)
	if err != nil {
		t.Fatalf("renewing through broker 2: %v", err)
	}
	waitFor(t, "broker 3 to describe the renewed expiry", 10*time.Second, func() bool {
		ts, err := alice(3).DescribeDelegationTokens(ctx, kadm.Principal{Type: "User", Name: "alice"})
		return err == nil && len(ts) == 1 && ts[0].ExpiryTimestamp.Equal(exp)
	})

	brokers[2].Restart()
	if err := authenticates(2); err != nil {
		t.Fatalf("after broker 2 restarted the token fails there: %v", err)
	}

	if _, err := alice(3).ExpireDelegationToken(ctx, tok.HMAC, -time.Millisecond); err != nil {
		t.Fatalf("expiring through broker 3: %v", err)
	}
	for id := int32(1); id <= 3; id++ {
		waitFor(t, fmt.Sprintf("broker %d to refuse the removed token", id), 10*time.Second, func() bool {
			return errors.Is(authenticates(id), kerr.SaslAuthenticationFailed)
		})
	}
}
