package records

import (
	"bytes"
	"fmt"
	"testing"
)

// Every level Kafka's compression.*.level keys allow compresses to
// frames the codecs read back.
func TestCompressLevelRoundTrip(t *testing.T) {
	var src []byte
	for i := range 5000 {
		src = fmt.Appendf(src, "record %d of a compressible batch; ", i%97)
	}
	levels := map[int8][]int32{
		CodecGzip: {0, -1, 1, 5, 9},
		CodecLZ4:  {0, 1, 3, 9, 10, 17},
		CodecZstd: {0, -131072, -5, 1, 3, 6, 10, 19, 22},
	}
	for codec, ls := range levels {
		for _, l := range ls {
			c, err := CompressLevel(codec, l, src)
			if err != nil {
				t.Fatalf("%s at level %d: %v", codecName(codec), l, err)
			}
			back, err := Decompress(codec, c)
			if err != nil || !bytes.Equal(back, src) {
				t.Fatalf("%s at level %d: read back %d bytes (%v), want %d", codecName(codec), l, len(back), err, len(src))
			}
		}
	}
}
