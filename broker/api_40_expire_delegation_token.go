package broker

// ExpireDelegationToken (key 40), versions 1-2: those of kmsg's 0-2 that
// Kafka 4.0 serves (KIP-896 removed v0), as Kafka 4.0's
// DelegationTokenControlManager.expireDelegationToken answers it (since
// KAFKA-17315): not allowed, disabled, not found, then owner mismatch;
// then a negative period removes the token at once, expired or not, and
// the answer's expiry is now; otherwise an expired token is
// DELEGATION_TOKEN_EXPIRED, and a live one expires at min(now + the
// period, its max timestamp).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/protocol"
)

func (b *Broker) handleExpireDelegationToken(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ExpireDelegationTokenRequest)
	resp := req.Response().(*kmsg.ExpireDelegationTokenResponse)
	b.tokenOps.Lock()
	defer b.tokenOps.Unlock()
	now := b.now().UnixMilli()
	t, code := b.tokenToChange(req, r.HMAC, now, false)
	if code != nil {
		resp.ErrorCode, resp.ExpiryTimestamp = code.Code, tokenErrorTimestamp(code.Code)
		return resp, nil
	}
	switch {
	case r.ExpiryPeriodMillis < 0:
		if err := b.removeToken(ctx, t); err != nil {
			b.log.Warn().Err(err).Str("token", t.TokenID).Msg("expiring delegation token")
			resp.ErrorCode = kerr.UnknownServerError.Code
			return resp, nil
		}
		b.log.Info().Str("token", t.TokenID).Str("owner", t.Owner).Msg("delegation token expired on request")
		resp.ExpiryTimestamp = now
		return resp, nil
	case t.Expired(now):
		resp.ErrorCode = kerr.DelegationTokenExpired.Code
		return resp, nil
	}
	resp.ExpiryTimestamp, resp.ErrorCode = b.setTokenExpiry(ctx, t, addMillis(now, r.ExpiryPeriodMillis), "expiry set")
	return resp, nil
}
