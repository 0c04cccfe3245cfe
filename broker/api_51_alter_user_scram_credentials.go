package broker

// AlterUserScramCredentials (key 51), version 0 (every version kmsg
// knows), as Kafka's ZkAdminManager answers it. A user is refused whole
// for: an empty name (UNACCEPTABLE_CREDENTIAL "Username must not be
// empty"), an unknown mechanism (UNSUPPORTED_SASL_MECHANISM), iterations
// outside [4096, 16384] (UNACCEPTABLE_CREDENTIAL "Too few iterations" /
// "Too many iterations"), the same mechanism twice (DUPLICATE_RESOURCE),
// deleting a credential it lacks (RESOURCE_NOT_FOUND), then an empty
// salted password (UNKNOWN_SERVER_ERROR without a message, as Kafka 4's
// controller answers the exception its key derivation throws on an empty
// HMAC key). Otherwise its deletions and upsertions are applied together.
// The client sends the salt, which may be empty as in Kafka (sarama sends
// none unless given one), and the salted password; the broker keeps the
// salt, the iterations, the stored key and the server key derived from
// them (never the salted password). The change reaches every broker
// through the metadata store (ZooKeeper's /config/users, or the local
// metadata file). ALTER on the cluster is needed, else every user named is
// CLUSTER_AUTHORIZATION_FAILED.

import (
	"context"
	"errors"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/broker/metadata"
	"gregor/protocol"
	"gregor/protocol/sasl"
)

// scramChange is one user's requested change.
type scramChange struct {
	alt    metadata.ScramAlteration
	pairs  map[string]int // mechanism -> times named
	failed *kmsg.AlterUserSCRAMCredentialsResponseResult
	// emptyKey: an upsertion has an empty salted password.
	emptyKey bool
}

func (b *Broker) handleAlterUserScramCredentials(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := req.Response().(*kmsg.AlterUserSCRAMCredentialsResponse)
	var order []string
	changes := map[string]*scramChange{}
	get := func(user string) *scramChange {
		c := changes[user]
		if c == nil {
			c = &scramChange{alt: metadata.ScramAlteration{User: user, Upsert: map[string]metadata.ScramCredential{}}, pairs: map[string]int{}}
			changes[user] = c
			order = append(order, user)
		}
		return c
	}
	for _, d := range r.Deletions {
		c := get(d.Name)
		mech := sasl.ScramMechanismName(d.Mechanism)
		switch {
		case d.Name == "":
			c.fail(kerr.UnacceptableCredential, "Username must not be empty")
		case mech == "":
			c.fail(kerr.UnsupportedSaslMechanism, "Unknown SCRAM mechanism")
		default:
			c.pairs[mech]++
			c.alt.Deletes = append(c.alt.Deletes, mech)
		}
	}
	for _, u := range r.Upsertions {
		c := get(u.Name)
		mech := sasl.ScramMechanismName(u.Mechanism)
		switch {
		case u.Name == "":
			c.fail(kerr.UnacceptableCredential, "Username must not be empty")
		case mech == "":
			c.fail(kerr.UnsupportedSaslMechanism, "Unknown SCRAM mechanism")
		case u.Iterations < sasl.ScramMinIterations:
			c.fail(kerr.UnacceptableCredential, "Too few iterations")
		case u.Iterations > sasl.ScramMaxIterations:
			c.fail(kerr.UnacceptableCredential, "Too many iterations")
		default:
			c.pairs[mech]++
			if len(u.SaltedPassword) == 0 {
				// Kafka keys an HMAC with it (ScramFormatter.hmac),
				// which an empty key makes throw.
				c.emptyKey = true
				continue
			}
			cred, err := sasl.CredentialFromSaltedPassword(mech, u.Salt, u.SaltedPassword, int(u.Iterations))
			if err != nil { // mech is known: not reached
				c.fail(kerr.UnsupportedSaslMechanism, "Unknown SCRAM mechanism")
				continue
			}
			c.alt.Upsert[mech] = metadata.ScramCredential{Salt: cred.Salt, StoredKey: cred.StoredKey, ServerKey: cred.ServerKey, Iterations: u.Iterations}
		}
	}
	if !b.authorizeCluster(req, acl.Alter) { // every user named, sorted, refused
		slices.Sort(order)
		for _, user := range order {
			res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
			res.User, res.ErrorCode = user, kerr.ClusterAuthorizationFailed.Code
			resp.Results = append(resp.Results, res)
		}
		return resp, nil
	}
	for _, user := range order {
		resp.Results = append(resp.Results, b.alterScram(ctx, changes[user]))
	}
	return resp, nil
}

func (c *scramChange) fail(code *kerr.Error, msg string) {
	if c.failed != nil {
		return
	}
	res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
	res.User, res.ErrorCode, res.ErrorMessage = c.alt.User, code.Code, &msg
	c.failed = &res
}

func (b *Broker) alterScram(ctx context.Context, c *scramChange) kmsg.AlterUserSCRAMCredentialsResponseResult {
	for _, n := range c.pairs {
		if n > 1 {
			c.fail(kerr.DuplicateResource, "A user credential cannot be altered twice in the same request")
		}
	}
	if c.failed != nil {
		return *c.failed
	}
	if c.emptyKey {
		// Kafka's controller fails the user as it derives the keys,
		// after validating it: UNKNOWN_SERVER_ERROR, no message
		// (ScramControlManager.finishUpsertion, ApiError.fromThrowable).
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User, res.ErrorCode = c.alt.User, kerr.UnknownServerError.Code
		b.log.Info().Str("user", c.alt.User).Msg("AlterUserScramCredentials upsertion with an empty salted password; answered UNKNOWN_SERVER_ERROR as Kafka does")
		return res
	}
	res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
	res.User = c.alt.User
	if err := b.backend.AlterUserScramCredentials(ctx, c.alt); err != nil {
		code := kerr.UnknownServerError
		var ke *kerr.Error
		if errors.As(err, &ke) {
			code = ke
		} else {
			b.log.Warn().Err(err).Str("user", c.alt.User).Msg("altering SCRAM credentials")
		}
		msg := err.Error()
		if errors.Is(err, metadata.ErrNoSuchCredential) {
			msg = "Attempt to delete a user credential that does not exist"
		}
		res.ErrorCode, res.ErrorMessage = code.Code, &msg
		return res
	}
	b.log.Info().Str("user", c.alt.User).Int("set", len(c.alt.Upsert)).Int("deleted", len(c.alt.Deletes)).Msg("SCRAM credentials altered")
	return res
}
