package coordinator

import "gregor/protocol"

// groupAPIs are the consumer group and offset APIs.
func (c *Coordinator) groupAPIs() []protocol.API {
	return nil
}
