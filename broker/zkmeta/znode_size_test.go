package zkmeta

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/metadata"
	"gregor/internal/zktest"
)

// A config write larger than a ZooKeeper server takes in one request
// (jute.maxbuffer) is refused with POLICY_VIOLATION. It used to pass the
// client library's larger limit and make the server close the broker's
// connection, every time a client sent it.
func TestWritesOverZooKeepersRequestLimitAreRefused(t *testing.T) {
	z := zktest.Start(t)
	b := startAs(t, z.Addr, 1)
	ctx := context.Background()
	big := strings.Repeat("m", 1100<<10)
	err := b.EditNamedConfigs(ctx, metadata.ClientMetricsConfigs, "huge", func(map[string]string) (map[string]string, error) {
		return map[string]string{"metrics": big}, nil
	})
	if !errors.Is(err, kerr.PolicyViolation) {
		t.Fatalf("writing a config of 1.1 MB: %v, want POLICY_VIOLATION", err)
	}
	// The next write goes through (before, the refused one came back as
	// the lost connection, zk.ErrConnectionClosed).
	err = b.EditNamedConfigs(ctx, metadata.ClientMetricsConfigs, "small", func(map[string]string) (map[string]string, error) {
		return map[string]string{"metrics": "org.apache.kafka.producer."}, nil
	})
	if err != nil {
		t.Fatalf("writing a small config after the refused one: %v", err)
	}
}
