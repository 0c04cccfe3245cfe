package zkmeta

import (
	"github.com/go-zookeeper/zk"

	"gregor/broker/metadata"
)

// Status reports whether this broker is the controller and the state of
// its ZooKeeper session. It does not wait for the loop (which holds mu
// across ZooKeeper calls): while the loop is busy it reports the
// controller status last seen.
func (b *backend) Status() metadata.Status {
	ctrl := b.lastCtrl.Load()
	if b.mu.TryLock() {
		ctrl = b.isController
		b.mu.Unlock()
		b.lastCtrl.Store(ctrl)
	}
	st := metadata.Status{Controller: ctrl, LeaderElections: b.elections.Load(), UncleanLeaderElections: b.uncleanElections.Load(), ZooKeeper: "StateDisconnected"}
	if b.conn != nil {
		s := b.conn.State()
		st.ZooKeeper = s.String()
		st.Connected = s == zk.StateHasSession
	}
	st.Registered = b.registered.Load()
	return st
}
