package config

// Security settings per listener, resolved as Kafka resolves them:
//
//   - listener.security.protocol.map gives each listener name its protocol
//     (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL); a listener missing from
//     it stops start-up.
//   - The inter-broker listener is inter.broker.listener.name, else the
//     listener named as security.inter.broker.protocol (default
//     PLAINTEXT); only one of the two may be set, and it must be an
//     advertised listener.
//   - A key K of a listener L is listener.name.<l>.K (l lower-cased) if
//     set, else K (Kafka's valuesWithPrefixOverride). A SASL_SSL listener
//     reads ssl.client.auth only with its prefix, as Kafka does.
//   - A mechanism M's JAAS config is listener.name.<l>.<m>.sasl.jaas.config
//     (m lower-cased); an unprefixed sasl.jaas.config is ignored by
//     brokers, as in Kafka. connections.max.reauth.ms and
//     sasl.server.callback.handler.class may be set per mechanism the same
//     way.
//
// What Gregor cannot honour stops start-up with a message naming the key:
// a mechanism other than PLAIN, SCRAM-SHA-256/512 and OAUTHBEARER, a
// missing keystore or JAAS config, Java classes (login modules
// other than Kafka's, callback handlers other than the OAuth validator,
// SSL engine factories, principal builders) and an authorizer other than
// Kafka's two ACL authorizers (package acl).

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gregor/broker/acl"
	"gregor/protocol/sasl"
	"gregor/protocol/tlsconf"
)

