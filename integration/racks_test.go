package integration

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// With broker.rack set, a topic's replicas, and those of partitions added
// later, are placed across racks as Kafka places them: here brokers 1 and
// 2 share rack "a" and broker 3 is alone on "b", so every partition of
// two replicas has one on broker 3.
func TestReplicasPlacedAcrossRacks(t *testing.T) {
	racks := map[int32]string{1: "a", 2: "a", 3: "b"}
	c := startClusterEach(t, 3, nil, func(id int32, _ string) map[string]string {
		return map[string]string{"broker.rack": racks[id]}
	})
	adm, done := c.admin()
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	check := func(want int) {
		t.Helper()
		var td kadm.TopicDetails
		waitFor(t, "the topic's partitions in metadata", 10*time.Second, func() bool {
			var err error
			td, err = adm.ListTopics(ctx, "racked")
			return err == nil && len(td["racked"].Partitions) == want
		})
		for p, pd := range td["racked"].Partitions {
			if len(pd.Replicas) != 2 || !slices.Contains(pd.Replicas, 3) {
				t.Fatalf("partition %d has replicas %v: want two, one of them on rack b's broker 3", p, pd.Replicas)
			}
		}
	}
	if _, err := adm.CreateTopic(ctx, 12, 2, nil, "racked"); err != nil {
		t.Fatal(err)
	}
	check(12)
	if _, err := adm.CreatePartitions(ctx, 6, "racked"); err != nil {
		t.Fatal(err)
	}
	check(18)
}
