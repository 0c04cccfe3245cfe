//go:build race

package records

// raceEnabled: the race detector drops sync.Pool items at random, so
// steady-state allocation checks do not hold.
const raceEnabled = true
