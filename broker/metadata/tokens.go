package metadata

// Delegation tokens (KIP-48), stored as Kafka's ZooKeeper mode stores
// them: one token's information (Kafka's TokenInformation) per token,
// never its HMAC, which every broker derives from the token id and
// delegation.token.secret.key. In ZooKeeper a token is
// /delegation_token/tokens/<tokenId> holding Kafka's JSON (version 3:
// sanitized principals, timestamps in milliseconds); on a single broker
// it is kept in the local metadata file.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// TokenInfo is a delegation token without its HMAC. Principals are
// "Type:Name" (User:alice).
type TokenInfo struct {
	TokenID   string   `json:"tokenId"`
	Owner     string   `json:"owner"`
	Requester string   `json:"tokenRequester"`
	Renewers  []string `json:"renewers"`
	// Milliseconds since the epoch.
	IssueTimestamp  int64 `json:"issueTimestamp"`
	MaxTimestamp    int64 `json:"maxTimestamp"`
	ExpiryTimestamp int64 `json:"expiryTimestamp"`
}

// Equal reports whether two tokens are the same.
func (t TokenInfo) Equal(o TokenInfo) bool {
	return t.TokenID == o.TokenID && t.Owner == o.Owner && t.Requester == o.Requester && slices.Equal(t.Renewers, o.Renewers) &&
		t.IssueTimestamp == o.IssueTimestamp && t.MaxTimestamp == o.MaxTimestamp && t.ExpiryTimestamp == o.ExpiryTimestamp
}

// Expired is Kafka's test: past its max timestamp or its expiry.
func (t TokenInfo) Expired(nowMs int64) bool {
	return t.MaxTimestamp < nowMs || t.ExpiryTimestamp < nowMs
}

// DelegationTokenApplier is implemented by Appliers that take delegation
// tokens; backends deliver every token, by id, at Start and after every
// change (in a cluster as soon as ZooKeeper's watch fires), as a
// complete set the Applier may keep, serialised with the other
// deliveries.
type DelegationTokenApplier interface {
	ApplyDelegationTokens(tokens map[string]TokenInfo)
}

// tokenZNodeVersion is the version of Kafka's token znode
// (DelegationTokenManagerZk.CurrentVersion).
const tokenZNodeVersion = 3

// tokenZNode is Kafka's JSON of a token znode.
type tokenZNode struct {
	Version   int      `json:"version"`
	Owner     string   `json:"owner"`
	Requester string   `json:"tokenRequester,omitempty"`
	Renewers  []string `json:"renewers"`
	Issue     int64    `json:"issueTimestamp"`
	Max       int64    `json:"maxTimestamp"`
	Expiry    int64    `json:"expiryTimestamp"`
	TokenID   string   `json:"tokenId"`
}

// EncodeTokenZNode is Kafka's DelegationTokenInfoZNode.encode.
func EncodeTokenZNode(t TokenInfo) []byte {
	z := tokenZNode{Version: tokenZNodeVersion, Owner: SanitizeEntity(t.Owner), Requester: SanitizeEntity(t.Requester),
		Renewers: make([]string, 0, len(t.Renewers)), Issue: t.IssueTimestamp, Max: t.MaxTimestamp, Expiry: t.ExpiryTimestamp, TokenID: t.TokenID}
	for _, r := range t.Renewers {
		z.Renewers = append(z.Renewers, SanitizeEntity(r))
	}
	data, _ := json.Marshal(z)
	return data
}

// DecodeTokenZNode is Kafka's DelegationTokenInfoZNode.decode: versions 1
// to 3 (before 3 the requester is the owner).
func DecodeTokenZNode(data []byte) (TokenInfo, error) {
	var z tokenZNode
	if err := json.Unmarshal(data, &z); err != nil {
		return TokenInfo{}, err
	}
	if z.Version < 1 || z.Version > tokenZNodeVersion || z.TokenID == "" {
		return TokenInfo{}, fmt.Errorf("unsupported token znode version %d or no token id", z.Version)
	}
	var t TokenInfo
	var err error
	if t.Owner, err = decodePrincipal(z.Owner); err != nil {
		return TokenInfo{}, err
	}
	t.Requester = t.Owner
	if z.Version >= 3 {
		if t.Requester, err = decodePrincipal(z.Requester); err != nil {
			return TokenInfo{}, err
		}
	}
	for _, r := range z.Renewers {
		p, err := decodePrincipal(r)
		if err != nil {
			return TokenInfo{}, err
		}
		t.Renewers = append(t.Renewers, p)
	}
	t.TokenID, t.IssueTimestamp, t.MaxTimestamp, t.ExpiryTimestamp = z.TokenID, z.Issue, z.Max, z.Expiry
	return t, nil
}

// decodePrincipal desanitizes a principal and checks it is Type:Name
// (SecurityUtils.parseKafkaPrincipal: split at the first colon, either
// side may be empty).
func decodePrincipal(s string) (string, error) {
	p, err := DesanitizeEntity(s)
	if err != nil {
		return "", err
	}
	if !strings.Contains(p, ":") {
		return "", fmt.Errorf("invalid principal %q in token znode", p)
	}
	return p, nil
}
