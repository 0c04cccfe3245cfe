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
