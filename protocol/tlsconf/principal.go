package tlsconf

// The principal of a TLS client, as Kafka's DefaultKafkaPrincipalBuilder
// makes it: the certificate subject as Java's X500Principal.getName()
// writes it (RFC 2253), mapped by ssl.principal.mapping.rules
// (SslPrincipalMapper).

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
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

// SubjectName is a certificate's subject in Java's RFC 2253 form.
func SubjectName(cert *x509.Certificate) string {
	var rdns pkix.RDNSequence
	if _, err := asn1.Unmarshal(cert.RawSubject, &rdns); err != nil {
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

func formatATV(atv pkix.AttributeTypeAndValue) string {
	oid := atv.Type.String()
	kw, ok := rfc2253Keywords[oid]
	s, isString := atv.Value.(string)
	if !ok || !isString {
		der, err := asn1.Marshal(atv.Value)
		if err != nil {
			return oid + "="
		}
		return oid + "=#" + hex.EncodeToString(der)
	}
	return kw + "=" + escapeRFC2253(s)
}

func escapeRFC2253(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case strings.ContainsRune(",+\"\\<>;", r):
			b.WriteByte('\\')
		case i == 0 && (r == ' ' || r == '#'):
			b.WriteByte('\\')
		case i == len(s)-1 && r == ' ':
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
	ruleSplitter = regexp.MustCompile(`\s*((DEFAULT)|RULE:((?:\\.|[^\\/])*)/((?:\\.|[^\\/])*)/([LU]?)[^,]*?|([^,]*?))\s*(?:,\s*|$)`)
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
