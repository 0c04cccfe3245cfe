package tlsconf

import (
	"strings"
	"testing"
)

// The cases of Kafka's SslPrincipalMapperTest.

func TestMapperValidRules(t *testing.T) {
	for _, rules := range []string{
		"DEFAULT",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, DEFAULT",
		"RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/",
		"RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L",
		"RULE:^cn=(.?),ou=(.?),dc=(.?),dc=(.?)$/$1@$2/U",
		"RULE:^CN=([^,ADEFLTU,]+)(,.*|$)/$1/",
		"RULE:^CN=([^,DEFAULT,]+)(,.*|$)/$1/",
	} {
		if _, err := ParseMapper(rules); err != nil {
			t.Errorf("ParseMapper(%q): %v", rules, err)
		}
	}
}

// A rule with anything after its flags is refused, as Kafka's
// SslPrincipalMapper.parseRules refuses it ("unmatched substring"): a
// broker configured with "/$1/l" or "/$1/LU" does not start, rather than
// quietly mapping names without the case change asked for.
func TestMapperInvalidRules(t *testing.T) {
	for _, rules := range []string{
		"default",
		"DEFAUL",
		"DEFAULT/L",
		"DEFAULT/U",
		"RULE:CN=(.*?),OU=ServiceUsers.*/$1",
		"rule:^CN=(.*?),OU=ServiceUsers.*$/$1/",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L/U",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/L",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/U",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/LU",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/l",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L x, DEFAULT",
	} {
		if _, err := ParseMapper(rules); err == nil {
			t.Errorf("ParseMapper(%q) accepted it, want an invalid rule", rules)
		} else if !strings.HasPrefix(err.Error(), "Invalid rule") {
			t.Errorf("ParseMapper(%q): %v, want Kafka's \"Invalid rule\"", rules, err)
		}
	}
}

func TestMapperNames(t *testing.T) {
	m, err := ParseMapper(strings.Join([]string{
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L",
		"RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L",
		"RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U",
		"RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U",
		"DEFAULT",
	}, ", "))
	if err != nil {
		t.Fatal(err)
	}
	for dn, want := range map[string]string{
		"CN=Duke,OU=ServiceUsers,O=Org,C=US":        "duke",
		"CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US": "duke@sme",
		"cn=duke,ou=sme,dc=mycp,dc=com":             "DUKE@SME",
		"cN=duke,OU=JavaSoft,O=Sun Microsystems":    "DUKE",
		"OU=JavaSoft,O=Sun Microsystems,C=US":       "OU=JavaSoft,O=Sun Microsystems,C=US",
	} {
		if got, err := m.Name(dn); err != nil || got != want {
			t.Errorf("Name(%q) = %q, %v; want %q", dn, got, err, want)
		}
	}
	c, err := ParseMapper(`RULE:^CN=((\\, *|\w)+)(,.*|$)/$1/,DEFAULT`)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Name(`CN=Tkac\, Adam,OU=ITZ,DC=geodis,DC=cz`); err != nil || got != `Tkac\, Adam` {
		t.Errorf("a comma with whitespace: %q, %v", got, err)
	}
}

// TestMapperSplitting: Kafka's testRulesSplitting, by the rules each
// splits into (their patterns; "" for DEFAULT).
func TestMapperSplitting(t *testing.T) {
	for rules, want := range map[string][]string{
		"DEFAULT":                                    {""},
		"RULE://":                                    {""},
		"RULE:/.*/":                                  {""},
		"RULE:/.*/L":                                 {""},
		"RULE://,DEFAULT":                            {"", ""},
		"  RULE:// ,  DEFAULT  ":                     {"", ""},
		"  RULE:   /     / ,  DEFAULT  ":             {"   ", ""},
		"  RULE:  /     /U   ,DEFAULT  ":             {"  ", ""},
		",,RULE://,,,DEFAULT,,":                      {"", ""},
		",  , RULE: /   /    ,,,   DEFAULT, ,   ":    {" ", ""},
		"     ,  , RULE:   /  /U    ,,  ,DEFAULT, ,": {"   ", ""},
		"  RULE:([A-Z]*)/$1/U   ,RULE:([a-z]+)/$1/,   DEFAULT  ": {"([A-Z]*)", "([a-z]+)", ""},
		`RULE:,RULE:,/,RULE:,\//U,RULE:,/RULE:,/,RULE:,RULE:,/L,RULE:,/L,RULE:, DEFAULT, /DEFAULT/,DEFAULT`: {
			",RULE:,", ",", ",RULE:,", ", DEFAULT, ", ""},
	} {
		m, err := ParseMapper(rules)
		if err != nil {
			t.Errorf("ParseMapper(%q): %v", rules, err)
			continue
		}
		var got []string
		for _, r := range m.rules {
			if r.def {
				got = append(got, "")
			} else {
				got = append(got, r.re.String())
			}
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("ParseMapper(%q) split into %q, want %q", rules, got, want)
		}
	}
}