var securityProtocols = []string{"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}

const (
	defaultPrincipalBuilder = "org.apache.kafka.common.security.authenticator.DefaultKafkaPrincipalBuilder"
	listenerPrefix          = "listener.name."
	// OAuthValidatorClass is the server callback handler that checks
	// signed OAUTHBEARER tokens (its older name is accepted too).
	OAuthValidatorClass    = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
	oauthValidatorClassOld = "org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerValidatorCallbackHandler"
)

// unsupportedKeys are Kafka keys that load Java code or providers; set,
// they stop start-up (a listener-prefixed one too).
var unsupportedKeys = map[string]string{
	"ssl.engine.factory.class":             "a Java SSL engine factory cannot be loaded",
	"ssl.provider":                         "Java security providers do not apply",
	"security.providers":                   "Java security providers do not apply",
	"sasl.login.class":                     "a Java login class cannot be loaded",
	"sasl.login.callback.handler.class":    "a Java login callback handler cannot be loaded",
	"sasl.client.callback.handler.class":   "a Java client callback handler cannot be loaded",
	"ssl.keystore.certificate.chain.class": "a Java class cannot be loaded",
}

// mechanismKeys may be set per listener and mechanism.
var mechanismKeys = []string{"sasl.jaas.config", "connections.max.reauth.ms", "sasl.server.callback.handler.class"}

func protocolMap(v any) error {
	_, err := parseProtocolMap(v.(string))
	return err
}

func parseProtocolMap(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, e := range splitList(s) {
		name, proto, ok := strings.Cut(e, ":")
		// Both sides are case-insensitive, as Kafka reads them
		// (ListenerName.normalised, SecurityProtocol.forName).
		name, proto = strings.ToUpper(strings.TrimSpace(name)), strings.ToUpper(strings.TrimSpace(proto))
		if !ok || name == "" {
			return nil, fmt.Errorf("%q is not LISTENER_NAME:SECURITY_PROTOCOL", e)
		}
		if !slices.Contains(securityProtocols, proto) {
			return nil, fmt.Errorf("%q: unknown security protocol %s (one of %s)", e, proto, strings.Join(securityProtocols, ", "))
		}
		out[name] = proto
	}
	return out, nil
}

func principalRules(v any) error {
	_, err := tlsconf.ParseMapper(v.(string))
	return err
}

// splitListenerKey splits listener.name.<l>.<rest>.
func splitListenerKey(k string) (listener, rest string, ok bool) {
	s, ok := strings.CutPrefix(k, listenerPrefix)
	if !ok {
		return "", "", false
	}
	listener, rest, ok = strings.Cut(s, ".")
	return listener, rest, ok && listener != "" && rest != ""
}

// listenerKeyRow is the row a listener-prefixed key's value is checked
// by, nil if it is not a key a listener may override.
func listenerKeyRow(rest string) *Key {
	if k := keys.broker[rest]; k != nil {
		return k
	}
	if _, key, ok := strings.Cut(rest, "."); ok && slices.Contains(mechanismKeys, key) {
		return keys.broker[key]
	}
	return nil
}

func knownListenerKey(k string) bool {
	_, rest, ok := splitListenerKey(k)
	return ok && listenerKeyRow(rest) != nil
}

func listenerPrefixOf(listener string) string {
	return listenerPrefix + strings.ToLower(listener) + "."
}

// value is a key's static value or its default ("" for none).
func (c *Config) value(key string) (string, bool) {
	if v, ok := c.Values[key]; ok {
		return strings.TrimSpace(v), true
	}
	if k := keys.broker[key]; k != nil && !k.NoDefault {
		return k.Default, false
	}
	return "", false
}

// ListenerValue is key's value for a listener: listener.name.<l>.key if
// set (for a keystore or truststore key, this broker's dynamic config
// first), else key's own.
func (c *Config) ListenerValue(listener, key string) string {
	if v, ok := c.Dynamic.PerBroker[listenerPrefixOf(listener)+key]; ok && listenerOnlyKeys[key] {
		return strings.TrimSpace(v)
	}
	if v, ok := c.Values[listenerPrefixOf(listener)+key]; ok {
		return strings.TrimSpace(v)
	}
	if key == "ssl.client.auth" && c.ListenerProtocols[listener] == "SASL_SSL" {
		return "none"
	}
	v, _ := c.value(key)
	return v
}

// ListenerMaxConnections is each listener's own bound on its open
// connections (listener.name.<l>.max.connections): this broker's dynamic
// config, else the cluster default, else server.properties. Listeners
// without one are not named.
func (c *Config) ListenerMaxConnections() map[string]int {
	return c.listenerInts("max.connections")
}

// ListenerConnectionCreationRates is each listener's own
// max.connection.creation.rate, found as ListenerMaxConnections' bounds.
func (c *Config) ListenerConnectionCreationRates() map[string]int {
	return c.listenerInts("max.connection.creation.rate")
}

// listenerInts is each listener's own integer value of a key.
func (c *Config) listenerInts(name string) map[string]int {
	out := make(map[string]int)
	for _, l := range c.Listeners {
		key := listenerPrefixOf(l.Name) + name
		for _, m := range []map[string]string{c.Dynamic.PerBroker, c.Dynamic.Defaults, c.Values} {
			if v, ok := m[key]; ok {
				if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
					out[l.Name] = n
				}
				break
			}
		}
	}
	return out
}

// ListenerMechanismValue is listener.name.<l>.<mechanism>.key, if set.
func (c *Config) ListenerMechanismValue(listener, mechanism, key string) (string, bool) {
	v, ok := c.Values[listenerPrefixOf(listener)+strings.ToLower(mechanism)+"."+key]
	return v, ok
}

// ListenerMechanisms are the SASL mechanisms a listener enables.
func (c *Config) ListenerMechanisms(listener string) []string {
	return splitList(c.ListenerValue(listener, "sasl.enabled.mechanisms"))
}

// ListenerTLS is a listener's ssl.* settings.
func (c *Config) ListenerTLS(listener string) tlsconf.Config {
	v := func(k string) string { return c.ListenerValue(listener, k) }
	return tlsconf.Config{
		KeystoreType: v("ssl.keystore.type"), KeystoreLocation: v("ssl.keystore.location"),
		KeystorePassword: v("ssl.keystore.password"), KeyPassword: v("ssl.key.password"),
		KeystoreCertChain: v("ssl.keystore.certificate.chain"), KeystoreKey: v("ssl.keystore.key"),
		TruststoreType: v("ssl.truststore.type"), TruststoreLocation: v("ssl.truststore.location"),
		TruststorePassword: v("ssl.truststore.password"), TruststoreCertificates: v("ssl.truststore.certificates"),
		ClientAuth: v("ssl.client.auth"), EnabledProtocols: splitList(v("ssl.enabled.protocols")),
		CipherSuites: splitList(v("ssl.cipher.suites")), EndpointIdentification: v("ssl.endpoint.identification.algorithm"),
	}
}

