package coordinator

import (
	"net"
	"time"

	"gregor/protocol"
)

// groupAPIs are the coordinator lookup, consumer group and offset APIs.
//
// OffsetCommit and OffsetFetch stop at v9: v10 names topics by id only,
// which comes with KIP-848 consumer groups that Gregor does not run.
func (c *Coordinator) groupAPIs() []protocol.API {
	return []protocol.API{
		{Key: 8, Min: 0, Max: 9, Handler: c.handleOffsetCommit},
		{Key: 9, Min: 0, Max: 9, Handler: c.handleOffsetFetch},
		{Key: 10, Min: 0, Max: 6, Handler: c.handleFindCoordinator},
		{Key: 11, Min: 0, Max: 9, Handler: c.handleJoinGroup},
		{Key: 12, Min: 0, Max: 4, Handler: c.handleHeartbeat},
		{Key: 13, Min: 0, Max: 5, Handler: c.handleLeaveGroup},
		{Key: 14, Min: 0, Max: 5, Handler: c.handleSyncGroup},
		{Key: 15, Min: 0, Max: 6, Handler: c.handleDescribeGroups},
		{Key: 16, Min: 0, Max: 5, Handler: c.handleListGroups},
		{Key: 28, Min: 0, Max: 4, Handler: c.handleTxnOffsetCommit},
		{Key: 42, Min: 0, Max: 3, Handler: c.handleDeleteGroups},
		{Key: 47, Min: 0, Max: 0, Handler: c.handleOffsetDelete},
	}
}

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
