package coordinator

import (
	"net"
	"testing"
)

// Member client hosts are printed as Java's InetAddress.getHostAddress
// prints them (Inet6Address.numericToTextFormat for IPv6).
func TestJavaHostAddress(t *testing.T) {
	for _, c := range []struct {
		ip, zone, want string
	}{
		{"127.0.0.1", "", "127.0.0.1"},
		{"::ffff:10.0.0.7", "", "10.0.0.7"}, // an IPv4 peer on a dual-stack listener
		{"::1", "", "0:0:0:0:0:0:0:1"},
		{"2001:db8::ff00:42:8329", "", "2001:db8:0:0:0:ff00:42:8329"},
		{"fe80::1", "eth0", "fe80:0:0:0:0:0:0:1%eth0"},
	} {
		if got := javaHostAddress(net.ParseIP(c.ip), c.zone); got != c.want {
			t.Errorf("javaHostAddress(%s, %q) = %q, want %q", c.ip, c.zone, got, c.want)
		}
	}
}
