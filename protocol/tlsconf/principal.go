package tlsconf

// The principal of a TLS client, as Kafka's DefaultKafkaPrincipalBuilder
// makes it: the certificate subject as Java's X500Principal.getName()
// writes it (RFC 2253), mapped by ssl.principal.mapping.rules
// (SslPrincipalMapper).

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"
)

// Java's RFC 2253 keywords; other attribute types are written as dotted
// OIDs with the value as #hex of its DER encoding.
var rfc2253Keywords = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.9":                    "STREET",
	"0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1":  "UID",
}

// rawATV is an attribute of a name with its value as encoded.
type rawATV struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// rawRDNSET is a relative distinguished name (encoding/asn1 reads a type
// whose name ends in SET as a SET OF).
type rawRDNSET []rawATV

// SubjectName is a certificate's subject in Java's RFC 2253 form
// (X500Principal.getName()): the most specific name first, the attributes
// of a name in their order, a known attribute's string value escaped as
// Java escapes it, any other as #hex of its value's DER encoding as the
// certificate holds it.
func SubjectName(cert *x509.Certificate) string {
	var rdns []rawRDNSET
	if rest, err := asn1.Unmarshal(cert.RawSubject, &rdns); err != nil || len(rest) > 0 {
		return cert.Subject.String()
	}
	var parts []string
	for i := len(rdns) - 1; i >= 0; i-- {
		var atvs []string
		for _, atv := range rdns[i] {
			atvs = append(atvs, formatATV(atv))
		}
		parts = append(parts, strings.Join(atvs, "+"))
	}
	return strings.Join(parts, ",")
}

func formatATV(atv rawATV) string {
	oid := atv.Type.String()
	kw, ok := rfc2253Keywords[oid]
	s, isString := derString(atv.Value)
	if !ok || !isString {
		return oid + "=#" + hex.EncodeToString(atv.Value.FullBytes)
	}
	return kw + "=" + escapeRFC2253(s)
}

// derString decodes a value of one of the string types Java writes as a
// string (AVA.isDerString): Printable, T61, IA5, General, UTF8, BMP and
// Universal strings.
func derString(v asn1.RawValue) (string, bool) {
	if v.Class != asn1.ClassUniversal || v.IsCompound {
		return "", false
	}
	switch v.Tag {
	case asn1.TagPrintableString, asn1.TagT61String, asn1.TagIA5String, asn1.TagGeneralString, asn1.TagUTF8String:
		return string(v.Bytes), true
	case asn1.TagBMPString:
		if len(v.Bytes)%2 != 0 {
			return "", false
		}
		u := make([]uint16, len(v.Bytes)/2)
		for i := range u {
			u[i] = uint16(v.Bytes[2*i])<<8 | uint16(v.Bytes[2*i+1])
		}
		return string(utf16.Decode(u)), true
	case 28: // UniversalString: UTF-32BE
		if len(v.Bytes)%4 != 0 {
			return "", false
		}
		var b strings.Builder
		for i := 0; i < len(v.Bytes); i += 4 {
			b.WriteRune(rune(uint32(v.Bytes[i])<<24 | uint32(v.Bytes[i+1])<<16 | uint32(v.Bytes[i+2])<<8 | uint32(v.Bytes[i+3])))
		}
		return b.String(), true
	}
	return "", false
}

