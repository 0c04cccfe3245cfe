package sasl

// Signed tokens, checked against keys from a JWKS file (or one PEM public
// key), as Kafka's OAuthBearerValidatorCallbackHandler checks them against
// sasl.oauthbearer.jwks.endpoint.url: the signature (RS256/384/512,
// PS256/384/512, ES256/384/512) by the key the header's kid names, then
// exp and iat (both required, as Kafka's ValidatorAccessTokenValidator
// requires them), nbf when present (as its jose4j consumer checks it),
// the subject claim, the expected issuer and audience, and the clock skew
// allowed.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"sync"
	"time"
)

// JWKSValidator validates signed JWTs. Keys are re-read when the file
// changes (checked at most once a second).
type JWKSValidator struct {
	Path          string
	SubClaim      string
	ScopeClaim    string
	Issuer        string
	Audience      []string
	ClockSkew     time.Duration
	RequiredScope []string

	mu sync.Mutex
	// guarded by mu:
	keys    map[string]crypto.PublicKey // by kid ("" for a key without one)
	modTime time.Time
	size    int64
	checked time.Time
}

// Load reads the keys once; Validate re-reads them when the file changes.
func (v *JWKSValidator) Load() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.reloadLocked(true)
}

func (v *JWKSValidator) reloadLocked(force bool) error {
	if !force && time.Since(v.checked) < time.Second {
		return nil
	}
	v.checked = time.Now()
	st, err := os.Stat(v.Path)
	if err != nil {
		return err
	}
	if !force && st.ModTime().Equal(v.modTime) && st.Size() == v.size {
		return nil
	}
	data, err := os.ReadFile(v.Path)
	if err != nil {
		return err
	}
	keys, err := ParseJWKS(data)
	if err != nil {
		return fmt.Errorf("%s: %w", v.Path, err)
	}
	v.keys, v.modTime, v.size = keys, st.ModTime(), st.Size()
	return nil
}

// ParseJWKS reads a JWK set ({"keys":[...]}) or one PEM public key.
func ParseJWKS(data []byte) (map[string]crypto.PublicKey, error) {
	if blk, _ := pem.Decode(data); blk != nil {
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, err
		}
		return map[string]crypto.PublicKey{"": k}, nil
	}
	var set struct {
		Keys []struct {
			Kty, Kid, Use, N, E, Crv, X, Y string
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a JWK set: %w", err)
	}
	out := map[string]crypto.PublicKey{}
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		var pub crypto.PublicKey
		switch k.Kty {
		case "RSA":
			n, err1 := b64big(k.N)
			e, err2 := b64big(k.E)
			if err1 != nil || err2 != nil || !e.IsInt64() {
				return nil, fmt.Errorf("RSA key %q: bad n or e", k.Kid)
			}
			pub = &rsa.PublicKey{N: n, E: int(e.Int64())}
		case "EC":
			var curve elliptic.Curve
			switch k.Crv {
			case "P-256":
				curve = elliptic.P256()
			case "P-384":
				curve = elliptic.P384()
			case "P-521":
				curve = elliptic.P521()
			default:
				return nil, fmt.Errorf("EC key %q: unsupported curve %q", k.Kid, k.Crv)
			}
			x, err1 := b64big(k.X)
			y, err2 := b64big(k.Y)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("EC key %q: bad x or y", k.Kid)
			}
			pub = &ecdsa.PublicKey{Curve: curve, X: x, Y: y}
		default:
			continue
		}
		out[k.Kid] = pub
	}
	if len(out) == 0 {
		return nil, errors.New("no usable signing key in the JWK set")
	}
	return out, nil
}

func b64big(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil || len(b) == 0 {
		return nil, errors.New("bad base64url")
	}
	return new(big.Int).SetBytes(b), nil
}

func (v *JWKSValidator) key(kid string) (crypto.PublicKey, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.reloadLocked(false) // on error keep the keys we have
	if k, ok := v.keys[kid]; ok {
		return k, nil
	}
	if kid == "" && len(v.keys) == 1 {
		for _, k := range v.keys {
			return k, nil
		}
	}
	return nil, fmt.Errorf("no key with kid %q", kid)
}

// Validate checks a signed JWT.
func (v *JWKSValidator) Validate(token string, now time.Time) (string, time.Time, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[2] == "" {
		return "", time.Time{}, errors.New("a signed JWT must have 3 dot-separated parts and a signature")
	}
	header, err := decodeJSONPart(parts[0])
	if err != nil {
		return "", time.Time{}, err
	}
	alg, _ := header["alg"].(string)
	kid, _ := header["kid"].(string)
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return "", time.Time{}, errors.New("malformed base64url signature")
	}
	key, err := v.key(kid)
	if err != nil {
		return "", time.Time{}, err
	}
	if err := verifyJWS(alg, key, parts[0]+"."+parts[1], sig); err != nil {
		return "", time.Time{}, err
	}
	claims, err := decodeJSONPart(parts[1])
	if err != nil {
		return "", time.Time{}, err
	}
	sub := v.SubClaim
	if sub == "" {
		sub = "sub"
	}
	scope := v.ScopeClaim
	if scope == "" {
		scope = "scope"
	}
	return checkClaims(claims, claimRules{principal: sub, scope: scope, required: v.RequiredScope, skew: v.ClockSkew, issuer: v.Issuer, audience: v.Audience, requireIat: true, checkNbf: true}, now)
}

func verifyJWS(alg string, key crypto.PublicKey, signed string, sig []byte) error {
	var h crypto.Hash
	switch alg[len(alg)-min(3, len(alg)):] {
	case "256":
		h = crypto.SHA256
	case "384":
		h = crypto.SHA384
	case "512":
		h = crypto.SHA512
	default:
		return fmt.Errorf("unsupported JWS algorithm %q", alg)
	}
	d := h.New()
	d.Write([]byte(signed))
	digest := d.Sum(nil)
	switch {
	case strings.HasPrefix(alg, "RS"):
		k, ok := key.(*rsa.PublicKey)
		if !ok {
			return errors.New("the key is not an RSA key")
		}
		return rsa.VerifyPKCS1v15(k, h, digest, sig)
	case strings.HasPrefix(alg, "PS"):
		k, ok := key.(*rsa.PublicKey)
		if !ok {
			return errors.New("the key is not an RSA key")
		}
		return rsa.VerifyPSS(k, h, digest, sig, nil)
	case strings.HasPrefix(alg, "ES"):
		k, ok := key.(*ecdsa.PublicKey)
		if !ok || len(sig)%2 != 0 {
			return errors.New("the key is not an EC key, or the signature is malformed")
		}
		r := new(big.Int).SetBytes(sig[:len(sig)/2])
		s := new(big.Int).SetBytes(sig[len(sig)/2:])
		if !ecdsa.Verify(k, digest, r, s) {
			return errors.New("invalid signature")
		}
		return nil
	}
	return fmt.Errorf("unsupported JWS algorithm %q", alg)
}
