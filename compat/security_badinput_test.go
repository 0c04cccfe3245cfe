package compat

// Hostile input to the secure broker: garbage and oversized SASL tokens,
// requests before authentication, a SCRAM exchange cut halfway, raw v0
// tokens, wrong passwords in a loop (the broker stays up and its memory
// does not grow), and configurations it cannot honour, which stop
// start-up with the key named.

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"gregor/internal/brokertest"
	"gregor/internal/promtest"
	"gregor/internal/sectest"
	"gregor/internal/wait"
	"gregor/protocol/sasl"
)

// rawConn is a bare connection speaking Kafka frames.
type rawConn struct {
	t    *testing.T
	c    net.Conn
	corr int32
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, c: c}
}

func (r *rawConn) write(b []byte) {
	r.t.Helper()
	if _, err := r.c.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// request sends req and decodes the response into resp (nil: expect the
// connection to be closed instead).
func (r *rawConn) request(req kmsg.Request, resp kmsg.Response) error {
	r.corr++
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("badinput"))
	r.write(f.AppendRequest(nil, req, r.corr))
	return r.readResponse(req, resp)
}

func (r *rawConn) readResponse(req kmsg.Request, resp kmsg.Response) error {
	var size [4]byte
	if _, err := io.ReadFull(r.c, size[:]); err != nil {
		return err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(r.c, body); err != nil {
		return err
	}
	if resp == nil {
		return nil
	}
	body = body[4:]
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != 18 {
		body = body[1:]
	}
	return resp.ReadFrom(body)
}

// closed asserts the broker closes the connection (reading EOF or a reset).
func (r *rawConn) closed(what string) {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1024)
	for {
		_, err := r.c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			r.t.Fatalf("%s: the connection is still open after 5s", what)
		}
		return
	}
}

func handshake(t *testing.T, r *rawConn, version int16, mech string) *kmsg.SASLHandshakeResponse {
	t.Helper()
	req := kmsg.NewPtrSASLHandshakeRequest()
	req.Version, req.Mechanism = version, mech
	resp := kmsg.NewPtrSASLHandshakeResponse()
	if err := r.request(req, resp); err != nil {
		t.Fatalf("SaslHandshake: %v", err)
	}
	return resp
}

func authenticate(r *rawConn, version int16, token []byte) (*kmsg.SASLAuthenticateResponse, error) {
	req := kmsg.NewPtrSASLAuthenticateRequest()
	req.Version, req.SASLAuthBytes = version, token
	resp := kmsg.NewPtrSASLAuthenticateResponse()
	return resp, r.request(req, resp)
}

