package sasl

// OAUTHBEARER (RFC 7628) as Kafka's OAuthBearerSaslServer serves it. A
// token that fails validation is answered with the JSON error challenge
// {"status":"invalid_token"}; the client acknowledges it with %x01 and
// the exchange fails with that JSON as the message (Kafka's flow), so
// the client sees SASL_AUTHENTICATION_FAILED with "invalid_token" in it.

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

var (
	oauthInitialRE = regexp.MustCompile(`^n,(?:a=(?P<authzid>` + reSaslName + `))?,\x01(?P<kv>(?:[A-Za-z]+=[\x21-\x7E \t\r\n]+\x01)*)\x01$`)
	oauthAuthRE    = regexp.MustCompile(`^(?P<scheme>\w+) +(?P<token>[-_.a-zA-Z0-9]+)$`)
)

// TokenValidator checks a bearer token and returns its principal and
// expiry, or an error (always reported to the client as invalid_token,
// insufficient_scope for a *ScopeError).
type TokenValidator interface {
	Validate(token string, now time.Time) (principal string, expiry time.Time, err error)
}

// ScopeError is a token lacking a required scope.
type ScopeError struct{ Scope string }

func (e *ScopeError) Error() string { return "the token lacks the required scope " + e.Scope }

// OAuthMechanism is OAUTHBEARER with a token validator.
type OAuthMechanism struct {
	v   TokenValidator
	now func() time.Time
}

// NewOAuthBearer returns OAUTHBEARER validating tokens with v.
func NewOAuthBearer(v TokenValidator) *OAuthMechanism {
	return &OAuthMechanism{v: v, now: time.Now}
}

func (m *OAuthMechanism) Name() string      { return OAuthBearer }
func (m *OAuthMechanism) NewServer() Server { return &oauthServer{m: m} }

type oauthServer struct {
	m        *OAuthMechanism
	out      Outcome
	errorMsg string
	done     bool
	// Reason is why the last token failed, for the broker's log.
	reason string
}

func (s *oauthServer) Attempted() string { return s.out.User }
func (s *oauthServer) Outcome() Outcome  { return s.out }

// FailureReason is why a token was refused, for logs (never sent).
func (s *oauthServer) FailureReason() string { return s.reason }

func (s *oauthServer) Step(token []byte) ([]byte, bool, error) {
	if s.done {
		return nil, false, errStepAfterDone
	}
	if len(token) == 1 && token[0] == 0x01 && s.errorMsg != "" {
		s.done = true
		return nil, false, &AuthError{Msg: s.errorMsg}
	}
	s.errorMsg = ""
	authzid, tok, err := parseOAuthInitial(token)
	if err != nil {
		s.done = true
		return nil, false, err
	}
	principal, expiry, err := s.m.v.Validate(tok, s.m.now())
	if err != nil {
		s.reason = err.Error()
		var se *ScopeError
		if errors.As(err, &se) {
			s.errorMsg = fmt.Sprintf(`{"status":"insufficient_scope", "scope":"%s"}`, se.Scope)
		} else {
			s.errorMsg = `{"status":"invalid_token"}`
		}
		return []byte(s.errorMsg), false, nil
	}
	s.out = Outcome{User: principal, Expiry: expiry}
	s.done = true
	if authzid != "" && authzid != principal {
		return nil, false, authErrorf("Authentication failed: Client requested an authorization id (%s) that is different from the token's principal name (%s)", authzid, principal)
	}
	return []byte{}, true, nil
}

