package coordinator

import (
	"net"
	"strconv"
	"strings"
	"time"

	"gregor/protocol"
)

// clientHost is a connection's peer as Kafka shows it: Java's
// InetAddress.toString, "/" and the address (javaHostAddress).
func clientHost(req *protocol.Request) string {
	if req.Conn == nil || req.Conn.Remote == nil {
		return ""
	}
	if a, ok := req.Conn.Remote.(*net.TCPAddr); ok {
		return "/" + javaHostAddress(a.IP, a.Zone)
	}
	host, _, err := net.SplitHostPort(req.Conn.Remote.String())
	if err != nil {
		return "/" + req.Conn.Remote.String()
	}
	return "/" + host
}

// javaHostAddress is an IP as Java's getHostAddress prints it: IPv4
// (IPv4-mapped IPv6 too, which Java turns into IPv4) dotted; IPv6 as eight
// hex groups without leading zeros and without "::" compression
// (Inet6Address.numericToTextFormat), then "%" and the zone if any.
func javaHostAddress(ip net.IP, zone string) string {
	if v4 := ip.To4(); v4 != nil || len(ip) != net.IPv6len {
		return ip.String()
	}
	var b strings.Builder
	for i := 0; i < net.IPv6len; i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strconv.FormatUint(uint64(ip[i])<<8|uint64(ip[i+1]), 16))
	}
	if zone != "" {
		b.WriteString("%" + zone)
	}
	return b.String()
}

func millis(ms int32) time.Duration { return time.Duration(ms) * time.Millisecond }