// ListenerJAAS is the JAAS entry of a listener's mechanism.
func (c *Config) ListenerJAAS(listener, mechanism string) (sasl.JAASEntry, error) {
	key := listenerPrefixOf(listener) + strings.ToLower(mechanism) + ".sasl.jaas.config"
	raw, ok := c.Values[key]
	if !ok {
		return sasl.JAASEntry{}, fmt.Errorf("%s: not set; a broker needs a JAAS config for each mechanism of each SASL listener (an unprefixed sasl.jaas.config is ignored, as by Kafka)", key)
	}
	entries, err := sasl.ParseJAAS(raw)
	if err != nil {
		return sasl.JAASEntry{}, fmt.Errorf("%s: %v", key, err)
	}
	if len(entries) != 1 {
		return sasl.JAASEntry{}, fmt.Errorf("%s: JAAS config property contains %d login modules, should be 1 module", key, len(entries))
	}
	if want := sasl.LoginModuleFor(mechanism); entries[0].LoginModule != want {
		return sasl.JAASEntry{}, fmt.Errorf("%s: login module %s is not supported for %s (use %s)", key, entries[0].LoginModule, mechanism, want)
	}
	return entries[0], nil
}

// IsSASL reports whether a protocol is a SASL one; IsTLS a TLS one.
func IsSASL(protocol string) bool { return protocol == "SASL_PLAINTEXT" || protocol == "SASL_SSL" }
func IsTLS(protocol string) bool  { return protocol == "SSL" || protocol == "SASL_SSL" }

// deriveSecurity resolves listener protocols and the inter-broker
// listener and checks that every listener's security can be honoured.
func (c *Config) deriveSecurity() []error {
	var errs []error
	pm, err := parseProtocolMap(c.ListenerSecurityProtocolMap)
	if err != nil {
		return nil // reported by the key's validator
	}
	c.ListenerProtocols = map[string]string{}
	for _, l := range c.Listeners {
		p, ok := pm[l.Name]
		if !ok {
			errs = append(errs, fmt.Errorf("listener.security.protocol.map: No security protocol defined for listener %s", l.Name))
			continue
		}
		c.ListenerProtocols[l.Name] = p
	}
	_, sibpSet := c.Values["security.inter.broker.protocol"]
	switch {
	case c.InterBrokerListenerName != "" && sibpSet:
		errs = append(errs, errors.New("inter.broker.listener.name and security.inter.broker.protocol: Only one of inter.broker.listener.name and security.inter.broker.protocol should be set."))
	case c.InterBrokerListenerName != "":
		c.InterBrokerListener = strings.ToUpper(c.InterBrokerListenerName)
	default:
		c.InterBrokerListener = c.SecurityInterBrokerProtocol
	}
	if _, ok := c.Advertised(c.InterBrokerListener); !ok && c.InterBrokerListener != "" {
		var names []string
		for _, a := range c.AdvertisedListeners {
			names = append(names, a.Name)
		}
		key := "security.inter.broker.protocol"
		if c.InterBrokerListenerName != "" {
			key = "inter.broker.listener.name"
		}
		errs = append(errs, fmt.Errorf("%s: inter.broker.listener.name must be a listener name defined in advertised.listeners. The valid options based on currently configured listeners are %s", key, strings.Join(names, ",")))
	}
	if v, _ := c.value("principal.builder.class"); v != defaultPrincipalBuilder {
		errs = append(errs, fmt.Errorf("principal.builder.class: %s: only %s is supported", v, defaultPrincipalBuilder))
	}
	errs = append(errs, c.checkSecurityKeys()...)
	for _, l := range c.Listeners {
		errs = append(errs, c.checkListener(l.Name)...)
	}
	return errs
}

