package coordinator

import (
	"net"
	"time"

	"gregor/protocol"
)

// clientHost is a connection's peer as Kafka shows it: "/" and the IP.
func clientHost(req *protocol.Request) string {
	if req.Conn == nil || req.Conn.Remote == nil {
		return ""
	}
	if a, ok := req.Conn.Remote.(*net.TCPAddr); ok {
		return "/" + a.IP.String()
	}
	host, _, err := net.SplitHostPort(req.Conn.Remote.String())
	if err != nil {
		return "/" + req.Conn.Remote.String()
	}
	return "/" + host
}

func millis(ms int32) time.Duration { return time.Duration(ms) * time.Millisecond }
