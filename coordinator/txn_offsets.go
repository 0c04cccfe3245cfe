package coordinator

// txnOffsetsCompleted is called when a commit or abort marker for a
// producer lands on a __consumer_offsets partition this broker leads: the
// offsets the producer committed in its transaction become the groups'
// committed offsets, or are dropped.
func (c *Coordinator) txnOffsetsCompleted(partition int32, pid int64, commit bool) {}