// checkSecurityKeys refuses the keys Gregor cannot honour and checks
// listener-prefixed values by their rows.
func (c *Config) checkSecurityKeys() []error {
	var errs []error
	for _, k := range sortedKeys(c.Values) {
		base := k
		if _, rest, ok := splitListenerKey(k); ok {
			base = rest
			if row := listenerKeyRow(rest); row != nil {
				if _, err := row.parse(c.Values[k]); err != nil {
					errs = append(errs, invalid(row, k, c.Values[k], err))
				}
			}
		}
		if why, ok := unsupportedKeys[base]; ok {
			errs = append(errs, fmt.Errorf("%s: not supported: %s", k, why))
		}
	}
	if _, ok := c.Values["sasl.server.callback.handler.class"]; ok {
		errs = append(errs, errors.New("sasl.server.callback.handler.class: set it per listener and mechanism (listener.name.<listener>.oauthbearer.sasl.server.callback.handler.class), as Kafka reads it"))
	}
	return errs
}

// checkListener checks one listener's TLS and SASL settings without
// reading files (start-up reads them and reports what fails).
func (c *Config) checkListener(name string) []error {
	proto := c.ListenerProtocols[name]
	var errs []error
	prefix := listenerPrefixOf(name)
	if IsTLS(proto) {
		tc := c.ListenerTLS(name)
		if !tc.HasKeystore() {
			errs = append(errs, fmt.Errorf("ssl.keystore.location (or %sssl.keystore.location): listener %s is %s and needs a keystore", prefix, name, proto))
		}
		if err := tc.Validate(""); err != nil {
			errs = append(errs, fmt.Errorf("listener %s: %w", name, err))
		}
	}
	if !IsSASL(proto) {
		return errs
	}
	mechs := c.ListenerMechanisms(name)
	if len(mechs) == 0 {
		errs = append(errs, fmt.Errorf("sasl.enabled.mechanisms: listener %s is %s and enables no mechanism", name, proto))
	}
	for _, m := range mechs {
		if !slices.Contains(sasl.Supported, m) {
			errs = append(errs, fmt.Errorf("sasl.enabled.mechanisms: %s on listener %s is not supported (supported: %s)", m, name, strings.Join(sasl.Supported, ", ")))
			continue
		}
		jaas, err := c.ListenerJAAS(name, m)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if m == sasl.OAuthBearer {
			errs = append(errs, c.checkOAuth(name, jaas)...)
		} else if h, ok := c.ListenerMechanismValue(name, m, "sasl.server.callback.handler.class"); ok {
			errs = append(errs, fmt.Errorf("%s%s.sasl.server.callback.handler.class: %s is not supported", prefix, strings.ToLower(m), h))
		}
	}
	if name == c.InterBrokerListener {
		m := c.SASLMechanismInterBroker
		switch {
		case !slices.Contains(mechs, m):
			errs = append(errs, fmt.Errorf("sasl.mechanism.inter.broker.protocol: %s is not enabled on the inter-broker listener %s (sasl.enabled.mechanisms: %s)", m, name, strings.Join(mechs, ",")))
		case m == sasl.OAuthBearer:
			errs = append(errs, c.checkInterBrokerOAuth(name)...)
		default:
			if jaas, err := c.ListenerJAAS(name, m); err == nil && (jaas.Options["username"] == "" || jaas.Options["password"] == "") {
				errs = append(errs, fmt.Errorf("%s%s.sasl.jaas.config: the inter-broker listener's JAAS config needs username and password options for the broker's own connections", prefix, strings.ToLower(m)))
			}
		}
	}
	return errs
}

