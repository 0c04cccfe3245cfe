// Package invariants holds cheap checks of internal invariants that panic
// in test builds (go test -tags invariants) and cost nothing otherwise.
// Never use them on client or disk input: that is validated, not asserted.
package invariants

import "fmt"

// Check panics with a formatted message if cond is false and invariants
// are enabled.
func Check(cond bool, format string, args ...any) {
	if Enabled && !cond {
		panic(fmt.Sprintf("invariant violated: "+format, args...))
	}
}
