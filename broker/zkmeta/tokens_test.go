package zkmeta_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"gregor/broker/metadata"
	"gregor/internal/wait"
	"gregor/internal/zktest"
)

// tokenApplier is a fakeApplier that also takes delegation tokens.
type tokenApplier struct {
	*fakeApplier
	tmu    sync.Mutex
	tokens map[string]metadata.TokenInfo
}

func (a *tokenApplier) ApplyDelegationTokens(tokens map[string]metadata.TokenInfo) {
	a.tmu.Lock()
	defer a.tmu.Unlock()
	a.tokens = tokens
}

func (a *tokenApplier) token(id string) (metadata.TokenInfo, bool) {
	a.tmu.Lock()
	defer a.tmu.Unlock()
	t, ok := a.tokens[id]
	return t, ok
}

func startTokens(t *testing.T, connect string, id int32) (metadata.Backend, *tokenApplier) {
	t.Helper()
	a := &tokenApplier{fakeApplier: newFakeApplier()}
	return startBackend(t, connect, id, a), a
}

// A token written through one broker is in Kafka's znode and JSON, with a
// change notification, and reaches every broker, those started later
// too; a deleted one leaves them all.
func TestDelegationTokensReachEveryBroker(t *testing.T) {
	z := zktest.Start(t)
	connect := z.Addr + "/kafka/tokens"
	be1, _ := startTokens(t, connect, 1)
	_, a2 := startTokens(t, connect, 2)
	ctx := context.Background()
	tok := metadata.TokenInfo{TokenID: "tok-1", Owner: "User:alice", Requester: "User:admin", Renewers: []string{"User:bob"},
		IssueTimestamp: 1000, MaxTimestamp: 5000, ExpiryTimestamp: 3000}
	if err := be1.SetDelegationToken(ctx, tok, true); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "broker 2 to get the token", 10*time.Second, func() bool {
		got, ok := a2.token(tok.TokenID)
		return ok && got.Equal(tok)
	})

	c := rawConn(t, z.Addr)
	var js map[string]any
	getJSON(t, c, "/kafka/tokens/delegation_token/tokens/tok-1", &js)
	want := map[string]any{"version": 3.0, "owner": "User%3Aalice", "tokenRequester": "User%3Aadmin", "renewers": []any{"User%3Abob"},
		"issueTimestamp": 1000.0, "maxTimestamp": 5000.0, "expiryTimestamp": 3000.0, "tokenId": "tok-1"}
	if a, b := mustJSON(t, js), mustJSON(t, want); a != b {
		t.Fatalf("token znode %s, want Kafka's %s", a, b)
	}
	notes, _, err := c.Children("/kafka/tokens/delegation_token/token_changes")
	if err != nil || len(notes) == 0 {
		t.Fatalf("token change notifications: %v %v", notes, err)
	}

	// A version 1 znode (as an older Kafka wrote it) is read with the
	// owner as requester.
	old := `{"version":1,"owner":"User%3Acarol","renewers":[],"issueTimestamp":1,"maxTimestamp":9,"expiryTimestamp":5,"tokenId":"tok-old"}`
	if _, err := c.Create("/kafka/tokens/delegation_token/tokens/tok-old", []byte(old), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	_, a3 := startTokens(t, connect, 3)
	wait.For(t, "broker 3 to read both tokens at start", 10*time.Second, func() bool {
		got, ok := a3.token(tok.TokenID)
		o, ok2 := a3.token("tok-old")
		return ok && got.Equal(tok) && ok2 && o.Owner == "User:carol" && o.Requester == "User:carol" && o.ExpiryTimestamp == 5
	})

	if err := be1.DeleteDelegationToken(ctx, tok.TokenID); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "brokers 2 and 3 to see the token deleted", 10*time.Second, func() bool {
		_, ok2 := a2.token(tok.TokenID)
		_, ok3 := a3.token(tok.TokenID)
		return !ok2 && !ok3
	})
	// An update of a token removed meanwhile (a renewal racing an expiry)
	// does not bring it back.
	if err := be1.SetDelegationToken(ctx, tok, false); !errors.Is(err, metadata.ErrTokenGone) {
		t.Fatalf("updating a removed token: %v, want ErrTokenGone", err)
	}
	if ok, _, err := c.Exists("/kafka/tokens/delegation_token/tokens/tok-1"); err != nil || ok {
		t.Fatalf("the removed token's znode exists again (%v)", err)
	}
	// Principals with an empty side are Kafka's too (parseKafkaPrincipal
	// only needs the colon): such a token reaches every broker.
	odd := metadata.TokenInfo{TokenID: "tok-odd", Owner: "User:dave", Requester: "User:dave", Renewers: []string{"User:"},
		IssueTimestamp: 1000, MaxTimestamp: 5000, ExpiryTimestamp: 3000}
	if err := be1.SetDelegationToken(ctx, odd, true); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "broker 2 to get a token with an empty renewer name", 10*time.Second, func() bool {
		got, ok := a2.token(odd.TokenID)
		return ok && got.Equal(odd)
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
