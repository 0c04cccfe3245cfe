package broker

// ExpireDelegationToken (key 40), versions 1-2: those of kmsg's 0-2 that
// Kafka 4.0 serves (KIP-896 removed v0). As Kafka's KafkaApis and
// DelegationTokenManagerZk answer it: the refusals of RenewDelegationToken
// (not allowed, disabled, not found, owner mismatch); then a negative
// period removes the token at once (the answer's expiry is now); an
// expired token is DELEGATION_TOKEN_EXPIRED; otherwise the token expires
// at min(now + the period, its max timestamp).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/protocol"
)

func (b *Broker) handleExpireDelegationToken(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ExpireDelegationTokenRequest)
	resp := req.Response().(*kmsg.ExpireDelegationTokenResponse)
	resp.ExpiryTimestamp = -1
	t, code := b.tokenToChange(req, r.HMAC)
	if code != nil {
		resp.ErrorCode = code.Code
		return resp, nil
	}
	now := b.now().UnixMilli()
	if r.ExpiryPeriodMillis < 0 {
		if err := b.removeToken(ctx, t); err != nil {
			b.log.Warn().Err(err).Str("token", t.TokenID).Msg("expiring delegation token")
			resp.ErrorCode = kerr.UnknownServerError.Code
			return resp, nil
		}
		b.log.Info().Str("token", t.TokenID).Str("owner", t.Owner).Msg("delegation token expired on request")
		resp.ExpiryTimestamp = now
		return resp, nil
	}
	if t.Expired(now) {
		resp.ErrorCode = kerr.DelegationTokenExpired.Code
		return resp, nil
	}
	t.ExpiryTimestamp = min(t.MaxTimestamp, addMillis(now, r.ExpiryPeriodMillis))
	if err := b.setToken(ctx, t); err != nil {
		b.log.Warn().Err(err).Str("token", t.TokenID).Msg("expiring delegation token")
		resp.ErrorCode = kerr.UnknownServerError.Code
		return resp, nil
	}
	b.log.Info().Str("token", t.TokenID).Str("owner", t.Owner).Int64("expiry", t.ExpiryTimestamp).Msg("delegation token expiry set")
	resp.ExpiryTimestamp = t.ExpiryTimestamp
	return resp, nil
}
