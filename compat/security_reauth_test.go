package compat

// KIP-368: a SASL session lasts connections.max.reauth.ms. SaslAuthenticate
// v1+ tells the client the session's lifetime; a client re-authenticates
// on the same connection before it ends (franz-go does); a connection
// whose session ended is closed at its next request, as Kafka does.

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"gregor/internal/brokertest"
	"gregor/internal/sectest"
	"gregor/internal/wait"
)

const reauthAfter = 1500 * time.Millisecond

// startReauthBroker starts a broker with a SASL_PLAINTEXT listener whose
// sessions last reauthAfter, and returns it and its SASL address.
func startReauthBroker(t *testing.T) (*brokertest.Broker, string) {
	t.Helper()
	if !usingGregor() {
		t.Skip("COMPAT_BOOTSTRAP is set: this test starts its own broker")
	}
	plainPort, saslPort := brokertest.FreePort(t), brokertest.FreePort(t)
	b := brokertest.Start(t, brokertest.Options{Port: plainPort, Set: map[string]string{
		"listeners":               "PLAINTEXT://127.0.0.1:" + strconv.Itoa(plainPort) + ",SASL_PLAINTEXT://127.0.0.1:" + strconv.Itoa(saslPort),
		"sasl.enabled.mechanisms": "PLAIN",
		"listener.name.sasl_plaintext.plain.sasl.jaas.config": sectest.PlainJAAS(secAdmin, secAdminPass, map[string]string{secAdmin: secAdminPass, secAlice: secAlicePass}),
		"connections.max.reauth.ms":                           strconv.Itoa(int(reauthAfter.Milliseconds())),
		"gregor.log.level":                                    "debug",
	}})
	return b, "127.0.0.1:" + strconv.Itoa(saslPort)
}

// plainLogin runs SaslHandshake v1 and SaslAuthenticate v1 with PLAIN on c
// and returns the session lifetime the broker gave.
func plainLogin(t *testing.T, c net.Conn, corr *int32) time.Duration {
	t.Helper()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, "PLAIN"
	*corr++
	hcWrite(t, c, hcFrame(hs, *corr))
	hsResp := kmsg.NewPtrSASLHandshakeResponse()
	hsResp.Version = 1
	hcRead(t, c, 10*time.Second, *corr, hsResp)
	if err := kerr.ErrorForCode(hsResp.ErrorCode); err != nil {
		t.Fatalf("SaslHandshake: %v", err)
	}
	au := kmsg.NewPtrSASLAuthenticateRequest()
	au.Version, au.SASLAuthBytes = 1, []byte("\x00"+secAlice+"\x00"+secAlicePass)
	*corr++
	hcWrite(t, c, hcFrame(au, *corr))
	auResp := kmsg.NewPtrSASLAuthenticateResponse()
	auResp.Version = 1
	hcRead(t, c, 10*time.Second, *corr, auResp)
	if err := kerr.ErrorForCode(auResp.ErrorCode); err != nil {
		t.Fatalf("SaslAuthenticate: %v", err)
	}
	return time.Duration(auResp.SessionLifetimeMillis) * time.Millisecond
}

// metadataOK sends a Metadata request and reports whether it was answered
// (false: the broker closed the connection).
func metadataOK(t *testing.T, c net.Conn, corr *int32) bool {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 9
	*corr++
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(hcFrame(req, *corr)); err != nil {
		return false
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := badReadResponse(c)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("metadata neither answered nor the connection closed within 5s: %v", err)
		}
	}
	return err == nil
}

