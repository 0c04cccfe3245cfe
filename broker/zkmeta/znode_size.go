package zkmeta

import (
	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/metadata"
)

// maxZKRequest bounds what one write to ZooKeeper may carry: its data, its
// paths and the framing around them. A ZooKeeper server closes the
// connection of a client whose request is longer than its jute.maxbuffer
// (0xfffff bytes unless raised), and the client library lets through up to
// 1.5 MB; a write between the two would cost the broker its connection,
// and its metadata a second of staleness, each time a client sent it. It
// is refused with POLICY_VIOLATION instead, keeping 64 KiB for framing.
const maxZKRequest = 0xfffff - 64<<10

// zkConn is the ZooKeeper connection with each write's size checked
// before it is sent.
type zkConn struct {
	*zk.Conn
}

func (c *zkConn) Set(path string, data []byte, version int32) (*zk.Stat, error) {
	if err := checkZKWrite(len(path) + len(data)); err != nil {
		return nil, err
	}
	return c.Conn.Set(path, data, version)
}

func (c *zkConn) Create(path string, data []byte, flags int32, acl []zk.ACL) (string, error) {
	if err := checkZKWrite(len(path) + len(data)); err != nil {
		return "", err
	}
	return c.Conn.Create(path, data, flags, acl)
}

func (c *zkConn) Multi(ops ...any) ([]zk.MultiResponse, error) {
	// Each op's header, version or flags, and a create's ACLs (a scheme
	// and id of a few bytes each) take well under opFraming.
	const opFraming = 64
	n := 0
	for _, op := range ops {
		switch op := op.(type) {
		case *zk.CreateRequest:
			n += len(op.Path) + len(op.Data) + opFraming
			for _, a := range op.Acl {
				n += len(a.Scheme) + len(a.ID) + 12
			}
		case *zk.SetDataRequest:
			n += len(op.Path) + len(op.Data) + opFraming
		case *zk.DeleteRequest:
			n += len(op.Path) + opFraming
		case *zk.CheckVersionRequest:
			n += len(op.Path) + opFraming
		}
	}
	if err := checkZKWrite(n); err != nil {
		return nil, err
	}
	return c.Conn.Multi(ops...)
}

func checkZKWrite(n int) error {
	if n > maxZKRequest {
		return metadata.Errorf(kerr.PolicyViolation, "the write would carry %d bytes to ZooKeeper, more than the %d its servers take in one request (jute.maxbuffer)", n, maxZKRequest)
	}
	return nil
}