func TestSecurityBadInput(t *testing.T) {
	s := startSecure(t)
	addr := s.addr["SASL_PLAINTEXT"]
	t.Run("request before authentication closes", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.corr++
		r.write(kmsg.NewRequestFormatter().AppendRequest(nil, kmsg.NewPtrMetadataRequest(), r.corr))
		r.closed("Metadata before authentication")
	})
	t.Run("garbage SaslAuthenticate token", func(t *testing.T) {
		r := dialRaw(t, addr)
		handshake(t, r, 1, sasl.ScramSHA256)
		resp, err := authenticate(r, 2, []byte("\x00\xff garbage ,,,="))
		if err != nil || resp.ErrorCode != kerr.SaslAuthenticationFailed.Code {
			t.Fatalf("garbage token: %v, error code %d", err, resp.ErrorCode)
		}
		r.closed("after a failed exchange")
	})
	t.Run("oversized token before authentication closes", func(t *testing.T) {
		r := dialRaw(t, addr)
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], 64<<20)
		r.write(hdr[:])
		r.closed("a 64 MiB frame before authentication")
	})
	t.Run("SCRAM cut halfway, then a request", func(t *testing.T) {
		r := dialRaw(t, addr)
		handshake(t, r, 1, sasl.ScramSHA256)
		c := &sasl.ScramClient{Mechanism: sasl.ScramSHA256, User: secAlice, Password: secAlicePass}
		first, _, _ := c.Step(nil)
		if resp, err := authenticate(r, 1, first); err != nil || resp.ErrorCode != 0 {
			t.Fatalf("client first: %v %d", err, resp.ErrorCode)
		}
		r.corr++
		r.write(kmsg.NewRequestFormatter().AppendRequest(nil, kmsg.NewPtrMetadataRequest(), r.corr))
		r.closed("Metadata in the middle of a SCRAM exchange")
	})
	t.Run("v0 raw tokens authenticate PLAIN", func(t *testing.T) {
		r := dialRaw(t, addr)
		if hs := handshake(t, r, 0, sasl.Plain); hs.ErrorCode != 0 {
			t.Fatalf("handshake v0: %d", hs.ErrorCode)
		}
		tok := sasl.PlainClientToken(secAlice, secAlicePass)
		r.write(binary.BigEndian.AppendUint32(nil, uint32(len(tok))))
		r.write(tok)
		var size [4]byte
		if _, err := io.ReadFull(r.c, size[:]); err != nil || binary.BigEndian.Uint32(size[:]) != 0 {
			t.Fatalf("v0 PLAIN answer: %v size %d", err, binary.BigEndian.Uint32(size[:]))
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		if err := r.request(kmsg.NewPtrApiVersionsRequest(), resp); err != nil || resp.ErrorCode != 0 {
			t.Fatalf("ApiVersions after v0 authentication: %v", err)
		}
	})
	t.Run("v0 raw token with a wrong password closes", func(t *testing.T) {
		r := dialRaw(t, addr)
		handshake(t, r, 0, sasl.Plain)
		tok := sasl.PlainClientToken(secAlice, "wrong")
		r.write(append(binary.BigEndian.AppendUint32(nil, uint32(len(tok))), tok...))
		r.closed("a wrong v0 PLAIN token")
	})
	t.Run("SaslHandshake after authentication is ILLEGAL_SASL_STATE", func(t *testing.T) {
		r := dialRaw(t, addr)
		handshake(t, r, 1, sasl.Plain)
		if resp, err := authenticate(r, 1, sasl.PlainClientToken(secAlice, secAlicePass)); err != nil || resp.ErrorCode != 0 {
			t.Fatalf("PLAIN: %v", err)
		}
		if hs := handshake(t, r, 1, sasl.Plain); hs.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("second handshake without a session lifetime: %d, want ILLEGAL_SASL_STATE", hs.ErrorCode)
		}
	})
	t.Run("SaslHandshake on PLAINTEXT is ILLEGAL_SASL_STATE", func(t *testing.T) {
		r := dialRaw(t, s.addr["PLAINTEXT"])
		if hs := handshake(t, r, 1, sasl.Plain); hs.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("handshake on PLAINTEXT: %d", hs.ErrorCode)
		}
	})
}

// TestSecurityWrongPasswordLoop: thousands of failed logins leave the
// broker up, serving, without memory growth. Each answer is held back by
// connection.failed.authentication.delay.ms (100 ms), so they are tried
// 64 at a time.
func TestSecurityWrongPasswordLoop(t *testing.T) {
	s := startSecure(t)
	addr := s.addr["SASL_PLAINTEXT"]
	loop := func(n int) {
		var wg sync.WaitGroup
		next := make(chan int)
		for range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					r := dialRaw(t, addr)
					handshake(t, r, 1, sasl.Plain)
					resp, err := authenticate(r, 1, sasl.PlainClientToken(secAlice, "wrong"))
					r.c.Close()
					if err != nil || resp.ErrorCode != kerr.SaslAuthenticationFailed.Code {
						t.Errorf("attempt %d: %v %d", i, err, resp.ErrorCode)
						return
					}
				}
			}()
		}
		for i := range n {
			next <- i
		}
		close(next)
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
	loop(200) // warm up
	before, err := s.b.RSS()
	if err != nil {
		t.Fatal(err)
	}
	loop(2000)
	after, err := s.b.RSS()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("VmRSS %d KiB before, %d KiB after 2000 wrong passwords", before>>10, after>>10)
	if after > before+32<<20 {
		t.Fatalf("VmRSS grew from %d to %d bytes over 2000 failed logins", before, after)
	}
	if err := saslError(t, addr, plain.Auth{User: secAlice, Pass: secAlicePass}.AsMechanism(), nil); err != nil {
		t.Fatalf("a correct login after the loop: %v", err)
	}
}

