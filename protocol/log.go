package protocol

// Log field names of the connection layer, so that one grep finds every
// line about a connection, a client or an API.
const (
	LogConn        = "conn"
	LogRemote      = "remote"
	LogListener    = "listener"
	LogClientID    = "client_id"
	LogAPI         = "api"
	LogVersion     = "version"
	LogCorrelation = "correlation_id"
	LogBytes       = "bytes"
)
