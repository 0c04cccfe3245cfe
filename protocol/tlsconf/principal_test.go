package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"
)

// certWithSubject makes a self-signed certificate whose subject is rdns
// (outermost first), each attribute's value encoded as given.
func certWithSubject(t *testing.T, rdns ...rawRDNSET) *x509.Certificate {
	t.Helper()
	raw, err := asn1.Marshal(rdns)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), RawSubject: raw, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func atv(oid asn1.ObjectIdentifier, tag int, value string) rawATV {
	v := asn1.RawValue{Class: asn1.ClassUniversal, Tag: tag, Bytes: []byte(value)}
	full, err := asn1.Marshal(v)
	if err != nil {
		panic(err)
	}
	v.FullBytes = full
	return rawATV{Type: oid, Value: v}
}

var (
	oidCN    = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidO     = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidEmail = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
)

// Subjects are written as Java's X500Principal.getName() writes them
// (checked against JDK 17), so ACLs, super.users and mapping rules written
// for Kafka match: = and # escaped anywhere, every leading and trailing
// space escaped, and an attribute without an RFC 2253 keyword as #hex of
// its value as the certificate encodes it (an IA5String stays one).
func TestSubjectNameAsJava(t *testing.T) {
	for _, c := range []struct {
		rdns []rawRDNSET
		want string
	}{
		{[]rawRDNSET{{atv(oidCN, asn1.TagUTF8String, "x=y#z")}}, `CN=x\=y\#z`},
		{[]rawRDNSET{{atv(oidCN, asn1.TagUTF8String, "  two  ")}}, `CN=\ \ two\ \ `},
		{[]rawRDNSET{{atv(oidCN, asn1.TagPrintableString, "mail")}, {atv(oidEmail, asn1.TagIA5String, "m@x.org")}},
			`1.2.840.113549.1.9.1=#16076d40782e6f7267,CN=mail`},
		{[]rawRDNSET{{atv(oidO, asn1.TagUTF8String, "Acme, Inc.")}, {atv(oidCN, asn1.TagUTF8String, "alice")}}, `CN=alice,O=Acme\, Inc.`},
		{[]rawRDNSET{{atv(oidCN, asn1.TagUTF8String, "a"), atv(oidO, asn1.TagUTF8String, "b+c")}}, `CN=a+O=b\+c`},
	} {
		if got := SubjectName(certWithSubject(t, c.rdns...)); got != c.want {
			t.Errorf("subject %+v written %q, want %q", c.rdns, got, c.want)
		}
	}
}
