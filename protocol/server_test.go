package protocol

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ioTimeout bounds every wait on the test connection.
const ioTimeout = 10 * time.Second

// echoHeartbeat answers Heartbeat (v1+) with ThrottleMillis set to the request's
// generation, so a response shows which request it answers.
func echoHeartbeat(_ context.Context, req *Request) (kmsg.Response, error) {
	resp := req.Response().(*kmsg.HeartbeatResponse)
	resp.ThrottleMillis = req.Body.(*kmsg.HeartbeatRequest).Generation
	return resp, nil
}

func startServer(t *testing.T, reg *Registry, maxRequest int32) (*Server, string) {
	t.Helper()
	s := NewServer(reg, zerolog.Nop())
	if maxRequest > 0 {
		s.MaxRequestSize = maxRequest
	}
	addr, err := s.Listen(Listener{Name: "PLAINTEXT", Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, addr.String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// reqFrame builds a size-prefixed request: header v1 (or v2 when flexible,
// followed by the raw tagged-field section tags) and body.
func reqFrame(key, version int16, corr int32, clientID *string, flexible bool, tags []byte, body []byte) []byte {
	b := []byte{0, 0, 0, 0}
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	if clientID == nil {
		b = binary.BigEndian.AppendUint16(b, 0xffff)
	} else {
		b = binary.BigEndian.AppendUint16(b, uint16(len(*clientID)))
		b = append(b, *clientID...)
	}
	if flexible {
		if tags == nil {
			tags = []byte{0}
		}
		b = append(b, tags...)
	}
	b = append(b, body...)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

func strp(s string) *string { return &s }

// frameFor encodes a kmsg request at its version with client id "test".
func frameFor(r kmsg.Request, corr int32) []byte {
	return reqFrame(r.Key(), r.GetVersion(), corr, strp("test"), r.IsFlexible(), nil, r.AppendTo(nil))
}

func heartbeat(version int16, gen int32) *kmsg.HeartbeatRequest {
	r := kmsg.NewPtrHeartbeatRequest()
	r.Version, r.Group, r.Generation, r.MemberID = version, "g", gen, "m"
	return r
}

func send(t *testing.T, c net.Conn, frames ...[]byte) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(ioTimeout))
	for _, f := range frames {
		if _, err := c.Write(f); err != nil {
			t.Fatalf("writing request: %v", err)
		}
	}
}

// readResponse reads one response frame and decodes it as resp (whose
// version is set), skipping the header tag byte of flexible non-ApiVersions
// responses. It returns the correlation id.
func readResponse(t *testing.T, c net.Conn, resp kmsg.Response) int32 {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatalf("reading response size: %v", err)
	}
	buf := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("reading response: %v", err)
	}
	corr := int32(binary.BigEndian.Uint32(buf))
	body := buf[4:]
	if resp.IsFlexible() && resp.Key() != 18 {
		if len(body) == 0 || body[0] != 0 {
			t.Fatalf("flexible response header without an empty tag section: % x", body[:min(len(body), 8)])
		}
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("decoding %s v%d response: %v", kmsg.NameForKey(resp.Key()), resp.GetVersion(), err)
	}
	return corr
}

func readHeartbeat(t *testing.T, c net.Conn, version int16) (corr, gen int32) {
	t.Helper()
	resp := kmsg.NewPtrHeartbeatResponse()
	resp.Version = version
	corr = readResponse(t, c, resp)
	return corr, resp.ThrottleMillis
}

// expectClosed waits for the server to close c, failing if it answers.
func expectClosed(t *testing.T, c net.Conn, why string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	var b [1]byte
	n, err := c.Read(b[:])
	if n > 0 {
		t.Fatalf("%s: server answered instead of closing the connection", why)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: connection still open after %v", why, ioTimeout)
	}
	if err == nil {
		t.Fatalf("%s: read returned no data and no error", why)
	}
}

func heartbeatRegistry() *Registry {
	reg := NewRegistry()
	reg.Register(API{Key: 12, Min: 0, Max: 4, Handler: echoHeartbeat})
	return reg
}

