package compat

// Delegation tokens (KIP-48) against a real broker process with a
// PLAINTEXT and a SASL_PLAINTEXT listener (SCRAM-SHA-256 and -512), ACLs
// on, delegation.token.secret.key set: kadm creates, renews, expires and
// describes tokens over SCRAM with Kafka's error codes; a franz-go client
// authenticates with a token (tokenauth=true) and produces and consumes;
// tokens survive a restart; expired ones are removed by the periodic
// check; PLAINTEXT, token-authenticated clients and a broker without a
// secret are refused as Kafka refuses them. With KAFKA_TOOLS_DIR,
// kafka-delegation-tokens.sh does the same over SCRAM. These tests start
// their own brokers, so they skip when COMPAT_BOOTSTRAP is set.

import (
	"context"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	kgosasl "github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"gregor/internal/brokertest"
	"gregor/internal/sectest"
	"gregor/internal/wait"
)

const (
	tokSecret = "token-secret-key"
	tokBob    = "bob"
	tokCarol  = "carol"
)

// tokenBroker is a broker with a PLAINTEXT and a SASL_PLAINTEXT listener.
type tokenBroker struct {
	b               *brokertest.Broker
	plain, sasl     string
	users           map[string]string // SCRAM users and passwords
	expiryTime      time.Duration     // delegation.token.expiry.time.ms
	secret          string
	checkIntervalMs string
}

// startTokenBroker starts a broker for the token tests: admin is a super
// user, ACLs allow everything that has none. secret "" leaves tokens off.
func startTokenBroker(t *testing.T, secret string, extra map[string]string) *tokenBroker {
	t.Helper()
	if !usingGregor() {
		t.Skip("COMPAT_BOOTSTRAP is set: the delegation token tests start their own broker")
	}
	plainPort, saslPort := brokertest.FreePort(t), brokertest.FreePort(t)
	tb := &tokenBroker{
		plain: "127.0.0.1:" + strconv.Itoa(plainPort), sasl: "127.0.0.1:" + strconv.Itoa(saslPort),
		users:      map[string]string{secAdmin: secAdminPass, secAlice: secAlicePass, tokBob: "bob-secret", tokCarol: "carol-secret"},
		expiryTime: 10 * time.Minute, secret: secret,
	}
	set := map[string]string{
		"listeners":                       "PLAINTEXT://" + tb.plain + ",SASL_PLAINTEXT://" + tb.sasl,
		"sasl.enabled.mechanisms":         "SCRAM-SHA-256,SCRAM-SHA-512",
		"authorizer.class.name":           "kafka.security.authorizer.AclAuthorizer",
		"super.users":                     "User:" + secAdmin,
		"allow.everyone.if.no.acl.found":  "true",
		"delegation.token.expiry.time.ms": strconv.FormatInt(tb.expiryTime.Milliseconds(), 10),
		"listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config": sectest.ScramJAAS(secAdmin, secAdminPass),
		"listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": sectest.ScramJAAS(secAdmin, secAdminPass),
	}
	if secret != "" {
		set["delegation.token.secret.key"] = secret
	}
	for k, v := range extra {
		set[k] = v
	}
	tb.b = brokertest.Start(t, brokertest.Options{Port: plainPort, Set: set})
	tb.createUsers(t)
	// ACLs on every token and user make them ACL-governed (else
	// allow.everyone.if.no.acl.found lets anyone describe any token or
	// create tokens for any owner); admin is a super user anyway.
	tb.allow(t, "User:"+secAdmin, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeDelegationToken, "*")
	tb.allowOnUser(t, "User:"+secAdmin, kmsg.ACLOperationCreateTokens, "*")
	return tb
}

func (tb *tokenBroker) createUsers(t *testing.T) {
	t.Helper()
	adm := tb.admin(t, "", "")
	// One request per mechanism: Kafka 4 alters a user once per request.
	for _, m := range []kadm.ScramMechanism{kadm.ScramSha256, kadm.ScramSha512} {
		var ups []kadm.UpsertSCRAM
		for user, pass := range tb.users {
			ups = append(ups, kadm.UpsertSCRAM{User: user, Mechanism: m, Iterations: 4096, Password: pass})
		}
		res, err := adm.AlterUserSCRAMs(tctx(t), nil, ups)
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			t.Fatalf("AlterUserSCRAMs: %v", err)
		}
	}
}

