// Package pwenc encrypts dynamic broker passwords for ZooKeeper as Apache
// Kafka's EncryptingPasswordEncoder (server-common,
// org.apache.kafka.security) does, in its stored format, so that a Kafka
// broker given the same password.encoder.secret reads what Gregor wrote
// and the other way round.
//
// The stored value is a comma-separated map of name:value pairs, written
// in the order Kafka 3.9's HashMap iterates them (readers take any order):
//
//	initializationVector:<base64 16 bytes>,keyLength:128,salt:<base64 256 bytes>,
//	keyFactoryAlgorithm:PBKDF2WithHmacSHA512,cipherAlgorithm:AES/CBC/PKCS5Padding,
//	iterations:4096,passwordLength:<UTF-16 length>,encryptedPassword:<base64>
//
// Encoding: a fresh random 256-byte salt; the key is PBKDF2 of the secret
// (UTF-8) with that salt, the iterations and keyLength bits, under the
// key factory's HMAC; the password's UTF-8 bytes are encrypted with
// AES-CBC and PKCS#5 padding under a fresh random IV. passwordLength is
// the password's length in UTF-16 code units (Java's String.length), a
// sanity check on decoding. Decoding uses the parameters stored with the
// value, not the encoder's.
//
// Supported: cipher AES/CBC/PKCS5Padding (Kafka's default) and key
// factories PBKDF2WithHmacSHA512 (Kafka's default), PBKDF2WithHmacSHA256
// and PBKDF2WithHmacSHA1, with AES keys of 128, 192 or 256 bits. Other
// algorithms (AES/GCM/NoPadding, say) are refused.
package pwenc

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
)

// Kafka's defaults (PasswordEncoderConfigs).
const (
	DefaultCipher     = "AES/CBC/PKCS5Padding"
	DefaultKeyFactory = "PBKDF2WithHmacSHA512"
	DefaultKeyLength  = 128
	DefaultIterations = 4096
)

// Limits on what is encoded and decoded.
const (
	// MinIterations is Kafka's atLeast(1024) on password.encoder.iterations.
	MinIterations = 1024
	// MaxIterations bounds the PBKDF2 work of one value: a stored value
	// (read from ZooKeeper, which anyone with write access to it may
	// change) must not keep the broker busy for minutes. About half a
	// second with SHA-512 at this bound.
	MaxIterations = 1 << 20
	// saltLen is what Kafka draws for each value.
	saltLen = 256
)

// Names of the stored map's fields (Kafka's PasswordEncoder constants).
const (
	fieldKeyFactory = "keyFactoryAlgorithm"
	fieldCipher     = "cipherAlgorithm"
	fieldIV         = "initializationVector"
	fieldKeyLength  = "keyLength"
	fieldSalt       = "salt"
	fieldIterations = "iterations"
	fieldEncrypted  = "encryptedPassword"
	fieldLength     = "passwordLength"
)

// ErrDecode is returned (wrapped) for every value that cannot be decoded:
// malformed, of an unsupported algorithm, or encoded with another secret.
var ErrDecode = errors.New("Password could not be decoded")

// Params are the password.encoder.* settings other than the secrets.
type Params struct {
	KeyFactory string // "" is Kafka's default, PBKDF2WithHmacSHA512
	Cipher     string
	KeyLength  int // bits
	Iterations int
}

// DefaultParams are Kafka's defaults.
func DefaultParams() Params {
	return Params{KeyFactory: DefaultKeyFactory, Cipher: DefaultCipher, KeyLength: DefaultKeyLength, Iterations: DefaultIterations}
}

// Encoder encodes and decodes with one secret. It is safe for concurrent
// use.
type Encoder struct {
	secret string
	p      Params
	rand   io.Reader
}

// New returns an encoder of secret with p, after checking p.
func New(secret string, p Params) (*Encoder, error) {
	if secret == "" {
		return nil, errors.New("password.encoder.secret is empty")
	}
	if p.KeyFactory == "" {
		p.KeyFactory = DefaultKeyFactory
	}
	if err := p.Check(); err != nil {
		return nil, err
	}
	return &Encoder{secret: secret, p: p, rand: rand.Reader}, nil
}

