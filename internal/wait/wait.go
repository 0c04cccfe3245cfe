// Package wait is how tests wait for something: poll a condition with a
// bound, and say what was awaited when the bound passes. No fixed sleeps
// as synchronisation.
package wait

import (
	"testing"
	"time"
)

// For polls cond every few milliseconds until it holds, failing t with
// what was awaited once bound has passed.
func For(t testing.TB, what string, bound time.Duration, cond func() bool) {
	t.Helper()
	if !Until(bound, cond) {
		t.Fatalf("timed out after %v waiting for %s", bound, what)
	}
}

// Until polls cond until it holds or bound passes, and reports whether it
// held.
func Until(bound time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(bound)
	every := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(every)
		every = min(2*every, 50*time.Millisecond)
	}
	return true
}