func TestRequestHeaderVersions(t *testing.T) {
	var mu sync.Mutex
	var clientIDs []string
	reg := NewRegistry()
	reg.Register(API{Key: 12, Min: 0, Max: 4, Handler: func(ctx context.Context, req *Request) (kmsg.Response, error) {
		mu.Lock()
		clientIDs = append(clientIDs, req.ClientID)
		mu.Unlock()
		return echoHeartbeat(ctx, req)
	}})
	_, addr := startServer(t, reg, 0)
	c := dial(t, addr)
	cases := []struct {
		name     string
		version  int16
		clientID *string
		tags     []byte
		wantID   string
	}{
		{"header v1", 3, strp("client-a"), nil, "client-a"},
		{"header v1 null client id", 1, nil, nil, ""},
		{"header v2 no tags", 4, strp("client-b"), []byte{0}, "client-b"},
		// Two tagged fields: tag 0 with 3 bytes, tag 5 empty.
		{"header v2 with tagged fields", 4, strp("client-c"), []byte{2, 0, 3, 'a', 'b', 'c', 5, 0}, "client-c"},
		{"header v2 null client id", 4, nil, []byte{1, 1, 2, 9, 9}, ""},
	}
	for i, tc := range cases {
		hb := heartbeat(tc.version, int32(100+i))
		send(t, c, reqFrame(12, tc.version, int32(i), tc.clientID, hb.IsFlexible(), tc.tags, hb.AppendTo(nil)))
		corr, gen := readHeartbeat(t, c, tc.version)
		if corr != int32(i) || gen != int32(100+i) {
			t.Fatalf("%s: response correlation %d, echoed generation %d; want %d, %d", tc.name, corr, gen, i, 100+i)
		}
		mu.Lock()
		got := clientIDs[len(clientIDs)-1]
		mu.Unlock()
		if got != tc.wantID {
			t.Fatalf("%s: handler saw client id %q, want %q", tc.name, got, tc.wantID)
		}
	}
}

func TestMalformedHeaderClosesConnection(t *testing.T) {
	_, addr := startServer(t, heartbeatRegistry(), 0)
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"client id longer than the frame", func() []byte {
			f := reqFrame(12, 3, 1, strp("abc"), false, nil, nil)
			binary.BigEndian.PutUint16(f[12:], 500)
			return f
		}()},
		{"tagged field longer than the frame", reqFrame(12, 4, 1, strp("x"), true, []byte{1, 0, 100, 1}, nil)},
		{"truncated body", reqFrame(12, 3, 1, strp("x"), false, nil, heartbeat(3, 1).AppendTo(nil)[:4])},
		{"frame shorter than a header", []byte{0, 0, 0, 4, 0, 12, 0, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr)
			send(t, c, tc.frame)
			expectClosed(t, c, tc.name)
		})
	}
}

func TestFrameSizeBound(t *testing.T) {
	const limit = 1024
	_, addr := startServer(t, heartbeatRegistry(), limit)
	// A request of exactly socket.request.max.bytes is served.
	hb := heartbeat(3, 5)
	body := hb.AppendTo(nil)
	pad := limit - (8 + 2 + len(body))
	ok := reqFrame(12, 3, 1, strp(string(make([]byte, pad))), false, nil, body)
	if got := binary.BigEndian.Uint32(ok); got != limit {
		t.Fatalf("test frame is %d bytes, want %d", got, limit)
	}
	c := dial(t, addr)
	send(t, c, ok)
	if corr, gen := readHeartbeat(t, c, 3); corr != 1 || gen != 5 {
		t.Fatalf("frame at the limit: correlation %d generation %d", corr, gen)
	}
	// One byte more closes the connection before the body is read: only
	// the size is sent.
	send(t, c, []byte{0, 0, limit >> 8, limit&0xff + 1})
	expectClosed(t, c, "frame over socket.request.max.bytes")
	// A hostile size does not make the server allocate it.
	c2 := dial(t, addr)
	send(t, c2, []byte{0x7f, 0xff, 0xff, 0xff})
	expectClosed(t, c2, "2 GiB frame")
	c3 := dial(t, addr)
	send(t, c3, []byte{0xff, 0xff, 0xff, 0xfe})
	expectClosed(t, c3, "negative frame size")
}

