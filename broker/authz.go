package broker

// Authorization: the one place the broker's handlers ask the authorizer
// (package acl), with the request's principal and client address. Without
// authorizer.class.name the authorizer is nil and allows everything.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/broker/records"
	"gregor/protocol"
)

// Authorizer is the broker's authorizer; nil without
// authorizer.class.name. The coordinators and the metrics share it.
func (b *Broker) Authorizer() *acl.Authorizer { return b.authz }

// ApplyAcls takes the ACLs the backend delivers (metadata.AclApplier).
func (a applier) ApplyAcls(bs []acl.Binding) {
	if a.b.authz != nil {
		a.b.authz.SetACLs(bs)
	}
}

// session is who sent a request, as the authorizer sees it.
func session(req *protocol.Request) acl.Session {
	if req.Conn == nil {
		return acl.Session{Principal: protocol.Anonymous.String()}
	}
	return acl.Session{Principal: req.Conn.Principal().String(), Host: req.Conn.ClientHost()}
}

// authzRequest is a request as the authorizer logs its denials.
func authzRequest(req *protocol.Request) acl.Request {
	return acl.Request{Session: session(req), API: kmsg.NameForKey(req.Key)}
}

// authorize asks whether req may do op on a resource; a denial is logged
// (rate limited) and counted.
func (b *Broker) authorize(req *protocol.Request, op acl.Operation, t acl.ResourceType, name string) bool {
	if b.authz == nil {
		return true
	}
	return b.authz.Authorize(authzRequest(req), acl.Action{Operation: op, Type: t, Name: name})
}

// allowed is authorize for filtering what a response lists: a denial is
// neither logged nor counted (Kafka's logIfDenied=false).
func (b *Broker) allowed(req *protocol.Request, op acl.Operation, t acl.ResourceType, name string) bool {
	return b.authz == nil || b.authz.Allowed(session(req), acl.Action{Operation: op, Type: t, Name: name})
}

// authorizeCluster is authorize on the cluster resource.
func (b *Broker) authorizeCluster(req *protocol.Request, op acl.Operation) bool {
	return b.authorize(req, op, acl.Cluster, acl.ClusterName)
}

// authorizedOps is a resource's authorized operations field.
func (b *Broker) authorizedOps(req *protocol.Request, t acl.ResourceType, name string) int32 {
	if b.authz == nil {
		return acl.OperationBits(acl.SupportedOperations(t))
	}
	return b.authz.AuthorizedOperations(session(req), t, name)
}

// authorizeTransactionalProduce: a produce request whose first batch of
// some partition is transactional needs WRITE on its transactional id
// (RequestUtils.hasTransactionalRecords); one without an id is refused.
func (b *Broker) authorizeTransactionalProduce(req *protocol.Request, r *kmsg.ProduceRequest) bool {
	if b.authz == nil || !hasTransactionalRecords(r) {
		return true
	}
	return r.TransactionID != nil && b.authorize(req, acl.Write, acl.TransactionalID, *r.TransactionID)
}

func hasTransactionalRecords(r *kmsg.ProduceRequest) bool {
	for i := range r.Topics {
		for j := range r.Topics[i].Partitions {
			h, err := records.ParseHeader(r.Topics[i].Partitions[j].Records)
			if err == nil && h.IsTransactional() {
				return true
			}
		}
	}
	return false
}

// Config resource type GROUP (ConfigResource.Type.GROUP).
const resourceGroup int8 = 32

// authorizeConfigs asks for op (DESCRIBE_CONFIGS or ALTER_CONFIGS) on a
// config resource as Kafka maps it: a broker, broker logger or client
// metrics subscription is the cluster, a topic or group itself. It returns
// the refusal's error code, or nil; resource types it does not know are
// left to the handler.
func (b *Broker) authorizeConfigs(req *protocol.Request, op acl.Operation, typ int8, name string) *kerr.Error {
	switch typ {
	case resourceBroker, resourceBrokerLogger, resourceClientMetrics:
		if !b.authorizeCluster(req, op) {
			return kerr.ClusterAuthorizationFailed
		}
	case resourceTopic:
		if !b.authorize(req, op, acl.Topic, name) {
			return kerr.TopicAuthorizationFailed
		}
	case resourceGroup:
		if !b.authorize(req, op, acl.Group, name) {
			return kerr.GroupAuthorizationFailed
		}
	}
	return nil
}

// authzMessage is Kafka's message of each authorization error (Errors),
// for responses that carry it.
var authzMessage = map[*kerr.Error]string{
	kerr.TopicAuthorizationFailed:   "Topic authorization failed.",
	kerr.GroupAuthorizationFailed:   "Group authorization failed.",
	kerr.ClusterAuthorizationFailed: "Cluster authorization failed.",
}
