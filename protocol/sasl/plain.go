package sasl

import (
	"strings"
)

// PlainMechanism is SASL/PLAIN with users and passwords from the JAAS
// config (PlainLoginModule's user_<name>="<password>" options).
type PlainMechanism struct {
	users map[string]string
}

// NewPlain returns PLAIN over users (name to password).
func NewPlain(users map[string]string) *PlainMechanism { return &PlainMechanism{users: users} }

// PlainUsers extracts the user_<name> options of a JAAS entry.
func PlainUsers(options map[string]string) map[string]string {
	users := map[string]string{}
	for k, v := range options {
		if name, ok := strings.CutPrefix(k, "user_"); ok {
			users[name] = v
		}
	}
	return users
}

func (m *PlainMechanism) Name() string      { return Plain }
func (m *PlainMechanism) NewServer() Server { return &plainServer{m: m} }

type plainServer struct {
	m    *PlainMechanism
	user string
	done bool
}

func (s *plainServer) Attempted() string { return s.user }
func (s *plainServer) Outcome() Outcome  { return Outcome{User: s.user} }

// Step checks "authzid NUL user NUL password" as PlainSaslServer does,
// with its messages.
func (s *plainServer) Step(token []byte) ([]byte, bool, error) {
	if s.done {
		return nil, false, errStepAfterDone
	}
	s.done = true
	tokens := strings.SplitN(string(token), "\x00", 4)
	if len(tokens) != 3 {
		return nil, false, authErrorf("Invalid SASL/PLAIN response: expected 3 tokens, got %d", len(tokens))
	}
	authzid, user, password := tokens[0], tokens[1], tokens[2]
	s.user = user
	if user == "" {
		return nil, false, authErrorf("Authentication failed: username not specified")
	}
	if password == "" {
		return nil, false, authErrorf("Authentication failed: password not specified")
	}
	want, ok := s.m.users[user]
	// Compare even for an unknown user, so timing does not tell users apart.
	match := equalConstantTime(password, want)
	if !ok || !match {
		return nil, false, authErrorf("Authentication failed: Invalid username or password")
	}
	if authzid != "" && authzid != user {
		return nil, false, authErrorf("Authentication failed: Client requested an authorization id that is different from username")
	}
	return []byte{}, true, nil
}

// PlainClientToken is the PLAIN token a client sends.
func PlainClientToken(user, password string) []byte {
	return []byte("\x00" + user + "\x00" + password)
}
