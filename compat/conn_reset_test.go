package compat

import (
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"gregor/internal/brokertest"
	"gregor/internal/wait"
)

// A client whose connection ends with a reset (a killed client process,
// a crashed host's RST, a broker killed with -9 whose connections to the
// others go with it) is an ordinary disconnection: Kafka's Selector takes
// the IOException and logs "Connection with ... disconnected" at debug,
// keeping WARN for unexpected errors. Gregor logged a WARN 'closing
// connection ... connection reset by peer' for each, so every client or
// broker killed under load put warnings in every broker's log.
func TestConnectionResetByPeerLoggedAtDebug(t *testing.T) {
	if !usingGregor() {
		t.Skip("COMPAT_BOOTSTRAP is set: this test reads its own broker's log")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{"gregor.log.level": "debug"}})
	for _, name := range []string{"idle", "mid-request"} {
		t.Run(name, func(t *testing.T) {
			c := hcDial(t, b.Addr)
			// An ApiVersions v0 answered: the broker is reading c.
			if _, err := c.Write([]byte{0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xff}); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			var size [4]byte
			if _, err := io.ReadFull(c, size[:]); err != nil {
				t.Fatalf("reading the ApiVersions response: %v", err)
			}
			if _, err := io.ReadFull(c, make([]byte, binary.BigEndian.Uint32(size[:]))); err != nil {
				t.Fatalf("reading the ApiVersions response: %v", err)
			}
			if name == "mid-request" {
				// A size prefix and part of a request header.
				if _, err := c.Write([]byte{0, 0, 0, 40, 0, 18, 0, 3}); err != nil {
					t.Fatal(err)
				}
			}
			remote := `"remote":"` + c.LocalAddr().String() + `"`
			if err := c.(*net.TCPConn).SetLinger(0); err != nil { // close sends RST
				t.Fatal(err)
			}
			c.Close()
			var closing string
			wait.For(t, "the broker to log the end of the reset connection", 10*time.Second, func() bool {
				for _, l := range strings.Split(b.Logs(1<<30), "\n") {
					if strings.Contains(l, remote) && (strings.Contains(l, "closing connection") || strings.Contains(l, "connection closed")) {
						closing = l
						return true
					}
				}
				return false
			})
			if !strings.Contains(closing, `"level":"debug"`) {
				t.Fatalf("a connection reset by its client is logged as %s, want at debug level", closing)
			}
		})
	}
}