func (c *Config) checkOAuth(listener string, jaas sasl.JAASEntry) []error {
	prefix := listenerPrefixOf(listener) + "oauthbearer."
	h, set := c.ListenerMechanismValue(listener, sasl.OAuthBearer, "sasl.server.callback.handler.class")
	h = strings.TrimSpace(h)
	switch {
	case !set:
		if _, err := sasl.NewUnsecured(jaas.Options); err != nil {
			return []error{fmt.Errorf("%ssasl.jaas.config: %v", prefix, err)}
		}
	case h == OAuthValidatorClass || h == oauthValidatorClassOld:
		u := c.ListenerValue(listener, "sasl.oauthbearer.jwks.endpoint.url")
		if !strings.HasPrefix(u, "file:") {
			return []error{fmt.Errorf("sasl.oauthbearer.jwks.endpoint.url: %q: only a file: URL of a JWK set is supported for %s", u, h)}
		}
	default:
		return []error{fmt.Errorf("%ssasl.server.callback.handler.class: %s is not supported (the default unsecured validator, or %s)", prefix, h, OAuthValidatorClass)}
	}
	return nil
}

// checkInterBrokerOAuth checks that a broker can log in with OAUTHBEARER
// on the inter-broker listener as Kafka's default login callback handler
// (OAuthBearerUnsecuredLoginCallbackHandler) does: an unsecured token for
// the unsecuredLoginStringClaim_sub of the listener's JAAS config. Such a
// token passes only the default (unsecured) validator; a listener checking
// signed tokens would need Kafka's OAuthBearerLoginCallbackHandler fetching
// them from a token endpoint, which Gregor does not have.
func (c *Config) checkInterBrokerOAuth(listener string) []error {
	prefix := listenerPrefixOf(listener) + "oauthbearer."
	jaas, err := c.ListenerJAAS(listener, sasl.OAuthBearer)
	if err != nil {
		return nil // reported with the listener's mechanisms
	}
	if _, err := sasl.NewClient(sasl.OAuthBearer, jaas.Options); err != nil {
		return []error{fmt.Errorf("%ssasl.jaas.config: %v (the broker's own token, as Kafka's unsecured login callback handler makes it)", prefix, err)}
	}
	if _, signed := c.ListenerMechanismValue(listener, sasl.OAuthBearer, "sasl.server.callback.handler.class"); signed {
		return []error{fmt.Errorf("sasl.mechanism.inter.broker.protocol: OAUTHBEARER on listener %s, which checks signed tokens (%ssasl.server.callback.handler.class): brokers log in with unsecured tokens only; fetching signed ones (sasl.login.callback.handler.class, sasl.oauthbearer.token.endpoint.url) is not supported", listener, prefix)}
	}
	return nil
}

// Authorizer is the authorizer's configuration; ok is false when
// authorizer.class.name is empty (no authorizer: everything is allowed).
func (c *Config) Authorizer() (cfg acl.Config, ok bool) {
	if c.AuthorizerClassName == "" {
		return acl.Config{}, false
	}
	supers, _ := acl.ParsePrincipals(c.SuperUsers) // validated on load
	return acl.Config{SuperUsers: supers, AllowIfNoACL: c.AllowEveryoneIfNoACLFound}, true
}

// InterBrokerPrincipal is the principal this broker presents to the other
// brokers, when the configuration tells it: User:ANONYMOUS on a PLAINTEXT
// inter-broker listener, User:<username> of the inter-broker mechanism's
// JAAS config for PLAIN and SCRAM, User:<unsecuredLoginStringClaim_sub>
// for OAUTHBEARER (the subject of the broker's unsecured token). ok is
// false when it depends on a certificate.
func (c *Config) InterBrokerPrincipal() (principal string, ok bool) {
	l := c.InterBrokerListener
	switch c.ListenerProtocols[l] {
	case "PLAINTEXT":
		return "User:ANONYMOUS", true
	case "SASL_PLAINTEXT", "SASL_SSL":
		m := c.SASLMechanismInterBroker
		jaas, err := c.ListenerJAAS(l, m)
		if err != nil {
			return "", false
		}
		user := jaas.Options["username"]
		switch m {
		case sasl.OAuthBearer:
			user = jaas.Options["unsecuredLoginStringClaim_sub"]
		case sasl.Plain, sasl.ScramSHA256, sasl.ScramSHA512:
		default:
			return "", false
		}
		if user == "" {
			return "", false
		}
		return "User:" + user, true
	}
	return "", false
}
