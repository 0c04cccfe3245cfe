package metadata

// Delegation tokens of a single broker, kept in its metadata file (which
// is written readable by its owner only; it holds no HMAC).

import (
	"context"
	"maps"
	"slices"
)

// applyTokensLocked delivers every token.
func (l *local) applyTokensLocked() {
	if a, ok := l.apply.(DelegationTokenApplier); ok {
		out := make(map[string]TokenInfo, len(l.doc.DelegationTokens))
		for id, t := range l.doc.DelegationTokens {
			t.Renewers = slices.Clone(t.Renewers)
			out[id] = t
		}
		a.ApplyDelegationTokens(out)
	}
}

// SetDelegationToken creates or replaces a token and saves the file
// before delivering the tokens.
func (l *local) SetDelegationToken(_ context.Context, t TokenInfo, create bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.doc.DelegationTokens[t.TokenID]; !ok && !create {
		return ErrTokenGone
	}
	t.Renewers = slices.Clone(t.Renewers)
	return l.alterTokensLocked(func(m map[string]TokenInfo) { m[t.TokenID] = t })
}

// DeleteDelegationToken removes a token.
func (l *local) DeleteDelegationToken(_ context.Context, tokenID string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.doc.DelegationTokens[tokenID]; !ok {
		return nil
	}
	return l.alterTokensLocked(func(m map[string]TokenInfo) { delete(m, tokenID) })
}

func (l *local) alterTokensLocked(change func(map[string]TokenInfo)) error {
	old := l.doc.DelegationTokens
	next := maps.Clone(old)
	if next == nil {
		next = map[string]TokenInfo{}
	}
	change(next)
	if len(next) == 0 {
		next = nil
	}
	l.doc.DelegationTokens = next
	if err := l.saveLocked(); err != nil {
		l.doc.DelegationTokens = old
		return err
	}
	l.applyTokensLocked()
	return nil
}
