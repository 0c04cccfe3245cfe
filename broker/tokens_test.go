package broker

import (
	"encoding/base64"
	"testing"
)

// Kafka's Uuid.randomUuid never gives an id whose text starts with '-';
// one in 64 random ids would.
func TestNewTokenIDNeverStartsWithDash(t *testing.T) {
	for i := 0; i < 5000; i++ {
		id := newTokenID()
		b, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil || len(b) != 16 {
			t.Fatalf("token id %q is not a base64 UUID: %v", id, err)
		}
		if id[0] == '-' {
			t.Fatalf("token id %q starts with '-' (after %d ids)", id, i+1)
		}
		if b[6]>>4 != 4 || b[8]>>6 != 2 {
			t.Fatalf("token id %q is not a version 4, variant 2 UUID", id)
		}
	}
}
