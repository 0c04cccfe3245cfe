package records

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// UpConvertMax refuses a legacy set whose converted batch would pass what
// produce accepts (max.message.bytes) as soon as it does, instead of
// converting everything for prepare to refuse it after.

// TestUpConvertMaxIsExact: a batch of exactly maxBatch bytes is made, one
// byte less refuses it.
func TestUpConvertMaxIsExact(t *testing.T) {
	for _, magic := range []int8{0, 1} {
		set := legacyInner(magic, 50, 100)
		set = append(set, legacyWrapper(t, magic, CodecLZ4, legacyInner(magic, 50, 300))...)
		want, err := UpConvert(set, 0)
		if err != nil {
			t.Fatal(err)
		}
		size := int64(len(want))
		got, err := UpConvertMax(set, 0, size)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("magic %d: a batch of %d bytes under a maximum of as many: %v", magic, size, err)
		}
		if _, err := UpConvertMax(set, 0, size-1); !errors.Is(err, ErrTooLarge) {
			t.Errorf("magic %d: a batch of %d bytes under a maximum of %d: %v, want ErrTooLarge", magic, size, size-1, err)
		}
	}
}

// TestUpConvertMaxStopsAtTheBatch: wrappers well within the decompression
// limit, whose records pass maxBatch at the fifth, are refused there: a
// wrapper of garbage after it is never read, and the conversion costs
// about maxBatch and one wrapper.
func TestUpConvertMaxStopsAtTheBatch(t *testing.T) {
	const limit, maxBatch = 64 << 20, 1 << 20
	for _, c := range legacyCodecs {
		for _, magic := range []int8{0, 1} {
			t.Run(fmt.Sprintf("%s/magic%d", c.name, magic), func(t *testing.T) {
				inner := legacyInner(magic, (maxBatch/4)/LegacySize(magic, 0, 1024)+1, 1024)
				w := legacyWrapper(t, magic, c.codec, inner)
				set := bytes.Repeat(w, 5)
				set = append(set, AppendLegacy(nil, magic, 0, codecOf(c.codec), 1000, nil, garbageFor(c.codec))...)
				set = append(set, bytes.Repeat(w, 58)...)
				if _, err := UpConvertMax(set, limit, maxBatch); !errors.Is(err, ErrTooLarge) {
					t.Fatalf("64 wrappers of %d bytes each, under a maximum batch of %d: %v, want ErrTooLarge", len(inner), maxBatch, err)
				}
				if raceEnabled {
					return
				}
				clean := bytes.Repeat(w, 64)
				_, warm := allocsOf(func() { UpConvertMax(clean, limit, maxBatch) })
				if bound := uint64(4 * maxBatch); warm > bound {
					t.Errorf("up-converting allocated %d bytes, over %d", warm, bound)
				}
			})
		}
	}
}
