package broker

// DescribeCluster (key 60), versions 0-2.
//
// The cluster id, the controller and the live brokers with their address
// for the listener the request came in on. v1+ asks for an endpoint type:
// only BROKERS (1) is served; CONTROLLERS (2) is MISMATCHED_ENDPOINT_TYPE
// and any other type UNSUPPORTED_ENDPOINT_TYPE, as Kafka's
// computeDescribeClusterResponse answers (an admin client pointed at a
// broker with bootstrap.controllers is told so). v2's fenced brokers
// are never listed (a broker here is live or absent). Authorized operations
// are the cluster operations the principal may do when asked: 0 without
// DESCRIBE on the cluster, every one without an authorizer.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

// Endpoint types (DescribeCluster v1+).
const (
	endpointBrokers     int8 = 1
	endpointControllers int8 = 2
)

func (b *Broker) handleDescribeCluster(_ context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeClusterRequest)
	resp := req.Response().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = endpointBrokers
	resp.ClusterID = b.ClusterID()
	resp.ClusterAuthorizedOperations = authorizedOpsNotRequested
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{}
	if req.Version >= 1 && r.EndpointType != endpointBrokers {
		resp.ClusterID, resp.ControllerID = "", -1
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		msg := fmt.Sprintf("Unsupported endpoint type %d", r.EndpointType)
		if r.EndpointType == endpointControllers {
			resp.ErrorCode = kerr.MismatchedEndpointType.Code
			msg = "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER"
		}
		resp.ErrorMessage = &msg
		return resp, nil
	}
	brokers, controller := b.Brokers()
	listed := b.metadataBrokers(brokers, req.Conn.Listener)
	resp.ControllerID = -1 // unless it is one of the listed brokers, as Kafka
	for _, mb := range listed {
		if mb.NodeID == controller {
			resp.ControllerID = controller
		}
	}
	if r.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = 0
		if b.authorizeCluster(req, acl.Describe) {
			resp.ClusterAuthorizedOperations = b.authorizedOps(req, acl.Cluster, acl.ClusterName)
		}
	}
	for _, mb := range listed {
		db := kmsg.NewDescribeClusterResponseBroker()
		db.NodeID, db.Host, db.Port, db.Rack = mb.NodeID, mb.Host, mb.Port, mb.Rack
		resp.Brokers = append(resp.Brokers, db)
	}
	return resp, nil
}