// Check reports every parameter Gregor cannot encode with, naming its key.
func (p Params) Check() error {
	var errs []error
	if err := CheckKeyFactory(p.KeyFactory); err != nil {
		errs = append(errs, err)
	}
	if err := CheckCipher(p.Cipher); err != nil {
		errs = append(errs, err)
	}
	if err := CheckKeyLength(p.KeyLength); err != nil {
		errs = append(errs, err)
	}
	if err := CheckIterations(p.Iterations); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// CheckKeyFactory accepts the PBKDF2 key factories Gregor implements.
func CheckKeyFactory(name string) error {
	if name == "" || prf(name) != nil {
		return nil
	}
	return fmt.Errorf("password.encoder.keyfactory.algorithm %q is not supported (PBKDF2WithHmacSHA512, PBKDF2WithHmacSHA256 or PBKDF2WithHmacSHA1)", name)
}

// CheckCipher accepts Kafka's default cipher, the one Gregor implements.
func CheckCipher(name string) error {
	if name == DefaultCipher {
		return nil
	}
	return fmt.Errorf("password.encoder.cipher.algorithm %q is not supported (only %s)", name, DefaultCipher)
}

// CheckKeyLength accepts AES key lengths, in bits.
func CheckKeyLength(bits int) error {
	if bits == 128 || bits == 192 || bits == 256 {
		return nil
	}
	return fmt.Errorf("password.encoder.key.length %d is not an AES key length (128, 192 or 256)", bits)
}

// CheckIterations accepts Kafka's minimum up to Gregor's bound.
func CheckIterations(n int) error {
	if n >= MinIterations && n <= MaxIterations {
		return nil
	}
	return fmt.Errorf("password.encoder.iterations %d is out of range [%d, %d]", n, MinIterations, MaxIterations)
}

// prf returns the HMAC hash of a PBKDF2 key factory, or nil.
func prf(keyFactory string) func() hash.Hash {
	switch keyFactory {
	case "PBKDF2WithHmacSHA512":
		return sha512.New
	case "PBKDF2WithHmacSHA256":
		return sha256.New
	case "PBKDF2WithHmacSHA1":
		return sha1.New
	}
	return nil
}

// Encode encrypts password with a fresh salt and IV.
func (e *Encoder) Encode(password string) (string, error) {
	salt := make([]byte, saltLen)
	iv := make([]byte, aes.BlockSize)
	if _, err := io.ReadFull(e.rand, salt); err != nil {
		return "", fmt.Errorf("password encoder: drawing a salt: %w", err)
	}
	if _, err := io.ReadFull(e.rand, iv); err != nil {
		return "", fmt.Errorf("password encoder: drawing an IV: %w", err)
	}
	return e.encodeWith(password, salt, iv)
}

// encodeWith encrypts password with a given salt and IV.
func (e *Encoder) encodeWith(password string, salt, iv []byte) (string, error) {
	key, err := deriveKey(e.secret, e.p.KeyFactory, salt, e.p.Iterations, e.p.KeyLength)
	if err != nil {
		return "", err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	plain := pad([]byte(password))
	enc := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(enc, plain)
	b64 := base64.StdEncoding.EncodeToString
	fields := []string{
		fieldIV + ":" + b64(iv),
		fieldKeyLength + ":" + strconv.Itoa(e.p.KeyLength),
		fieldSalt + ":" + b64(salt),
		fieldKeyFactory + ":" + e.p.KeyFactory,
		fieldCipher + ":" + e.p.Cipher,
		fieldIterations + ":" + strconv.Itoa(e.p.Iterations),
		fieldLength + ":" + strconv.Itoa(utf16Len(password)),
		fieldEncrypted + ":" + b64(enc),
	}
	return strings.Join(fields, ","), nil
}

// deriveKey is the PBEKeySpec key of Kafka's secretKeySpec.
func deriveKey(secret, keyFactory string, salt []byte, iterations, bits int) ([]byte, error) {
	h := prf(keyFactory)
	if h == nil {
		return nil, CheckKeyFactory(keyFactory)
	}
	if err := CheckKeyLength(bits); err != nil {
		return nil, err
	}
	return pbkdf2.Key(h, secret, salt, iterations, bits/8)
}

// pad adds PKCS#5 padding.
func pad(b []byte) []byte {
	n := aes.BlockSize - len(b)%aes.BlockSize
	out := make([]byte, len(b), len(b)+n)
	copy(out, b)
	for range n {
		out = append(out, byte(n))
	}
	return out
}

// utf16Len is Java's String.length of s.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}
