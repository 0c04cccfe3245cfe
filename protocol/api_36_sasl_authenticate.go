package protocol

// SaslAuthenticate (key 36), versions 0-2, where no SASL exchange is in
// progress: on a PLAINTEXT or SSL listener, or after authentication.
// Kafka's KafkaApis answers ILLEGAL_SASL_STATE with "SaslAuthenticate
// request received after successful authentication"
// (handleSaslAuthenticateRequest), and so do we; the connection stays
// open. The exchange itself is run by the connection's authenticator
// (auth.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// HandleSASLAuthenticateDisabled answers SaslAuthenticate outside an exchange.
func HandleSASLAuthenticateDisabled(_ context.Context, req *Request) (kmsg.Response, error) {
	resp := req.Response().(*kmsg.SASLAuthenticateResponse)
	resp.ErrorCode = kerr.IllegalSaslState.Code
	msg := "SaslAuthenticate request received after successful authentication"
	resp.ErrorMessage = &msg
	return resp, nil
}
