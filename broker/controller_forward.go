package broker

// Requests only the controller serves (ElectLeaders, AlterPartition-
// Reassignments): the backend refuses them with NOT_CONTROLLER on another
// broker, which forwards them to the controller as a Kafka 4 broker
// forwards them (ForwardingManager), and relays the answer.

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/protocol"
)

// controllerRetryBackoff is the pause before a request refused with
// NOT_CONTROLLER is tried again.
const controllerRetryBackoff = 100 * time.Millisecond

// toController runs a controller's request: local, through this broker's
// backend, which refuses it with NOT_CONTROLLER unless this broker is the
// controller; then forward, sending it to the controller. While the
// answer is NOT_CONTROLLER as a whole, or for every partition (the
// controller moving), both are tried again until ctx ends, as Kafka 4's
// broker-to-controller channel sends a forwarded request again on
// NOT_CONTROLLER until its timeout. A request another broker forwarded
// is not forwarded again: it is answered NOT_CONTROLLER, and that broker
// tries again.
func (b *Broker) toController(ctx context.Context, req *protocol.Request, local, forward func(context.Context) (map[string]map[int32]error, error)) (map[string]map[int32]error, error) {
	for {
		res, err := local(ctx)
		if notController(res, err) && !fromPeer(req) {
			res, err = forward(ctx)
		}
		if !notController(res, err) || fromPeer(req) {
			return res, err
		}
		t := time.NewTimer(controllerRetryBackoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return res, err
		case <-t.C:
		}
	}
}

// sendToController sends a forwarded request to the controller; what
// names it in errors. With no controller known, or this broker named as
// it, it fails with NOT_CONTROLLER; when the controller cannot be reached,
// with REQUEST_TIMED_OUT (or ctx's error).
func (b *Broker) sendToController(ctx context.Context, what string, req kmsg.Request) (kmsg.Response, error) {
	_, controller := b.Brokers()
	if controller < 0 || controller == b.id {
		return nil, errorf(kerr.NotController, "There is no controller to forward the %s to", what)
	}
	raw, err := b.SendToBroker(ctx, controller, req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, errorf(kerr.RequestTimedOut, "The %s could not be forwarded to the controller %d: %v", what, controller, err)
	}
	return raw, nil
}

// notController reports whether a controller's request was refused with
// NOT_CONTROLLER as a whole or for every partition.
func notController(res map[string]map[int32]error, err error) bool {
	if err != nil {
		return errors.Is(err, kerr.NotController)
	}
	n := 0
	for _, ps := range res {
		for _, perr := range ps {
			if !errors.Is(perr, kerr.NotController) {
				return false
			}
			n++
		}
	}
	return n > 0
}

// fromPeer reports whether a request came from another Gregor broker
// (peer.go names its connections so).
func fromPeer(req *protocol.Request) bool {
	return strings.HasPrefix(req.ClientID, "gregor-broker-")
}

// relayedError is the error another broker answered with its code and
// message (nil for none).
func relayedError(code int16, msg *string) error {
	if code == 0 {
		return nil
	}
	ke, _ := kerr.ErrorForCode(code).(*kerr.Error)
	if ke == nil {
		ke = kerr.UnknownServerError
	}
	text := ke.Message
	if msg != nil {
		text = *msg
	}
	return errorf(ke, "%s", text)
}
