package broker

// SCRAM credentials: the backend delivers every user's credentials
// (ApplyScramCredentials); the SASL layer looks them up through
// Broker.ScramCredential (sasl.CredentialStore).

import (
	"sync/atomic"

	"gregor/broker/metadata"
	"gregor/protocol/sasl"
)

// scramCredentials is the credentials in force, replaced whole.
type scramCredentials struct {
	users atomic.Pointer[metadata.UserScram]
}

// ApplyScramCredentials takes the credentials (ScramCredentialApplier).
func (a applier) ApplyScramCredentials(users metadata.UserScram) {
	a.b.scram.users.Store(&users)
}

// ScramCredential implements sasl.CredentialStore.
func (b *Broker) ScramCredential(mechanism, user string) (sasl.ScramCredential, bool) {
	p := b.scram.users.Load()
	if p == nil {
		return sasl.ScramCredential{}, false
	}
	c, ok := (*p)[user][mechanism]
	if !ok {
		return sasl.ScramCredential{}, false
	}
	return sasl.ScramCredential{Salt: c.Salt, StoredKey: c.StoredKey, ServerKey: c.ServerKey, Iterations: int(c.Iterations)}, true
}
