package protocol

import (
	"net"
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestIdleConnectionsHoldNoReadBuffer: a connection waiting for its next
// request holds no read buffer (64 KiB each before), so many idle clients
// cost little memory.
func TestIdleConnectionsHoldNoReadBuffer(t *testing.T) {
	s, addr := startServer(t, heartbeatRegistry(), 0)
	const n = 200
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		c := dial(t, addr)
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 3
		req.ClientSoftwareName, req.ClientSoftwareVersion = "idle", "1"
		send(t, c, frameFor(req, 1))
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = 3
		readResponse(t, c, resp)
		conns = append(conns, c)
	}
	waitFor(t, "every connection counted", func() bool { return s.Stats.ConnsOpen.Load() == n })
	runtime.GC()
	runtime.ReadMemStats(&ms)
	per := (int64(ms.HeapAlloc) - int64(before)) / n
	if per > 24<<10 {
		t.Fatalf("an idle connection holds %d heap bytes, want well under a 64 KiB read buffer", per)
	}
	t.Logf("%d heap bytes per idle connection", per)
	for _, c := range conns {
		c.Close()
	}
}