func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	release := make(chan struct{})
	reg := NewRegistry()
	reg.Register(API{Key: 12, Min: 0, Max: 4, Handler: func(ctx context.Context, req *Request) (kmsg.Response, error) {
		if req.Body.(*kmsg.HeartbeatRequest).Generation == 0 {
			select { // the first request is slow
			case <-release:
			case <-ctx.Done():
			}
		}
		return echoHeartbeat(ctx, req)
	}})
	_, addr := startServer(t, reg, 0)
	c := dial(t, addr)
	var frames [][]byte
	for i := 0; i < 20; i++ {
		frames = append(frames, frameFor(heartbeat(int16(1+i%4), int32(i)), int32(1000+i)))
	}
	send(t, c, frames...)
	close(release)
	for i := 0; i < 20; i++ {
		corr, gen := readHeartbeat(t, c, int16(1+i%4))
		if corr != int32(1000+i) || gen != int32(i) {
			t.Fatalf("response %d: correlation %d generation %d; want %d, %d", i, corr, gen, 1000+i, i)
		}
	}
}

func TestDeferredResponsesKeepOrder(t *testing.T) {
	release := make(chan struct{})
	secondHandled := make(chan struct{})
	reg := NewRegistry()
	reg.Register(API{Key: 12, Min: 0, Max: 4, Handler: func(ctx context.Context, req *Request) (kmsg.Response, error) {
		switch req.Body.(*kmsg.HeartbeatRequest).Generation {
		case 1:
			req.Defer(func(ctx context.Context) (kmsg.Response, error) {
				select {
				case <-release:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				return echoHeartbeat(ctx, req)
			})
			return nil, nil
		case 2:
			close(secondHandled)
		case 3: // acks=0 style: no response at all
			return nil, nil
		}
		return echoHeartbeat(ctx, req)
	}})
	_, addr := startServer(t, reg, 0)
	c := dial(t, addr)
	send(t, c, frameFor(heartbeat(4, 1), 1), frameFor(heartbeat(4, 2), 2), frameFor(heartbeat(4, 3), 3), frameFor(heartbeat(4, 4), 4))
	// The reader goes on past the deferred request...
	select {
	case <-secondHandled:
	case <-time.After(ioTimeout):
		t.Fatal("the request after a deferred one was not handled while the deferred one waited")
	}
	// ...but nothing is written before the deferred response.
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	var b [1]byte
	if n, _ := c.Read(b[:]); n > 0 {
		t.Fatal("a later response overtook a deferred one")
	}
	close(release)
	for _, want := range []int32{1, 2, 4} {
		if corr, gen := readHeartbeat(t, c, 4); corr != want || gen != want {
			t.Fatalf("got response %d (generation %d), want %d", corr, gen, want)
		}
	}
}

func TestApiVersionsFromRegistry(t *testing.T) {
	reg := heartbeatRegistry()
	reg.Register(API{Key: 3, Min: 0, Max: 12, MinServed: 4, Handler: func(context.Context, *Request) (kmsg.Response, error) {
		return nil, errors.New("not called")
	}})
	_, addr := startServer(t, reg, 0)
	maxAV := int16(ApiVersionsMax)
	want := map[int16][2]int16{3: {0, 12}, 12: {0, 4}, 18: {0, maxAV}, 17: {0, 1}, 36: {0, 2}}
	for v := int16(0); v <= maxAV; v++ {
		c := dial(t, addr)
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version, req.ClientSoftwareName, req.ClientSoftwareVersion = v, "gregor-test", "1.0.0"
		send(t, c, frameFor(req, 7))
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = v
		if corr := readResponse(t, c, resp); corr != 7 {
			t.Fatalf("v%d: correlation %d", v, corr)
		}
		if resp.ErrorCode != 0 || len(resp.ApiKeys) != len(want) {
			t.Fatalf("v%d: error %d, keys %+v", v, resp.ErrorCode, resp.ApiKeys)
		}
		for i, k := range resp.ApiKeys {
			if i > 0 && resp.ApiKeys[i-1].ApiKey >= k.ApiKey {
				t.Fatalf("v%d: keys not sorted: %+v", v, resp.ApiKeys)
			}
			if w, ok := want[k.ApiKey]; !ok || w != [2]int16{k.MinVersion, k.MaxVersion} {
				t.Fatalf("v%d: key %d advertised [%d, %d], want %v", v, k.ApiKey, k.MinVersion, k.MaxVersion, w)
			}
		}
	}
	// Versions advertised below MinServed close the connection.
	c := dial(t, addr)
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 2
	send(t, c, frameFor(md, 1))
	expectClosed(t, c, "Metadata v2 below MinServed")
}

func TestApiVersionsUnknownVersionFallsBackToV0(t *testing.T) {
	_, addr := startServer(t, heartbeatRegistry(), 0)
	c := dial(t, addr)
	// A version newer than we know, with a body we cannot parse: KIP-511
	// says answer in v0 with UNSUPPORTED_VERSION and our versions.
	send(t, c, reqFrame(18, 99, 42, strp("future-client"), true, nil, []byte{0xde, 0xad, 0xbe, 0xef}))
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	if corr := readResponse(t, c, resp); corr != 42 {
		t.Fatalf("correlation %d, want 42", corr)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("error code %d, want UNSUPPORTED_VERSION (35)", resp.ErrorCode)
	}
	found := false
	for _, k := range resp.ApiKeys {
		if k.ApiKey == 18 && k.MinVersion == 0 && k.MaxVersion == 4 {
			found = true
		}
	}
	if !found || len(resp.ApiKeys) != 1 {
		t.Fatalf("fallback response keys %+v, want ApiVersions' own range only (ApiVersionsRequest.getErrorResponse)", resp.ApiKeys)
	}
	// The connection stays usable: the client retries with a version we speak.
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "future-client", "2.0"
	send(t, c, frameFor(req, 43))
	resp = kmsg.NewPtrApiVersionsResponse()
	resp.Version = 3
	if corr := readResponse(t, c, resp); corr != 43 || resp.ErrorCode != 0 {
		t.Fatalf("retry at v3: correlation %d error %d", corr, resp.ErrorCode)
	}
}

func TestApiVersionsRejectsBadSoftwareName(t *testing.T) {
	_, addr := startServer(t, heartbeatRegistry(), 0)
	c := dial(t, addr)
	for i, name := range []string{"-bad", "bad name", "", "ok."} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version, req.ClientSoftwareName, req.ClientSoftwareVersion = 3, name, "1.0"
		send(t, c, frameFor(req, int32(i)))
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = 3
		readResponse(t, c, resp)
		if resp.ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("software name %q: error %d, want INVALID_REQUEST (42)", name, resp.ErrorCode)
		}
	}
}

