package coordinator

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
)

// kerrOf turns a coordinator error into the Kafka error a client gets:
// the one mapping of the package. A cause without a code of its own is
// logged before it becomes UNKNOWN_SERVER_ERROR.
func (c *base) kerrOf(err error) *kerr.Error {
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
		return ke
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return kerr.RequestTimedOut
	}
	c.log.Error().Err(err).Msg("coordinator error without a Kafka code; answering UNKNOWN_SERVER_ERROR")
	return kerr.UnknownServerError
}

// errCode is kerrOf's code, 0 for no error.
func (c *base) errCode(err error) int16 {
	if err == nil {
		return 0
	}
	return c.kerrOf(err).Code
}

// errorAndMessage is a response's error code and message (none if empty).
func errorAndMessage(err *kerr.Error, msg string) (int16, *string) {
	if msg == "" {
		return err.Code, nil
	}
	return err.Code, &msg
}