func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// client is a franz-go client: over PLAINTEXT with no user, else over
// SASL_PLAINTEXT with the mechanism m.
func (tb *tokenBroker) client(t *testing.T, m kgosasl.Mechanism, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append(opts, kgo.SeedBrokers(tb.plain), kgo.RequestRetries(0), kgo.RetryTimeout(5*time.Second))
	if m != nil {
		opts = append(opts, kgo.SeedBrokers(tb.sasl), kgo.SASL(m))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// admin is kadm for a SCRAM-SHA-512 user, or over PLAINTEXT for "".
func (tb *tokenBroker) admin(t *testing.T, user, _ string) *kadm.Client {
	t.Helper()
	if user == "" {
		return kadm.NewClient(tb.client(t, nil))
	}
	return kadm.NewClient(tb.client(t, scram.Auth{User: user, Pass: tb.users[user]}.AsSha512Mechanism()))
}

// tokenMech authenticates with a token, as Kafka's clients do: the token id
// is the user, the base64 of the HMAC the password.
func tokenMech(id string, mac []byte, sha512 bool) kgosasl.Mechanism {
	a := scram.Auth{User: id, Pass: base64.StdEncoding.EncodeToString(mac), IsToken: true}
	if sha512 {
		return a.AsSha512Mechanism()
	}
	return a.AsSha256Mechanism()
}

// allowOnUser creates an ACL allowing principal op on a USER resource,
// as admin.
func (tb *tokenBroker) allowOnUser(t *testing.T, principal string, op kmsg.ACLOperation, user string) {
	t.Helper()
	tb.allow(t, principal, op, kmsg.ACLResourceTypeUser, user)
}

// allow creates an ACL allowing principal op on a resource, as admin.
func (tb *tokenBroker) allow(t *testing.T, principal string, op kmsg.ACLOperation, typ kmsg.ACLResourceType, name string) {
	t.Helper()
	c := kmsg.NewCreateACLsRequestCreation()
	c.ResourceType, c.ResourceName, c.ResourcePatternType = typ, name, kmsg.ACLResourcePatternTypeLiteral
	c.Principal, c.Host, c.Operation, c.PermissionType = principal, "*", op, kmsg.ACLPermissionTypeAllow
	req := kmsg.NewPtrCreateACLsRequest()
	req.Creations = append(req.Creations, c)
	resp, err := req.RequestWith(tctx(t), tb.client(t, scram.Auth{User: secAdmin, Pass: secAdminPass}.AsSha512Mechanism()))
	if err == nil && len(resp.Results) == 1 {
		err = kerr.ErrorForCode(resp.Results[0].ErrorCode)
	}
	if err != nil {
		t.Fatalf("allowing %s %v on %v %s: %v", principal, op, typ, name, err)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: %v, want %v", what, err, want)
	}
}

func TestDelegationTokens(t *testing.T) {
	tb := startTokenBroker(t, tokSecret, nil)
	alice := tb.admin(t, secAlice, "")

	before := time.Now().Add(-time.Second)
	tok, err := alice.CreateDelegationToken(tctx(t), kadm.CreateDelegationToken{
		Renewers: []kadm.Principal{{Type: "User", Name: tokBob}}, MaxLifetime: time.Hour,
	})
	if err != nil {
		t.Fatalf("alice creates a token: %v", err)
	}
	if tok.Owner != (kadm.Principal{Type: "User", Name: secAlice}) || tok.TokenRequesterPrincipal != tok.Owner {
		t.Fatalf("owner %v requester %v, want User:alice for both", tok.Owner, tok.TokenRequesterPrincipal)
	}
	if tok.IssueTimestamp.Before(before) || !tok.MaxTimestamp.Equal(tok.IssueTimestamp.Add(time.Hour)) ||
		!tok.ExpiryTimestamp.Equal(tok.IssueTimestamp.Add(tb.expiryTime)) {
		t.Fatalf("timestamps issue %v expiry %v max %v: want expiry issue+%v, max issue+1h", tok.IssueTimestamp, tok.ExpiryTimestamp, tok.MaxTimestamp, tb.expiryTime)
	}
	m := hmac.New(sha512.New, []byte(tokSecret))
	m.Write([]byte(tok.TokenID))
	if !hmac.Equal(tok.HMAC, m.Sum(nil)) {
		t.Fatalf("HMAC is not HmacSHA512(secret, tokenId)")
	}

	t.Run("AuthenticateWithToken", func(t *testing.T) {
		for _, sha512 := range []bool{false, true} {
			roundTrip(t, tb.plain, []kgo.Opt{kgo.SeedBrokers(tb.sasl), kgo.SASL(tokenMech(tok.TokenID, tok.HMAC, sha512))}, 5)
		}
		// The token's owner is who the client is: it describes alice's token.
		viaToken := kadm.NewClient(tb.client(t, tokenMech(tok.TokenID, tok.HMAC, true)))
		_, err := viaToken.DescribeDelegationTokens(tctx(t))
		wantErr(t, "describe over a token", err, kerr.DelegationTokenRequestNotAllowed)
		_, err = viaToken.CreateDelegationToken(tctx(t), kadm.CreateDelegationToken{})
		wantErr(t, "create over a token", err, kerr.DelegationTokenRequestNotAllowed)
		_, err = viaToken.RenewDelegationToken(tctx(t), tok.HMAC, -1)
		wantErr(t, "renew over a token", err, kerr.DelegationTokenRequestNotAllowed)
		// A wrong HMAC, an unknown token id, or a token id used as a user
		// name fail like a bad password.
		bad := append([]byte(nil), tok.HMAC...)
		bad[0] ^= 1
		for what, mech := range map[string]kgosasl.Mechanism{
			"wrong HMAC":        tokenMech(tok.TokenID, bad, false),
			"unknown token id":  tokenMech("no-such-token", tok.HMAC, false),
			"without tokenauth": scram.Auth{User: tok.TokenID, Pass: base64.StdEncoding.EncodeToString(tok.HMAC)}.AsSha256Mechanism(),
		} {
			cl := tb.client(t, mech)
			if err := cl.Ping(tctx(t)); !errors.Is(err, kerr.SaslAuthenticationFailed) {
				t.Fatalf("%s: %v, want SASL_AUTHENTICATION_FAILED", what, err)
			}
		}
	})

	t.Run("NotAllowedOverPlaintext", func(t *testing.T) {
		plain := tb.admin(t, "", "")
		_, err := plain.CreateDelegationToken(tctx(t), kadm.CreateDelegationToken{})
		wantErr(t, "create over PLAINTEXT", err, kerr.DelegationTokenRequestNotAllowed)
		_, err = plain.DescribeDelegationTokens(tctx(t))
		wantErr(t, "describe over PLAINTEXT", err, kerr.DelegationTokenRequestNotAllowed)
		_, err = plain.ExpireDelegationToken(tctx(t), tok.HMAC, -1)
		wantErr(t, "expire over PLAINTEXT", err, kerr.DelegationTokenRequestNotAllowed)

		// The owner is answered as sent, even a type holding a ':' (it
		// was joined as type:name and split at the first ':', naming
		// User / hz:n; with a 32,767-byte name the answer could not be
		// encoded and the connection was closed).
		cl, _ := ktClient(t, tb.plain)
		for _, name := range []string{"n", strings.Repeat("n", 0x7fff)} {
			req := kmsg.NewPtrCreateDelegationTokenRequest()
			req.Version = 3
			req.OwnerPrincipalType, req.OwnerPrincipalName = kmsg.StringPtr("User:hz"), kmsg.StringPtr(name)
			req.MaxLifetimeMillis = -1
			resp, err := req.RequestWith(tctx(t), cl)
			if err != nil {
				t.Fatalf("CreateDelegationToken v3 owned by User:hz:%.8s...: %v", name, err)
			}
			if resp.ErrorCode != kerr.DelegationTokenRequestNotAllowed.Code || resp.PrincipalType != "User:hz" || resp.PrincipalName != name {
				t.Errorf("CreateDelegationToken v3 owned by type User:hz, a name of %d bytes: error %d, owner %q / %.8q (%d bytes), want 64 and the owner as sent",
					len(name), resp.ErrorCode, resp.PrincipalType, resp.PrincipalName, len(resp.PrincipalName))
			}
		}
	})

	t.Run("Describe", func(t *testing.T) {
		ids := func(c *kadm.Client, owners ...kadm.Principal) []string {
			t.Helper()
			ts, err := c.DescribeDelegationTokens(tctx(t), owners...)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, d := range ts {
				out = append(out, d.TokenID)
			}
			return out
		}
		one := []string{tok.TokenID}
		for what, c := range map[string]struct {
			got, want []string
		}{
			"alice, the owner":             {ids(alice), one},
			"bob, a renewer":               {ids(tb.admin(t, tokBob, "")), one},
			"carol, unrelated":             {ids(tb.admin(t, tokCarol, "")), nil},
			"admin, a super user":          {ids(tb.admin(t, secAdmin, "")), one},
			"alice for owner bob":          {ids(alice, kadm.Principal{Type: "User", Name: tokBob}), one},
			"alice for owner carol":        {ids(alice, kadm.Principal{Type: "User", Name: tokCarol}), nil},
			"carol for owner alice":        {ids(tb.admin(t, tokCarol, ""), kadm.Principal{Type: "User", Name: secAlice}), nil},
			"admin for owners bob, nobody": {ids(tb.admin(t, secAdmin, ""), kadm.Principal{Type: "User", Name: "nobody"}, kadm.Principal{Type: "User", Name: tokBob}), one},
		} {
			if strings.Join(c.got, ",") != strings.Join(c.want, ",") {
				t.Errorf("%s: described %v, want %v", what, c.got, c.want)
			}
		}
		ts, _ := alice.DescribeDelegationTokens(tctx(t))
		if len(ts) != 1 || !hmac.Equal(ts[0].HMAC, tok.HMAC) || len(ts[0].Renewers) != 1 || ts[0].Renewers[0].Name != tokBob ||
			ts[0].TokenRequesterPrincipal.Name != secAlice || !ts[0].ExpiryTimestamp.Equal(tok.ExpiryTimestamp) {
			t.Errorf("alice's token described as %+v", ts)
		}
		// An empty owner list (not null) describes nothing.
		req := kmsg.NewPtrDescribeDelegationTokenRequest()
		req.Owners = []kmsg.DescribeDelegationTokenRequestOwner{}
		resp, err := req.RequestWith(tctx(t), tb.client(t, scram.Auth{User: secAlice, Pass: secAlicePass}.AsSha512Mechanism()))
		if err != nil || resp.ErrorCode != 0 || len(resp.TokenDetails) != 0 {
			t.Errorf("empty owner list: %v, %+v", err, resp)
		}
		// DESCRIBE_TOKENS on the USER resource "User:alice" (named by the
		// principal, KIP-373) lets carol see alice's tokens.
		tb.allowOnUser(t, "User:"+tokCarol, kmsg.ACLOperationDescribeTokens, "User:"+secAlice)
		waitFor(t, "carol to see alice's token", 10*time.Second, func() bool { return len(ids(tb.admin(t, tokCarol, ""))) == 1 })
	})

	t.Run("CreateForAnotherOwner", func(t *testing.T) {
		// The ACL on User:* makes the USER resources ACL-governed, so alice
		// needs CREATE_TOKENS on User:bob; admin is a super user.
		bob := kadm.Principal{Type: "User", Name: tokBob}
		waitFor(t, "alice to be refused a token owned by bob", 10*time.Second, func() bool {
			_, err := alice.CreateDelegationToken(tctx(t), kadm.CreateDelegationToken{Owner: &bob})
			return errors.Is(err, kerr.DelegationTokenAuthorizationFailed)
		})
		forBob, err := tb.admin(t, secAdmin, "").CreateDelegationToken(tctx(t), kadm.CreateDelegationToken{Owner: &bob})
		if err != nil {
			t.Fatalf("admin creates a token for bob: %v", err)
		}
		if forBob.Owner != bob || forBob.TokenRequesterPrincipal.Name != secAdmin {
			t.Fatalf("owner %v requester %v, want User:bob and User:admin", forBob.Owner, forBob.TokenRequesterPrincipal)
		}
		ts, err := tb.admin(t, tokBob, "").DescribeDelegationTokens(tctx(t), bob)
		if err != nil || len(ts) == 0 {
			t.Fatalf("bob describes his tokens: %v %v", ts, err)
		}
		_, err = alice.CreateDelegationToken(tctx(t), kadm.CreateDelegationToken{Renewers: []kadm.Principal{{Type: "Group", Name: "g"}}})
		wantErr(t, "a Group renewer", err, kerr.InvalidPrincipalType)
		// A token authenticates as User:<name>, so another owner type is
		// refused rather than checked against a principal it never is.
		_, err = tb.admin(t, secAdmin, "").CreateDelegationToken(tctx(t), kadm.CreateDelegationToken{Owner: &kadm.Principal{Type: "Group", Name: "admins"}})
		wantErr(t, "a Group owner", err, kerr.InvalidPrincipalType)
	})

	t.Run("RenewAndExpire", func(t *testing.T) {
		carol, bob := tb.admin(t, tokCarol, ""), tb.admin(t, tokBob, "")
		_, err := carol.RenewDelegationToken(tctx(t), tok.HMAC, time.Minute)
		wantErr(t, "carol renews", err, kerr.DelegationTokenOwnerMismatch)
		_, err = carol.ExpireDelegationToken(tctx(t), tok.HMAC, -1)
		wantErr(t, "carol expires", err, kerr.DelegationTokenOwnerMismatch)
		_, err = bob.RenewDelegationToken(tctx(t), []byte("not a token"), time.Minute)
		wantErr(t, "renewing an unknown HMAC", err, kerr.DelegationTokenNotFound)
		// The controller's refusals leave the expiry at its default, 0.
		for _, expire := range []bool{false, true} {
			var req kmsg.Request
			if expire {
				r := kmsg.NewPtrExpireDelegationTokenRequest()
				r.HMAC, r.ExpiryPeriodMillis = []byte("not a token"), -1
				req = r
			} else {
				r := kmsg.NewPtrRenewDelegationTokenRequest()
				r.HMAC = []byte("not a token")
				req = r
			}
			resp, err := tb.client(t, scram.Auth{User: tokBob, Pass: tb.users[tokBob]}.AsSha512Mechanism()).Request(tctx(t), req)
			var code int16
			var expiry int64 = -2
			switch r := resp.(type) {
			case *kmsg.RenewDelegationTokenResponse:
				code, expiry = r.ErrorCode, r.ExpiryTimestamp
			case *kmsg.ExpireDelegationTokenResponse:
				code, expiry = r.ErrorCode, r.ExpiryTimestamp
			}
			if err != nil || code != kerr.DelegationTokenNotFound.Code || expiry != 0 {
				t.Fatalf("unknown HMAC (expire %v): %v, error %d, expiry %d; want DELEGATION_TOKEN_NOT_FOUND, expiry 0", expire, err, code, expiry)
			}
		}

		near := func(what string, got time.Time, want time.Time) {
			t.Helper()
			if d := got.Sub(want); d < -5*time.Second || d > 5*time.Second {
				t.Fatalf("%s: expiry %v, want about %v", what, got, want)
			}
		}
		// Kafka 4.0: a renewal is for the default period, or a shorter
		// one asked for, and never past the max timestamp.
		exp, err := bob.RenewDelegationToken(tctx(t), tok.HMAC, 5*time.Minute)
		if err != nil {
			t.Fatalf("bob, a renewer, renews: %v", err)
		}
		near("renewed for 5m", exp, time.Now().Add(5*time.Minute))
		exp, err = alice.RenewDelegationToken(tctx(t), tok.HMAC, -time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		near("renewed for the default period", exp, time.Now().Add(tb.expiryTime))
		exp, err = alice.RenewDelegationToken(tctx(t), tok.HMAC, 3*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		near("renewed for longer than the default", exp, time.Now().Add(tb.expiryTime))
		// Long.MAX_VALUE as the period is the default too (no overflow).
		renew := kmsg.NewPtrRenewDelegationTokenRequest()
		renew.HMAC, renew.RenewTimeMillis = tok.HMAC, math.MaxInt64
		resp, err := renew.RequestWith(tctx(t), tb.client(t, scram.Auth{User: tokBob, Pass: tb.users[tokBob]}.AsSha512Mechanism()))
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("renewed for Long.MAX_VALUE: %v %+v", err, resp)
		}
		near("renewed for Long.MAX_VALUE", time.UnixMilli(resp.ExpiryTimestamp), time.Now().Add(tb.expiryTime))
		short, err := alice.CreateDelegationToken(tctx(t), kadm.CreateDelegationToken{MaxLifetime: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if exp, err := alice.RenewDelegationToken(tctx(t), short.HMAC, 0); err != nil || !exp.Equal(short.MaxTimestamp) {
			t.Fatalf("renewed past the max timestamp: %v %v, want %v", exp, err, short.MaxTimestamp)
		}

		// Expire with period 0: the token stops authenticating and can be
		// neither renewed nor expired again with a period (a renewal checks
		// EXPIRED before the owner, an expiry after it, as Kafka 4.0's
		// DelegationTokenControlManager); a negative period still removes it.
		exp, err = alice.ExpireDelegationToken(tctx(t), tok.HMAC, 0)
		if err != nil {
			t.Fatal(err)
		}
		near("expired now", exp, time.Now())
		// A token expires once its expiry is in the past: within the
		// millisecond it is set to, a renewal still succeeds (Kafka's
		// expiryTimestamp < now) and would move it on, so wait for the
		// clock rather than poll with renewals.
		wait.For(t, "the clock to pass the expiry", 10*time.Second, func() bool { return time.Now().UnixMilli() > exp.UnixMilli() })
		_, err = bob.RenewDelegationToken(tctx(t), tok.HMAC, time.Minute)
		wantErr(t, "bob renews an expired token", err, kerr.DelegationTokenExpired)
		_, err = carol.RenewDelegationToken(tctx(t), tok.HMAC, time.Minute)
		wantErr(t, "carol renews an expired token", err, kerr.DelegationTokenExpired)
		_, err = carol.ExpireDelegationToken(tctx(t), tok.HMAC, time.Minute)
		wantErr(t, "carol expires an expired token", err, kerr.DelegationTokenOwnerMismatch)
		_, err = alice.ExpireDelegationToken(tctx(t), tok.HMAC, time.Minute)
		wantErr(t, "expiring an expired token with a period", err, kerr.DelegationTokenExpired)
		if err := tb.client(t, tokenMech(tok.TokenID, tok.HMAC, false)).Ping(tctx(t)); !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("an expired token authenticates: %v", err)
		}
		exp, err = alice.ExpireDelegationToken(tctx(t), tok.HMAC, -time.Millisecond)
		if err != nil {
			t.Fatalf("expiring an expired token at once: %v, want it removed", err)
		}
		near("an expired token expired at once", exp, time.Now())
		_, err = alice.RenewDelegationToken(tctx(t), tok.HMAC, time.Minute)
		wantErr(t, "renewing an expired token removed at once", err, kerr.DelegationTokenNotFound)

		// A negative period removes a live token at once; the answer's
		// expiry is now, as in Kafka 4.0 (KAFKA-17315; 3.x answered the
		// period).
		expire := kmsg.NewPtrExpireDelegationTokenRequest()
		expire.HMAC, expire.ExpiryPeriodMillis = short.HMAC, -1
		eresp, err := expire.RequestWith(tctx(t), tb.client(t, scram.Auth{User: secAlice, Pass: tb.users[secAlice]}.AsSha512Mechanism()))
		if err != nil || eresp.ErrorCode != 0 {
			t.Fatalf("expire with a negative period: %v %+v", err, eresp)
		}
		near("expired at once", time.UnixMilli(eresp.ExpiryTimestamp), time.Now())
		ts, _ := alice.DescribeDelegationTokens(tctx(t))
		for _, d := range ts {
			if d.TokenID == short.TokenID {
				t.Fatalf("removed token still described: %+v", d)
			}
		}
		_, err = alice.RenewDelegationToken(tctx(t), short.HMAC, time.Minute)
		wantErr(t, "renewing a removed token", err, kerr.DelegationTokenNotFound)
	})

	t.Run("SurviveRestart", func(t *testing.T) {
		kept, err := alice.CreateDelegationToken(tctx(t), kadm.CreateDelegationToken{})
		if err != nil {
			t.Fatal(err)
		}
		tb.b.Restart()
		ts, err := tb.admin(t, secAlice, "").DescribeDelegationTokens(tctx(t))
		found := false
		for _, d := range ts {
			found = found || d.TokenID == kept.TokenID && d.ExpiryTimestamp.Equal(kept.ExpiryTimestamp)
		}
		if err != nil || !found {
			t.Fatalf("after a restart alice's tokens are %+v (%v), want %s among them", ts, err, kept.TokenID)
		}
		roundTrip(t, tb.plain, []kgo.Opt{kgo.SeedBrokers(tb.sasl), kgo.SASL(tokenMech(kept.TokenID, kept.HMAC, true))}, 3)
	})
}

// Expired tokens are removed by the check every
// delegation.token.expiry.check.interval.ms.
func TestDelegationTokensExpiryCheck(t *testing.T) {
	tb := startTokenBroker(t, tokSecret, map[string]string{"delegation.token.expiry.check.interval.ms": "300"})
	alice := tb.admin(t, secAlice, "")
	tok, err := alice.CreateDelegationToken(tctx(t), kadm.CreateDelegationToken{MaxLifetime: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !tok.MaxTimestamp.Equal(tok.IssueTimestamp.Add(time.Millisecond)) || !tok.ExpiryTimestamp.Equal(tok.MaxTimestamp) {
		t.Fatalf("a 1 ms token: issue %v expiry %v max %v", tok.IssueTimestamp, tok.ExpiryTimestamp, tok.MaxTimestamp)
	}
	waitFor(t, "the expired token to be removed", 10*time.Second, func() bool {
		ts, err := alice.DescribeDelegationTokens(tctx(t))
		return err == nil && len(ts) == 0
	})
	_, err = alice.RenewDelegationToken(tctx(t), tok.HMAC, -1)
	wantErr(t, "renewing a removed token", err, kerr.DelegationTokenNotFound)
}

// Without delegation.token.secret.key every token API answers
// DELEGATION_TOKEN_AUTH_DISABLED (over SASL; PLAINTEXT is refused first).
func TestDelegationTokensDisabled(t *testing.T) {
	tb := startTokenBroker(t, "", nil)
	alice := tb.admin(t, secAlice, "")
	_, err := alice.CreateDelegationToken(tctx(t), kadm.CreateDelegationToken{})
	wantErr(t, "create", err, kerr.DelegationTokenAuthDisabled)
	_, err = alice.DescribeDelegationTokens(tctx(t))
	wantErr(t, "describe", err, kerr.DelegationTokenAuthDisabled)
	_, err = alice.RenewDelegationToken(tctx(t), []byte("x"), -1)
	wantErr(t, "renew", err, kerr.DelegationTokenAuthDisabled)
	_, err = alice.ExpireDelegationToken(tctx(t), []byte("x"), -1)
	wantErr(t, "expire", err, kerr.DelegationTokenAuthDisabled)
	_, err = tb.admin(t, "", "").CreateDelegationToken(tctx(t), kadm.CreateDelegationToken{})
	wantErr(t, "create over PLAINTEXT", err, kerr.DelegationTokenRequestNotAllowed)

	// The timestamps of a refusal: Kafka 4.0's controller answers
	// DELEGATION_TOKEN_AUTH_DISABLED without setting them (0); the broker's
	// own refusals carry -1 (DelegationTokenManager.ErrorTimestamp).
	sasl := tb.client(t, scram.Auth{User: secAlice, Pass: tb.users[secAlice]}.AsSha512Mechanism())
	plain := tb.client(t, nil)
	for _, c := range []struct {
		what string
		cl   *kgo.Client
		code int16
		want int64
	}{
		{"disabled", sasl, kerr.DelegationTokenAuthDisabled.Code, 0},
		{"over PLAINTEXT", plain, kerr.DelegationTokenRequestNotAllowed.Code, -1},
	} {
		create := kmsg.NewPtrCreateDelegationTokenRequest()
		cresp, err := create.RequestWith(tctx(t), c.cl)
		if err != nil || cresp.ErrorCode != c.code || cresp.IssueTimestamp != c.want || cresp.ExpiryTimestamp != c.want ||
			cresp.MaxTimestamp != c.want || cresp.TokenID != "" || len(cresp.HMAC) != 0 {
			t.Errorf("create, %s: %v %+v; want error %d, timestamps %d, no id or HMAC", c.what, err, cresp, c.code, c.want)
		}
		renew := kmsg.NewPtrRenewDelegationTokenRequest()
		renew.HMAC = []byte("x")
		rresp, err := renew.RequestWith(tctx(t), c.cl)
		if err != nil || rresp.ErrorCode != c.code || rresp.ExpiryTimestamp != c.want {
			t.Errorf("renew, %s: %v %+v; want error %d, expiry %d", c.what, err, rresp, c.code, c.want)
		}
		expire := kmsg.NewPtrExpireDelegationTokenRequest()
		expire.HMAC = []byte("x")
		eresp, err := expire.RequestWith(tctx(t), c.cl)
		if err != nil || eresp.ErrorCode != c.code || eresp.ExpiryTimestamp != c.want {
			t.Errorf("expire, %s: %v %+v; want error %d, expiry %d", c.what, err, eresp, c.code, c.want)
		}
	}
}

// kafka-delegation-tokens.sh creates, describes, renews and expires tokens
// over SASL_PLAINTEXT with SCRAM, configured by --command-config.
func TestDelegationTokensKafkaTool(t *testing.T) {
	dir := os.Getenv("KAFKA_TOOLS_DIR")
	if dir == "" {
		t.Skip("KAFKA_TOOLS_DIR not set: point it at the bin directory of an Apache Kafka distribution to run kafka-delegation-tokens.sh")
	}
	tb := startTokenBroker(t, tokSecret, nil)
	k := &kafkaTools{dir: dir, addr: tb.sasl}
	props := filepath.Join(t.TempDir(), "alice.properties")
	content := strings.Join([]string{
		"security.protocol=SASL_PLAINTEXT",
		"sasl.mechanism=SCRAM-SHA-512",
		`sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="` + secAlice + `" password="` + secAlicePass + `";`,
	}, "\n") + "\n"
	if err := os.WriteFile(props, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	tool := func(args ...string) string {
		return k.run(t, "", "kafka-delegation-tokens.sh", append([]string{"--bootstrap-server", tb.sasl, "--command-config", props}, args...)...)
	}
	out := tool("--create", "--max-life-time-period", "-1", "--renewer-principal", "User:"+tokBob)
	id, mac := toolToken(t, out)
	if !strings.Contains(out, "Created delegation token with tokenId : "+id) {
		t.Fatalf("--create printed:\n%s", out)
	}
	decoded, err := base64.StdEncoding.DecodeString(mac)
	if err != nil {
		t.Fatalf("HMAC %q: %v", mac, err)
	}
	// The 4.0 tool sends an empty owner list when no --owner-principal is
	// given (its Java port lost the Scala tool's null), and Kafka's broker
	// answers an empty list with no tokens; so does Gregor.
	if out := tool("--describe"); !strings.Contains(out, "Total number of tokens : 0") {
		t.Fatalf("--describe without owners printed:\n%s", out)
	}
	out = tool("--describe", "--owner-principal", "User:"+secAlice)
	if did, dmac := toolToken(t, out); did != id || dmac != mac || !strings.Contains(out, "User:"+tokBob) || !strings.Contains(out, "Total number of tokens : 1") {
		t.Fatalf("--describe printed:\n%s", out)
	}
	if out := tool("--renew", "--hmac", mac, "--renew-time-period", "-1"); !strings.Contains(out, "Completed renew operation") {
		t.Fatalf("--renew printed:\n%s", out)
	}
	roundTrip(t, tb.plain, []kgo.Opt{kgo.SeedBrokers(tb.sasl), kgo.SASL(tokenMech(id, decoded, true))}, 3)
	// Kafka 4.0 answers an immediate expiry with now as the expiry (the
	// tool prints it as the new expiry date), not the period.
	if out := tool("--expire", "--hmac", mac, "--expiry-time-period", "-1"); !strings.Contains(out, "Completed expire operation. New expiry date : "+time.Now().Format("2006-")) {
		t.Fatalf("--expire printed (want this year's date):\n%s", out)
	}
	if out := tool("--describe", "--owner-principal", "User:"+secAlice); !strings.Contains(out, "Total number of tokens : 0") {
		t.Fatalf("--describe after --expire printed:\n%s", out)
	}
}

// toolToken finds the token id and HMAC in kafka-delegation-tokens.sh's
// table (the line after the TOKENID header).
func toolToken(t *testing.T, out string) (id, mac string) {
	t.Helper()
	ls := strings.Split(out, "\n")
	for i, l := range ls {
		if !strings.HasPrefix(l, "TOKENID") {
			continue
		}
		for _, row := range ls[i+1:] {
			if f := strings.Fields(row); len(f) >= 2 {
				return f[0], f[1]
			}
		}
	}
	t.Fatalf("no token in the output:\n%s", out)
	return "", ""
}