// escapeRFC2253 escapes a value as Java's AVA.toRFC2253String does: each
// of ,=+<>#;"\ anywhere, and every leading and trailing space (or
// carriage return).
func escapeRFC2253(s string) string {
	lead := len(s) - len(strings.TrimLeft(s, " \r"))
	trail := len(strings.TrimRight(s, " \r"))
	if lead == len(s) {
		trail = 0 // all blank: every character is leading
	}
	var b strings.Builder
	for i, r := range s {
		if strings.ContainsRune(",=+<>#;\"\\", r) || i < lead || i >= trail {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Mapper is ssl.principal.mapping.rules.
type Mapper struct{ rules []mapRule }

type mapRule struct {
	def         bool
	re          *regexp.Regexp
	full        *regexp.Regexp // re anchored at both ends (Java's matches)
	replacement string
	lower       bool
	upper       bool
}

var (
	// A rule, each part a group: DEFAULT (2), or RULE: with its
	// pattern (3), replacement (4), case flag (5) and what follows the
	// flag up to the comma (6), which must be nothing; or anything else
	// (7), which must be blank.
	ruleSplitter = regexp.MustCompile(`\s*((DEFAULT)|RULE:((?:\\.|[^\\/])*)/((?:\\.|[^\\/])*)/([LU]?)([^,]*?)|([^,]*?))\s*(?:,\s*|$)`)
	backRef      = regexp.MustCompile(`\$(\d+)`)
)

// ParseMapper parses rules ("DEFAULT" when empty) as SslPrincipalMapper.
func ParseMapper(rules string) (*Mapper, error) {
	rules = strings.TrimSpace(rules)
	if rules == "" {
		rules = "DEFAULT"
	}
	m := &Mapper{}
	for _, g := range ruleSplitter.FindAllStringSubmatch(rules, -1) {
		switch {
		case g[2] != "":
			m.rules = append(m.rules, mapRule{def: true})
		case strings.HasPrefix(g[1], "RULE:") && g[6] != "":
			// As SslPrincipalMapper.parseRules: nothing may follow
			// the flag ("/$1/l", "/$1/LU" would quietly not change
			// the case).
			return nil, fmt.Errorf("Invalid rule: `%s`, unmatched substring: `%s`", g[1], g[6])
		case strings.HasPrefix(g[1], "RULE:"):
			re, err := regexp.Compile(g[3])
			if err != nil {
				return nil, fmt.Errorf("Invalid rule: %s: %v", g[1], err)
			}
			full := regexp.MustCompile(`^(?:` + g[3] + `)$`)
			m.rules = append(m.rules, mapRule{re: re, full: full, replacement: javaReplacement(g[4], re.NumSubexp()), lower: g[5] == "L", upper: g[5] == "U"})
		case strings.TrimSpace(g[1]) != "":
			return nil, fmt.Errorf("Invalid rule: %s", g[1])
		}
	}
	if len(m.rules) == 0 {
		return nil, errors.New("no rules")
	}
	return m, nil
}

// javaReplacement turns a Java replacement string ($1, \$ literal) into
// Go's (${1}, $$); a back reference to a missing group is literal, as in
// SslPrincipalMapper.
func javaReplacement(r string, groups int) string {
	var b strings.Builder
	for i := 0; i < len(r); i++ {
		c := r[i]
		switch {
		case c == '\\' && i+1 < len(r):
			i++
			if r[i] == '$' {
				b.WriteString("$$")
			} else {
				b.WriteByte(r[i])
			}
		case c == '$':
			m := backRef.FindStringSubmatch(r[i:])
			if m == nil {
				b.WriteString("$$")
				continue
			}
			digits := m[1]
			n, _ := strconv.Atoi(digits)
			for n > groups && len(digits) > 1 {
				digits = digits[:len(digits)-1]
				n, _ = strconv.Atoi(digits)
			}
			if n > groups {
				b.WriteString("$$" + m[1])
			} else {
				b.WriteString("${" + digits + "}" + m[1][len(digits):])
			}
			i += len(m[0]) - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Name maps a distinguished name; an error if no rule applies.
func (m *Mapper) Name(dn string) (string, error) {
	for _, r := range m.rules {
		if r.def {
			return dn, nil
		}
		if !r.full.MatchString(dn) {
			continue
		}
		out := r.re.ReplaceAllString(dn, r.replacement)
		if r.lower {
			out = strings.ToLower(out)
		} else if r.upper {
			out = strings.ToUpper(out)
		}
		return out, nil
	}
	return "", fmt.Errorf("No rules apply to %s", dn)
}
