package broker

// DescribeCluster (key 60), versions 0-2.
//
// The cluster id, the controller and the live brokers with their address
// for the listener the request came in on. v1+ asks for an endpoint type:
// only BROKERS (1) is served; CONTROLLERS (2) or anything else is
// UNSUPPORTED_ENDPOINT_TYPE, as a Kafka broker answers. v2's fenced brokers
// are never listed (a broker here is live or absent). Authorized operations
// are every cluster operation when asked (there is no authorizer).

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/protocol"
)

// Endpoint types (DescribeCluster v1+).
const endpointBrokers int8 = 1

// allClusterOperations: CREATE, ALTER, DESCRIBE, CLUSTER_ACTION,
// DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE as a bit set.
const allClusterOperations = 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12

func (b *Broker) handleDescribeCluster(_ context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeClusterRequest)
	resp := req.Response().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = endpointBrokers
	resp.ClusterID = b.ClusterID()
	resp.ClusterAuthorizedOperations = authorizedOpsNotRequested
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{}
	if req.Version >= 1 && r.EndpointType != endpointBrokers {
		resp.EndpointType = r.EndpointType
		resp.ControllerID = -1
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		msg := fmt.Sprintf("The broker does not support DESCRIBE_CLUSTER with endpoint type %d", r.EndpointType)
		resp.ErrorMessage = &msg
		return resp, nil
	}
	brokers, controller := b.Brokers()
	resp.ControllerID = controller
	if r.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = allClusterOperations
	}
	for _, mb := range b.metadataBrokers(brokers, req.Conn.Listener) {
		db := kmsg.NewDescribeClusterResponseBroker()
		db.NodeID, db.Host, db.Port, db.Rack = mb.NodeID, mb.Host, mb.Port, mb.Rack
		resp.Brokers = append(resp.Brokers, db)
	}
	return resp, nil
}
