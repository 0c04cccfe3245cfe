package sasl

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"strings"
	"time"
)

// SCRAM iteration bounds, Kafka's (ScramMechanism.minIterations and
// ZkAdminManager's maxIterations).
const (
	ScramMinIterations = 4096
	ScramMaxIterations = 16384
)

// ScramCredential is what the broker keeps of a SCRAM password (Kafka's
// ScramCredential): never the password itself.
type ScramCredential struct {
	Salt       []byte
	StoredKey  []byte
	ServerKey  []byte
	Iterations int
}

// CredentialStore looks SCRAM credentials up by mechanism and user.
type CredentialStore interface {
	ScramCredential(mechanism, user string) (ScramCredential, bool)
}

// TokenCredential is a delegation token as SCRAM sees it (Kafka's
// DelegationTokenCredentialCallback): the credential derived from its
// HMAC, its owner's name and its expiry.
type TokenCredential struct {
	ScramCredential
	Owner  string
	Expiry time.Time
}

// TokenStore looks delegation tokens up by mechanism and token id; a
// CredentialStore that is one serves token authentication (tokenauth=true).
type TokenStore interface {
	TokenCredential(mechanism, tokenID string) (TokenCredential, bool)
}

// ScramHash returns the hash of a SCRAM mechanism, or nil.
func ScramHash(mechanism string) func() hash.Hash {
	switch mechanism {
	case ScramSHA256:
		return sha256.New
	case ScramSHA512:
		return sha512.New
	}
	return nil
}

// ScramMechanismName maps AlterUserScramCredentials' mechanism type (1,
// 2) to its name; "" for an unknown type.
func ScramMechanismName(t int8) string {
	switch t {
	case 1:
		return ScramSHA256
	case 2:
		return ScramSHA512
	}
	return ""
}

// ScramMechanismType is ScramMechanismName's inverse; 0 if unknown.
func ScramMechanismType(name string) int8 {
	switch name {
	case ScramSHA256:
		return 1
	case ScramSHA512:
		return 2
	}
	return 0
}

func hmacSum(h func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// SaltedPassword is Hi(password, salt, iterations) of RFC 5802.
func SaltedPassword(mechanism, password string, salt []byte, iterations int) ([]byte, error) {
	h := ScramHash(mechanism)
	if h == nil {
		return nil, fmt.Errorf("unknown SCRAM mechanism %q", mechanism)
	}
	return pbkdf2.Key(h, password, salt, iterations, h().Size())
}

// CredentialFromSaltedPassword derives the stored and server keys, as
// AlterUserScramCredentials does from the salted password a client sends.
func CredentialFromSaltedPassword(mechanism string, salt, salted []byte, iterations int) (ScramCredential, error) {
	h := ScramHash(mechanism)
	if h == nil {
		return ScramCredential{}, fmt.Errorf("unknown SCRAM mechanism %q", mechanism)
	}
	clientKey := hmacSum(h, salted, "Client Key")
	stored := h()
	stored.Write(clientKey)
	return ScramCredential{
		Salt:       append([]byte(nil), salt...),
		StoredKey:  stored.Sum(nil),
		ServerKey:  hmacSum(h, salted, "Server Key"),
		Iterations: iterations,
	}, nil
}

// NewScramCredential makes a credential from a password with a fresh
// random salt.
func NewScramCredential(mechanism, password string, iterations int) (ScramCredential, error) {
	salt := []byte(randomNonce())
	salted, err := SaltedPassword(mechanism, password, salt, iterations)
	if err != nil {
		return ScramCredential{}, err
	}
	return CredentialFromSaltedPassword(mechanism, salt, salted, iterations)
}

// randomNonce is 130 random bits in base 36, as Kafka's
// ScramFormatter.secureRandomString.
func randomNonce() string {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 130))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n.Text(36)
}

// ScramMechanism is SCRAM-SHA-256 or SCRAM-SHA-512 over a credential store.
type ScramMechanism struct {
	name  string
	h     func() hash.Hash
	store CredentialStore
}

