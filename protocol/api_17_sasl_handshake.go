package protocol

// SaslHandshake (key 17), versions 0-1, where no SASL exchange is due:
// on a PLAINTEXT or SSL listener, or on a SASL connection that has
// authenticated and may not re-authenticate now. Kafka's KafkaApis
// answers these with ILLEGAL_SASL_STATE and no mechanisms
// (handleSaslHandshakeRequest), and so do we; the connection stays open.
//
// The handshakes that start an exchange, and re-authentication (KIP-368),
// never reach this handler: the connection's authenticator (auth.go)
// answers them.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// HandleSASLHandshakeDisabled answers SaslHandshake where no exchange is due.
func HandleSASLHandshakeDisabled(_ context.Context, req *Request) (kmsg.Response, error) {
	resp := req.Response().(*kmsg.SASLHandshakeResponse)
	resp.ErrorCode = kerr.IllegalSaslState.Code
	resp.SupportedMechanisms = []string{}
	return resp, nil
}
