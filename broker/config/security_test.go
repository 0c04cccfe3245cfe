package config

import (
	"strings"
	"testing"
)

// Listener protocols, the inter-broker listener and per-listener values
// resolve as Kafka resolves them; secrets are described as null.
func TestListenerSecurity(t *testing.T) {
	c, err := Load(map[string]string{
		"listeners":                                     "INTERNAL://127.0.0.1:9092,EXTERNAL://127.0.0.1:9093",
		"listener.security.protocol.map":                "INTERNAL:SASL_PLAINTEXT,EXTERNAL:SSL",
		"inter.broker.listener.name":                    "internal",
		"sasl.enabled.mechanisms":                       "PLAIN",
		"sasl.mechanism.inter.broker.protocol":          "PLAIN",
		"listener.name.internal.plain.sasl.jaas.config": `org.apache.kafka.common.security.plain.PlainLoginModule required username="a" password="b" user_a="b";`,
		"ssl.keystore.location":                         "/ks.p12",
		"ssl.keystore.password":                         "s3cret",
		"listener.name.external.ssl.keystore.location":  "/external.p12",
		"listener.name.external.ssl.client.auth":        "required",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenerProtocols["INTERNAL"] != "SASL_PLAINTEXT" || c.ListenerProtocols["EXTERNAL"] != "SSL" || c.InterBrokerListener != "INTERNAL" {
		t.Fatalf("protocols %v inter-broker %s", c.ListenerProtocols, c.InterBrokerListener)
	}
	tc := c.ListenerTLS("EXTERNAL")
	if tc.KeystoreLocation != "/external.p12" || tc.KeystorePassword != "s3cret" || tc.ClientAuth != "required" {
		t.Fatalf("EXTERNAL TLS %+v", tc)
	}
	if len(c.Unknown) != 0 {
		t.Fatalf("listener-prefixed keys reported unknown: %v", c.Unknown)
	}
	for _, e := range c.BrokerEntries(true) {
		if (e.Name == "ssl.keystore.password" || e.Name == "sasl.jaas.config") && (e.Value != nil || !e.Sensitive) {
			t.Fatalf("%s described with a value", e.Name)
		}
	}
	for set, want := range map[string]string{
		"inter.broker.listener.name=INTERNAL security.inter.broker.protocol=SSL": "Only one of",
		"listener.name.internal.sasl.enabled.mechanisms=GSSAPI":                  "GSSAPI on listener INTERNAL is not supported",
		"listener.name.external.ssl.client.auth=maybe":                           "listener.name.external.ssl.client.auth",
		"authorizer.class.name=x":                                                "authorizer.class.name",
		"super.users=User:admin;bob":                                             "super.users",
	} {
		vals := map[string]string{
			"listeners":                      "INTERNAL://127.0.0.1:9092,EXTERNAL://127.0.0.1:9093",
			"listener.security.protocol.map": "INTERNAL:SASL_PLAINTEXT,EXTERNAL:SSL",
			"inter.broker.listener.name":     "INTERNAL",
			"sasl.enabled.mechanisms":        "PLAIN", "sasl.mechanism.inter.broker.protocol": "PLAIN",
			"listener.name.internal.plain.sasl.jaas.config": `org.apache.kafka.common.security.plain.PlainLoginModule required username="a" password="b";`,
			"ssl.keystore.location":                         "/ks.p12",
		}
		for _, kv := range strings.Fields(set) {
			k, v, _ := strings.Cut(kv, "=")
			vals[k] = v
		}
		_, err := Load(vals, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", set, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("a password in an error: %v", err)
		}
	}
}

// TestAuthorizerKeys: Kafka's two ACL authorizers are accepted, with
// super.users and allow.everyone.if.no.acl.found; without the class name
// there is no authorizer.
func TestAuthorizerKeys(t *testing.T) {
	for _, class := range []string{"kafka.security.authorizer.AclAuthorizer", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"} {
		c, err := Load(map[string]string{"authorizer.class.name": class, "super.users": " User:admin ; User:broker;", "allow.everyone.if.no.acl.found": "true"}, nil)
		if err != nil {
			t.Fatalf("%s: %v", class, err)
		}
		ac, ok := c.Authorizer()
		if !ok || !ac.AllowIfNoACL || strings.Join(ac.SuperUsers, ",") != "User:admin,User:broker" {
			t.Errorf("%s: %+v %v", class, ac, ok)
		}
		if len(c.Unknown) != 0 {
			t.Errorf("unknown keys %v", c.Unknown)
		}
	}
	c, err := Load(map[string]string{"super.users": "User:admin"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Authorizer(); ok {
		t.Error("an authorizer without authorizer.class.name")
	}
}

// TestInterBrokerPrincipal: who this broker is to the others, as far as
// the configuration says.
func TestInterBrokerPrincipal(t *testing.T) {
	c, err := Load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := c.InterBrokerPrincipal(); !ok || p != "User:ANONYMOUS" {
		t.Errorf("PLAINTEXT: %q %v", p, ok)
	}
	c, err = Load(map[string]string{
		"listeners": "SASL_PLAINTEXT://127.0.0.1:9092", "security.inter.broker.protocol": "SASL_PLAINTEXT",
		"sasl.enabled.mechanisms": "PLAIN", "sasl.mechanism.inter.broker.protocol": "PLAIN",
		"listener.name.sasl_plaintext.plain.sasl.jaas.config": `org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="b" user_broker="b";`,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := c.InterBrokerPrincipal(); !ok || p != "User:broker" {
		t.Errorf("SASL PLAIN: %q %v", p, ok)
	}
}

// A listener's keystore keys altered per broker are in force at once
// (ListenerTLS), described without their secrets and refused at the
// cluster level or unprefixed, as in Kafka; deleting them returns to the
// static value.
func TestDynamicListenerKeystore(t *testing.T) {
	c, err := Load(map[string]string{
		"listeners":                      "SSL://127.0.0.1:9093",
		"security.inter.broker.protocol": "SSL",
		"ssl.keystore.location":          "/old.p12",
		"ssl.keystore.password":          "old-secret",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	next := map[string]string{"listener.name.ssl.ssl.keystore.location": "/new.p12", "listener.name.ssl.ssl.keystore.password": "new-secret"}
	if err := c.CheckDynamic(true, next); err != nil {
		t.Fatal(err)
	}
	eff, errs := c.WithDynamic(Dynamic{PerBroker: next})
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	if tc := eff.ListenerTLS("SSL"); tc.KeystoreLocation != "/new.p12" || tc.KeystorePassword != "new-secret" {
		t.Fatalf("TLS in force %+v", tc)
	}
	if n := NoEffectKeys(next, true); len(n) != 0 {
		t.Fatalf("applied keys listed without effect: %v", n)
	}
	if e, ok := entry(eff.BrokerEntries(true), "listener.name.ssl.ssl.keystore.password"); !ok || e.Value != nil || !e.Sensitive || e.Source != SourceDynamicBroker {
		t.Fatalf("dynamic password described as %+v", e)
	}
	if err := c.CheckDynamic(false, next); err == nil || !strings.Contains(err.Error(), "broker id must be specified") {
		t.Fatalf("cluster-level keystore: %v", err)
	}
	if err := c.CheckDynamic(true, map[string]string{"ssl.keystore.location": "/x.p12"}); err == nil || !strings.Contains(err.Error(), "only per-listener") {
		t.Fatalf("unprefixed keystore: %v", err)
	}
	if err := c.CheckDynamic(true, map[string]string{"listener.name.ssl.ssl.keystore.type": "PEM", "listener.name.ssl.ssl.keystore.certificate.chain": "x"}); err == nil {
		t.Fatal("a PEM chain without its key accepted")
	}
	back, _ := c.WithDynamic(Dynamic{})
	if tc := back.ListenerTLS("SSL"); tc.KeystoreLocation != "/old.p12" {
		t.Fatalf("TLS after delete %+v", tc)
	}
}

// OAUTHBEARER between brokers: the broker's own unsecured token is for
// unsecuredLoginStringClaim_sub, which is its principal; without it, or on
// a listener that checks signed tokens, start-up is refused.
func TestInterBrokerOAuth(t *testing.T) {
	base := func(jaas string) map[string]string {
		return map[string]string{
			"listeners": "SASL_PLAINTEXT://127.0.0.1:9092", "security.inter.broker.protocol": "SASL_PLAINTEXT",
			"sasl.enabled.mechanisms": "OAUTHBEARER", "sasl.mechanism.inter.broker.protocol": "OAUTHBEARER",
			"listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config": jaas,
		}
	}
	const module = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required"
	c, err := Load(base(module+` unsecuredLoginStringClaim_sub="broker";`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := c.InterBrokerPrincipal(); !ok || p != "User:broker" {
		t.Errorf("OAUTHBEARER principal: %q %v", p, ok)
	}
	if _, err := Load(base(module+";"), nil); err == nil || !strings.Contains(err.Error(), "unsecuredLoginStringClaim_sub") {
		t.Errorf("no subject: %v", err)
	}
	signed := base(module + ` unsecuredLoginStringClaim_sub="broker";`)
	signed["listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class"] = OAuthValidatorClass
	signed["sasl.oauthbearer.jwks.endpoint.url"] = "file:///jwks.json"
	if _, err := Load(signed, nil); err == nil || !strings.Contains(err.Error(), "checks signed tokens") {
		t.Errorf("signed tokens between brokers: %v", err)
	}
}

// TestProtocolMapIsCaseInsensitive: listener.security.protocol.map takes
// a protocol in any case, as Kafka's SecurityProtocol.forName reads it.
func TestProtocolMapIsCaseInsensitive(t *testing.T) {
	c, err := Load(map[string]string{
		"listeners":                      "internal://127.0.0.1:9092,EXTERNAL://127.0.0.1:9093",
		"listener.security.protocol.map": "internal:plaintext,External:Ssl",
		"inter.broker.listener.name":     "INTERNAL",
		"ssl.keystore.location":          "/ks.p12",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenerProtocols["INTERNAL"] != "PLAINTEXT" || c.ListenerProtocols["EXTERNAL"] != "SSL" {
		t.Fatalf("protocols %v, want INTERNAL:PLAINTEXT and EXTERNAL:SSL", c.ListenerProtocols)
	}
}