func TestUnknownApiKeyClosesConnection(t *testing.T) {
	_, addr := startServer(t, heartbeatRegistry(), 0)
	for _, key := range []int16{3, 999, -1} {
		c := dial(t, addr)
		send(t, c, reqFrame(key, 0, 1, strp("x"), false, nil, make([]byte, 16)))
		expectClosed(t, c, "unknown api key")
	}
	c := dial(t, addr)
	send(t, c, reqFrame(12, 5, 1, strp("x"), true, nil, heartbeat(4, 1).AppendTo(nil)))
	expectClosed(t, c, "Heartbeat v5, newer than registered")
}

func TestHandlerPanicClosesOnlyItsConnection(t *testing.T) {
	reg := NewRegistry()
	reg.Register(API{Key: 12, Min: 0, Max: 4, Handler: func(ctx context.Context, req *Request) (kmsg.Response, error) {
		switch req.Body.(*kmsg.HeartbeatRequest).Generation {
		case -7:
			panic("handler bug")
		case -8:
			req.Defer(func(context.Context) (kmsg.Response, error) { panic("deferred bug") })
			return nil, nil
		case -9:
			return nil, errors.New("handler error")
		}
		return echoHeartbeat(ctx, req)
	}})
	s, addr := startServer(t, reg, 0)
	other := dial(t, addr)
	send(t, other, frameFor(heartbeat(3, 1), 1))
	readHeartbeat(t, other, 3)
	for _, gen := range []int32{-7, -8, -9} {
		c := dial(t, addr)
		send(t, c, frameFor(heartbeat(3, gen), 1))
		expectClosed(t, c, "handler failure")
	}
	// The server and its other connections go on serving.
	send(t, other, frameFor(heartbeat(3, 2), 2))
	if corr, gen := readHeartbeat(t, other, 3); corr != 2 || gen != 2 {
		t.Fatalf("existing connection after panics: correlation %d generation %d", corr, gen)
	}
	c := dial(t, addr)
	send(t, c, frameFor(heartbeat(4, 3), 3))
	if corr, gen := readHeartbeat(t, c, 4); corr != 3 || gen != 3 {
		t.Fatalf("new connection after panics: correlation %d generation %d", corr, gen)
	}
	if got := s.Stats.ConnsDropped.Load(); got < 3 {
		t.Fatalf("ConnsDropped = %d after three failed handlers", got)
	}
}

