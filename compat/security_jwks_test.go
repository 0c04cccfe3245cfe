package compat

// OAUTHBEARER with signed tokens, checked against a JWKS file as Kafka's
// OAuthBearerValidatorCallbackHandler checks them, over a real broker
// process with franz-go's sasl/oauth; and the metrics endpoint counting
// failed authentications and authorization denials, scraped and parsed
// with Prometheus' parser. The signing keys are made in the test.

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	kgosasl "github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"

	"gregor/internal/brokertest"
	"gregor/internal/promtest"
	"gregor/internal/wait"
)

const (
	jwksKid      = "gregor-test-key"
	jwksIssuer   = "https://issuer.gregor.test"
	jwksAudience = "gregor-brokers"
)

// signer makes RS256 tokens with one key.
type signer struct{ key *rsa.PrivateKey }

func newSigner(t *testing.T) *signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &signer{key: k}
}

// jwks is the JWK set holding the signer's public key.
func (s *signer) jwks(t *testing.T) []byte {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	set := map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": jwksKid, "use": "sig", "alg": "RS256",
		"n": b64(s.key.N.Bytes()), "e": b64(big.NewInt(int64(s.key.E)).Bytes()),
	}}}
	out, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// token signs claims, with the test kid in the header.
func (s *signer) token(t *testing.T, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signed := enc(map[string]string{"alg": "RS256", "typ": "JWT", "kid": jwksKid}) + "." + enc(claims)
	digest := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// claims are a valid token's claims for sub, changed by edit.
func claims(sub string, edit func(map[string]any)) map[string]any {
	now := time.Now()
	c := map[string]any{"sub": sub, "iss": jwksIssuer, "aud": jwksAudience, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if edit != nil {
		edit(c)
	}
	return c
}

// jwksBroker is a broker whose SASL_PLAINTEXT listener checks signed
// tokens, with ACLs on (PLAINTEXT's User:ANONYMOUS is a super user) and
// metrics served.
type jwksBroker struct {
	b         *brokertest.Broker
	sasl      string
	metrics   string
	validKeys *signer
}

func startJWKSBroker(t *testing.T) *jwksBroker {
	t.Helper()
	if !usingGregor() {
		t.Skip("COMPAT_BOOTSTRAP is set: this test starts its own broker")
	}
	s := newSigner(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(path, s.jwks(t), 0o600); err != nil {
		t.Fatal(err)
	}
	pt, st, mt := brokertest.FreePort(t), brokertest.FreePort(t), brokertest.FreePort(t)
	j := &jwksBroker{sasl: "127.0.0.1:" + strconv.Itoa(st), metrics: "127.0.0.1:" + strconv.Itoa(mt), validKeys: s}
	j.b = brokertest.Start(t, brokertest.Options{Port: pt, Set: map[string]string{
		"listeners":               "PLAINTEXT://127.0.0.1:" + strconv.Itoa(pt) + ",SASL_PLAINTEXT://" + j.sasl,
		"sasl.enabled.mechanisms": "OAUTHBEARER",
		"listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config":                   "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;",
		"listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class": "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler",
		"sasl.oauthbearer.jwks.endpoint.url":                                          "file://" + path,
		"sasl.oauthbearer.expected.issuer":                                            jwksIssuer,
		"sasl.oauthbearer.expected.audience":                                          jwksAudience,
		"authorizer.class.name":                                                       "kafka.security.authorizer.AclAuthorizer",
		"super.users":                                                                 "User:ANONYMOUS",
		"gregor.metrics.listener":                                                     j.metrics,
		"gregor.log.level":                                                            "debug",
	}})
	return j
}

// TestSecurityOAuthJWKS: a token signed by the JWKS key with the expected
// issuer and audience authenticates; one signed by another key, an
// expired one, and ones with another audience or issuer fail with
// SASL_AUTHENTICATION_FAILED and invalid_token. The metrics endpoint
// counts those failures, and the authorization denial of the
// authenticated user's produce to a topic it has no ACL for.
func TestSecurityOAuthJWKS(t *testing.T) {
	j := startJWKSBroker(t)
	topic := randomName("jwks")
	secCreateTopic(t, j.b.Addr, topic, 1)
	good := oauth.Auth{Token: j.validKeys.token(t, claims("alice", nil))}.AsMechanism()
	if err := saslError(t, j.sasl, good, nil); err != nil {
		t.Fatalf("a valid signed token: %v", err)
	}
	wait.For(t, "the broker to log alice's OAUTHBEARER authentication", 10*time.Second, func() bool {
		return strings.Contains(j.b.Logs(1<<30), `"principal":"User:alice","mechanism":"OAUTHBEARER"`)
	})
	bad := map[string]string{
		"another key": newSigner(t).token(t, claims("alice", nil)),
		"expired": j.validKeys.token(t, claims("alice", func(c map[string]any) {
			c["iat"], c["exp"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
		})),
		"other audience": j.validKeys.token(t, claims("alice", func(c map[string]any) { c["aud"] = "someone-else" })),
		"other issuer":   j.validKeys.token(t, claims("alice", func(c map[string]any) { c["iss"] = "https://evil.test" })),
		// Kafka's validator requires iat (setRequireIssuedAt).
		"no issued-at": j.validKeys.token(t, claims("alice", func(c map[string]any) { delete(c, "iat") })),
		// jose4j checks a not-before time when there is one.
		"not yet valid": j.validKeys.token(t, claims("alice", func(c map[string]any) { c["nbf"] = time.Now().Add(30 * time.Minute).Unix() })),
	}
	for name, tok := range bad {
		err := saslError(t, j.sasl, oauth.Auth{Token: tok}.AsMechanism(), nil)
		if !errors.Is(err, kerr.SaslAuthenticationFailed) || !strings.Contains(err.Error(), "invalid_token") {
			t.Errorf("%s: %v, want SASL_AUTHENTICATION_FAILED with invalid_token", name, err)
		}
	}
	produceDenied(t, j.sasl, good, topic)
	url := "http://" + j.metrics + "/metrics"
	var failed, denied float64
	var scrapeErr error
	ok := wait.Until(10*time.Second, func() bool {
		var fams promtest.Families
		if fams, scrapeErr = promtest.TryScrape(url); scrapeErr != nil {
			return false
		}
		failed, _ = fams.Value("gregor_authentication_failed_total", "listener", "SASL_PLAINTEXT", "mechanism", "OAUTHBEARER")
		denied = deniedOnTopics(fams)
		return failed >= float64(len(bad)) && denied >= 1
	})
	if !ok {
		t.Fatalf("after 10s the metrics show %v failed OAUTHBEARER authentications on SASL_PLAINTEXT (want >= %d) and %v denials on topics (want >= 1); last scrape error %v",
			failed, len(bad), denied, scrapeErr)
	}
	t.Logf("scraped: %v failed authentications, %v authorization denials", failed, denied)
}

// deniedOnTopics sums gregor_authorization_denied_total over operations
// on topics (a producer without ACLs is refused Describe in Metadata, or
// Write in Produce).
func deniedOnTopics(fams promtest.Families) float64 {
	var n float64
	for _, op := range []string{"Describe", "Write"} {
		v, _ := fams.Value("gregor_authorization_denied_total", "operation", op, "resource_type", "Topic")
		n += v
	}
	return n
}

// produceDenied: an authenticated user without ACLs gets
// TOPIC_AUTHORIZATION_FAILED producing.
func produceDenied(t *testing.T, addr string, m kgosasl.Mechanism, topic string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(m), kgo.DefaultProduceTopic(topic), kgo.RecordRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = cl.ProduceSync(ctx, kgo.StringRecord("denied")).FirstErr()
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("produce without an ACL: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
}
