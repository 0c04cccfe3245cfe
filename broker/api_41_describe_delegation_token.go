package broker

// DescribeDelegationToken (key 41), versions 1-3: those of kmsg's 0-3
// that Kafka 4.0 serves (KIP-896 removed v0). As Kafka's KafkaApis
// answers it: DELEGATION_TOKEN_REQUEST_NOT_ALLOWED (see
// CreateDelegationToken), DELEGATION_TOKEN_AUTH_DISABLED without a
// secret; an empty owner list describes nothing, a null one every token.
// A token is listed when one of the owners asked for owns, requested or
// may renew it, and the requester owns, requested or may renew it, or may
// DESCRIBE it (DELEGATION_TOKEN resource named by its id) or has
// DESCRIBE_TOKENS on its owner (USER resource, KIP-373). Each token comes
// with its HMAC and renewers; v3 adds its requester.

import (
	"cmp"
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (b *Broker) handleDescribeDelegationToken(_ context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeDelegationTokenRequest)
	resp := req.Response().(*kmsg.DescribeDelegationTokenResponse)
	switch {
	case !tokenRequestsAllowed(req):
		resp.ErrorCode = kerr.DelegationTokenRequestNotAllowed.Code
		return resp, nil
	case !b.Config().DelegationTokens.Enabled():
		resp.ErrorCode = kerr.DelegationTokenAuthDisabled.Code
		return resp, nil
	case r.Owners != nil && len(r.Owners) == 0:
		return resp, nil
	}
	who := requester(req)
	tokens := b.tokensWithHMAC()
	slices.SortFunc(tokens, func(x, y liveToken) int {
		return cmp.Or(cmp.Compare(x.info.IssueTimestamp, y.info.IssueTimestamp), cmp.Compare(x.info.TokenID, y.info.TokenID))
	})
	for _, t := range tokens {
		if !b.describable(req, r.Owners, who, t) {
			continue
		}
		d := kmsg.NewDescribeDelegationTokenResponseTokenDetail()
		d.PrincipalType, d.PrincipalName = splitPrincipal(t.info.Owner)
		d.TokenRequesterPrincipalType, d.TokenRequesterPrincipalName = splitPrincipal(t.info.Requester)
		d.IssueTimestamp, d.ExpiryTimestamp, d.MaxTimestamp = t.info.IssueTimestamp, t.info.ExpiryTimestamp, t.info.MaxTimestamp
		d.TokenID, d.HMAC = t.info.TokenID, t.hmac
		for _, rn := range t.info.Renewers {
			dr := kmsg.NewDescribeDelegationTokenResponseTokenDetailRenewer()
			dr.PrincipalType, dr.PrincipalName = splitPrincipal(rn)
			d.Renewers = append(d.Renewers, dr)
		}
		resp.TokenDetails = append(resp.TokenDetails, d)
	}
	return resp, nil
}

// describable is Kafka's DelegationTokenManager.filterToken.
func (b *Broker) describable(req *protocol.Request, owners []kmsg.DescribeDelegationTokenRequestOwner, who string, t liveToken) bool {
	if owners != nil && !slices.ContainsFunc(owners, func(o kmsg.DescribeDelegationTokenRequestOwner) bool {
		return ownerOrRenewer(o.PrincipalType+":"+o.PrincipalName, t.info)
	}) {
		return false
	}
	return ownerOrRenewer(who, t.info) ||
		b.allowed(req, acl.Describe, acl.DelegationToken, t.info.TokenID) ||
		b.allowed(req, acl.DescribeTokens, acl.User, t.info.Owner)
}
