package broker

// Delegation tokens (KIP-48), as Kafka's DelegationTokenManager keeps
// them: the backend delivers every token's information
// (ApplyDelegationTokens); each broker derives a token's HMAC,
// HmacSHA512(delegation.token.secret.key, tokenId), and from it the SCRAM
// credentials a client authenticates with (sasl.TokenStore: user name the
// token id, password the base64 of the HMAC, 4096 iterations). The APIs
// (api_38 to api_41) change tokens through the backend and wait until the
// change is in force here. Every delegation.token.expiry.check.interval.ms
// expired tokens are removed (expireTokens).

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/metadata"
	"gregor/protocol"
	"gregor/protocol/sasl"
)

// tokenStore holds the delegation tokens in force.
type tokenStore struct {
	mu sync.Mutex
	// guarded by mu:
	byID  map[string]*liveToken
	deliv delivered
}

// liveToken is a token with its HMAC and, once asked for, its SCRAM
// credentials.
type liveToken struct {
	info  metadata.TokenInfo
	hmac  []byte
	creds map[string]sasl.ScramCredential // by mechanism
}

// tokenHMAC is Kafka's DelegationTokenManager.createHmac.
func tokenHMAC(secret, tokenID string) []byte {
	m := hmac.New(sha512.New, []byte(secret))
	m.Write([]byte(tokenID))
	return m.Sum(nil)
}

// newTokenID is Kafka 4.0's token id (DelegationTokenControlManager:
// Uuid.randomUuid().toString()): a random (version 4) UUID, URL-safe base64
// without padding, never one whose text starts with '-' (Uuid.randomUuid
// draws again, so that the id is never taken for a command-line option).
func newTokenID() string {
	for {
		var u [16]byte
		rand.Read(u[:])
		u[6] = u[6]&0x0f | 0x40
		u[8] = u[8]&0x3f | 0x80
		if id := base64.RawURLEncoding.EncodeToString(u[:]); id[0] != '-' {
			return id
		}
	}
}

// ApplyDelegationTokens takes every token (DelegationTokenApplier).
func (a applier) ApplyDelegationTokens(tokens map[string]metadata.TokenInfo) {
	secret := string(a.b.Config().DelegationTokens.SecretKey)
	s := &a.b.tokens
	s.mu.Lock()
	next := make(map[string]*liveToken, len(tokens))
	for id, info := range tokens {
		t := s.byID[id]
		if t == nil {
			t = &liveToken{hmac: tokenHMAC(secret, id)}
		} else {
			t = &liveToken{hmac: t.hmac, creds: t.creds} // the HMAC depends on the id only
		}
		t.info = info
		next[id] = t
	}
	s.byID = next
	s.mu.Unlock()
	s.deliv.notify()
}

// TokenCredential implements sasl.TokenStore: a token's SCRAM credential
// for a mechanism, made on first use from the base64 of its HMAC with the
// mechanism's minimum iterations, as Kafka's prepareScramCredentials.
func (b *Broker) TokenCredential(mechanism, tokenID string) (sasl.TokenCredential, bool) {
	if !b.Config().DelegationTokens.Enabled() {
		return sasl.TokenCredential{}, false
	}
	s := &b.tokens
	s.mu.Lock()
	t := s.byID[tokenID]
	if t == nil {
		s.mu.Unlock()
		return sasl.TokenCredential{}, false
	}
	cred, ok := t.creds[mechanism]
	info, mac := t.info, t.hmac
	s.mu.Unlock()
	if !ok {
		var err error
		cred, err = sasl.NewScramCredential(mechanism, base64.StdEncoding.EncodeToString(mac), sasl.ScramMinIterations)
		if err != nil {
			return sasl.TokenCredential{}, false
		}
		s.mu.Lock()
		if cur := s.byID[tokenID]; cur == t {
			if t.creds == nil {
				t.creds = map[string]sasl.ScramCredential{}
			}
			t.creds[mechanism] = cred
		}
		s.mu.Unlock()
	}
	_, owner := splitPrincipal(info.Owner)
	return sasl.TokenCredential{ScramCredential: cred, Owner: owner, Expiry: time.UnixMilli(info.ExpiryTimestamp)}, true
}

// tokenByHMAC finds the token whose HMAC is mac.
func (b *Broker) tokenByHMAC(mac []byte) (metadata.TokenInfo, bool) {
	s := &b.tokens
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.byID {
		if hmac.Equal(t.hmac, mac) {
			return t.info, true
		}
	}
	return metadata.TokenInfo{}, false
}

