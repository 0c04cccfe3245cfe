package broker

import "gregor/protocol"

// adminAPIs are the administrative APIs: configs, partitions, records
// deletion, log dirs, cluster description, leader epochs.
func (b *Broker) adminAPIs() []protocol.API {
	return []protocol.API{}
}
