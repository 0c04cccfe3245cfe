package records

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Compression codecs as numbered in batch attributes.
const (
	CodecNone   int8 = 0
	CodecGzip   int8 = 1
	CodecSnappy int8 = 2
	CodecLZ4    int8 = 3
	CodecZstd   int8 = 4
)

// maxDecompressed bounds what one batch may inflate to, so a small hostile
// batch cannot make us allocate without limit.
const maxDecompressed = 256 << 20

// xerialMagic starts snappy data framed by the Java client (xerial).
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

var zstdDecoder = sync.OnceValue(func() *zstd.Decoder {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxDecompressed))
	if err != nil {
		panic(err) // only on invalid options
	}
	return d
})

// Decompress inflates src compressed with codec.
func Decompress(codec int8, src []byte) ([]byte, error) {
	switch codec {
	case CodecNone:
		return src, nil
	case CodecGzip:
		r, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return readBounded(r)
	case CodecSnappy:
		if bytes.HasPrefix(src, xerialMagic) {
			return unxerial(src)
		}
		return snappyDecode(src)
	case CodecLZ4:
		return readBounded(lz4.NewReader(bytes.NewReader(src)))
	case CodecZstd:
		out, err := zstdDecoder().DecodeAll(src, nil)
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w %d", ErrCompression, codec)
}

func readBounded(r io.Reader) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, maxDecompressed+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxDecompressed {
		return nil, fmt.Errorf("%w: decompresses past %d bytes", ErrInvalid, maxDecompressed)
	}
	return out, nil
}

func snappyDecode(src []byte) ([]byte, error) {
	n, err := snappy.DecodedLen(src)
	if err != nil {
		return nil, fmt.Errorf("snappy: %w", err)
	}
	if n > maxDecompressed {
		return nil, fmt.Errorf("%w: snappy block of %d bytes", ErrInvalid, n)
	}
	return snappy.Decode(nil, src)
}

// unxerial decodes xerial framing: the 8-byte magic, two int32 versions,
// then blocks of int32 length + raw snappy.
func unxerial(src []byte) ([]byte, error) {
	if len(src) < 16 {
		return nil, fmt.Errorf("%w: short xerial header", ErrInvalid)
	}
	src = src[16:]
	var out []byte
	for len(src) > 0 {
		if len(src) < 4 {
			return nil, fmt.Errorf("%w: short xerial block", ErrInvalid)
		}
		n := int(binary.BigEndian.Uint32(src))
		src = src[4:]
		if n < 0 || n > len(src) {
			return nil, fmt.Errorf("%w: xerial block length %d", ErrInvalid, n)
		}
		block, err := snappyDecode(src[:n])
		if err != nil {
			return nil, err
		}
		if len(out)+len(block) > maxDecompressed {
			return nil, fmt.Errorf("%w: decompresses past %d bytes", ErrInvalid, maxDecompressed)
		}
		out = append(out, block...)
		src = src[n:]
	}
	return out, nil
}

// Compress deflates src with codec, in the framing Kafka clients read.
func Compress(codec int8, src []byte) ([]byte, error) {
	var buf bytes.Buffer
	switch codec {
	case CodecNone:
		return src, nil
	case CodecGzip:
		w := gzip.NewWriter(&buf)
		w.Write(src)
		if err := w.Close(); err != nil {
			return nil, err
		}
	case CodecSnappy:
		return snappy.Encode(nil, src), nil
	case CodecLZ4:
		w := lz4.NewWriter(&buf)
		w.Write(src)
		if err := w.Close(); err != nil {
			return nil, err
		}
	case CodecZstd:
		w, err := zstd.NewWriter(&buf)
		if err != nil {
			return nil, err
		}
		w.Write(src)
		if err := w.Close(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w %d", ErrCompression, codec)
	}
	return buf.Bytes(), nil
}
