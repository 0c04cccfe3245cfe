package compat

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/internal/wait"
)

// DeleteRecords up to the log end keeps the active segment, as Kafka
// does (it goes once it has rolled, or by retention): DescribeLogDirs
// (kafka-log-dirs.sh) still counts its bytes on every replica, where
// Gregor reported 0 having deleted it at once.
func TestAdminDeleteRecordsToTheEndKeepsTheActiveSegment(t *testing.T) {
	e := newAdminEnv(t)
	topic := e.topic("admdelend", 1, nil)
	e.produce(topic, 0, 10)

	var to kadm.Offsets
	to.Add(kadm.Offset{Topic: topic, Partition: 0, At: 10})
	wait.For(t, "DeleteRecords up to offset 10 to be answered by the partition's leader", 15*time.Second, func() bool {
		resp, err := e.adm.DeleteRecords(e.ctx, to)
		if err != nil {
			return false
		}
		r, ok := resp.Lookup(topic, 0)
		if ok && r.Err != nil && !errors.Is(r.Err, kerr.LeaderNotAvailable) && !errors.Is(r.Err, kerr.NotLeaderForPartition) {
			t.Fatalf("DeleteRecords up to 10: %v", r.Err)
		}
		return ok && r.Err == nil && r.LowWatermark == 10
	})
	so, err := e.adm.ListStartOffsets(e.ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := so.Lookup(topic, 0); o.Offset != 10 {
		t.Fatalf("earliest offset %d after deleting up to 10, want 10", o.Offset)
	}
	all, err := e.adm.DescribeAllLogDirs(e.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	replicas := 0
	for broker, dirs := range all {
		if p, ok := dirs.LookupPartition(topic, 0); ok {
			replicas++
			if p.Size <= 0 {
				t.Fatalf("broker %d: %s-0 holds %d bytes after DeleteRecords to its end; want its active segment's, as Kafka keeps it", broker, topic, p.Size)
			}
		}
	}
	if replicas == 0 {
		t.Fatalf("no log dir describes %s-0", topic)
	}
}
