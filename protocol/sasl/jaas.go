package sasl

// The JAAS config of sasl.jaas.config, parsed as Kafka's JaasConfig does
// with java.io.StreamTokenizer:
//
//	LoginModuleClass controlFlag (key=value)* ; ...
//
// Tokens: words start with a letter, '_', '$', '-' (or a character from
// U+00A0 on) and go on with those, digits and '.'; values may be quoted
// with " or ' (escapes \n \t \\ ... and octal, as in Java); // and /* */
// are comments. A value that is a bare number is "not specified" in Kafka
// (StreamTokenizer parses it as a number), and here too.

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// JAASEntry is one login module with its options.
type JAASEntry struct {
	LoginModule string
	ControlFlag string // REQUIRED, REQUISITE, SUFFICIENT or OPTIONAL
	Options     map[string]string
}

// Login modules of the mechanisms, as Kafka names them.
const (
	PlainLoginModule       = "org.apache.kafka.common.security.plain.PlainLoginModule"
	ScramLoginModule       = "org.apache.kafka.common.security.scram.ScramLoginModule"
	OAuthBearerLoginModule = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
)

// LoginModuleFor is the login module a mechanism's JAAS entry names.
func LoginModuleFor(mechanism string) string {
	switch mechanism {
	case Plain:
		return PlainLoginModule
	case ScramSHA256, ScramSHA512:
		return ScramLoginModule
	case OAuthBearer:
		return OAuthBearerLoginModule
	}
	return ""
}

// maxJAASConfig bounds a JAAS config: it comes from a config file.
const maxJAASConfig = 1 << 20

// ParseJAAS parses a sasl.jaas.config value, with Kafka's messages.
func ParseJAAS(s string) ([]JAASEntry, error) {
	if len(s) > maxJAASConfig {
		return nil, errors.New("JAAS config too long")
	}
	t := &jaasTokenizer{s: s}
	var out []JAASEntry
	for {
		tok := t.next()
		if tok.kind == tokEOF {
			break
		}
		e, err := parseJAASEntry(t, tok)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, errors.New("Login module not specified in JAAS config")
	}
	return out, nil
}

func parseJAASEntry(t *jaasTokenizer, first jaasToken) (JAASEntry, error) {
	e := JAASEntry{LoginModule: first.sval, Options: map[string]string{}}
	flag := t.next()
	if flag.kind == tokEOF {
		return e, errors.New("Login module control flag not specified in JAAS config")
	}
	switch f := strings.ToUpper(flag.sval); {
	case flag.kind != tokWord && flag.kind != tokQuoted:
		return e, errors.New("Login module control flag is not available in the JAAS config")
	case f == "REQUIRED" || f == "REQUISITE" || f == "SUFFICIENT" || f == "OPTIONAL":
		e.ControlFlag = f
	default:
		return e, fmt.Errorf("Invalid login module control flag '%s' in JAAS config", flag.sval)
	}
	for {
		tok := t.next()
		if tok.kind == tokEOF {
			return e, errors.New("JAAS config entry not terminated by semi-colon")
		}
		if tok.kind == tokOther && tok.char == ';' {
			return e, nil
		}
		key := tok.sval
		if eq := t.next(); eq.kind != tokOther || eq.char != '=' {
			return e, fmt.Errorf("Value not specified for key '%s' in JAAS config", key)
		}
		val := t.next()
		if val.kind != tokWord && val.kind != tokQuoted {
			return e, fmt.Errorf("Value not specified for key '%s' in JAAS config", key)
		}
		e.Options[key] = val.sval
	}
}

type tokKind int8

const (
	tokEOF tokKind = iota
	tokWord
	tokQuoted
	tokNumber
	tokOther
)

type jaasToken struct {
	kind tokKind
	sval string // words and quoted strings
	char rune   // tokOther
}

type jaasTokenizer struct {
	s string
	p int
}

func (t *jaasTokenizer) peek() (rune, int) {
	if t.p >= len(t.s) {
		return -1, 0
	}
	return utf8.DecodeRuneInString(t.s[t.p:])
}

func isWordStart(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || r == '$' || r == '-' || r >= 0xA0
}

func isNumberChar(r rune) bool { return r >= '0' && r <= '9' || r == '.' || r == '-' }

func (t *jaasTokenizer) next() jaasToken {
	for {
		r, n := t.peek()
		switch {
		case r < 0:
			return jaasToken{kind: tokEOF}
		case r <= ' ':
			t.p += n
			continue
		case r == '/':
			t.skipComment()
			continue
		case r == '"' || r == '\'':
			t.p += n
			return jaasToken{kind: tokQuoted, sval: t.quoted(r)}
		case r >= '0' && r <= '9' || r == '.' || r == '-' && t.digitFollows():
			t.p += n
			for r, n = t.peek(); r >= 0 && isNumberChar(r); r, n = t.peek() {
				t.p += n
			}
			return jaasToken{kind: tokNumber}
		case isWordStart(r):
			start := t.p
			for r, n = t.peek(); r >= 0 && (isWordStart(r) || isNumberChar(r)); r, n = t.peek() {
				t.p += n
			}
			return jaasToken{kind: tokWord, sval: t.s[start:t.p]}
		default:
			t.p += n
			return jaasToken{kind: tokOther, char: r}
		}
	}
}

func (t *jaasTokenizer) digitFollows() bool {
	if t.p+1 >= len(t.s) {
		return false
	}
	c := t.s[t.p+1]
	return c >= '0' && c <= '9' || c == '.'
}

// skipComment skips a // or /* */ comment, or (a lone '/', Java's comment
// character) the rest of the line.
func (t *jaasTokenizer) skipComment() {
	rest := t.s[t.p:]
	if strings.HasPrefix(rest, "/*") {
		if i := strings.Index(rest[2:], "*/"); i >= 0 {
			t.p += 2 + i + 2
		} else {
			t.p = len(t.s)
		}
		return
	}
	if i := strings.IndexAny(rest, "\n\r"); i >= 0 {
		t.p += i
	} else {
		t.p = len(t.s)
	}
}

// quoted reads a quoted string up to its closing quote or the end of the
// line, with Java's escapes.
func (t *jaasTokenizer) quoted(q rune) string {
	var b strings.Builder
	for {
		r, n := t.peek()
		if r < 0 || r == '\n' || r == '\r' {
			return b.String()
		}
		t.p += n
		if r == q {
			return b.String()
		}
		if r != '\\' {
			b.WriteString(t.s[t.p-n : t.p]) // as read, invalid UTF-8 included
			continue
		}
		e, n := t.peek()
		if e < 0 {
			return b.String()
		}
		t.p += n
		switch e {
		case 'a':
			b.WriteByte(7)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		default:
			if e >= '0' && e <= '7' {
				b.WriteRune(t.octal(e))
			} else {
				b.WriteRune(e)
			}
		}
	}
}

// octal reads up to three octal digits (the first already read), as
// StreamTokenizer: a third only if the first is 0-3.
func (t *jaasTokenizer) octal(first rune) rune {
	v := first - '0'
	max := 2
	if first > '3' {
		max = 1
	}
	for i := 0; i < max; i++ {
		r, n := t.peek()
		if r < '0' || r > '7' {
			break
		}
		t.p += n
		v = v*8 + (r - '0')
	}
	return v
}

// QuoteJAAS quotes a value for a JAAS config.
func QuoteJAAS(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`).Replace(v) + `"`
}
