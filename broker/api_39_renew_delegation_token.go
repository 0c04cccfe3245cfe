package broker

// RenewDelegationToken (key 39), versions 1-2: those of kmsg's 0-2 that
// Kafka 4.0 serves (KIP-896 removed v0), as Kafka 4.0's
// DelegationTokenControlManager answers it: DELEGATION_TOKEN_REQUEST_NOT_ALLOWED
// (see CreateDelegationToken), DELEGATION_TOKEN_AUTH_DISABLED without a
// secret, then DELEGATION_TOKEN_NOT_FOUND for an unknown HMAC,
// DELEGATION_TOKEN_EXPIRED for an expired token, and
// DELEGATION_TOKEN_OWNER_MISMATCH unless the requester owns the token or
// renews it (each with expiry 0, the field's default, as the controller
// answers them; -1 for the broker's DELEGATION_TOKEN_REQUEST_NOT_ALLOWED). Otherwise the token expires at
// min(now + the period, its max timestamp), the period being
// delegation.token.expiry.time.ms or a shorter one asked for. A token
// removed meanwhile is not brought back: the renewal finds it gone.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/metadata"
	"gregor/protocol"
)

func (b *Broker) handleRenewDelegationToken(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.RenewDelegationTokenRequest)
	resp := req.Response().(*kmsg.RenewDelegationTokenResponse)
	b.tokenOps.Lock()
	defer b.tokenOps.Unlock()
	now := b.now().UnixMilli()
	t, code := b.tokenToChange(req, r.HMAC, now, true)
	if code != nil {
		resp.ErrorCode, resp.ExpiryTimestamp = code.Code, tokenErrorTimestamp(code.Code)
		return resp, nil
	}
	// Kafka 4.0: the default renewal, or a shorter one asked for.
	period := b.Config().DelegationTokens.ExpiryTime.Milliseconds()
	if r.RenewTimeMillis > 0 {
		period = min(period, r.RenewTimeMillis)
	}
	resp.ExpiryTimestamp, resp.ErrorCode = b.setTokenExpiry(ctx, t, addMillis(now, period), "renewed")
	return resp, nil
}

// setTokenExpiry moves a token's expiry to at (at most its max
// timestamp) and returns the new expiry and error code: NOT_FOUND if the
// token was removed meanwhile. Called holding tokenOps.
func (b *Broker) setTokenExpiry(ctx context.Context, t metadata.TokenInfo, at int64, what string) (int64, int16) {
	t.ExpiryTimestamp = min(t.MaxTimestamp, at)
	if err := b.setToken(ctx, t, false); err != nil {
		if errors.Is(err, metadata.ErrTokenGone) {
			return tokenErrorTimestamp(kerr.DelegationTokenNotFound.Code), kerr.DelegationTokenNotFound.Code
		}
		b.log.Warn().Err(err).Str("token", t.TokenID).Msg("changing a delegation token's expiry")
		return tokenErrorTimestamp(kerr.UnknownServerError.Code), kerr.UnknownServerError.Code
	}
	b.log.Info().Str("token", t.TokenID).Str("owner", t.Owner).Int64("expiry", t.ExpiryTimestamp).Msg("delegation token " + what)
	return t.ExpiryTimestamp, 0
}

// tokenToChange finds the token a renewal or expiry names, with Kafka
// 4.0's checks in its order (DelegationTokenControlManager): not found,
// expired (a renewal only: an expiry checks that itself, after the owner),
// then not the owner's or a renewer's. Called holding tokenOps.
func (b *Broker) tokenToChange(req *protocol.Request, mac []byte, now int64, renewal bool) (metadata.TokenInfo, *kerr.Error) {
	if !tokenRequestsAllowed(req) {
		return metadata.TokenInfo{}, kerr.DelegationTokenRequestNotAllowed
	}
	if !b.Config().DelegationTokens.Enabled() {
		return metadata.TokenInfo{}, kerr.DelegationTokenAuthDisabled
	}
	t, ok := b.tokenByHMAC(mac)
	if !ok {
		return metadata.TokenInfo{}, kerr.DelegationTokenNotFound
	}
	if renewal && t.Expired(now) {
		return metadata.TokenInfo{}, kerr.DelegationTokenExpired
	}
	if !canRenew(requester(req), t) {
		return metadata.TokenInfo{}, kerr.DelegationTokenOwnerMismatch
	}
	return t, nil
}
