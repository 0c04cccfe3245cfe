package protocol

// Log field names, shared by every package that logs, so that one grep finds
// every line about a topic, a client or a connection.
const (
	LogConn        = "conn"
	LogRemote      = "remote"
	LogListener    = "listener"
	LogClientID    = "client_id"
	LogAPIKey      = "api_key"
	LogAPI         = "api"
	LogVersion     = "version"
	LogCorrelation = "correlation_id"
	LogTopic       = "topic"
	LogPartition   = "partition"
	LogOffset      = "offset"
	LogGroup       = "group"
	LogMember      = "member"
	LogBroker      = "broker"
	LogPath        = "path"
	LogKey         = "key"
	LogBytes       = "bytes"
	LogCount       = "count"
	LogErrorCode   = "error_code"
	LogEpoch       = "epoch"
	LogComponent   = "component"
	LogTxnID       = "transactional_id"
	LogProducerID  = "producer_id"
)
