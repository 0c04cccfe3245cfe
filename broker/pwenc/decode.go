package pwenc

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// stored is a parsed stored value.
type stored struct {
	keyFactory, cipher          string
	keyLength, iterations, plen int
	salt, iv, encrypted         []byte
}

// Decode decrypts a stored value with the parameters stored in it. Every
// failure wraps ErrDecode; none panics.
func (e *Encoder) Decode(value string) (string, error) {
	s, err := parseStored(value)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrDecode, err)
	}
	key, err := deriveKey(e.secret, s.keyFactory, s.salt, s.iterations, s.keyLength)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrDecode, err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrDecode, err)
	}
	plain := make([]byte, len(s.encrypted))
	cipher.NewCBCDecrypter(block, s.iv).CryptBlocks(plain, s.encrypted)
	plain, ok := unpad(plain)
	if !ok {
		// With the wrong secret the padding is almost always wrong.
		return "", fmt.Errorf("%w (wrong password.encoder.secret?)", ErrDecode)
	}
	password := string(plain)
	if utf16Len(password) != s.plen {
		return "", fmt.Errorf("%w, sanity check of length failed (wrong password.encoder.secret?)", ErrDecode)
	}
	return password, nil
}

// parseStored parses and checks a stored value as Kafka's
// Csv.parseCsvMap does: pairs split at commas (spaces around them
// dropped), each at its last colon.
func parseStored(value string) (stored, error) {
	m := map[string]string{}
	for _, kv := range strings.Split(value, ",") {
		i := strings.LastIndexByte(kv, ':')
		if i < 0 {
			return stored{}, fmt.Errorf("no ':' in %q", clip(kv))
		}
		m[strings.TrimSpace(kv[:i])] = strings.TrimSpace(kv[i+1:])
	}
	var s stored
	var err error
	s.keyFactory = m[fieldKeyFactory]
	if s.keyFactory == "" {
		s.keyFactory = DefaultKeyFactory
	}
	if s.cipher = m[fieldCipher]; s.cipher != DefaultCipher {
		return s, fmt.Errorf("cipher %q is not supported", clip(s.cipher))
	}
	for _, f := range []struct {
		name string
		to   *int
	}{{fieldKeyLength, &s.keyLength}, {fieldIterations, &s.iterations}, {fieldLength, &s.plen}} {
		if *f.to, err = strconv.Atoi(m[f.name]); err != nil {
			return s, fmt.Errorf("%s: %v", f.name, err)
		}
	}
	if s.iterations < 1 || s.iterations > MaxIterations {
		return s, fmt.Errorf("iterations %d out of range [1, %d]", s.iterations, MaxIterations)
	}
	for _, f := range []struct {
		name string
		to   *[]byte
	}{{fieldSalt, &s.salt}, {fieldIV, &s.iv}, {fieldEncrypted, &s.encrypted}} {
		if *f.to, err = decode64(m[f.name]); err != nil {
			return s, fmt.Errorf("%s: %v", f.name, err)
		}
	}
	return s, s.checkLengths()
}

// checkLengths refuses what AES-CBC cannot take.
func (s stored) checkLengths() error {
	switch {
	case len(s.salt) == 0:
		return fmt.Errorf("%s is empty", fieldSalt)
	case len(s.iv) != aes.BlockSize:
		return fmt.Errorf("%s is %d bytes, not %d", fieldIV, len(s.iv), aes.BlockSize)
	case len(s.encrypted) == 0 || len(s.encrypted)%aes.BlockSize != 0:
		return fmt.Errorf("%s is %d bytes, not a positive multiple of %d", fieldEncrypted, len(s.encrypted), aes.BlockSize)
	}
	return nil
}

// decode64 is Java's Base64.getDecoder: standard alphabet, padding
// optional.
func decode64(s string) ([]byte, error) {
	if strings.HasSuffix(s, "=") {
		return base64.StdEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// unpad removes PKCS#5 padding, checking all of it in constant time.
func unpad(b []byte) ([]byte, bool) {
	if len(b) == 0 {
		return nil, false
	}
	n := int(b[len(b)-1])
	if n == 0 || n > aes.BlockSize || n > len(b) {
		return nil, false
	}
	want := make([]byte, n)
	for i := range want {
		want[i] = byte(n)
	}
	if subtle.ConstantTimeCompare(b[len(b)-n:], want) != 1 {
		return nil, false
	}
	return b[:len(b)-n], true
}

// clip shortens what an error quotes of a stored value: never more than
// a few characters of what may be a secret's surroundings.
func clip(s string) string {
	if len(s) > 24 {
		return s[:24] + "..."
	}
	return s
}