func TestSecurityReauthentication(t *testing.T) {
	b, addr := startReauthBroker(t)

	t.Run("lifetime advertised, expired session closed", func(t *testing.T) {
		c := hcDial(t, addr)
		var corr int32
		start := time.Now()
		if life := plainLogin(t, c, &corr); life <= 0 || life > reauthAfter {
			t.Fatalf("SaslAuthenticate v1 session lifetime %v, want (0, %v]", life, reauthAfter)
		}
		// Requests are served until the session ends; the first after
		// it closes the connection.
		deadline := start.Add(reauthAfter + 5*time.Second)
		for metadataOK(t, c, &corr) {
			if time.Now().After(deadline) {
				t.Fatalf("still served %v after a session of %v", time.Since(start), reauthAfter)
			}
			time.Sleep(100 * time.Millisecond) // pace the probe; the wait itself is bounded above
		}
		if took := time.Since(start); took < reauthAfter-100*time.Millisecond {
			t.Fatalf("connection closed after %v, before its session of %v ended", took, reauthAfter)
		}
		// Kafka's Processor logs the disconnection of an expired channel
		// at debug: a client that never re-authenticates meets it once
		// per session, and it is no warning.
		remote := `"remote":"` + c.LocalAddr().String() + `"`
		var closing string
		wait.For(t, "the broker to log the close of the expired session's connection", 10*time.Second, func() bool {
			for _, l := range strings.Split(b.Logs(1<<30), "\n") {
				if strings.Contains(l, remote) && strings.Contains(l, "closing connection") {
					closing = l
					return true
				}
			}
			return false
		})
		if !strings.Contains(closing, `"level":"debug"`) || !strings.Contains(closing, "SASL session expired") {
			t.Fatalf("the close of an expired session is logged as %s, want at debug level, naming the expired session", closing)
		}
	})

	t.Run("re-authenticated on the same connection", func(t *testing.T) {
		c := hcDial(t, addr)
		var corr int32
		start := time.Now()
		plainLogin(t, c, &corr)
		for time.Since(start) < 2*reauthAfter {
			if time.Since(start) > reauthAfter/2 {
				plainLogin(t, c, &corr) // re-authenticate before the session ends
				start = time.Now()
				break
			}
			if !metadataOK(t, c, &corr) {
				t.Fatal("closed before the session ended")
			}
			time.Sleep(100 * time.Millisecond)
		}
		// The new session carries the connection past the first one's end.
		for time.Since(start) < reauthAfter-200*time.Millisecond {
			if !metadataOK(t, c, &corr) {
				t.Fatalf("closed %v into a re-authenticated session of %v", time.Since(start), reauthAfter)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("franz-go across several sessions", func(t *testing.T) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(plain.Auth{User: secAlice, Pass: secAlicePass}.AsMechanism()),
			kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic(randomName("reauth")))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for start := time.Now(); time.Since(start) < 3*reauthAfter; time.Sleep(100 * time.Millisecond) {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
				t.Fatalf("produce %v in (sessions of %v): %v", time.Since(start), reauthAfter, err)
			}
		}
	})
}

// Between SaslHandshake v1 and the end of the SaslAuthenticate exchange a
// SaslHandshake or ApiVersions is answered in kind with ILLEGAL_SASL_STATE
// and the connection then closed, as Kafka's SaslServerAuthenticator
// answers a request other than SaslAuthenticate there (getErrorResponse)
// before failing the authentication.
func TestSecurityRequestDuringSaslAuthenticate(t *testing.T) {
	_, addr := startReauthBroker(t)
	for _, req := range []kmsg.Request{
		func() kmsg.Request { r := kmsg.NewPtrApiVersionsRequest(); r.Version = 3; return r }(),
		func() kmsg.Request {
			r := kmsg.NewPtrSASLHandshakeRequest()
			r.Version, r.Mechanism = 1, "PLAIN"
			return r
		}(),
	} {
		name := kmsg.NameForKey(req.Key())
		c := hcDial(t, addr)
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 1, "PLAIN"
		hcWrite(t, c, hcFrame(hs, 1))
		hsResp := kmsg.NewPtrSASLHandshakeResponse()
		hsResp.Version = 1
		hcRead(t, c, 10*time.Second, 1, hsResp)
		if err := kerr.ErrorForCode(hsResp.ErrorCode); err != nil {
			t.Fatalf("SaslHandshake: %v", err)
		}
		hcWrite(t, c, hcFrame(req, 2))
		resp := req.ResponseKind()
		resp.SetVersion(req.GetVersion())
		hcRead(t, c, 10*time.Second, 2, resp)
		var code int16
		switch r := resp.(type) {
		case *kmsg.ApiVersionsResponse:
			code = r.ErrorCode
			if len(r.ApiKeys) != 0 {
				t.Errorf("%s during SaslAuthenticate listed %d API keys, want none", name, len(r.ApiKeys))
			}
		case *kmsg.SASLHandshakeResponse:
			code = r.ErrorCode
		}
		wantCode(t, name+" during SaslAuthenticate", code, kerr.IllegalSaslState)
		// The broker closes the connection: the read ends in EOF (or a
		// reset), neither with data nor by the deadline.
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := c.Read(make([]byte, 1))
		var ne net.Error
		switch {
		case n > 0 || err == nil:
			t.Fatalf("more bytes after answering %s during SaslAuthenticate, want the connection closed", name)
		case errors.As(err, &ne) && ne.Timeout():
			t.Fatalf("connection still open 10s after answering %s during SaslAuthenticate", name)
		}
	}
}
