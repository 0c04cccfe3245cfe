package coordinator

import "gregor/protocol"

// groupAPIs are the consumer group and offset APIs.
func (c *Coordinator) groupAPIs() []protocol.API {
	return nil
}

// groupLeadership loads or unloads the groups of a __consumer_offsets
// partition.
func (c *Coordinator) groupLeadership(partition int32, leader bool, epoch int32) {}

// closeGroups stops group timers and background work.
func (c *Coordinator) closeGroups() {}
