package broker

// CreateDelegationToken (key 38), versions 1-3: those of kmsg's 0-3 that
// Kafka 4.0 serves (KIP-896 removed v0). As Kafka's KafkaApis and
// DelegationTokenManagerZk answer it, checked in this order:
// DELEGATION_TOKEN_REQUEST_NOT_ALLOWED over PLAINTEXT, over SSL without a
// client certificate, or from a client authenticated with a token;
// DELEGATION_TOKEN_AUTHORIZATION_FAILED for a token owned by another
// principal (v3's owner) without CREATE_TOKENS on that USER (KIP-373);
// INVALID_PRINCIPAL_TYPE for an owner or a renewer that is not a User (a
// token always authenticates as User:<owner name>; Kafka accepts other
// owner types);
// DELEGATION_TOKEN_AUTH_DISABLED without delegation.token.secret.key. A
// refusal carries the owner (and requester), an empty id and HMAC, and
// timestamps -1, or 0 for DELEGATION_TOKEN_AUTH_DISABLED, which Kafka 4.0's
// controller answers without setting them (tokenErrorTimestamp). The owner defaults to the requester. The token lives until
// min(now + delegation.token.expiry.time.ms, its max timestamp) unless
// renewed; its max timestamp is now + the requested max lifetime (or
// delegation.token.max.lifetime.ms when that is not positive or larger).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/broker/metadata"
	"gregor/protocol"
)

func (b *Broker) handleCreateDelegationToken(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.CreateDelegationTokenRequest)
	resp := req.Response().(*kmsg.CreateDelegationTokenResponse)
	requester := requester(req)
	owner := requester
	ownerType, ownerName := splitPrincipal(requester)
	if r.OwnerPrincipalName != nil && *r.OwnerPrincipalName != "" {
		// The owner's type and name are answered as sent, as Kafka
		// does, even a type holding a ':'.
		ownerType, ownerName = "User", *r.OwnerPrincipalName
		if r.OwnerPrincipalType != nil {
			ownerType = *r.OwnerPrincipalType
		}
		owner = ownerType + ":" + ownerName
	}
	resp.PrincipalType, resp.PrincipalName = ownerType, ownerName
	resp.TokenRequesterPrincipalType, resp.TokenRequesterPrincipalName = splitPrincipal(requester)
	resp.HMAC = []byte{}
	if code := b.createTokenRefusal(req, r, owner, ownerType, requester); code != nil {
		ts := tokenErrorTimestamp(code.Code)
		resp.ErrorCode, resp.IssueTimestamp, resp.ExpiryTimestamp, resp.MaxTimestamp = code.Code, ts, ts, ts
		return resp, nil
	}
	t := b.newToken(r, owner, requester)
	if err := b.setToken(ctx, t, true); err != nil {
		b.log.Warn().Err(err).Str("owner", owner).Msg("creating delegation token")
		resp.ErrorCode = kerr.UnknownServerError.Code
		return resp, nil
	}
	b.log.Info().Str("token", t.TokenID).Str("owner", owner).Str("requester", requester).Msg("delegation token created")
	resp.IssueTimestamp, resp.ExpiryTimestamp, resp.MaxTimestamp = t.IssueTimestamp, t.ExpiryTimestamp, t.MaxTimestamp
	resp.TokenID = t.TokenID
	resp.HMAC = tokenHMAC(string(b.Config().DelegationTokens.SecretKey), t.TokenID)
	return resp, nil
}

// createTokenRefusal is the error a creation gets before any token is
// made, or nil.
func (b *Broker) createTokenRefusal(req *protocol.Request, r *kmsg.CreateDelegationTokenRequest, owner, ownerType, requester string) *kerr.Error {
	if !tokenRequestsAllowed(req) {
		return kerr.DelegationTokenRequestNotAllowed
	}
	if owner != requester && !b.authorize(req, acl.CreateTokens, acl.User, owner) {
		return kerr.DelegationTokenAuthorizationFailed
	}
	// A token authenticates as User:<owner name> whatever the owner's
	// type, so any other type is refused (Kafka accepts it, and checks
	// CREATE_TOKENS on a principal the token never becomes).
	if ownerType != "User" {
		return kerr.InvalidPrincipalType
	}
	for _, rn := range r.Renewers {
		if rn.PrincipalType != "User" {
			return kerr.InvalidPrincipalType
		}
	}
	if !b.Config().DelegationTokens.Enabled() {
		return kerr.DelegationTokenAuthDisabled
	}
	return nil
}

// newToken is a new token's information, with Kafka's timestamps.
func (b *Broker) newToken(r *kmsg.CreateDelegationTokenRequest, owner, requester string) metadata.TokenInfo {
	cfg := b.Config().DelegationTokens
	now := b.now().UnixMilli()
	maxLife := cfg.MaxLifetime.Milliseconds()
	if r.MaxLifetimeMillis > 0 {
		maxLife = min(r.MaxLifetimeMillis, maxLife)
	}
	t := metadata.TokenInfo{TokenID: newTokenID(), Owner: owner, Requester: requester, Renewers: []string{},
		IssueTimestamp: now, MaxTimestamp: addMillis(now, maxLife)}
	t.ExpiryTimestamp = min(t.MaxTimestamp, addMillis(now, cfg.ExpiryTime.Milliseconds()))
	for _, rn := range r.Renewers {
		t.Renewers = append(t.Renewers, rn.PrincipalType+":"+rn.PrincipalName)
	}
	return t
}