// parseOAuthInitial parses the client's initial response as Kafka's
// OAuthBearerClientInitialResponse does.
func parseOAuthInitial(b []byte) (authzid, token string, err error) {
	if len(b) > MaxTokenSize {
		return "", "", errors.New("OAUTHBEARER client initial response too long")
	}
	m := oauthInitialRE.FindStringSubmatch(string(b))
	if m == nil {
		return "", "", errors.New("Invalid OAUTHBEARER client first message")
	}
	var auth string
	for _, kv := range strings.Split(m[2], "\x01") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == "auth" {
			auth = v
		}
	}
	if auth == "" {
		return "", "", errors.New("Invalid OAUTHBEARER client first message: 'auth' not specified")
	}
	am := oauthAuthRE.FindStringSubmatch(auth)
	if am == nil {
		return "", "", errors.New("Invalid OAUTHBEARER client first message: invalid 'auth' format")
	}
	if !strings.EqualFold(am[1], "bearer") {
		return "", "", fmt.Errorf("Invalid scheme in OAUTHBEARER client first message: %s", am[1])
	}
	a := m[1]
	if a != "" {
		if a, err = ScramUsername(a); err != nil {
			return "", "", err
		}
	}
	return a, am[2], nil
}

// OAuthClientToken is the initial response a client sends.
func OAuthClientToken(token string) []byte {
	return []byte("n,,\x01auth=Bearer " + token + "\x01\x01")
}

// Unsecured validates unsecured JWS tokens (alg "none") as Kafka's
// OAuthBearerUnsecuredValidatorCallbackHandler, with its JAAS options
// unsecuredValidatorPrincipalClaimName (default sub),
// unsecuredValidatorScopeClaimName (default scope),
// unsecuredValidatorRequiredScope and
// unsecuredValidatorAllowableClockSkewMs.
type Unsecured struct {
	PrincipalClaim string
	ScopeClaim     string
	RequiredScope  []string
	ClockSkew      time.Duration
}

// NewUnsecured reads the validator's JAAS options.
func NewUnsecured(options map[string]string) (*Unsecured, error) {
	u := &Unsecured{PrincipalClaim: "sub", ScopeClaim: "scope"}
	if v := strings.TrimSpace(options["unsecuredValidatorPrincipalClaimName"]); v != "" {
		u.PrincipalClaim = v
	}
	if v := strings.TrimSpace(options["unsecuredValidatorScopeClaimName"]); v != "" {
		u.ScopeClaim = v
	}
	u.RequiredScope = strings.Fields(options["unsecuredValidatorRequiredScope"])
	if v := strings.TrimSpace(options["unsecuredValidatorAllowableClockSkewMs"]); v != "" {
		var ms int
		if _, err := fmt.Sscan(v, &ms); err != nil || ms < 0 {
			return nil, fmt.Errorf("unsecuredValidatorAllowableClockSkewMs: %q must be a non-negative number of milliseconds", v)
		}
		u.ClockSkew = time.Duration(ms) * time.Millisecond
	}
	return u, nil
}

// Validate checks an unsecured JWS.
func (u *Unsecured) Validate(token string, now time.Time) (string, time.Time, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", time.Time{}, errors.New("unsecured JWS compact serialization must have 3 dot-separated parts")
	}
	header, err := decodeJSONPart(parts[0])
	if err != nil {
		return "", time.Time{}, err
	}
	if alg, _ := header["alg"].(string); alg != "none" {
		return "", time.Time{}, errors.New("Unsecured JWS must have 'none' for an algorithm")
	}
	if parts[2] != "" {
		return "", time.Time{}, errors.New("Unsecured JWS must not contain a digital signature")
	}
	claims, err := decodeJSONPart(parts[1])
	if err != nil {
		return "", time.Time{}, err
	}
	return checkClaims(claims, claimRules{principal: u.PrincipalClaim, scope: u.ScopeClaim, required: u.RequiredScope, skew: u.ClockSkew}, now)
}

func decodeJSONPart(s string) (map[string]any, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, errors.New("malformed base64url in JWS")
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return nil, errors.New("malformed JSON in JWS")
	}
	return m, nil
}

type claimRules struct {
	principal, scope string
	required         []string
	skew             time.Duration
	issuer           string
	audience         []string
	// requireIat refuses a token without an issued-at time, and
	// checkNbf one whose not-before time (nbf) is still ahead (signed
	// tokens, as jose4j checks them; the unsecured validator does
	// neither).
	requireIat, checkNbf bool
}

