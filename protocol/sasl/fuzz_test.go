package sasl

import (
	"strings"
	"testing"
)

// FuzzScramMessages: no input makes the SCRAM parsers or the server
// panic, and a parsed client-first message's bare part is a suffix of it.
func FuzzScramMessages(f *testing.F) {
	f.Add([]byte("n,,n=alice,r=abc"))
	f.Add([]byte("n,a=alice,n=alice,r=abc,ext=1"))
	f.Add([]byte("c=biws,r=abcdef,p=dGVzdA=="))
	f.Add([]byte("r=abc,s=c2FsdA==,i=4096"))
	f.Add([]byte("v=c2ln"))
	store := staticStore{}
	cred, _ := NewScramCredential(ScramSHA256, "pw", 4096)
	store["alice"] = cred
	f.Fuzz(func(t *testing.T, b []byte) {
		if cf, err := ParseClientFirst(b); err == nil && !strings.HasSuffix(string(b), cf.Bare) {
			t.Fatalf("bare %q is not a suffix of %q", cf.Bare, b)
		}
		ParseClientFinal(b)
		ParseServerFirst(b)
		ParseServerFinal(b)
		m, _ := NewScram(ScramSHA256, store)
		s := m.NewServer()
		if _, _, err := s.Step(b); err == nil {
			s.Step(b)
		}
	})
}

// FuzzJAAS: no input makes the JAAS parser panic, and what it parses
// parses the same once written back out.
func FuzzJAAS(f *testing.F) {
	f.Add(`org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="a\"b" password='x';`)
	f.Add(`a required /* c */ k=v; // d
b optional;`)
	f.Add(`x required k=1;`)
	f.Fuzz(func(t *testing.T, s string) {
		entries, err := ParseJAAS(s)
		if err != nil {
			return
		}
		var out strings.Builder
		for _, e := range entries {
			out.WriteString(QuoteJAAS(e.LoginModule) + " " + e.ControlFlag)
			for k, v := range e.Options {
				out.WriteString(" " + QuoteJAAS(k) + "=" + QuoteJAAS(v))
			}
			out.WriteString(";\n")
		}
		again, err := ParseJAAS(out.String())
		if err != nil {
			t.Fatalf("%q parsed, but its rewrite %q does not: %v", s, out.String(), err)
		}
		if len(again) != len(entries) {
			t.Fatalf("%d entries became %d", len(entries), len(again))
		}
		for i := range entries {
			for k, v := range entries[i].Options {
				if again[i].Options[k] != v {
					t.Fatalf("option %q: %q became %q", k, v, again[i].Options[k])
				}
			}
		}
	})
}

type staticStore map[string]ScramCredential

func (s staticStore) ScramCredential(_, user string) (ScramCredential, bool) {
	c, ok := s[user]
	return c, ok
}