// NewScram returns a SCRAM mechanism; name is ScramSHA256 or ScramSHA512.
func NewScram(name string, store CredentialStore) (*ScramMechanism, error) {
	h := ScramHash(name)
	if h == nil {
		return nil, fmt.Errorf("unknown SCRAM mechanism %q", name)
	}
	return &ScramMechanism{name: name, h: h, store: store}, nil
}

func (m *ScramMechanism) Name() string      { return m.name }
func (m *ScramMechanism) NewServer() Server { return &scramServer{m: m} }

type scramState int8

const (
	scramFirst scramState = iota
	scramFinal
	scramComplete
	scramFailed
)

type scramServer struct {
	m           *ScramMechanism
	state       scramState
	user        string
	outcome     Outcome
	cred        ScramCredential
	first       ClientFirst
	serverFirst string
	nonce       string // client nonce + server nonce
}

func (s *scramServer) Attempted() string { return s.user }
func (s *scramServer) Outcome() Outcome  { return s.outcome }

// Step runs ScramSaslServer's two steps.
func (s *scramServer) Step(token []byte) ([]byte, bool, error) {
	var out []byte
	var err error
	switch s.state {
	case scramFirst:
		out, err = s.first1(token)
	case scramFinal:
		out, err = s.final(token)
		if err == nil {
			s.state = scramComplete
			return out, true, nil
		}
	default:
		return nil, false, errStepAfterDone
	}
	if err != nil {
		s.state, s.cred = scramFailed, ScramCredential{}
		return nil, false, err
	}
	return out, false, nil
}

func (s *scramServer) first1(token []byte) ([]byte, error) {
	cf, err := ParseClientFirst(token)
	if err != nil {
		return nil, err
	}
	s.first, s.user = cf, cf.User
	cred, err := s.credential(cf)
	if err != nil {
		return nil, err
	}
	if cf.Authzid != "" {
		if a, err := ScramUsername(cf.Authzid); err != nil || a != cf.User {
			return nil, authErrorf("Authentication failed: Client requested an authorization id that is different from username")
		}
	}
	if cred.Iterations < ScramMinIterations {
		return nil, fmt.Errorf("Iterations %d is less than the minimum %d for %s", cred.Iterations, ScramMinIterations, s.m.name)
	}
	s.cred = cred
	s.nonce = cf.Nonce + randomNonce()
	s.serverFirst = fmt.Sprintf("r=%s,s=%s,i=%d", s.nonce, base64.StdEncoding.EncodeToString(cred.Salt), cred.Iterations)
	s.state = scramFinal
	return []byte(s.serverFirst), nil
}

// credential looks the client's credential up: a user's, or with the
// extension tokenauth=true (Kafka's ScramExtensions.tokenAuthenticated) a
// delegation token's, whose owner is then who authenticates. An unknown
// or expired token fails as an unknown user does.
func (s *scramServer) credential(cf ClientFirst) (ScramCredential, error) {
	if !strings.EqualFold(cf.Extensions["tokenauth"], "true") {
		cred, ok := s.m.store.ScramCredential(s.m.name, cf.User)
		if !ok {
			return ScramCredential{}, errors.New("Authentication failed: Invalid user credentials")
		}
		s.outcome = Outcome{User: cf.User}
		return cred, nil
	}
	ts, _ := s.m.store.(TokenStore)
	if ts == nil {
		return ScramCredential{}, fmt.Errorf("Token Authentication failed: Invalid tokenId : %s", cf.User)
	}
	tc, ok := ts.TokenCredential(s.m.name, cf.User)
	if !ok || !tc.Expiry.After(time.Now()) {
		return ScramCredential{}, fmt.Errorf("Token Authentication failed: Invalid tokenId : %s", cf.User)
	}
	s.outcome = Outcome{User: tc.Owner, Expiry: tc.Expiry, TokenAuthenticated: true}
	return tc.ScramCredential, nil
}

