package metadata

// Status is what a backend reports of itself to operators.
type Status struct {
	// Controller: this broker is the cluster's controller (a single
	// broker always is).
	Controller bool
	// ZooKeeper is the ZooKeeper session's state (the go-zookeeper client's names:
	// StateHasSession, StateDisconnected, StateExpired, ...); empty
	// without ZooKeeper.
	ZooKeeper string
	// Connected: the ZooKeeper session is up (always true without one).
	Connected bool
	// Registered: the broker's registration stands: its session has not
	// expired since it registered, though the connection may be down for
	// a while meanwhile, during which it goes on serving (always true
	// without ZooKeeper).
	Registered bool
	// LeaderElections counts the leader changes this broker made as
	// controller.
	LeaderElections uint64
	// UncleanLeaderElections counts the leaders it elected from outside
	// the ISR (unclean.leader.election.enable, or an unclean
	// ElectLeaders).
	UncleanLeaderElections uint64
}

// StatusReporter is implemented by backends that report a Status (both of
// Gregor's do).
type StatusReporter interface {
	Status() Status
}

// Status of a single broker: it is its own controller.
func (l *local) Status() Status { return Status{Controller: true, Connected: true, Registered: true} }
