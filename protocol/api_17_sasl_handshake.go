package protocol

// SaslHandshake (key 17), versions 0-1, on a listener without SASL.
//
// No mechanism is enabled, so every handshake gets
// UNSUPPORTED_SASL_MECHANISM with the (empty) list of enabled mechanisms,
// which a client reports as "mechanism X not enabled, enabled: []" rather
// than as a dropped connection. (Kafka's own PLAINTEXT listener answers
// ILLEGAL_SASL_STATE here, from KafkaApis; UNSUPPORTED_SASL_MECHANISM with
// the enabled list is what its SASL listeners answer for a mechanism they
// lack.) The connection stays open and usable. SASL proper replaces this
// handler by registering its own for key 17.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// HandleSASLHandshakeDisabled answers SaslHandshake where SASL is off.
func HandleSASLHandshakeDisabled(_ context.Context, req *Request) (kmsg.Response, error) {
	resp := req.Response().(*kmsg.SASLHandshakeResponse)
	resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
	resp.SupportedMechanisms = []string{}
	return resp, nil
}