func (s *scramServer) final(token []byte) ([]byte, error) {
	cf, err := ParseClientFinal(token)
	if err != nil {
		return nil, err
	}
	// Kafka checks only that the nonce ends with the server's
	// (ScramSaslServer): librdkafka sends its own nonce in front of the
	// server's whole one. The server's part is fresh each exchange, so a
	// replayed message still fails.
	if !strings.HasSuffix(cf.Nonce, s.nonce) {
		return nil, errors.New("Invalid client nonce in the final client message.")
	}
	if string(cf.ChannelBinding) != s.first.GS2Header() {
		return nil, errors.New("Invalid channel binding in the final client message.")
	}
	auth := s.first.Bare + "," + s.serverFirst + "," + cf.WithoutProof
	clientSig := hmacSum(s.m.h, s.cred.StoredKey, auth)
	if len(cf.Proof) != len(clientSig) {
		return nil, errors.New("Invalid client credentials")
	}
	clientKey := make([]byte, len(clientSig))
	for i := range clientKey {
		clientKey[i] = cf.Proof[i] ^ clientSig[i]
	}
	h := s.m.h()
	h.Write(clientKey)
	if !hmac.Equal(h.Sum(nil), s.cred.StoredKey) {
		return nil, errors.New("Invalid client credentials")
	}
	sig := hmacSum(s.m.h, s.cred.ServerKey, auth)
	s.cred = ScramCredential{}
	return []byte("v=" + base64.StdEncoding.EncodeToString(sig)), nil
}

// ScramClient is the client side of SCRAM, for connections between
// brokers and for tests.
type ScramClient struct {
	Mechanism, User, Password string
	// TokenAuth authenticates with a delegation token (User is its id,
	// Password the base64 of its HMAC): the first message carries the
	// extension tokenauth=true.
	TokenAuth bool

	h           func() hash.Hash
	nonce       string
	bare        string
	serverSig   []byte
	step        int
	clientFinal string
}

// Step returns the next client message given the last server message
// (nil for the first). After the server's final message it returns nil
// and done once the server's signature checks out.
func (c *ScramClient) Step(server []byte) (msg []byte, done bool, err error) {
	switch c.step {
	case 0:
		c.h = ScramHash(c.Mechanism)
		if c.h == nil {
			return nil, false, fmt.Errorf("unknown SCRAM mechanism %q", c.Mechanism)
		}
		c.nonce = randomNonce()
		c.bare = "n=" + ScramSaslName(c.User) + ",r=" + c.nonce
		if c.TokenAuth {
			c.bare += ",tokenauth=true"
		}
		c.step = 1
		return []byte("n,," + c.bare), false, nil
	case 1:
		sf, err := ParseServerFirst(server)
		if err != nil {
			return nil, false, err
		}
		if len(sf.Nonce) <= len(c.nonce) || sf.Nonce[:len(c.nonce)] != c.nonce {
			return nil, false, errors.New("SCRAM server nonce does not extend the client's")
		}
		salted, err := SaltedPassword(c.Mechanism, c.Password, sf.Salt, sf.Iterations)
		if err != nil {
			return nil, false, err
		}
		cred, _ := CredentialFromSaltedPassword(c.Mechanism, sf.Salt, salted, sf.Iterations)
		without := "c=biws,r=" + sf.Nonce
		auth := c.bare + "," + sf.Raw + "," + without
		clientKey := hmacSum(c.h, salted, "Client Key")
		sig := hmacSum(c.h, cred.StoredKey, auth)
		for i := range clientKey {
			clientKey[i] ^= sig[i]
		}
		c.serverSig = hmacSum(c.h, cred.ServerKey, auth)
		c.step = 2
		c.clientFinal = without + ",p=" + base64.StdEncoding.EncodeToString(clientKey)
		return []byte(c.clientFinal), false, nil
	case 2:
		sf, err := ParseServerFinal(server)
		if err != nil {
			return nil, false, err
		}
		if sf.Error != "" {
			return nil, false, fmt.Errorf("SCRAM server error: %s", sf.Error)
		}
		if !hmac.Equal(sf.Signature, c.serverSig) {
			return nil, false, errors.New("SCRAM server signature does not match")
		}
		c.step = 3
		return nil, true, nil
	}
	return nil, false, errStepAfterDone
}
