//go:build !invariants

package invariants

// Enabled is true in builds with the invariants tag (make test).
const Enabled = false
