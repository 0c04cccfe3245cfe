// Package protocol is Gregor's connection layer: listeners, connections,
// Kafka's request framing and headers, pipelined requests with responses
// in request order, and the registry of served APIs (ApiVersions is
// computed from it). The codecs are franz-go's kmsg.
//
// It bounds what clients can make the broker hold (frame sizes, bytes
// queued per connection and in all, connection counts, idle time) and
// knows nothing of logs, partitions or groups: packages broker and
// coordinator register handlers for their APIs.
//
//	server.go      listeners, accepting (with backoff), connection limits
//	conn.go        one connection: reading, dispatching, ordered writing
//	budget.go      queued.max.request.bytes: request bytes reserved in all
//	registry.go    the APIs served and their versions
//	request.go     a decoded request; Defer for work that waits
//	options.go     the limits, from the broker's configuration
//	observe.go     request timings for metrics (Observer), open connections,
//	               muting a connection for a quota throttle
package protocol
