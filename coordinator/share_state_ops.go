package coordinator

// The ShareGroupState APIs (83-87) share one shape: an operation per
// partition, started in request order (refused without CLUSTER_ACTION on
// the cluster), and a response answered once every operation's write is
// committed, each partition filled from its operation.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

// stateOps are one request's operations and how each fills its answer.
type stateOps struct {
	allowed bool
	ops     []*shareOp
	fill    []func(*shareOp)
}

func (c *shareCoordinator) stateOps(req *protocol.Request) *stateOps {
	return &stateOps{allowed: c.authorize(req, acl.ClusterAction, acl.Cluster, acl.ClusterName)}
}

// add starts a partition's operation, if allowed, and records how its
// response entry is filled once it is done.
func (s *stateOps) add(start func() shareOp, fill func(*shareOp)) {
	op := opFail(kerr.ClusterAuthorizationFailed, "")
	if s.allowed {
		op = start()
	}
	s.ops = append(s.ops, &op)
	s.fill = append(s.fill, fill)
}

// respond answers resp once every operation is done.
func (c *shareCoordinator) respond(req *protocol.Request, resp kmsg.Response, s *stateOps) (kmsg.Response, error) {
	req.Defer(func(ctx context.Context) (kmsg.Response, error) {
		for i, op := range s.ops {
			c.await(ctx, op)
			s.fill[i](op)
		}
		return resp, nil
	})
	return nil, nil
}

// opError is an operation's error code and message.
func opError(op *shareOp) (int16, *string) {
	if op.err == nil {
		return 0, nil
	}
	msg := op.msg
	if msg == "" {
		msg = op.err.Message
	}
	return op.err.Code, &msg
}
