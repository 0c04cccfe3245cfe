package broker

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
)

type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

// TestErrorCodeOfFileErrors: a failed file operation is a storage error,
// not REQUEST_TIMED_OUT (every *os.PathError has a Timeout method; only
// one that says yes is a timeout).
func TestErrorCodeOfFileErrors(t *testing.T) {
	log := zerolog.Nop()
	for _, c := range []struct {
		err  error
		want int16
	}{
		{&os.PathError{Op: "write", Path: "x", Err: syscall.EIO}, kerr.KafkaStorageError.Code},
		{&os.PathError{Op: "open", Path: "x", Err: syscall.EACCES}, kerr.KafkaStorageError.Code},
		{&os.PathError{Op: "read", Path: "x", Err: timeoutErr{}}, kerr.RequestTimedOut.Code},
		{context.DeadlineExceeded, kerr.RequestTimedOut.Code},
		{errors.New("other"), kerr.KafkaStorageError.Code},
	} {
		if got := ErrorCode(log, c.err); got != c.want {
			t.Errorf("ErrorCode(%v) = %s, want %s", c.err, kerr.ErrorForCode(got), kerr.ErrorForCode(c.want))
		}
	}
}
