package tlsconf

// Java KeyStores (JKS), the format of Kafka's default ssl.keystore.type
// and ssl.truststore.type, as Sun's JavaKeyStore writes them:
//
//	magic 0xFEEDFEED, version (1 or 2), entry count, then per entry:
//	  tag 1 (private key): alias, date, the protected key, its chain
//	  tag 2 (trusted certificate): alias, date, the certificate
//	then a SHA-1 of (password as UTF-16BE, "Mighty Aphrodite", all before)
//
// An alias is a length-prefixed (modified) UTF-8 string; a certificate is
// (version 2: its type as such a string, then) a length-prefixed DER
// encoding. A protected key is an EncryptedPrivateKeyInfo of Sun's key
// protector (OID 1.3.6.1.4.1.42.2.17.1.1): a 20-byte salt, the PKCS#8 key
// XORed with a stream of chained SHA-1 digests of the password and the
// salt, and a SHA-1 of the password and the plain key that checks it.
// JCEKS stores (magic 0xCECECECE) and secret key entries are refused.

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"
)

const (
	jksMagic   = 0xFEEDFEED
	jceksMagic = 0xCECECECE
)

// jksKeyProtector is the OID of Sun's JKS key protection.
var jksKeyProtector = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 42, 2, 17, 1, 1}

// isJKS reports whether data is a Java KeyStore (magic 0xFEEDFEED).
func isJKS(data []byte) bool {
	return len(data) >= 4 && binary.BigEndian.Uint32(data) == jksMagic
}

func isJCEKS(data []byte) bool {
	return len(data) >= 4 && binary.BigEndian.Uint32(data) == jceksMagic
}

// jksStore is what a JKS file holds.
type jksStore struct {
	keys    []jksKey            // private key entries, in file order
	trusted []*x509.Certificate // trusted certificate entries
}

type jksKey struct {
	alias     string
	protected []byte   // the EncryptedPrivateKeyInfo
	chain     [][]byte // DER, the key's certificate first
}

// jksPassword is a password as JKS hashes it: each UTF-16 unit, big-endian.
func jksPassword(password string) []byte {
	var out []byte
	for _, u := range utf16.Encode([]rune(password)) {
		out = append(out, byte(u>>8), byte(u))
	}
	return out
}

// jksReader reads a JKS file's fields, remembering the first error.
type jksReader struct {
	b   []byte
	err error
}

func (r *jksReader) next(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = errors.New("truncated JKS store")
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *jksReader) u16() int {
	b := r.next(2)
	if b == nil {
		return 0
	}
	return int(binary.BigEndian.Uint16(b))
}

func (r *jksReader) u32() int {
	b := r.next(4)
	if b == nil {
		return 0
	}
	return int(int32(binary.BigEndian.Uint32(b)))
}

func (r *jksReader) utf() string { return string(r.next(r.u16())) }

func (r *jksReader) cert(version int) []byte {
	if version == 2 {
		if t := r.utf(); r.err == nil && t != "X.509" {
			r.err = fmt.Errorf("certificate type %q is not supported", t)
		}
	}
	return r.next(r.u32())
}

// decodeJKS parses a JKS store, checking its integrity with password (as
// Java does, not when the password is empty: a truststore may be read
// without one).
func decodeJKS(data []byte, password string) (*jksStore, error) {
	if isJCEKS(data) {
		return nil, errors.New("a JCEKS store is not supported; convert it to PKCS12 (keytool -importkeystore -deststoretype PKCS12)")
	}
	if !isJKS(data) || len(data) < 12+sha1.Size {
		return nil, errors.New("not a JKS store")
	}
	body, sum := data[:len(data)-sha1.Size], data[len(data)-sha1.Size:]
	if password != "" {
		h := sha1.New()
		h.Write(jksPassword(password))
		h.Write([]byte("Mighty Aphrodite"))
		h.Write(body)
		if !bytes.Equal(h.Sum(nil), sum) {
			return nil, errors.New("Keystore was tampered with, or password was incorrect")
		}
	}
	r := &jksReader{b: body[4:]}
	version := r.u32()
	if r.err == nil && version != 1 && version != 2 {
		return nil, fmt.Errorf("JKS version %d is not supported", version)
	}
	count := r.u32()
	st := &jksStore{}
	for i := 0; i < count && r.err == nil; i++ {
		tag := r.u32()
		alias := r.utf()
		r.next(8) // the entry's date
		switch tag {
		case 1:
			k := jksKey{alias: alias, protected: r.next(r.u32())}
			n := r.u32()
			for j := 0; j < n && r.err == nil; j++ {
				k.chain = append(k.chain, r.cert(version))
			}
			st.keys = append(st.keys, k)
		case 2:
			der := r.cert(version)
			if r.err == nil {
				c, err := x509.ParseCertificate(der)
				if err != nil {
					return nil, fmt.Errorf("trusted certificate %q: %w", alias, err)
				}
				st.trusted = append(st.trusted, c)
			}
		default:
			if r.err == nil {
				return nil, fmt.Errorf("entry %q: JKS entry type %d is not supported", alias, tag)
			}
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return st, nil
}

// privateKey recovers a key entry's PKCS#8 key with password.
func (k jksKey) privateKey(password string) (crypto.PrivateKey, error) {
	var info struct {
		Algo struct {
			Algorithm  asn1.ObjectIdentifier
			Parameters asn1.RawValue `asn1:"optional"`
		}
		Data []byte
	}
	if _, err := asn1.Unmarshal(k.protected, &info); err != nil {
		return nil, fmt.Errorf("key %q: %w", k.alias, err)
	}
	if !info.Algo.Algorithm.Equal(jksKeyProtector) {
		return nil, fmt.Errorf("key %q: protection %v is not supported", k.alias, info.Algo.Algorithm)
	}
	d := info.Data
	if len(d) < 2*sha1.Size {
		return nil, fmt.Errorf("key %q: protected key too short", k.alias)
	}
	salt, enc, check := d[:sha1.Size], d[sha1.Size:len(d)-sha1.Size], d[len(d)-sha1.Size:]
	pw := jksPassword(password)
	plain := make([]byte, len(enc))
	digest := salt
	for off := 0; off < len(enc); off += sha1.Size {
		h := sha1.New()
		h.Write(pw)
		h.Write(digest)
		digest = h.Sum(nil)
		for i := 0; i < sha1.Size && off+i < len(enc); i++ {
			plain[off+i] = enc[off+i] ^ digest[i]
		}
	}
	h := sha1.New()
	h.Write(pw)
	h.Write(plain)
	if !bytes.Equal(h.Sum(nil), check) {
		return nil, fmt.Errorf("key %q: Cannot recover key (check ssl.key.password)", k.alias)
	}
	key, err := x509.ParsePKCS8PrivateKey(plain)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", k.alias, err)
	}
	return key, nil
}
