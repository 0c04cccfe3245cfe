package config

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
)

// ParseProperties reads a Java .properties file (the format of Kafka's
// server.properties): "key=value", "key: value" or "key value" lines,
// '#' and '!' comments, backslash line continuations and escapes.
// Later keys override earlier ones; the order of first appearance is kept.
func ParseProperties(r io.Reader) (keys []string, values map[string]string, err error) {
	values = make(map[string]string)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var logical strings.Builder
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if logical.Len() == 0 {
			line = strings.TrimLeftFunc(line, unicode.IsSpace)
			if line == "" || line[0] == '#' || line[0] == '!' {
				continue
			}
		} else {
			line = strings.TrimLeftFunc(line, unicode.IsSpace)
		}
		if continued(line) {
			logical.WriteString(line[:len(line)-1])
			continue
		}
		logical.WriteString(line)
		k, v, perr := splitProperty(logical.String())
		logical.Reset()
		if perr != nil {
			return nil, nil, fmt.Errorf("line %d: %w", lineNo, perr)
		}
		if _, seen := values[k]; !seen {
			keys = append(keys, k)
		}
		values[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	if logical.Len() > 0 {
		k, v, perr := splitProperty(logical.String())
		if perr != nil {
			return nil, nil, perr
		}
		if _, seen := values[k]; !seen {
			keys = append(keys, k)
		}
		values[k] = v
	}
	return keys, values, nil
}

// continued reports whether a line ends in an odd number of backslashes.
func continued(line string) bool {
	n := 0
	for i := len(line) - 1; i >= 0 && line[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

func splitProperty(s string) (string, string, error) {
	var key strings.Builder
	i := 0
	for i < len(s) {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			key.WriteString(unescape(s[i : i+2]))
			i += 2
			continue
		}
		if c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f' {
			break
		}
		key.WriteByte(c)
		i++
	}
	rest := strings.TrimLeft(s[i:], " \t\f")
	if len(rest) > 0 && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], " \t\f")
	}
	if key.Len() == 0 {
		return "", "", fmt.Errorf("empty key in %q", s)
	}
	var val strings.Builder
	for j := 0; j < len(rest); j++ {
		if rest[j] == '\\' && j+1 < len(rest) {
			if rest[j+1] == 'u' && j+5 < len(rest) {
				if r, err := strconv.ParseUint(rest[j+2:j+6], 16, 32); err == nil {
					val.WriteRune(rune(r))
					j += 5
					continue
				}
			}
			val.WriteString(unescape(rest[j : j+2]))
			j++
			continue
		}
		val.WriteByte(rest[j])
	}
	return key.String(), strings.TrimRightFunc(val.String(), unicode.IsSpace), nil
}

func unescape(esc string) string {
	switch esc[1] {
	case 't':
		return "\t"
	case 'n':
		return "\n"
	case 'r':
		return "\r"
	case 'f':
		return "\f"
	}
	return esc[1:]
}