// A failed SASL authentication is answered, and its connection closed,
// no sooner than connection.failed.authentication.delay.ms (Kafka's
// default, 100 ms, on the shared broker), as Kafka holds them back
// (KIP-306): a client trying passwords gets one answer per delay.
func TestSecurityFailedAuthenticationIsHeldBack(t *testing.T) {
	s := startSecure(t)
	addr := s.addr["SASL_PLAINTEXT"]
	for _, c := range []struct {
		name string
		// try fails an authentication; it returns the error code
		// answered, or -1 where the broker closes without one.
		try func(r *rawConn) int16
	}{
		{"a wrong password", func(r *rawConn) int16 {
			handshake(t, r, 1, sasl.Plain)
			resp, err := authenticate(r, 1, sasl.PlainClientToken(secAlice, "wrong"))
			if err != nil {
				t.Fatal(err)
			}
			return resp.ErrorCode
		}},
		{"an unsupported mechanism", func(r *rawConn) int16 {
			return handshake(t, r, 1, "NO-SUCH-MECHANISM").ErrorCode
		}},
		{"a wrong v0 raw token", func(r *rawConn) int16 {
			handshake(t, r, 0, sasl.Plain)
			tok := sasl.PlainClientToken(secAlice, "wrong")
			r.write(append(binary.BigEndian.AppendUint32(nil, uint32(len(tok))), tok...))
			r.closed("a wrong v0 PLAIN token")
			return -1
		}},
		{"a request before authentication", func(r *rawConn) int16 {
			r.corr++
			r.write(kmsg.NewRequestFormatter().AppendRequest(nil, kmsg.NewPtrMetadataRequest(), r.corr))
			r.closed("Metadata before authentication")
			return -1
		}},
	} {
		r := dialRaw(t, addr)
		start := time.Now()
		code := c.try(r)
		took := time.Since(start)
		if code == 0 {
			t.Fatalf("%s was accepted", c.name)
		}
		if took < 100*time.Millisecond {
			t.Fatalf("%s was answered or closed after %v, want at least connection.failed.authentication.delay.ms (100 ms)", c.name, took)
		}
		r.closed(c.name)
	}
}