// numericDate reads a NumericDate claim (seconds, possibly fractional).
func numericDate(claims map[string]any, name string) (time.Time, bool, error) {
	v, ok := claims[name]
	if !ok {
		return time.Time{}, false, nil
	}
	f, ok := v.(float64)
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e15 {
		return time.Time{}, false, fmt.Errorf("the %s claim is not a number", name)
	}
	return time.UnixMilli(int64(f * 1000)), true, nil
}

// checkClaims applies Kafka's OAuthBearerValidationUtils checks.
func checkClaims(claims map[string]any, r claimRules, now time.Time) (string, time.Time, error) {
	principal, ok := claims[r.principal].(string)
	if !ok || strings.TrimSpace(principal) == "" {
		return "", time.Time{}, fmt.Errorf("the principal claim %s is missing or not a string", r.principal)
	}
	iat, hasIat, err := numericDate(claims, "iat")
	if err != nil {
		return "", time.Time{}, err
	}
	if !hasIat && r.requireIat {
		return "", time.Time{}, errors.New("the token has no issued-at time (iat)")
	}
	if hasIat && now.Add(r.skew).Before(iat) {
		return "", time.Time{}, errors.New("the token was issued in the future")
	}
	if r.checkNbf {
		nbf, hasNbf, err := numericDate(claims, "nbf")
		if err != nil {
			return "", time.Time{}, err
		}
		if hasNbf && now.Add(r.skew).Before(nbf) {
			return "", time.Time{}, fmt.Errorf("the token is not valid before %s", nbf.UTC().Format(time.RFC3339))
		}
	}
	exp, hasExp, err := numericDate(claims, "exp")
	if err != nil {
		return "", time.Time{}, err
	}
	if !hasExp {
		return "", time.Time{}, errors.New("the token has no expiration time (exp)")
	}
	if !now.Add(-r.skew).Before(exp) {
		return "", time.Time{}, fmt.Errorf("the token expired at %s", exp.UTC().Format(time.RFC3339))
	}
	if hasIat && !exp.After(iat) {
		return "", time.Time{}, errors.New("the token expires before it was issued")
	}
	if r.issuer != "" {
		if iss, _ := claims["iss"].(string); iss != r.issuer {
			return "", time.Time{}, fmt.Errorf("the issuer %q is not the expected one", iss)
		}
	}
	if len(r.audience) > 0 && !audienceMatches(claims["aud"], r.audience) {
		return "", time.Time{}, errors.New("the token's audience is not an expected one")
	}
	have := scopeOf(claims[r.scope])
	for _, want := range r.required {
		if !have[want] {
			// Kafka's failure scope is the required scope as its
			// List.toString writes it (OAuthBearerValidationUtils.validateScope).
			return "", time.Time{}, &ScopeError{Scope: "[" + strings.Join(r.required, ", ") + "]"}
		}
	}
	return principal, exp, nil
}

func scopeOf(v any) map[string]bool {
	out := map[string]bool{}
	switch s := v.(type) {
	case string:
		for _, f := range strings.Fields(s) {
			out[f] = true
		}
	case []any:
		for _, x := range s {
			if str, ok := x.(string); ok {
				out[str] = true
			}
		}
	}
	return out
}

func audienceMatches(v any, want []string) bool {
	var got []string
	switch a := v.(type) {
	case string:
		got = []string{a}
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok {
				got = append(got, s)
			}
		}
	}
	for _, g := range got {
		for _, w := range want {
			if g == w {
				return true
			}
		}
	}
	return false
}

// UnsecuredToken makes an unsecured JWS (as Kafka's
// OAuthBearerUnsecuredLoginCallbackHandler does for clients).
func UnsecuredToken(principal string, issued time.Time, lifetime time.Duration) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	claims := map[string]any{"sub": principal, "iat": float64(issued.UnixMilli()) / 1000, "exp": float64(issued.Add(lifetime).UnixMilli()) / 1000}
	return enc(map[string]string{"alg": "none"}) + "." + enc(claims) + "."
}