// tokensWithHMAC returns every token with its HMAC.
func (b *Broker) tokensWithHMAC() []liveToken {
	s := &b.tokens
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]liveToken, 0, len(s.byID))
	for _, t := range s.byID {
		out = append(out, liveToken{info: t.info, hmac: t.hmac})
	}
	return out
}

// awaitToken waits until this broker has a token as want, or (gone) no
// longer has it.
func (b *Broker) awaitToken(ctx context.Context, want metadata.TokenInfo, gone bool) bool {
	s := &b.tokens
	return s.deliv.await(ctx, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		t := s.byID[want.TokenID]
		return gone && t == nil || !gone && t != nil && t.info.Equal(want)
	})
}

// setToken records a new (create) or changed token through the backend
// and waits until it is in force here.
func (b *Broker) setToken(ctx context.Context, t metadata.TokenInfo, create bool) error {
	if err := b.backend.SetDelegationToken(ctx, t, create); err != nil {
		return err
	}
	if !b.awaitToken(ctx, t, false) {
		b.log.Warn().Str("token", t.TokenID).Msg("delegation token recorded but not yet applied here")
	}
	return nil
}

// removeToken deletes a token through the backend and waits until it is
// gone here.
func (b *Broker) removeToken(ctx context.Context, t metadata.TokenInfo) error {
	if err := b.backend.DeleteDelegationToken(ctx, t.TokenID); err != nil {
		return err
	}
	if !b.awaitToken(ctx, t, true) {
		b.log.Warn().Str("token", t.TokenID).Msg("delegation token removed but still here")
	}
	return nil
}

// expireTokens removes every expired token (Kafka's expireTokens).
func (b *Broker) expireTokens() {
	b.tokenOps.Lock()
	defer b.tokenOps.Unlock()
	now := b.now().UnixMilli()
	for _, t := range b.tokensWithHMAC() {
		if !t.info.Expired(now) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := b.backend.DeleteDelegationToken(ctx, t.info.TokenID)
		cancel()
		if err != nil {
			b.log.Warn().Err(err).Str("token", t.info.TokenID).Msg("removing expired delegation token")
			continue
		}
		b.log.Info().Str("token", t.info.TokenID).Str("owner", t.info.Owner).Msg("delegation token expired")
	}
}

// tokenRequestsAllowed is Kafka's allowTokenRequests: not over PLAINTEXT,
// not over SSL without a client certificate, not by a client that itself
// authenticated with a token.
func tokenRequestsAllowed(req *protocol.Request) bool {
	if req.Conn == nil {
		return false
	}
	p := req.Conn.Principal()
	switch {
	case p.TokenAuthenticated, req.Conn.SecurityProtocol == protocol.Plaintext:
		return false
	case req.Conn.SecurityProtocol == protocol.SSL && p.Type == protocol.Anonymous.Type && p.Name == protocol.Anonymous.Name:
		return false
	}
	return true
}

// tokenErrorTimestamp is the timestamp a refused token request answers:
// -1 (DelegationTokenManager.ErrorTimestamp) for the refusals Kafka 4.0's
// broker makes itself (KafkaApis, ControllerApis: not allowed, not
// authorized, a renewer that is not a User), 0 (the field's default) for
// those DelegationTokenControlManager makes (disabled, not found, expired,
// owner mismatch), whose answer sets no timestamp.
func tokenErrorTimestamp(code int16) int64 {
	switch code {
	case kerr.DelegationTokenRequestNotAllowed.Code, kerr.DelegationTokenAuthorizationFailed.Code, kerr.InvalidPrincipalType.Code:
		return -1
	}
	return 0
}

// requester is who sent a request, as a token principal ("User:alice").
func requester(req *protocol.Request) string {
	if req.Conn == nil {
		return protocol.Anonymous.String()
	}
	return req.Conn.Principal().String()
}

// splitPrincipal splits "Type:Name".
func splitPrincipal(p string) (typ, name string) {
	typ, name, _ = strings.Cut(p, ":")
	return typ, name
}

// addMillis is now + d (d >= 0) saturated at the largest timestamp: a
// period of Long.MAX_VALUE means "as long as allowed", where Kafka's sum
// would wrap to a past expiry.
func addMillis(now, d int64) int64 {
	if d > math.MaxInt64-now {
		return math.MaxInt64
	}
	return now + d
}

// canRenew is Kafka's allowedToRenew: the owner or a renewer.
func canRenew(principal string, t metadata.TokenInfo) bool {
	return principal == t.Owner || slices.Contains(t.Renewers, principal)
}

// ownerOrRenewer is Kafka's TokenInformation.ownerOrRenewer.
func ownerOrRenewer(principal string, t metadata.TokenInfo) bool {
	return principal == t.Requester || canRenew(principal, t)
}