// TestSecurityRefusesWhatItCannotHonour: start-up stops, naming the key.
func TestSecurityRefusesWhatItCannotHonour(t *testing.T) {
	if !usingGregor() {
		t.Skip("COMPAT_BOOTSTRAP is set")
	}
	c := sectest.Make(t, t.TempDir())
	port := "127.0.0.1:" + itoa(brokertest.FreePort(t))
	cases := map[string]struct {
		set  map[string]string
		want string
	}{
		"GSSAPI": {map[string]string{"listeners": "SASL_PLAINTEXT://" + port, "security.inter.broker.protocol": "SASL_PLAINTEXT",
			"sasl.enabled.mechanisms": "GSSAPI", "sasl.mechanism.inter.broker.protocol": "GSSAPI"}, "sasl.enabled.mechanisms: GSSAPI"},
		"default mechanism (GSSAPI)": {map[string]string{"listeners": "SASL_PLAINTEXT://" + port, "security.inter.broker.protocol": "SASL_PLAINTEXT"}, "sasl.enabled.mechanisms"},
		"custom authorizer":          {map[string]string{"authorizer.class.name": "com.example.CustomAuthorizer"}, "authorizer.class.name"},
		"super user without a type":  {map[string]string{"authorizer.class.name": "kafka.security.authorizer.AclAuthorizer", "super.users": "User:admin;broker"}, "super.users"},
		"SSL without a keystore":     {map[string]string{"listeners": "SSL://" + port, "security.inter.broker.protocol": "SSL"}, "ssl.keystore.location"},
		"no JAAS": {map[string]string{"listeners": "SASL_SSL://" + port, "security.inter.broker.protocol": "SASL_SSL", "sasl.enabled.mechanisms": "PLAIN",
			"sasl.mechanism.inter.broker.protocol": "PLAIN", "ssl.keystore.location": c.BrokerP12, "ssl.keystore.password": sectest.Password}, "listener.name.sasl_ssl.plain.sasl.jaas.config"},
		"wrong keystore password": {map[string]string{"listeners": "SSL://" + port, "security.inter.broker.protocol": "SSL",
			"ssl.keystore.location": c.BrokerP12, "ssl.keystore.password": "wrong"}, "ssl.keystore.password"},
		"unknown listener protocol": {map[string]string{"listeners": "INTERNAL://" + port}, "No security protocol defined for listener INTERNAL"},
		"engine factory":            {map[string]string{"ssl.engine.factory.class": "com.example.Factory"}, "ssl.engine.factory.class"},
	}
	for name, cs := range cases {
		t.Run(name, func(t *testing.T) {
			var args []string
			cs.set["log.dirs"] = t.TempDir()
			cs.set["gregor.metrics.listener"] = ""
			if _, ok := cs.set["listeners"]; !ok {
				cs.set["listeners"] = "PLAINTEXT://" + port
			}
			for k, v := range cs.set {
				args = append(args, "--set", k+"="+v)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, brokertest.Binary(t), args...).CombinedOutput()
			if err == nil || ctx.Err() != nil {
				t.Fatalf("the broker started (or hung): %v\n%s", err, out)
			}
			if !strings.Contains(string(out), cs.want) {
				t.Fatalf("start-up failed without naming %q:\n%s", cs.want, out)
			}
			if strings.Contains(string(out), "wrong") && name != "wrong keystore password" || strings.Contains(string(out), sectest.Password) {
				t.Fatalf("a password appears in the output:\n%s", out)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// sasl.server.max.receive.size bounds what a SASL listener reads before
// the client authenticated, as in Kafka: at 1,000 bytes, a 2,000-byte
// SaslAuthenticate closes the connection unanswered (held back as a
// failed authentication), while a PLAIN login under it is served.
func TestSASLMaxReceiveSize(t *testing.T) {
	if !usingGregor() {
		t.Skip("starts its own broker")
	}
	c := sectest.Make(t, t.TempDir())
	ports := map[string]int{}
	for _, p := range []string{"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"} {
		ports[p] = brokertest.FreePort(t)
	}
	set := secureSet(c, ports)
	set["sasl.server.max.receive.size"] = "1000"
	brokertest.Start(t, brokertest.Options{Port: ports["PLAINTEXT"], Set: set})
	addr := "127.0.0.1:" + itoa(ports["SASL_PLAINTEXT"])
	r := dialRaw(t, addr)
	handshake(t, r, 1, sasl.Plain)
	if resp, err := authenticate(r, 1, sasl.PlainClientToken(secAlice, secAlicePass)); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("a PLAIN login under the bound: %v", err)
	}
	r = dialRaw(t, addr)
	handshake(t, r, 1, sasl.Plain)
	req := kmsg.NewPtrSASLAuthenticateRequest()
	req.Version, req.SASLAuthBytes = 1, sasl.PlainClientToken(secAlice, strings.Repeat("p", 2000))
	r.corr++
	r.write(kmsg.NewRequestFormatter().AppendRequest(nil, req, r.corr))
	// Closed unread, with no answer (a wrong password is answered).
	if err := r.readResponse(req, kmsg.NewPtrSASLAuthenticateResponse()); err == nil {
		t.Fatal("a 2,000-byte SaslAuthenticate over sasl.server.max.receive.size=1000 was read and answered")
	}
}

// TestSecurityTLSDisconnectIsNoFailedAuthentication: a client that opens
// a TCP connection to the SSL listener and closes it without a TLS
// handshake (a load balancer's health check) is not a failed
// authentication, as Kafka's SslTransportLayer takes the EOF for an
// IOException; a client that speaks something other than TLS there is.
func TestSecurityTLSDisconnectIsNoFailedAuthentication(t *testing.T) {
	s := startSecure(t)
	// linesOf are the broker's log lines about the connection from local.
	linesOf := func(local string) []string {
		var out []string
		for _, l := range strings.Split(s.b.Logs(1<<30), "\n") {
			if strings.Contains(l, `"remote":"`+local+`"`) {
				out = append(out, l)
			}
		}
		return out
	}
	closedOrFailed := func(local string) bool {
		for _, l := range linesOf(local) {
			if strings.Contains(l, "connection closed") || strings.Contains(l, "failed authentication") || strings.Contains(l, "closing connection") {
				return true
			}
		}
		return false
	}
	dial := func() net.Conn {
		c, err := net.DialTimeout("tcp", s.addr["SSL"], 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// Failed authentications are counted by the metric; their log lines
	// are rate limited, so earlier tests may have used up the burst.
	failedSSL := func() float64 {
		fams, err := promtest.TryScrape("http://" + s.metrics + "/metrics")
		if err != nil {
			t.Fatalf("scraping the broker's metrics: %v", err)
		}
		v, _ := fams.Value("gregor_authentication_failed_total", "listener", "SSL", "mechanism", "SSL")
		return v
	}
	before := failedSSL()
	garbage := dial()
	garbageAddr := garbage.LocalAddr().String()
	garbage.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	wait.For(t, "the broker to close the connection that sent HTTP to the SSL listener", 10*time.Second, func() bool { return closedOrFailed(garbageAddr) })
	wait.For(t, "the failed SSL authentication of the connection that sent HTTP to be counted", 10*time.Second, func() bool { return failedSSL() == before+1 })
	garbage.Close()
	before = failedSSL()
	probe := dial()
	probeAddr := probe.LocalAddr().String()
	probe.Close()
	wait.For(t, "the broker to log the end of the connection closed before its TLS handshake", 10*time.Second, func() bool { return closedOrFailed(probeAddr) })
	if got := strings.Join(linesOf(probeAddr), "\n"); strings.Contains(got, "failed authentication") || failedSSL() != before {
		t.Fatalf("a connection closed before its TLS handshake is counted (%v failed SSL authentications, %v before) or logged as a failed authentication:\n%s", failedSSL(), before, got)
	}
}
