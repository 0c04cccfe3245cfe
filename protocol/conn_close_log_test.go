package protocol

import (
	"errors"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

type protocolClose struct{}

func (protocolClose) Error() string  { return "acks=0 produce failed" }
func (protocolClose) ExpectedClose() {}

// A close the protocol asks for (a failed acks=0 produce, which Kafka's
// KafkaApis logs at info) is logged at info, not as a warning; any other
// handler error closing a connection is still a warning.
func TestExpectedCloseLoggedAtInfo(t *testing.T) {
	var logged strings.Builder
	l := zerolog.New(&logged)
	c := &conn{log: l, warn: l}
	c.logClose(protocolClose{})
	if !strings.Contains(logged.String(), `"level":"info"`) || !strings.Contains(logged.String(), "acks=0 produce failed") {
		t.Fatalf("an expected close logged %q, want it at info", logged.String())
	}
	logged.Reset()
	c.logClose(errors.New("something broke"))
	if !strings.Contains(logged.String(), `"level":"warn"`) {
		t.Fatalf("another close logged %q, want a warning", logged.String())
	}
}
