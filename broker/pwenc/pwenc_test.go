package pwenc

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func mustNew(t testing.TB, secret string) *Encoder {
	t.Helper()
	e, err := New(secret, DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestPasswordRoundTrip(t *testing.T) {
	e := mustNew(t, "gregor-secret")
	for _, pw := range []string{"a", "changeit", "exactly16bytes!!", "s3cret-ü🔑", strings.Repeat("x", 1000),
		`org.apache.kafka.common.security.plain.PlainLoginModule required username="a" password="b, c:d";`} {
		enc, err := e.Encode(pw)
		if err != nil {
			t.Fatal(err)
		}
		if len(pw) > 3 && strings.Contains(enc, pw) {
			t.Fatalf("encoded value holds the password: %s", enc)
		}
		got, err := e.Decode(enc)
		if err != nil || got != pw {
			t.Fatalf("Decode(Encode(%q)) = %q, %v", pw, got, err)
		}
	}
}

func TestPasswordEncodeFormat(t *testing.T) {
	e := mustNew(t, "gregor-secret")
	a, _ := e.Encode("pw")
	b, _ := e.Encode("pw")
	if a == b {
		t.Fatal("two encodings of one password are equal: salt or IV not fresh")
	}
	var names []string
	for _, kv := range strings.Split(a, ",") {
		names = append(names, kv[:strings.IndexByte(kv, ':')])
	}
	want := "initializationVector keyLength salt keyFactoryAlgorithm cipherAlgorithm iterations passwordLength encryptedPassword"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("fields %s, want Kafka's order %s", got, want)
	}
	for _, f := range []string{"keyLength:128", "keyFactoryAlgorithm:PBKDF2WithHmacSHA512", "cipherAlgorithm:AES/CBC/PKCS5Padding", "iterations:4096", "passwordLength:2"} {
		if !strings.Contains(a, f) {
			t.Fatalf("%s lacks %s", a, f)
		}
	}
}

// knownVector was made outside Go, from Kafka's algorithm: salt bytes
// 0..255, IV a0..af, key = PBKDF2-HMAC-SHA512("gregor-test-secret", salt,
// 4096, 16 bytes) (openssl kdf), then AES-128-CBC with PKCS#5 padding of
// the UTF-8 password (openssl enc). The password "s3cret-ü🔑" is 10 UTF-16
// units (Java's String.length), 13 bytes.
const knownVector = "initializationVector:oKGio6SlpqeoqaqrrK2urw==,keyLength:128," +
	"salt:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmqq6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+/w==," +
	"keyFactoryAlgorithm:PBKDF2WithHmacSHA512,cipherAlgorithm:AES/CBC/PKCS5Padding,iterations:4096,passwordLength:10," +
	"encryptedPassword:3p8BKWwSiSV/8x+8qzaR5w=="

func TestPasswordKnownVector(t *testing.T) {
	e := mustNew(t, "gregor-test-secret")
	got, err := e.Decode(knownVector)
	if err != nil || got != "s3cret-ü🔑" {
		t.Fatalf("Decode(known vector) = %q, %v", got, err)
	}
	// Fields in another order, with spaces around the commas, as Kafka's
	// parser takes them.
	parts := strings.Split(knownVector, ",")
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	if got, err := e.Decode(strings.Join(parts, " , ")); err != nil || got != "s3cret-ü🔑" {
		t.Fatalf("Decode(reordered known vector) = %q, %v", got, err)
	}
	salt := make([]byte, 256)
	for i := range salt {
		salt[i] = byte(i)
	}
	iv := []byte{0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf}
	enc, err := e.encodeWith("s3cret-ü🔑", salt, iv)
	if err != nil || enc != knownVector {
		t.Fatalf("encodeWith = %s, %v\nwant %s", enc, err, knownVector)
	}
}

func TestPasswordWrongSecret(t *testing.T) {
	enc, _ := mustNew(t, "right").Encode("changeit")
	for _, secret := range []string{"wrong", "righ", "right "} {
		got, err := mustNew(t, secret).Decode(enc)
		if !errors.Is(err, ErrDecode) || got != "" {
			t.Fatalf("secret %q: Decode = %q, %v; want ErrDecode", secret, got, err)
		}
	}
}

func TestPasswordMalformedRefused(t *testing.T) {
	e := mustNew(t, "gregor-test-secret")
	replace := func(old, new string) string { return strings.Replace(knownVector, old, new, 1) }
	for name, v := range map[string]string{
		"empty":            "",
		"clear text":       "changeit",
		"no colon":         "a,b",
		"gcm":              replace("AES/CBC/PKCS5Padding", "AES/GCM/NoPadding"),
		"key factory":      replace("PBKDF2WithHmacSHA512", "PBEWithMD5AndDES"),
		"key length":       replace("keyLength:128", "keyLength:100"),
		"key length text":  replace("keyLength:128", "keyLength:x"),
		"no iterations":    replace("iterations:4096,", ""),
		"huge iterations":  replace("iterations:4096", "iterations:2147483647"),
		"zero iterations":  replace("iterations:4096", "iterations:0"),
		"short iv":         replace("oKGio6SlpqeoqaqrrK2urw==", "oKGio6Slpqeo"),
		"bad base64":       replace("oKGio6SlpqeoqaqrrK2urw==", "!!!!"),
		"partial block":    replace("3p8BKWwSiSV/8x+8qzaR5w==", "3p8BKWwSiSV/8x+8qzaR"),
		"no ciphertext":    replace("encryptedPassword:3p8BKWwSiSV/8x+8qzaR5w==", "encryptedPassword:"),
		"length mismatch":  replace("passwordLength:10", "passwordLength:13"),
		"empty salt":       replace("salt:AAEC", "salt:,x:AAEC"),
		"flipped ciphered": replace("3p8BKWwSiSV/8x+8qzaR5w==", "4p8BKWwSiSV/8x+8qzaR5w=="),
	} {
		got, err := e.Decode(v)
		if !errors.Is(err, ErrDecode) || got != "" {
			t.Errorf("%s: Decode = %q, %v; want ErrDecode", name, got, err)
		}
	}
}

func TestPasswordEncoderParamsChecked(t *testing.T) {
	for _, p := range []Params{
		{Cipher: "AES/GCM/NoPadding", KeyLength: 128, Iterations: 4096},
		{KeyFactory: "PBEWithMD5AndDES", Cipher: DefaultCipher, KeyLength: 128, Iterations: 4096},
		{Cipher: DefaultCipher, KeyLength: 64, Iterations: 4096},
		{Cipher: DefaultCipher, KeyLength: 128, Iterations: 10},
	} {
		if _, err := New("s", p); err == nil || !strings.Contains(err.Error(), "password.encoder.") {
			t.Errorf("New(%+v) = %v, want an error naming the key", p, err)
		}
	}
	for _, p := range []Params{
		{Cipher: DefaultCipher, KeyLength: 256, Iterations: 1024},
		{KeyFactory: "PBKDF2WithHmacSHA1", Cipher: DefaultCipher, KeyLength: 192, Iterations: 2048},
		{KeyFactory: "PBKDF2WithHmacSHA256", Cipher: DefaultCipher, KeyLength: 128, Iterations: 4096},
	} {
		e, err := New("s", p)
		if err != nil {
			t.Fatalf("New(%+v): %v", p, err)
		}
		enc, _ := e.Encode("pw")
		// Decoding follows the stored parameters, not the encoder's.
		if got, err := mustNew(t, "s").Decode(enc); err != nil || got != "pw" {
			t.Fatalf("%+v: Decode = %q, %v", p, got, err)
		}
	}
	if _, err := New("", DefaultParams()); err == nil {
		t.Fatal("New with an empty secret succeeded")
	}
}

func TestPasswordUnpad(t *testing.T) {
	b := bytes.Repeat([]byte{16}, 16)
	if out, ok := unpad(b); !ok || len(out) != 0 {
		t.Fatalf("a full padding block: %v %v", out, ok)
	}
	b[3] = 15
	if _, ok := unpad(b); ok {
		t.Fatal("inconsistent padding accepted")
	}
}

func FuzzPasswordDecode(f *testing.F) {
	e := mustNew(f, "gregor-test-secret")
	f.Add(knownVector)
	f.Add("")
	f.Add("a:b,c:d")
	f.Add(strings.Replace(knownVector, "iterations:4096", "iterations:1", 1))
	f.Fuzz(func(t *testing.T, v string) {
		got, err := e.Decode(v)
		if err != nil && (got != "" || !errors.Is(err, ErrDecode)) {
			t.Fatalf("Decode failed with %q, %v", got, err)
		}
	})
}
