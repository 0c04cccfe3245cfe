package records

import (
	"bytes"
	"encoding/binary"
	"errors"
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

// DefaultMaxUncompressed bounds what one batch may inflate to when the
// caller names no limit (reads of batches already in a log), so a small
// hostile batch cannot make us allocate without limit. Produce and the
// cleaner pass a limit derived from the topic's max.message.bytes.
const DefaultMaxUncompressed = 256 << 20

// A zstd stream decoder holds a window of history, allocated in full when
// a frame starts, of the size the frame declares. Frames declaring at most
// zstdStreamWindow (what streaming compressors declare at the levels Kafka
// clients use: zstd-jni 2 MiB at level 3, 8 MiB at level 19; klauspost
// 8 MiB) are decoded as a stream; a frame declaring more (zstd-jni at level
// 22 declares 128 MiB) is decoded whole into a buffer of at most the
// batch's limit, which serves as its history: either way a frame costs at
// most the larger of 8 MiB and the limit, whatever window it declares.
// Windows past Kafka's own limit (zstd-jni's ZSTD_WINDOWLOG_LIMIT_DEFAULT,
// 2^27) are refused as too large.
const (
	zstdStreamWindow = 8 << 20
	maxZstdWindow    = 1 << 27
)

// zstdWhole decodes frames with large windows whole (DecodeAll is safe for
// concurrent use); the output's capacity bounds it.
var zstdWhole = sync.OnceValue(func() *zstd.Decoder {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxWindow(maxZstdWindow),
		zstd.WithDecoderMaxMemory(1<<40), zstd.WithDecodeAllCapLimit(true))
	if err != nil {
		panic(err) // only on invalid options
	}
	return d
})

// xerialMagic starts snappy data framed by the Java client (xerial).
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// inflater decompresses one batch's records as a stream. Inflaters and
// their decoders are pooled: a produce of a compressed batch allocates
// nothing once the pool is warm.
type inflater struct {
	in  sliceReader
	gz  *gzip.Reader
	lz  *lz4.Reader
	zs  *zstd.Decoder
	sn  snappyReader
	all sliceReader // a zstd frame decoded whole
	buf []byte      // a walker's window, reused between batches
}

// maxPooledBuffer is the largest buffer an inflater keeps for reuse.
const maxPooledBuffer = 1 << 20

var inflaters = sync.Pool{New: func() any { return new(inflater) }}

// open returns a reader of src's decompressed bytes, which may produce at
// most limit bytes before failing with ErrTooLarge (snappy, whose blocks
// state their size up front) or being stopped by the caller (the other
// codecs, read through a walker that checks every record's length).
// Errors wrap ErrCorrupt or ErrCompression.
func (f *inflater) open(codec int8, src []byte, limit int64) (io.Reader, error) {
	f.in.reset(src)
	switch codec {
	case CodecGzip:
		if f.gz == nil {
			f.gz = new(gzip.Reader)
		}
		if err := f.gz.Reset(&f.in); err != nil {
			return nil, corrupt("gzip", err)
		}
		return f.gz, nil
	case CodecSnappy:
		if err := f.sn.reset(src, limit); err != nil {
			return nil, err
		}
		return &f.sn, nil
	case CodecLZ4:
		if f.lz == nil {
			f.lz = lz4.NewReader(nil)
		}
		f.lz.Reset(&f.in)
		return f.lz, nil
	case CodecZstd:
		var hdr zstd.Header
		if hdr.Decode(src) == nil && hdr.WindowSize > zstdStreamWindow {
			out, err := decodeZstdWhole(src, &hdr, limit)
			if err != nil {
				return nil, err
			}
			f.all.reset(out)
			return &f.all, nil
		}
		if err := f.resetZstd(); err != nil {
			return nil, corrupt("zstd", err)
		}
		return f.zs, nil
	}
	return nil, fmt.Errorf("%w %d", ErrCompression, codec)
}

// resetZstd readies f.zs to decode f.in as a stream.
func (f *inflater) resetZstd() error {
	if f.zs == nil {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(zstdStreamWindow), zstd.WithDecoderMaxMemory(zstdStreamWindow), zstd.WithDecodeBuffersBelow(0))
		if err != nil {
			panic(err) // only on invalid options
		}
		f.zs = d
	}
	return f.zs.Reset(&f.in)
}

