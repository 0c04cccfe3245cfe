package broker

import "gregor/protocol"

// apis is the broker's part of the API registry: key, versions, handler.
// Version ranges are every version kmsg knows unless the handler's file
// says why not. Produce and Fetch defer only waits (acks=all, long polls),
// so they are WaitOnly: pipelined ones wait side by side.
func (b *Broker) apis() []protocol.API {
	apis := append(b.coreAPIs(), b.shareAPIs()...)
	return apis
}

// shareAPIs are the share-group APIs a partition leader serves, when
// group.share.enable is on. They run one request at a time per
// connection, in order (acknowledgements before the next fetch).
func (b *Broker) shareAPIs() []protocol.API {
	if !b.Config().ShareGroupEnable {
		return nil
	}
	return []protocol.API{
		{Key: 78, Min: 0, Max: 2, Handler: b.handleShareFetch},
		{Key: 79, Min: 0, Max: 2, Handler: b.handleShareAcknowledge},
	}
}

func (b *Broker) coreAPIs() []protocol.API {
	return append([]protocol.API{
		// Produce v0-2 carry magic 0/1 message sets, up-converted on append.
		{Key: 0, Min: 0, Max: 13, Handler: b.handleProduce, NoCopy: true, WaitOnly: true},
		// Fetch v0-3 read magic 0/1, down-converted (api_01_fetch_legacy.go).
		{Key: 1, Min: 0, Max: 18, Handler: b.handleFetch, NoCopy: true, WaitOnly: true},
		{Key: 2, Min: 0, Max: 11, Handler: b.handleListOffsets},
		{Key: 3, Min: 0, Max: 13, Handler: b.handleMetadata},
		{Key: 19, Min: 0, Max: 7, Handler: b.handleCreateTopics},
		{Key: 20, Min: 0, Max: 6, Handler: b.handleDeleteTopics},
	}, append(b.adminAPIs(), b.aclAPIs()...)...)
}
