package broker

import (
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/protocol"
)

// adminAPIs are the administrative APIs: configs, partitions, records
// deletion, log dirs, cluster description, leader epochs, leader
// elections, partition reassignments, delegation tokens. Every version
// kmsg knows is served, unless the handler's file says why not.
func (b *Broker) adminAPIs() []protocol.API {
	return []protocol.API{
		{Key: 21, Min: 0, Max: 2, Handler: b.handleDeleteRecords},
		{Key: 23, Min: 0, Max: 4, Handler: b.handleOffsetForLeaderEpoch},
		{Key: 32, Min: 0, Max: 4, Handler: b.handleDescribeConfigs},
		{Key: 33, Min: 0, Max: 2, Handler: b.handleAlterConfigs},
		{Key: 34, Min: 0, Max: 2, Handler: b.handleAlterReplicaLogDirs},
		{Key: 35, Min: 0, Max: 5, Handler: b.handleDescribeLogDirs},
		{Key: 37, Min: 0, Max: 3, Handler: b.handleCreatePartitions},
		{Key: 38, Min: 1, Max: 3, Handler: b.handleCreateDelegationToken},
		{Key: 39, Min: 1, Max: 2, Handler: b.handleRenewDelegationToken},
		{Key: 40, Min: 1, Max: 2, Handler: b.handleExpireDelegationToken},
		{Key: 41, Min: 1, Max: 3, Handler: b.handleDescribeDelegationToken},
		{Key: 43, Min: 0, Max: 2, Handler: b.handleElectLeaders},
		{Key: 44, Min: 0, Max: 1, Handler: b.handleIncrementalAlterConfigs},
		{Key: 45, Min: 0, Max: 1, Handler: b.handleAlterPartitionReassignments},
		{Key: 46, Min: 0, Max: 0, Handler: b.handleListPartitionReassignments},
		{Key: 48, Min: 0, Max: 1, Handler: b.handleDescribeClientQuotas},
		{Key: 49, Min: 0, Max: 1, Handler: b.handleAlterClientQuotas},
		{Key: 50, Min: 0, Max: 0, Handler: b.handleDescribeUserScramCredentials},
		{Key: 51, Min: 0, Max: 0, Handler: b.handleAlterUserScramCredentials},
		{Key: 57, Min: 0, Max: 2, Handler: b.handleUpdateFeatures},
		{Key: 60, Min: 0, Max: 2, Handler: b.handleDescribeCluster},
		{Key: 61, Min: 0, Max: 0, Handler: b.handleDescribeProducers},
		{Key: 74, Min: 0, Max: 1, Handler: b.handleListConfigResources},
		{Key: 75, Min: 0, Max: 0, Handler: b.handleDescribeTopicPartitions},
	}
}

// Config resource types (ConfigResource.Type).
const (
	resourceTopic        int8 = 2
	resourceBroker       int8 = 4
	resourceBrokerLogger int8 = 8
)

// brokerResource parses a BROKER resource name as Kafka's ConfigHelper
// does for DescribeConfigs: empty is the cluster-wide default, otherwise
// it must be this broker's id. It reports whether the name is per broker.
func (b *Broker) brokerResource(name string) (perBroker bool, err error) {
	return b.parseBrokerResource(name, "Broker id must be an integer, but it is: %s", "Unexpected broker id, expected %d or empty string, but received %s")
}

// alterBrokerResource is brokerResource in the words of Kafka's
// ConfigAdminManager.validateResourceNameIsCurrentNodeId, which checks the
// name of a BROKER resource to alter.
func (b *Broker) alterBrokerResource(name string) (perBroker bool, err error) {
	return b.parseBrokerResource(name, "Node id must be an integer, but it is: %s", "Unexpected broker id, expected %d, but received %s")
}

func (b *Broker) parseBrokerResource(name, notInt, notThis string) (perBroker bool, err error) {
	if name == "" {
		return false, nil
	}
	id, perr := strconv.ParseInt(name, 10, 32)
	if perr != nil {
		return false, errorf(kerr.InvalidRequest, notInt, name)
	}
	if int32(id) != b.id {
		return false, errorf(kerr.InvalidRequest, notThis, b.id, name)
	}
	return true, nil
}