// decodeZstdWhole decodes zstd frames (the first declaring a large window)
// into a buffer of at most limit bytes (untouched memory until decoded
// into: what it costs is what the frames inflate to).
func decodeZstdWhole(src []byte, hdr *zstd.Header, limit int64) ([]byte, error) {
	if hdr.WindowSize > maxZstdWindow {
		return nil, fmt.Errorf("%w: a zstd window of %d bytes", ErrTooLarge, hdr.WindowSize)
	}
	out, err := zstdWhole().DecodeAll(src, make([]byte, 0, limit))
	if err != nil {
		return nil, corrupt("zstd", err)
	}
	return out, nil
}

// release drops references to the batch and returns f to the pool.
func (f *inflater) release() {
	f.in.reset(nil)
	f.all.reset(nil)
	f.sn.reset(nil, 0)
	if cap(f.sn.block) > maxPooledBuffer {
		f.sn.block = nil
	}
	if cap(f.buf) > maxPooledBuffer {
		f.buf = nil
	}
	if f.zs != nil {
		f.zs.Reset(nil)
	}
	if f.lz != nil {
		f.lz.Reset(nil)
	}
	inflaters.Put(f)
}

// corrupt wraps a decoder's error as ErrCorrupt.
func corrupt(codec string, err error) error {
	if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTooLarge) {
		return err
	}
	if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return fmt.Errorf("%w: %s: %v", ErrTooLarge, codec, err)
	}
	return fmt.Errorf("%w: %s: %v", ErrCorrupt, codec, err)
}

// sliceReader reads a byte slice; unlike bytes.Reader it is not one of the
// types decoders special-case (zstd decodes those whole, in memory).
type sliceReader struct {
	b []byte
	p int
}

func (r *sliceReader) reset(b []byte) { r.b, r.p = b, 0 }

func (r *sliceReader) Read(p []byte) (int, error) {
	if r.p >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.p:])
	r.p += n
	return n, nil
}

// ReadByte makes a sliceReader a flate.Reader, so gzip reads it directly.
func (r *sliceReader) ReadByte() (byte, error) {
	if r.p >= len(r.b) {
		return 0, io.EOF
	}
	r.p++
	return r.b[r.p-1], nil
}

// snappyReader decodes snappy as clients write it: one raw block
// (librdkafka, franz-go) or xerial framing (the Java client): the 8-byte
// magic, two int32 versions, then blocks of int32 length + raw snappy,
// decoded one block at a time.
type snappyReader struct {
	src    []byte // what is left to decode
	xerial bool
	out    []byte // decoded block being served
	p      int
	budget int64 // bytes still allowed out
	block  []byte
}

func (s *snappyReader) reset(src []byte, limit int64) error {
	*s = snappyReader{src: src, budget: limit, block: s.block[:0]}
	if src == nil {
		return nil
	}
	if bytes.HasPrefix(src, xerialMagic) {
		if len(src) < 16 {
			return fmt.Errorf("%w: short xerial header", ErrCorrupt)
		}
		s.src, s.xerial = src[16:], true
		return nil
	}
	return s.decode(src, true)
}

// decode inflates one raw block into s.out.
func (s *snappyReader) decode(blk []byte, last bool) error {
	n, err := snappy.DecodedLen(blk)
	if err != nil {
		return corrupt("snappy", err)
	}
	if int64(n) > s.budget {
		return fmt.Errorf("%w: a snappy block of %d bytes with %d left of the limit", ErrTooLarge, n, s.budget)
	}
	if cap(s.block) < n {
		s.block = make([]byte, n)
	}
	out, err := snappy.Decode(s.block[:n], blk)
	if err != nil {
		return corrupt("snappy", err)
	}
	s.budget -= int64(n)
	s.out, s.p = out, 0
	if last {
		s.src = nil
	}
	return nil
}

func (s *snappyReader) Read(p []byte) (int, error) {
	for s.p >= len(s.out) {
		if !s.xerial || len(s.src) == 0 {
			return 0, io.EOF
		}
		if len(s.src) < 4 {
			return 0, fmt.Errorf("%w: short xerial block header", ErrCorrupt)
		}
		n := int64(binary.BigEndian.Uint32(s.src))
		if n > int64(len(s.src)-4) {
			return 0, fmt.Errorf("%w: xerial block of %d bytes with %d left", ErrCorrupt, n, len(s.src)-4)
		}
		blk := s.src[4 : 4+n]
		s.src = s.src[4+n:]
		if err := s.decode(blk, false); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.out[s.p:])
	s.p += n
	return n, nil
}

