package broker

// ListConfigResources (key 74): version 0 is Kafka 4.0's
// ListClientMetricsResources, which lists the client metrics
// subscriptions (kafka-client-metrics.sh --list, and --describe without a
// name); version 1 (Kafka 4.1, KIP-1142) lists the config resources of the
// types asked for, every type it knows when none is given: topics, brokers
// and broker loggers (the live brokers), client metrics subscriptions and
// groups that have configs. A type it does not know fails the request
// with UNSUPPORTED_VERSION. Either needs DESCRIBE_CONFIGS on the cluster.

import (
	"context"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

// listableConfigTypes are the resource types version 1 lists, in the
// order it lists them.
var listableConfigTypes = []int8{resourceTopic, resourceBroker, resourceBrokerLogger, resourceClientMetrics, resourceGroup}

func (b *Broker) handleListConfigResources(_ context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ListConfigResourcesRequest)
	resp := req.Response().(*kmsg.ListConfigResourcesResponse)
	resp.ConfigResources = []kmsg.ListConfigResourcesResponseConfigResource{}
	if !b.authorizeCluster(req, acl.DescribeConfigs) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	types := []int8{resourceClientMetrics}
	if req.Version >= 1 {
		types = r.ResourceTypes
		if len(types) == 0 {
			types = listableConfigTypes
		}
		for _, t := range types {
			if !slices.Contains(listableConfigTypes, t) {
				resp.ErrorCode = kerr.UnsupportedVersion.Code
				return resp, nil
			}
		}
	}
	add := func(typ int8, name string) {
		c := kmsg.NewListConfigResourcesResponseConfigResource()
		c.Name, c.Type = name, typ
		resp.ConfigResources = append(resp.ConfigResources, c)
	}
	for _, typ := range listableConfigTypes {
		if !slices.Contains(types, typ) {
			continue
		}
		switch typ {
		case resourceTopic:
			for _, name := range b.TopicNames() {
				add(typ, name)
			}
		case resourceBroker, resourceBrokerLogger:
			brokers, _ := b.Brokers()
			for _, bi := range brokers {
				add(typ, strconv.Itoa(int(bi.ID)))
			}
		case resourceClientMetrics:
			for _, name := range b.clientMetrics.names() {
				add(typ, name)
			}
		case resourceGroup:
			for _, name := range b.groupConfigs.names() {
				add(typ, name)
			}
		}
	}
	return resp, nil
}
