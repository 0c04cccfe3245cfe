package coordinator

import (
	"fmt"
	"testing"
)

// The protocol with the most first-choice votes wins; a tie goes as in
// Kafka, whose votes are a java.util.HashMap read in bucket order: range
// before cooperative-sticky or roundrobin, sticky before either (checked
// against Java's HashMap), whichever member joined first.
func TestSelectProtocolTiesAsKafka(t *testing.T) {
	for _, c := range []struct {
		prefs [][]string
		want  string
	}{
		{[][]string{{"cooperative-sticky", "range"}, {"range", "cooperative-sticky"}}, "range"},
		{[][]string{{"range", "cooperative-sticky"}, {"cooperative-sticky", "range"}}, "range"},
		{[][]string{{"roundrobin", "range"}, {"range", "roundrobin"}}, "range"},
		{[][]string{{"cooperative-sticky", "sticky"}, {"sticky", "cooperative-sticky"}}, "sticky"},
		{[][]string{{"roundrobin", "sticky"}, {"sticky", "roundrobin"}}, "sticky"},
		// Most votes win whatever the order.
		{[][]string{{"cooperative-sticky", "range"}, {"cooperative-sticky", "range"}, {"range", "cooperative-sticky"}}, "cooperative-sticky"},
		// Only protocols every member supports are candidates.
		{[][]string{{"sticky", "range"}, {"range"}}, "range"},
	} {
		g := &group{members: map[string]*member{}}
		for i, ps := range c.prefs {
			m := &member{id: fmt.Sprint("m", i), joinOrder: uint64(i)}
			for _, p := range ps {
				m.protocols = append(m.protocols, protocolMeta{name: p})
			}
			g.members[m.id] = m
		}
		if got := g.selectProtocol(); got != c.want {
			t.Errorf("members preferring %v: %q, want %q", c.prefs, got, c.want)
		}
	}
}
