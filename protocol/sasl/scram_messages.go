package sasl

// SCRAM messages (RFC 5802 section 7), parsed by the grammar Kafka's
// ScramMessages uses. Java's character-class intersections are spelled
// out as ranges: SASLNAME chars are 0x01-0x7F but ',' and '=', VALUE
// chars 0x01-0x7F but ',', PRINTABLE chars 0x21-0x7E but ','.

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

const (
	reValueSafe = `[\x01-\x2B\x2D-\x3C\x3E-\x7F]+`
	reValue     = `[\x01-\x2B\x2D-\x7F]+`
	rePrintable = `[\x21-\x2B\x2D-\x7E]+`
	reSaslName  = `(?:[\x01-\x2B\x2D-\x3C\x3E-\x7F]|=2C|=3D)+`
	reBase64    = `(?:[a-zA-Z0-9/+]{4})*(?:[a-zA-Z0-9/+]{3}=|[a-zA-Z0-9/+]{2}==)?`
	reReserved  = `(?:m=` + reValue + `,)?`
	reExtension = `(?:,[A-Za-z]+=` + reValue + `)*`
)

var (
	clientFirstRE = regexp.MustCompile(`^n,(?:a=(?P<authzid>` + reSaslName + `))?,` + reReserved +
		`n=(?P<saslname>` + reSaslName + `),r=(?P<nonce>` + rePrintable + `)(?P<ext>` + reExtension + `)$`)
	serverFirstRE = regexp.MustCompile(`^` + reReserved + `r=(?P<nonce>` + rePrintable + `),s=(?P<salt>` + reBase64 +
		`),i=(?P<iterations>[0-9]+)` + reExtension + `$`)
	clientFinalRE = regexp.MustCompile(`^c=(?P<channel>` + reBase64 + `),r=(?P<nonce>` + rePrintable + `)` + reExtension +
		`,p=(?P<proof>` + reBase64 + `)$`)
	serverFinalRE = regexp.MustCompile(`^(?:e=(?P<error>` + reValueSafe + `))|(?:v=(?P<signature>` + reBase64 + `))` + reExtension + `$`)
)

// maxScramMessage bounds a SCRAM message: a name, a nonce, a proof and a
// few extensions fit in far less.
const maxScramMessage = 8 << 10

// ClientFirst is a client-first-message.
type ClientFirst struct {
	Authzid    string // as sent (saslname-encoded), "" if none
	User       string // decoded from the saslname
	Nonce      string
	Extensions map[string]string
	// Bare is client-first-message-bare, as sent: what the proof signs.
	Bare string
}

// ParseClientFirst parses a client-first-message. Only "n" (no channel
// binding) is accepted as the GS2 flag, as Kafka does.
func ParseClientFirst(b []byte) (ClientFirst, error) {
	if len(b) > maxScramMessage {
		return ClientFirst{}, errors.New("SCRAM client first message too long")
	}
	msg := string(b)
	m := clientFirstRE.FindStringSubmatch(msg)
	if m == nil {
		return ClientFirst{}, fmt.Errorf("Invalid SCRAM client first message format")
	}
	cf := ClientFirst{Authzid: m[1], Nonce: m[3]}
	user, err := ScramUsername(m[2])
	if err != nil {
		return ClientFirst{}, err
	}
	cf.User = user
	cf.Extensions = parseExtensions(m[4])
	// The GS2 header is "n," [a=authzid] ","; the bare message follows it.
	cf.Bare = msg[len("n,")+len(gs2Authzid(cf.Authzid))+1:]
	return cf, nil
}

func gs2Authzid(a string) string {
	if a == "" {
		return ""
	}
	return "a=" + a
}

// GS2Header is the header the client sent, which the channel binding of
// its final message must repeat.
func (c ClientFirst) GS2Header() string { return "n," + gs2Authzid(c.Authzid) + "," }

func parseExtensions(s string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(strings.TrimPrefix(s, ","), ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[k] = v
		}
	}
	return out
}

// ScramUsername decodes a saslname (=2C is ',', =3D is '='), as Kafka's
// ScramFormatter.username does.
func ScramUsername(saslName string) (string, error) {
	u := strings.ReplaceAll(saslName, "=2C", ",")
	if strings.Contains(strings.ReplaceAll(u, "=3D", ""), "=") {
		return "", fmt.Errorf("Invalid username: %s", saslName)
	}
	return strings.ReplaceAll(u, "=3D", "="), nil
}

// ScramSaslName encodes a user name as a saslname.
func ScramSaslName(user string) string {
	return strings.ReplaceAll(strings.ReplaceAll(user, "=", "=3D"), ",", "=2C")
}

// ServerFirst is a server-first-message.
type ServerFirst struct {
	Nonce      string
	Salt       []byte
	Iterations int
	Raw        string
}

// ParseServerFirst parses a server-first-message (the client side).
func ParseServerFirst(b []byte) (ServerFirst, error) {
	msg := string(b)
	m := serverFirstRE.FindStringSubmatch(msg)
	if m == nil || len(b) > maxScramMessage {
		return ServerFirst{}, errors.New("Invalid SCRAM server first message format")
	}
	it, err := strconv.Atoi(m[3])
	if err != nil || it <= 0 {
		return ServerFirst{}, errors.New("Invalid SCRAM server first message format: invalid iterations")
	}
	salt, err := base64.StdEncoding.DecodeString(m[2])
	if err != nil {
		return ServerFirst{}, errors.New("Invalid SCRAM server first message format: invalid salt")
	}
	return ServerFirst{Nonce: m[1], Salt: salt, Iterations: it, Raw: msg}, nil
}

// ClientFinal is a client-final-message.
type ClientFinal struct {
	ChannelBinding []byte
	Nonce          string
	Proof          []byte
	// WithoutProof is client-final-message-without-proof, as sent.
	WithoutProof string
}

// ParseClientFinal parses a client-final-message.
func ParseClientFinal(b []byte) (ClientFinal, error) {
	if len(b) > maxScramMessage {
		return ClientFinal{}, errors.New("SCRAM client final message too long")
	}
	msg := string(b)
	m := clientFinalRE.FindStringSubmatch(msg)
	if m == nil {
		return ClientFinal{}, errors.New("Invalid SCRAM client final message format")
	}
	cb, err1 := base64.StdEncoding.DecodeString(m[1])
	proof, err2 := base64.StdEncoding.DecodeString(m[3])
	if err1 != nil || err2 != nil {
		return ClientFinal{}, errors.New("Invalid SCRAM client final message format: bad base64")
	}
	return ClientFinal{ChannelBinding: cb, Nonce: m[2], Proof: proof, WithoutProof: msg[:strings.LastIndex(msg, ",p=")]}, nil
}

// ServerFinal is a server-final-message: a signature or an error.
type ServerFinal struct {
	Error     string
	Signature []byte
}

// ParseServerFinal parses a server-final-message (the client side).
func ParseServerFinal(b []byte) (ServerFinal, error) {
	m := serverFinalRE.FindStringSubmatch(string(b))
	if m == nil {
		return ServerFinal{}, errors.New("Invalid SCRAM server final message format")
	}
	if m[1] != "" {
		return ServerFinal{Error: m[1]}, nil
	}
	sig, err := base64.StdEncoding.DecodeString(m[2])
	if err != nil {
		return ServerFinal{}, errors.New("Invalid SCRAM server final message format: bad base64")
	}
	return ServerFinal{Signature: sig}, nil
}
