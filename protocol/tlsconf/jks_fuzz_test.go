package tlsconf

import (
	"crypto/sha1"
	"encoding/binary"
	"testing"
)

// FuzzDecodeJKS: no store file, however malformed, makes the JKS reader
// or key recovery panic or run away; with an empty password the integrity
// check is skipped, so the fuzzer reaches the entry parsing.
func FuzzDecodeJKS(f *testing.F) {
	store := func(entries ...[]byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, jksMagic)
		b = binary.BigEndian.AppendUint32(b, 2)
		b = binary.BigEndian.AppendUint32(b, uint32(len(entries)))
		for _, e := range entries {
			b = append(b, e...)
		}
		return append(b, make([]byte, sha1.Size)...)
	}
	entry := func(tag uint32, alias string, rest ...byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, tag)
		b = binary.BigEndian.AppendUint16(b, uint16(len(alias)))
		b = append(b, alias...)
		b = append(b, make([]byte, 8)...) // date
		return append(b, rest...)
	}
	utf := func(s string) []byte { return append(binary.BigEndian.AppendUint16(nil, uint16(len(s))), s...) }
	der := []byte{0x30, 0x03, 0x02, 0x01, 0x01}
	cert := append(utf("X.509"), binary.BigEndian.AppendUint32(nil, uint32(len(der)))...)
	cert = append(cert, der...)
	key := binary.BigEndian.AppendUint32(nil, uint32(len(der)))
	key = append(key, der...)
	key = binary.BigEndian.AppendUint32(key, 1)
	key = append(key, cert...)
	f.Add(store())
	f.Add(store(entry(2, "ca", cert...)))
	f.Add(store(entry(1, "broker", key...)))
	f.Add(store(entry(1, "broker", key...), entry(2, "ca", cert...)))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, pw := range []string{"", "secret"} {
			st, err := decodeJKS(data, pw)
			if err != nil {
				continue
			}
			for _, k := range st.keys {
				k.privateKey("secret")
			}
		}
	})
}
