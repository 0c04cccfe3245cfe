// Package monitor is what an operator sees of a running broker, served on
// gregor.metrics.listener:
//
//	/metrics      Prometheus metrics (client_golang), including consumer lag
//	/             the status page: brokers, topics, groups, transactions,
//	              quotas and connection limits (server-rendered HTML that
//	              refreshes itself; no scripts, no external assets)
//	/healthz      the process is alive
//	/readyz       registered (while its ZooKeeper session lasts), metadata loaded, listeners up
//	/debug/pprof  Go profiles
//
// It reads the broker, the coordinators and the connection layer through
// their read-only accessors; package protocol knows nothing of Prometheus
// (it reports request timings through protocol.Observer).
//
//	metrics.go    the registry: request histograms, scrape-time collectors
//	lag.go        consumer lag of the groups coordinated here
//	status.go     the status page and health endpoints
//	server.go     the HTTP server
package monitor
