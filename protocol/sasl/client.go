package sasl

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Client is the client side of an exchange, for connections between
// brokers: Step takes the server's last challenge (nil at first) and
// returns the next token, until done.
type Client interface {
	Step(challenge []byte) (token []byte, done bool, err error)
}

// NewClient makes a client for a mechanism from the listener's JAAS
// options (username and password; for OAUTHBEARER the unsecured login
// options unsecuredLoginStringClaim_sub and unsecuredLoginLifetimeSeconds).
func NewClient(mechanism string, options map[string]string) (Client, error) {
	switch mechanism {
	case Plain:
		return &plainClient{user: options["username"], password: options["password"]}, nil
	case ScramSHA256, ScramSHA512:
		return &scramClientAdapter{c: &ScramClient{Mechanism: mechanism, User: options["username"], Password: options["password"]}}, nil
	case OAuthBearer:
		sub := options["unsecuredLoginStringClaim_sub"]
		if sub == "" {
			return nil, fmt.Errorf("OAUTHBEARER between brokers needs the unsecuredLoginStringClaim_sub JAAS option")
		}
		life := time.Hour
		if v := options["unsecuredLoginLifetimeSeconds"]; v != "" {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("unsecuredLoginLifetimeSeconds: %q is not a positive number", v)
			}
			life = time.Duration(n) * time.Second
		}
		return &oauthClient{token: UnsecuredToken(sub, time.Now(), life)}, nil
	}
	return nil, fmt.Errorf("SASL mechanism %s is not supported", mechanism)
}

type plainClient struct {
	user, password string
	sent           bool
}

func (c *plainClient) Step([]byte) ([]byte, bool, error) {
	if c.sent {
		return nil, true, nil
	}
	c.sent = true
	return PlainClientToken(c.user, c.password), false, nil
}

type scramClientAdapter struct{ c *ScramClient }

func (a *scramClientAdapter) Step(ch []byte) ([]byte, bool, error) { return a.c.Step(ch) }

type oauthClient struct {
	token string
	sent  bool
}

func (c *oauthClient) Step(ch []byte) ([]byte, bool, error) {
	if c.sent {
		if len(ch) > 0 {
			return nil, false, fmt.Errorf("OAUTHBEARER refused: %s", ch)
		}
		return nil, true, nil
	}
	c.sent = true
	return OAuthClientToken(c.token), false, nil
}
