package broker

// RenewDelegationToken (key 39), versions 1-2: those of kmsg's 0-2 that
// Kafka 4.0 serves (KIP-896 removed v0). As Kafka's KafkaApis and
// DelegationTokenManagerZk answer it: DELEGATION_TOKEN_REQUEST_NOT_ALLOWED
// (see CreateDelegationToken), DELEGATION_TOKEN_AUTH_DISABLED without a
// secret, DELEGATION_TOKEN_NOT_FOUND for an unknown HMAC,
// DELEGATION_TOKEN_OWNER_MISMATCH unless the requester owns the token or
// is one of its renewers, DELEGATION_TOKEN_EXPIRED for an expired one
// (each with expiry -1). Otherwise the token expires at min(now + the
// renewal period, its max timestamp), the period being
// delegation.token.expiry.time.ms when negative.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/metadata"
	"gregor/protocol"
)

func (b *Broker) handleRenewDelegationToken(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.RenewDelegationTokenRequest)
	resp := req.Response().(*kmsg.RenewDelegationTokenResponse)
	resp.ExpiryTimestamp = -1
	t, code := b.tokenToChange(req, r.HMAC)
	if code == nil && t.Expired(b.now().UnixMilli()) {
		code = kerr.DelegationTokenExpired
	}
	if code != nil {
		resp.ErrorCode = code.Code
		return resp, nil
	}
	period := r.RenewTimeMillis
	if period < 0 {
		period = b.Config().DelegationTokens.ExpiryTime.Milliseconds()
	}
	t.ExpiryTimestamp = min(t.MaxTimestamp, addMillis(b.now().UnixMilli(), period))
	if err := b.setToken(ctx, t); err != nil {
		b.log.Warn().Err(err).Str("token", t.TokenID).Msg("renewing delegation token")
		resp.ErrorCode = kerr.UnknownServerError.Code
		return resp, nil
	}
	b.log.Info().Str("token", t.TokenID).Str("owner", t.Owner).Int64("expiry", t.ExpiryTimestamp).Msg("delegation token renewed")
	resp.ExpiryTimestamp = t.ExpiryTimestamp
	return resp, nil
}

// tokenToChange finds the token a renewal or expiry names by its HMAC,
// with Kafka's checks before either changes it; the error or nil.
func (b *Broker) tokenToChange(req *protocol.Request, mac []byte) (metadata.TokenInfo, *kerr.Error) {
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
	if !canRenew(requester(req), t) {
		return metadata.TokenInfo{}, kerr.DelegationTokenOwnerMismatch
	}
	return t, nil
}
