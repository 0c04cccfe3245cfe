package protocol

// SaslAuthenticate (key 36), versions 0-2, on a listener without SASL.
//
// No handshake can have succeeded, so every SaslAuthenticate comes out of
// order: ILLEGAL_SASL_STATE, as Kafka answers one that arrives outside an
// authentication exchange. The connection stays open. SASL proper replaces
// this handler by registering its own for key 36.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// HandleSASLAuthenticateDisabled answers SaslAuthenticate where SASL is off.
func HandleSASLAuthenticateDisabled(_ context.Context, req *Request) (kmsg.Response, error) {
	resp := req.Response().(*kmsg.SASLAuthenticateResponse)
	resp.ErrorCode = kerr.IllegalSaslState.Code
	msg := "SaslAuthenticate without a successful SaslHandshake: SASL is not enabled on this listener"
	resp.ErrorMessage = &msg
	return resp, nil
}
