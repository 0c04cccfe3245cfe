package acl

import (
	"cmp"
	"slices"
)

// Snapshot is an immutable set of ACLs indexed for decisions: the entries
// of each pattern, and per resource type the lengths of its prefixed
// names, so a decision looks up the literal name, the wildcard, and only
// the prefixes of the name that some ACL has the length of.
type Snapshot struct {
	byPattern  map[Pattern][]Entry
	prefixLens [numResourceTypes][]int // sorted, distinct
	n          int
}

// Empty has no ACLs.
var Empty = NewSnapshot(nil)

// NewSnapshot indexes bindings; duplicates count once.
func NewSnapshot(bindings []Binding) *Snapshot {
	s := &Snapshot{byPattern: make(map[Pattern][]Entry)}
	for _, b := range bindings {
		s.byPattern[b.Pattern] = append(s.byPattern[b.Pattern], b.Entry)
	}
	for p, es := range s.byPattern {
		slices.SortFunc(es, CompareEntries)
		es = slices.Compact(es)
		s.byPattern[p] = es
		s.n += len(es)
		if p.PatternType == Prefixed && p.Type >= 0 && p.Type < numResourceTypes {
			s.prefixLens[p.Type] = append(s.prefixLens[p.Type], len(p.Name))
		}
	}
	for t := range s.prefixLens {
		slices.Sort(s.prefixLens[t])
		s.prefixLens[t] = slices.Compact(s.prefixLens[t])
	}
	return s
}

// Len is the number of ACLs.
func (s *Snapshot) Len() int { return s.n }

// Entries are the ACLs of one pattern, sorted.
func (s *Snapshot) Entries(p Pattern) []Entry { return s.byPattern[p] }

// Patterns are the patterns that have ACLs, sorted.
func (s *Snapshot) Patterns() []Pattern {
	out := make([]Pattern, 0, len(s.byPattern))
	for p := range s.byPattern {
		out = append(out, p)
	}
	slices.SortFunc(out, comparePatterns)
	return out
}

// Bindings are every ACL, sorted by pattern then entry.
func (s *Snapshot) Bindings() []Binding { return s.Select(AnyFilter) }

// Select returns the ACLs a filter matches, sorted.
func (s *Snapshot) Select(f Filter) []Binding {
	var out []Binding
	for _, p := range s.Patterns() {
		if !f.MatchesPattern(p) {
			continue
		}
		for _, e := range s.byPattern[p] {
			if f.MatchesEntry(e) {
				out = append(out, Binding{Pattern: p, Entry: e})
			}
		}
	}
	return out
}

// With returns a snapshot with the bindings added.
func (s *Snapshot) With(add []Binding) *Snapshot {
	return NewSnapshot(append(s.Bindings(), add...))
}

// Without returns a snapshot without the bindings any filter matches, and
// per filter the bindings it matched (each filter is matched against s,
// so a binding two filters match is reported by both, as Kafka's
// StandardAuthorizer does).
func (s *Snapshot) Without(filters []Filter) (*Snapshot, [][]Binding) {
	all := s.Bindings()
	matched := make([][]Binding, len(filters))
	gone := make([]bool, len(all))
	for i, f := range filters {
		if f.Unknown() {
			continue
		}
		for j, b := range all {
			if f.Matches(b) {
				matched[i] = append(matched[i], b)
				gone[j] = true
			}
		}
	}
	var keep []Binding
	for j, b := range all {
		if !gone[j] {
			keep = append(keep, b)
		}
	}
	return NewSnapshot(keep), matched
}

func comparePatterns(a, b Pattern) int {
	return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.PatternType, b.PatternType), cmp.Compare(a.Name, b.Name))
}

// CompareEntries orders entries by principal, host, operation, permission.
func CompareEntries(a, b Entry) int {
	return cmp.Or(cmp.Compare(a.Principal, b.Principal), cmp.Compare(a.Host, b.Host),
		cmp.Compare(a.Operation, b.Operation), cmp.Compare(a.Permission, b.Permission))
}

// CompareBindings orders bindings by pattern, then entry.
func CompareBindings(a, b Binding) int {
	return cmp.Or(comparePatterns(a.Pattern, b.Pattern), CompareEntries(a.Entry, b.Entry))
}
