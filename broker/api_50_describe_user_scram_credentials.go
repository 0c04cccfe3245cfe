package broker

// DescribeUserScramCredentials (key 50), version 0 (every version kmsg
// knows), as Kafka 4 answers it: with no users named,
// every user with a credential, sorted; with users named, one result per
// distinct name: RESOURCE_NOT_FOUND for a user without credentials, an
// empty name included ("Attempt to describe a user credential that does
// not exist: <name>", as Kafka 4's ScramImage.describe), DUPLICATE_RESOURCE
// for a name asked twice. Each result
// lists the mechanisms and iterations, never the salt or keys. Read from
// the metadata store itself, so a change made through any broker shows.
// DESCRIBE on the cluster is needed, else CLUSTER_AUTHORIZATION_FAILED.

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/broker/metadata"
	"gregor/protocol"
	"gregor/protocol/sasl"
)

func (b *Broker) handleDescribeUserScramCredentials(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := req.Response().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if !b.authorizeCluster(req, acl.Describe) { // Kafka's answer: a nameless result per user asked
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		for range r.Users {
			res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
			res.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			resp.Results = append(resp.Results, res)
		}
		return resp, nil
	}
	all, err := b.backend.UserScramCredentials(ctx)
	if err != nil {
		b.log.Warn().Err(err).Msg("reading SCRAM credentials")
		resp.ErrorCode = kerr.UnknownServerError.Code
		msg := "Error processing describe user SCRAM credential configs request"
		resp.ErrorMessage = &msg
		return resp, nil
	}
	if len(r.Users) == 0 {
		for _, user := range slices.Sorted(mapsKeys(all)) {
			resp.Results = append(resp.Results, scramResult(user, all[user]))
		}
		return resp, nil
	}
	count := map[string]int{}
	for _, u := range r.Users {
		count[u.Name]++
	}
	done := map[string]bool{}
	for _, u := range r.Users {
		if done[u.Name] {
			continue
		}
		done[u.Name] = true
		res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		res.User = u.Name
		switch {
		case count[u.Name] > 1:
			res.ErrorCode, res.ErrorMessage = kerr.DuplicateResource.Code, ptrStr("Cannot describe SCRAM credentials for the same user twice in a single request: "+u.Name)
		case len(all[u.Name]) == 0:
			res.ErrorCode, res.ErrorMessage = kerr.ResourceNotFound.Code, ptrStr("Attempt to describe a user credential that does not exist: "+u.Name)
		default:
			res = scramResult(u.Name, all[u.Name])
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}

func scramResult(user string, creds map[string]metadata.ScramCredential) kmsg.DescribeUserSCRAMCredentialsResponseResult {
	res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
	res.User = user
	for _, m := range metadata.ScramMechanisms {
		if c, ok := creds[m]; ok {
			ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
			ci.Mechanism, ci.Iterations = sasl.ScramMechanismType(m), c.Iterations
			res.CredentialInfos = append(res.CredentialInfos, ci)
		}
	}
	return res
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func ptrStr(s string) *string { return &s }
