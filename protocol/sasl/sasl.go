package sasl

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"time"
)

// Mechanism names, as SaslHandshake carries them.
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
	OAuthBearer = "OAUTHBEARER"
	GSSAPI      = "GSSAPI"
)

// Supported lists the mechanisms Gregor serves.
var Supported = []string{Plain, ScramSHA256, ScramSHA512, OAuthBearer}

// Hard limits, with the reason for each.
const (
	// MaxTokenSize bounds one client token (Kafka's
	// sasl.server.max.receive.size default, 512 KiB): a SASL token is a
	// few hundred bytes, an OAuth token a few KiB.
	MaxTokenSize = 512 << 10
)

// Outcome is what a completed exchange establishes.
type Outcome struct {
	// User is the authenticated name (the principal is User:<name>).
	User string
	// Expiry is when the credential expires (an OAuth token's exp, a
	// delegation token's expiry), zero if it does not.
	Expiry time.Time
	// TokenAuthenticated is set when a delegation token authenticated the
	// client (SCRAM with tokenauth=true); User is then the token's owner.
	TokenAuthenticated bool
}

// Server runs one authentication exchange.
type Server interface {
	// Step evaluates a client token. It returns the challenge to send
	// (possibly empty, never nil without an error) and whether the
	// exchange is complete.
	Step(token []byte) (challenge []byte, done bool, err error)
	// Outcome is the result of a complete exchange.
	Outcome() Outcome
	// Attempted is the user name the client claimed so far, for logs ("" if
	// none yet).
	Attempted() string
}

// Mechanism makes servers for one mechanism.
type Mechanism interface {
	Name() string
	NewServer() Server
}

// AuthError is a failure whose message goes to the client (Kafka's
// SaslAuthenticationException).
type AuthError struct{ Msg string }

func (e *AuthError) Error() string { return e.Msg }

func authErrorf(format string, args ...any) error {
	return &AuthError{Msg: fmt.Sprintf(format, args...)}
}

// ClientMessage is what a client is told about a failed exchange: an
// AuthError's own message, else Kafka's generic one, which names the
// mechanism only.
func ClientMessage(err error, mechanism string, reauth bool) string {
	var ae *AuthError
	if errors.As(err, &ae) {
		return ae.Msg
	}
	what := "authentication"
	if reauth {
		what = "re-authentication"
	}
	return fmt.Sprintf("Authentication failed during %s due to invalid credentials with SASL mechanism %s", what, mechanism)
}

// errStepAfterDone is a token after the exchange completed or failed.
var errStepAfterDone = errors.New("unexpected SASL token after the exchange ended")

func equalConstantTime(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
