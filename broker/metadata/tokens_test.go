package metadata

import (
	"context"
	"errors"
	"testing"
)

type tokenApplier struct {
	nopApplier
	tokens map[string]TokenInfo
}

func (a *tokenApplier) ApplyDelegationTokens(t map[string]TokenInfo) { a.tokens = t }

func TestLocalDelegationTokensSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	l := NewLocal(dir, BrokerInfo{ID: 1})
	a := &tokenApplier{}
	if err := l.Start(ctx, a); err != nil {
		t.Fatal(err)
	}
	keep := TokenInfo{TokenID: "a", Owner: "User:alice", Requester: "User:alice", Renewers: []string{"User:bob"}, IssueTimestamp: 1, MaxTimestamp: 3, ExpiryTimestamp: 2}
	gone := TokenInfo{TokenID: "b", Owner: "User:bob", Requester: "User:admin", Renewers: []string{}, IssueTimestamp: 1, MaxTimestamp: 3, ExpiryTimestamp: 2}
	for _, tok := range []TokenInfo{keep, gone} {
		if err := l.SetDelegationToken(ctx, tok, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.DeleteDelegationToken(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if len(a.tokens) != 1 || !a.tokens["a"].Equal(keep) {
		t.Fatalf("delivered %+v, want token a only", a.tokens)
	}
	if err := l.SetDelegationToken(ctx, gone, false); !errors.Is(err, ErrTokenGone) {
		t.Fatalf("updating a removed token: %v, want ErrTokenGone", err)
	}
	l.Close()
	again := &tokenApplier{}
	l2 := NewLocal(dir, BrokerInfo{ID: 1})
	if err := l2.Start(ctx, again); err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if len(again.tokens) != 1 || !again.tokens["a"].Equal(keep) {
		t.Fatalf("after a restart delivered %+v, want token a only", again.tokens)
	}
}

// Kafka's token znode JSON round-trips, principals sanitized.
func TestTokenZNode(t *testing.T) {
	tok := TokenInfo{TokenID: "id", Owner: "User:a b", Requester: "User:admin", Renewers: []string{"User:c:d"}, IssueTimestamp: 1, MaxTimestamp: 3, ExpiryTimestamp: 2}
	data := EncodeTokenZNode(tok)
	want := `{"version":3,"owner":"User%3Aa%20b","tokenRequester":"User%3Aadmin","renewers":["User%3Ac%3Ad"],"issueTimestamp":1,"maxTimestamp":3,"expiryTimestamp":2,"tokenId":"id"}`
	if string(data) != want {
		t.Fatalf("encoded %s, want %s", data, want)
	}
	got, err := DecodeTokenZNode(data)
	if err != nil || !got.Equal(tok) {
		t.Fatalf("decoded %+v %v, want %+v", got, err, tok)
	}
	odd := TokenInfo{TokenID: "odd", Owner: "User:", Requester: ":x", Renewers: []string{"User:"}, IssueTimestamp: 1, MaxTimestamp: 3, ExpiryTimestamp: 2}
	if got, err := DecodeTokenZNode(EncodeTokenZNode(odd)); err != nil || !got.Equal(odd) {
		t.Fatalf("principals with an empty side: decoded %+v %v, want %+v", got, err, odd)
	}
	for _, bad := range []string{`{"version":4,"owner":"User%3Aa","renewers":[],"tokenId":"x"}`, `{"version":3,"owner":"nocolon","tokenRequester":"User%3Aa","renewers":[],"tokenId":"x"}`, `not json`} {
		if _, err := DecodeTokenZNode([]byte(bad)); err == nil {
			t.Errorf("decoded %s", bad)
		}
	}
}
