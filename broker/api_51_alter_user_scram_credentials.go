package broker

// AlterUserScramCredentials (key 51), version 0 (every version kmsg
// knows), as Kafka 4's ScramControlManager answers it. A user is refused
// for: an empty name (UNACCEPTABLE_CREDENTIAL "Username must not be
// empty"), an unknown mechanism (UNSUPPORTED_SASL_MECHANISM), iterations
// outside [4096, 16384] (UNACCEPTABLE_CREDENTIAL "Too few iterations" /
// "Too many iterations"), deleting a credential it lacks
// (RESOURCE_NOT_FOUND), and being named more than once in the request,
// whatever the mechanisms (DUPLICATE_RESOURCE "A user credential cannot be
// altered twice in the same request"; Kafka 3's ZooKeeper mode allowed one
// alteration per mechanism, Kafka 4 one per user: a user with both SCRAM
// mechanisms gets them from two requests), then an empty salted password
// (UNKNOWN_SERVER_ERROR without a message, as Kafka 4's controller answers
// the exception its key derivation throws on an empty HMAC key).
// Otherwise its alteration is applied. The client sends the salt, which
// may be empty as in Kafka (sarama sends none unless given one), and the
// salted password; the broker keeps the salt, the iterations, the
// stored key and the server key derived from them (never the salted
// password). The change reaches every broker through the metadata store
// (ZooKeeper's /config/users, or the local metadata file). ALTER on the
// cluster is needed, else every user named is CLUSTER_AUTHORIZATION_FAILED.

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

// scramChange is one user's requested change: one deletion or one
// upsertion, as Kafka 4's ScramControlManager allows a user once per
// request.
type scramChange struct {
	alt    metadata.ScramAlteration
	failed *kmsg.AlterUserSCRAMCredentialsResponseResult
	// emptyKey: its upsertion has an empty salted password.
	emptyKey bool
}

func (b *Broker) handleAlterUserScramCredentials(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := req.Response().(*kmsg.AlterUserSCRAMCredentialsResponse)
	if !b.authorizeCluster(req, acl.Alter) {
		resp.Results = scramRefusedWhole(r, kerr.ClusterAuthorizationFailed, nil)
		return resp, nil
	}
	var existing metadata.UserScram
	if len(r.Deletions) > 0 {
		all, err := b.backend.UserScramCredentials(ctx)
		if err != nil {
			b.log.Warn().Err(err).Msg("reading SCRAM credentials")
			resp.Results = scramRefusedWhole(r, kerr.UnknownServerError, ptrStr(err.Error()))
			return resp, nil
		}
		existing = all
	}
	order, changes := scramChanges(r, existing)
	for _, user := range order {
		resp.Results = append(resp.Results, b.alterScram(ctx, changes[user]))
	}
	return resp, nil
}

// scramRefusedWhole is the answer to a request refused whole, as Kafka's
// AlterUserScramCredentialsRequest.getErrorResponse: every user named,
// once, sorted.
func scramRefusedWhole(r *kmsg.AlterUserSCRAMCredentialsRequest, code *kerr.Error, msg *string) []kmsg.AlterUserSCRAMCredentialsResponseResult {
	users := map[string]bool{}
	for _, d := range r.Deletions {
		users[d.Name] = true
	}
	for _, u := range r.Upsertions {
		users[u.Name] = true
	}
	var out []kmsg.AlterUserSCRAMCredentialsResponseResult
	for _, user := range slices.Sorted(mapsKeys(users)) {
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User, res.ErrorCode, res.ErrorMessage = user, code.Code, msg
		out = append(out, res)
	}
	return out
}

// scramChanges validates a request as Kafka's
// ScramControlManager.alterCredentials: deletions, then upsertions, in
// request order; a user's first refusal stands and its later alterations
// are not looked at; a user named again after an accepted alteration, with
// whatever mechanism, is DUPLICATE_RESOURCE. A deletion of a credential
// the user lacks is refused here (RESOURCE_NOT_FOUND), before a later
// alteration of the user could make it a duplicate.
func scramChanges(r *kmsg.AlterUserSCRAMCredentialsRequest, existing metadata.UserScram) ([]string, map[string]*scramChange) {
	var order []string
	changes := map[string]*scramChange{}
	// next returns the user's change to fill, or nil when the user is
	// already refused or, now, a duplicate.
	next := func(user string) *scramChange {
		c := changes[user]
		switch {
		case c == nil:
			c = &scramChange{alt: metadata.ScramAlteration{User: user, Upsert: map[string]metadata.ScramCredential{}}}
			changes[user] = c
			order = append(order, user)
			return c
		case c.failed != nil:
			return nil
		default:
			c.fail(kerr.DuplicateResource, "A user credential cannot be altered twice in the same request")
			return nil
		}
	}
	for _, d := range r.Deletions {
		c := next(d.Name)
		if c == nil {
			continue
		}
		mech := sasl.ScramMechanismName(d.Mechanism)
		switch {
		case d.Name == "":
			c.fail(kerr.UnacceptableCredential, "Username must not be empty")
		case mech == "":
			c.fail(kerr.UnsupportedSaslMechanism, "Unknown SCRAM mechanism")
		default:
			if _, ok := existing[d.Name][mech]; !ok {
				c.fail(kerr.ResourceNotFound, "Attempt to delete a user credential that does not exist")
				continue
			}
			c.alt.Deletes = append(c.alt.Deletes, mech)
		}
	}
	for _, u := range r.Upsertions {
		c := next(u.Name)
		if c == nil {
			continue
		}
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
		case len(u.SaltedPassword) == 0:
			// Kafka keys an HMAC with it (ScramFormatter.hmac), which
			// an empty key makes throw, once the request is validated.
			c.emptyKey = true
		default:
			cred, err := sasl.CredentialFromSaltedPassword(mech, u.Salt, u.SaltedPassword, int(u.Iterations))
			if err != nil { // mech is known: not reached
				c.fail(kerr.UnsupportedSaslMechanism, "Unknown SCRAM mechanism")
				continue
			}
			c.alt.Upsert[mech] = metadata.ScramCredential{Salt: cred.Salt, StoredKey: cred.StoredKey, ServerKey: cred.ServerKey, Iterations: u.Iterations}
		}
	}
	return order, changes
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
	if c.failed != nil {
		return *c.failed
	}
	res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
	res.User = c.alt.User
	if c.emptyKey {
		// Kafka's controller fails the user as it derives the keys,
		// after validating the request: UNKNOWN_SERVER_ERROR, no message
		// (ScramControlManager.finishUpsertion, ApiError.fromThrowable).
		res.ErrorCode = kerr.UnknownServerError.Code
		b.log.Info().Str("user", c.alt.User).Msg("AlterUserScramCredentials upsertion with an empty salted password; answered UNKNOWN_SERVER_ERROR as Kafka does")
		return res
	}
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
