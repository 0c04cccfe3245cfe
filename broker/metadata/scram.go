package metadata

// SCRAM credentials, stored as Kafka stores them: per user, per mechanism
// (SCRAM-SHA-256, SCRAM-SHA-512), the string Kafka's ScramCredentialUtils
// writes, "salt=<b64>,stored_key=<b64>,server_key=<b64>,iterations=<n>".
// Never a password. In ZooKeeper they are the user's entity config
// (/config/users/<sanitized user>); on a single broker they are kept in
// the local metadata file.

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// ScramCredential is one stored SCRAM credential.
type ScramCredential struct {
	Salt, StoredKey, ServerKey []byte
	Iterations                 int32
}

// String is Kafka's credentialToString.
func (c ScramCredential) String() string {
	e := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("salt=%s,stored_key=%s,server_key=%s,iterations=%d", e(c.Salt), e(c.StoredKey), e(c.ServerKey), c.Iterations)
}

// ParseScramCredential is Kafka's credentialFromString.
func ParseScramCredential(s string) (ScramCredential, error) {
	props := map[string]string{}
	for _, tok := range strings.Split(s, ",") {
		i := strings.IndexByte(tok, '=')
		if i <= 0 {
			return ScramCredential{}, fmt.Errorf("Credentials not valid")
		}
		props[tok[:i]] = tok[i+1:]
	}
	var c ScramCredential
	var errs [4]error
	c.Salt, errs[0] = base64.StdEncoding.DecodeString(props["salt"])
	c.StoredKey, errs[1] = base64.StdEncoding.DecodeString(props["stored_key"])
	c.ServerKey, errs[2] = base64.StdEncoding.DecodeString(props["server_key"])
	var it int64
	it, errs[3] = strconv.ParseInt(props["iterations"], 10, 32)
	c.Iterations = int32(it)
	if len(props) != 4 || errs != [4]error{} || len(c.StoredKey) == 0 || len(c.ServerKey) == 0 {
		return ScramCredential{}, fmt.Errorf("Credentials not valid")
	}
	return c, nil
}

// ScramMechanisms are the mechanisms credentials are kept for, as the
// keys of a user's config.
var ScramMechanisms = []string{"SCRAM-SHA-256", "SCRAM-SHA-512"}

// UserScram is every user's SCRAM credentials: user -> mechanism ->
// credential.
type UserScram map[string]map[string]ScramCredential

// ScramCredentialApplier is implemented by Appliers that take SCRAM
// credentials; backends deliver the complete set at Start and after every
// change (in a cluster, within a second of it), serialised with the other
// deliveries.
type ScramCredentialApplier interface {
	ApplyScramCredentials(UserScram)
}

// ScramAlteration is one user's change: credentials to set and
// mechanisms to remove.
type ScramAlteration struct {
	User    string
	Upsert  map[string]ScramCredential
	Deletes []string
}

// ErrNoSuchCredential is a deletion of a credential that does not exist.
var ErrNoSuchCredential = Errorf(kerr.ResourceNotFound, "Attempt to delete a user credential that does not exist")

// scramFromConfig extracts a user's SCRAM credentials from its entity
// config; malformed ones are returned as errors by mechanism.
func scramFromConfig(cfg map[string]string) (map[string]ScramCredential, map[string]error) {
	out := map[string]ScramCredential{}
	var bad map[string]error
	for _, m := range ScramMechanisms {
		v, ok := cfg[m]
		if !ok {
			continue
		}
		c, err := ParseScramCredential(v)
		if err != nil {
			if bad == nil {
				bad = map[string]error{}
			}
			bad[m] = err
			continue
		}
		out[m] = c
	}
	return out, bad
}

// ScramFromConfig is scramFromConfig for backends; malformed credentials
// are left out.
func ScramFromConfig(cfg map[string]string) map[string]ScramCredential {
	out, _ := scramFromConfig(cfg)
	return out
}

// AlterScramConfig applies an alteration to a user's entity config (other
// keys, quotas say, are kept); deleting a missing credential fails with
// ErrNoSuchCredential and changes nothing.
func AlterScramConfig(cfg map[string]string, a ScramAlteration) (map[string]string, error) {
	next := map[string]string{}
	for k, v := range cfg {
		next[k] = v
	}
	for _, m := range a.Deletes {
		if _, ok := next[m]; !ok {
			return nil, ErrNoSuchCredential
		}
		delete(next, m)
	}
	for m, c := range a.Upsert {
		next[m] = c.String()
	}
	return next, nil
}

// SanitizeEntity is Kafka's Sanitizer.sanitize: a user name as a znode
// name (URL encoding, with '*' and spaces encoded too). The names "." and
// "..", which ZooKeeper refuses as path elements, have their dots encoded
// as well (Kafka's Sanitizer leaves them, and its ZooKeeper mode failed to
// store them; KRaft takes them, and DesanitizeEntity reads them back).
func SanitizeEntity(name string) string {
	if name == "." || name == ".." {
		return strings.Repeat("%2E", len(name))
	}
	s := url.QueryEscape(name)
	s = strings.ReplaceAll(s, "+", "%20")
	return strings.ReplaceAll(s, "*", "%2A")
}

// DesanitizeEntity is Kafka's Sanitizer.desanitize.
func DesanitizeEntity(s string) (string, error) {
	return url.QueryUnescape(strings.ReplaceAll(s, "+", "%2B"))
}