// Decompress inflates src compressed with codec, to at most
// DefaultMaxUncompressed bytes.
func Decompress(codec int8, src []byte) ([]byte, error) {
	return decompress(codec, src, DefaultMaxUncompressed)
}

// decompress inflates src whole, failing with ErrTooLarge past limit.
func decompress(codec int8, src []byte, limit int64) ([]byte, error) {
	if codec == CodecNone {
		return src, nil
	}
	f := inflaters.Get().(*inflater)
	defer f.release()
	r, err := f.open(codec, src, limit)
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, corrupt(codecName(codec), err)
	}
	if int64(len(out)) > limit {
		return nil, fmt.Errorf("%w: decompresses past %d bytes", ErrTooLarge, limit)
	}
	return out, nil
}

func codecName(c int8) string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec %d", c)
}

// Compress deflates src with codec at the codec's default level, in the
// framing Kafka clients read.
func Compress(codec int8, src []byte) ([]byte, error) {
	return CompressLevel(codec, 0, src)
}

// CompressLevel is Compress at a level as Kafka's compression.gzip.level,
// compression.lz4.level and compression.zstd.level give it (KIP-390); 0
// is the codec's default (gzip's -1, lz4's 9, zstd's 3). Writers are
// pooled per level: building one (gzip's and lz4's state, zstd's encoder)
// costs more than compressing a small batch.
func CompressLevel(codec int8, level int32, src []byte) ([]byte, error) {
	var buf bytes.Buffer
	var w interface {
		io.WriteCloser
		Reset(io.Writer)
	}
	switch codec {
	case CodecNone:
		return src, nil
	case CodecSnappy:
		return snappy.Encode(nil, src), nil
	case CodecGzip:
		pool := &gzipWriters[gzipLevel(level)-gzip.DefaultCompression]
		gw, _ := pool.Get().(*gzip.Writer)
		if gw == nil {
			gw, _ = gzip.NewWriterLevel(nil, gzipLevel(level)) // the level is in range
		}
		defer pool.Put(gw)
		w = gw
	case CodecLZ4:
		pool := &lz4Writers[lz4Level(level)]
		lw, _ := pool.Get().(*lz4.Writer)
		if lw == nil {
			lw = lz4.NewWriter(nil)
			if err := lw.Apply(lz4.CompressionLevelOption(lz4Levels[lz4Level(level)])); err != nil {
				return nil, err
			}
		}
		defer pool.Put(lw)
		w = lw
	case CodecZstd:
		el := zstd.EncoderLevelFromZstd(int(zstdLevel(level)))
		pool := &zstdWriters[el]
		zw, _ := pool.Get().(*zstd.Encoder)
		if zw == nil {
			var err error
			if zw, err = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(el)); err != nil {
				return nil, err
			}
		}
		defer pool.Put(zw)
		w = zw
	default:
		return nil, fmt.Errorf("%w %d", ErrCompression, codec)
	}
	w.Reset(&buf)
	w.Write(src)
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// gzipLevel is a gzip level as Kafka takes it: -1 (the default, 6) or 1-9.
func gzipLevel(level int32) int {
	if level == 0 || level < gzip.DefaultCompression || level > gzip.BestCompression {
		return gzip.DefaultCompression
	}
	return int(level)
}

// lz4Level indexes lz4Levels: as Kafka's Lz4BlockOutputStream, the default
// level (9) compresses fast (lz4-java's fastCompressor) and any other with
// the high-compression codec at that level (lz4-java's 1-17; this codec's
// deepest level is 9).
func lz4Level(level int32) int {
	if level < 1 || level == 9 { // 0: the default, 9
		return 0
	}
	return int(min(level, 9))
}

var lz4Levels = [...]lz4.CompressionLevel{lz4.Fast, lz4.Level1, lz4.Level2, lz4.Level3, lz4.Level4,
	lz4.Level5, lz4.Level6, lz4.Level7, lz4.Level8, lz4.Level9}

// zstdLevel is a zstd level (0: the default, 3); this codec maps levels to
// four speeds (zstd.EncoderLevelFromZstd), negative ones to the fastest.
func zstdLevel(level int32) int32 {
	if level == 0 {
		return 3
	}
	return max(level, 1)
}

var (
	gzipWriters [gzip.BestCompression - gzip.DefaultCompression + 1]sync.Pool
	lz4Writers  [len(lz4Levels)]sync.Pool
	zstdWriters [zstd.SpeedBestCompression + 1]sync.Pool
)