func TestCloseEndsConnections(t *testing.T) {
	s, addr := startServer(t, heartbeatRegistry(), 0)
	c := dial(t, addr)
	send(t, c, frameFor(heartbeat(3, 1), 1))
	readHeartbeat(t, c, 3)
	done := make(chan struct{})
	go func() { s.Close(); s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(ioTimeout):
		t.Fatal("Server.Close did not return with a connection open")
	}
	expectClosed(t, c, "server closed")
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("server still accepts connections after Close")
	}
	if s.Stats.ConnsOpen.Load() != 0 {
		t.Fatalf("ConnsOpen = %d after Close", s.Stats.ConnsOpen.Load())
	}
}

// Registered features are advertised from v3 on: finalized with the level
// as both bounds and an epoch, supported ones with a minimum of 0 only
// from v4 (KAFKA-17011), as Kafka does.
func TestApiVersionsFeatures(t *testing.T) {
	reg := heartbeatRegistry()
	reg.RegisterFeature(Feature{Name: "transaction.version", Min: 0, Max: 2, Default: 2})
	reg.RegisterFeature(Feature{Name: "x.version", Min: 1, Max: 3, Default: 3})
	_, addr := startServer(t, reg, 0)
	for _, v := range []int16{2, 3, 4} {
		c := dial(t, addr)
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version, req.ClientSoftwareName, req.ClientSoftwareVersion = v, "gregor-test", "1.0.0"
		send(t, c, frameFor(req, 9))
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = v
		readResponse(t, c, resp)
		if v < 3 {
			if len(resp.SupportedFeatures)+len(resp.FinalizedFeatures) != 0 {
				t.Fatalf("v%d carries features: %+v", v, resp)
			}
			continue
		}
		if resp.FinalizedFeaturesEpoch < 0 || len(resp.FinalizedFeatures) != 2 {
			t.Fatalf("v%d finalized: epoch %d %+v", v, resp.FinalizedFeaturesEpoch, resp.FinalizedFeatures)
		}
		for _, f := range resp.FinalizedFeatures {
			if f.Name == "transaction.version" && (f.MinVersionLevel != 2 || f.MaxVersionLevel != 2) {
				t.Fatalf("v%d transaction.version finalized %+v", v, f)
			}
		}
		wantSupported := 1
		if v >= 4 {
			wantSupported = 2
		}
		if len(resp.SupportedFeatures) != wantSupported {
			t.Fatalf("v%d supported %+v, want %d", v, resp.SupportedFeatures, wantSupported)
		}
	}
}
