package records

import (
	"encoding/binary"
	"math/bits"
)

// Kafka before 0.10 wrote LZ4 frames with a wrong header checksum: the
// descriptor checksum byte was computed over the frame's magic number as
// well as its descriptor (KAFKA-3160). Clients writing magic 0 messages
// keep doing so for old brokers (kafka-python's lz4_encode_old_kafka), and
// Kafka reads magic 0 LZ4 ignoring that byte. fixLZ4HeaderChecksum
// returns a copy of such a frame with the byte Go's decoder expects; a
// frame too short to hold a header is returned as it is, for the decoder
// to refuse.

const lz4FrameMagic = 0x184D2204

func fixLZ4HeaderChecksum(frame []byte) []byte {
	if len(frame) < 7 || binary.LittleEndian.Uint32(frame) != lz4FrameMagic {
		return frame
	}
	flg := frame[4]
	end := 6 // FLG, BD
	if flg&0x08 != 0 {
		end += 8 // content size
	}
	if flg&0x01 != 0 {
		end += 4 // dictionary id
	}
	if len(frame) <= end {
		return frame
	}
	hc := byte(xxh32(frame[4:end]) >> 8)
	if frame[end] == hc {
		return frame
	}
	out := append([]byte(nil), frame...)
	out[end] = hc
	return out
}

// xxh32 is the 32-bit xxHash with seed 0 (what LZ4 frames checksum
// with), for the short inputs of a frame header.
func xxh32(b []byte) uint32 {
	var (
		p1 uint32 = 2654435761
		p2 uint32 = 2246822519
		p3 uint32 = 3266489917
		p4 uint32 = 668265263
		p5 uint32 = 374761393
	)
	n := uint32(len(b))
	var h uint32
	if len(b) >= 16 {
		v := [4]uint32{p1 + p2, p2, 0, -p1}
		for ; len(b) >= 16; b = b[16:] {
			for i := range v {
				v[i] = bits.RotateLeft32(v[i]+binary.LittleEndian.Uint32(b[4*i:])*p2, 13) * p1
			}
		}
		h = bits.RotateLeft32(v[0], 1) + bits.RotateLeft32(v[1], 7) + bits.RotateLeft32(v[2], 12) + bits.RotateLeft32(v[3], 18)
	} else {
		h = p5
	}
	h += n
	for ; len(b) >= 4; b = b[4:] {
		h = bits.RotateLeft32(h+binary.LittleEndian.Uint32(b)*p3, 17) * p4
	}
	for _, c := range b {
		h = bits.RotateLeft32(h+uint32(c)*p5, 11) * p1
	}
	h ^= h >> 15
	h *= p2
	h ^= h >> 13
	h *= p3
	h ^= h >> 16
	return h
}
