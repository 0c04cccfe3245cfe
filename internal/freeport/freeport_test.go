package freeport

import "testing"

// A picked port is never one the suite's fixed-port cluster binds
// (scripts/compat-cluster.sh: 22181, 29092 to 29094).
func TestPickAvoidsReservedPorts(t *testing.T) {
	for _, p := range []int{22181, 29092, 29093, 29094} {
		if !isReserved(p) {
			t.Fatalf("port %d is not reserved", p)
		}
	}
	for range 2000 {
		p, err := Pick()
		if err != nil {
			t.Fatal(err)
		}
		if isReserved(p) {
			t.Fatalf("picked reserved port %d", p)
		}
	}
}
