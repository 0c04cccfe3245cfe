package sasl

import (
	"strings"
	"testing"
	"time"
)

func TestScramExchange(t *testing.T) {
	for _, mech := range []string{ScramSHA256, ScramSHA512} {
		cred, err := NewScramCredential(mech, "pencil", 4096)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := NewScram(mech, staticStore{"us,er=": cred})
		run := func(password string) error {
			s, c := m.NewServer(), &ScramClient{Mechanism: mech, User: "us,er=", Password: password}
			var challenge []byte
			for {
				tok, done, err := c.Step(challenge)
				if err != nil {
					return err
				}
				if done {
					return nil
				}
				if challenge, _, err = s.Step(tok); err != nil {
					return err
				}
			}
		}
		if err := run("pencil"); err != nil {
			t.Fatalf("%s: %v", mech, err)
		}
		if err := run("wrong"); err == nil || !strings.Contains(err.Error(), "Invalid client credentials") {
			t.Fatalf("%s wrong password: %v", mech, err)
		}
	}
}

// A client-final message replayed into a new exchange fails: the server's
// nonce differs each time.
func TestScramReplayedFinalMessage(t *testing.T) {
	cred, _ := NewScramCredential(ScramSHA256, "pw", 4096)
	m, _ := NewScram(ScramSHA256, staticStore{"u": cred})
	s1, c := m.NewServer(), &ScramClient{Mechanism: ScramSHA256, User: "u", Password: "pw"}
	first, _, _ := c.Step(nil)
	sf, _, err := s1.Step(first)
	if err != nil {
		t.Fatal(err)
	}
	final, _, _ := c.Step(sf)
	s2 := m.NewServer()
	if _, _, err := s2.Step(first); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s2.Step(final); err == nil || !strings.Contains(err.Error(), "nonce") {
		t.Fatalf("replayed final message: %v", err)
	}
	if _, done, err := s1.Step(final); err != nil || !done {
		t.Fatalf("the original exchange: done %v err %v", done, err)
	}
}

func TestPlain(t *testing.T) {
	m := NewPlain(map[string]string{"alice": "secret"})
	for tok, want := range map[string]string{
		"\x00alice\x00secret":      "",
		"\x00alice\x00nope":        "Invalid username or password",
		"\x00bob\x00secret":        "Invalid username or password",
		"alice":                    "expected 3 tokens, got 1",
		"\x00\x00secret":           "username not specified",
		"bob\x00alice\x00secret":   "authorization id",
		"\x00alice\x00secret\x00x": "expected 3 tokens, got 4",
	} {
		_, done, err := m.NewServer().Step([]byte(tok))
		if want == "" && (err != nil || !done) || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%q: done %v err %v, want %q", tok, done, err, want)
		}
	}
}

func TestJAAS(t *testing.T) {
	e, err := ParseJAAS(`org.apache.kafka.common.security.plain.PlainLoginModule required
		username="admin" password="admin-secret" // the broker's own
		user_admin="admin-secret" /* and */ user_alice='a\"b\n';`)
	if err != nil {
		t.Fatal(err)
	}
	if e[0].ControlFlag != "REQUIRED" || e[0].Options["user_alice"] != "a\"b\n" || e[0].Options["username"] != "admin" {
		t.Fatalf("%+v", e)
	}
	for s, want := range map[string]string{
		"":                           "Login module not specified",
		"m":                          "control flag not specified",
		"m bogus;":                   "Invalid login module control flag",
		"m required k;":              "Value not specified for key 'k'",
		"m required k=1;":            "Value not specified for key 'k'",
		"m required k=v":             "not terminated by semi-colon",
		"m required; n optional a=b": "not terminated by semi-colon",
	} {
		if _, err := ParseJAAS(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", s, err, want)
		}
	}
}

func TestUnsecuredToken(t *testing.T) {
	u, _ := NewUnsecured(map[string]string{"unsecuredValidatorRequiredScope": "write"})
	now := time.Now()
	if _, _, err := u.Validate(UnsecuredToken("alice", now, time.Hour), now); err == nil {
		t.Fatal("a token without the required scope passed")
	}
	// The error challenge names the required scope as Kafka's does.
	scoped := NewOAuthBearer(mustUnsecured(t, map[string]string{"unsecuredValidatorRequiredScope": "read write"})).NewServer()
	ch, _, _ := scoped.Step(OAuthClientToken(UnsecuredToken("alice", now, time.Hour)))
	if want := `{"status":"insufficient_scope", "scope":"[read, write]"}`; string(ch) != want {
		t.Fatalf("challenge for a token without the required scope: %s, want %s", ch, want)
	}
	u, _ = NewUnsecured(nil)
	p, exp, err := u.Validate(UnsecuredToken("alice", now, time.Hour), now)
	if err != nil || p != "alice" || exp.Sub(now) < 59*time.Minute {
		t.Fatalf("%s %v %v", p, exp, err)
	}
	if _, _, err := u.Validate(UnsecuredToken("alice", now.Add(-2*time.Hour), time.Hour), now); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired token: %v", err)
	}
	srv := NewOAuthBearer(u).NewServer()
	ch, done, err := srv.Step(OAuthClientToken("a.b.c"))
	if err != nil || done || !strings.Contains(string(ch), "invalid_token") {
		t.Fatalf("malformed token: %q %v %v", ch, done, err)
	}
	if _, _, err := srv.Step([]byte{1}); err == nil || !strings.Contains(ClientMessage(err, OAuthBearer, false), "invalid_token") {
		t.Fatalf("after the error challenge: %v", err)
	}
}

// tokenStore is a staticStore that also holds delegation tokens.
type tokenStore struct {
	staticStore
	tokens map[string]TokenCredential
}

func (s tokenStore) TokenCredential(mechanism, id string) (TokenCredential, bool) {
	t, ok := s.tokens[id]
	return t, ok
}

// With tokenauth=true the user is a token id, the password its HMAC, and
// the token's owner is who authenticates; an expired or unknown token
// fails, and a token id is no user name without the extension.
func TestScramTokenAuth(t *testing.T) {
	cred, _ := NewScramCredential(ScramSHA512, "aG1hYw==", 4096)
	exp := time.Now().Add(time.Hour)
	store := tokenStore{staticStore{}, map[string]TokenCredential{
		"tok":     {ScramCredential: cred, Owner: "alice", Expiry: exp},
		"expired": {ScramCredential: cred, Owner: "alice", Expiry: time.Now().Add(-time.Second)},
	}}
	m, _ := NewScram(ScramSHA512, store)
	run := func(user string, token bool) (Outcome, error) {
		s, c := m.NewServer(), &ScramClient{Mechanism: ScramSHA512, User: user, Password: "aG1hYw==", TokenAuth: token}
		var challenge []byte
		for {
			tok, done, err := c.Step(challenge)
			if err != nil || done {
				return s.Outcome(), err
			}
			if challenge, _, err = s.Step(tok); err != nil {
				return Outcome{}, err
			}
		}
	}
	out, err := run("tok", true)
	if err != nil || out.User != "alice" || !out.TokenAuthenticated || !out.Expiry.Equal(exp) {
		t.Fatalf("token auth: %+v %v", out, err)
	}
	for _, c := range []struct {
		user  string
		token bool
	}{{"expired", true}, {"unknown", true}, {"tok", false}} {
		if _, err := run(c.user, c.token); err == nil {
			t.Fatalf("%s (tokenauth %v) authenticated", c.user, c.token)
		}
	}
}

func mustUnsecured(t *testing.T, options map[string]string) *Unsecured {
	t.Helper()
	u, err := NewUnsecured(options)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
