package compat

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/internal/brokertest"
)

// offset.metadata.max.bytes bounds the metadata string of a committed
// offset: one byte over is refused with OFFSET_METADATA_TOO_LARGE, as in
// Kafka, and at the bound it is kept.
func TestOffsetMetadataMaxBytes(t *testing.T) {
	if !usingGregor() {
		t.Skip("starts its own broker with static configs")
	}
	b := brokertest.Start(t, brokertest.Options{Set: map[string]string{"offset.metadata.max.bytes": "16"}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "omd"); err != nil {
		t.Fatal(err)
	}
	commit := func(meta string) error {
		var offs kadm.Offsets
		offs.Add(kadm.Offset{Topic: "omd", Partition: 0, At: 1, LeaderEpoch: -1, Metadata: meta})
		resp, err := adm.CommitOffsets(ctx, "omd-group", offs)
		if err != nil {
			return err
		}
		return resp.Error()
	}
	if err := commit(strings.Repeat("m", 17)); !errors.Is(err, kerr.OffsetMetadataTooLarge) {
		t.Fatalf("committing 17 bytes of metadata: %v, want OFFSET_METADATA_TOO_LARGE", err)
	}
	if err := commit(strings.Repeat("m", 16)); err != nil {
		t.Fatalf("committing 16 bytes of metadata: %v", err)
	}
	fetched, err := adm.FetchOffsets(ctx, "omd-group")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fetched.Lookup("omd", 0); !ok || o.Metadata != strings.Repeat("m", 16) || o.At != 1 {
		t.Fatalf("fetched %+v, want offset 1 with the 16 bytes of metadata", o)
	}
}
