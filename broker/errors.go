package broker

import (
	"errors"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/metadata"
	"gregor/broker/records"
	"gregor/broker/storage"
)

// ErrorCode is the one place internal errors become Kafka error codes. An
// error that maps to nothing specific is logged with its cause and reported
// as REQUEST_TIMED_OUT if it is a timeout, else KAFKA_STORAGE_ERROR: what
// reaches here unclassified comes from the log or the metadata store, and
// clients retry KAFKA_STORAGE_ERROR, where Kafka's UNKNOWN_SERVER_ERROR
// would fail a producer's batch for good.
func ErrorCode(log zerolog.Logger, err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
		return ke.Code
	case errors.Is(err, storage.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, errNotLocal), errors.Is(err, storage.ErrClosed):
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, records.ErrCRC), errors.Is(err, records.ErrShort), errors.Is(err, records.ErrCorrupt):
		// The batch's framing or its compressed data is damaged.
		return kerr.CorruptMessage.Code
	case errors.Is(err, records.ErrTooLarge):
		// Records inflating past what a batch may cost: producers split
		// the batch on this code.
		return kerr.MessageTooLarge.Code
	case errors.Is(err, records.ErrCompression):
		return kerr.UnsupportedCompressionType.Code
	case errors.Is(err, records.ErrMagic), errors.Is(err, records.ErrInvalid):
		// Records that break the format or a rule (count, offset deltas,
		// keys on compacted topics), as Kafka's LogValidator.
		return kerr.InvalidRecord.Code
	case errors.Is(err, metadata.ErrStaleState):
		return kerr.NotController.Code
	case storage.IsDiskFailure(err):
		// Its log dir is going offline (logdir_failure.go logs it).
		return kerr.KafkaStorageError.Code
	}
	log.Error().Err(err).Msg("unexpected error answered as a storage or server error")
	var pe interface{ Timeout() bool }
	if errors.As(err, &pe) && pe.Timeout() {
		// (Any *os.PathError has the method; only a timeout says yes.)
		return kerr.RequestTimedOut.Code
	}
	return kerr.KafkaStorageError.Code
}

// errMessage returns an error's text for responses that carry one; an
// apiError without a message (errorNoMessage) is answered with none, as
// Kafka answers an exception it made without one. A bare error code is
// answered with its description alone ("This server does not host this
// topic-partition."), the message of Kafka's Errors entry that an
// exception made from the code carries, not franz-go's "NAME: description".
func errMessage(err error) *string {
	if err == nil {
		return nil
	}
	var ae *apiError
	if errors.As(err, &ae) && ae.msg == "" {
		return nil
	}
	if ke, ok := err.(*kerr.Error); ok {
		return &ke.Description
	}
	s := err.Error()
	return &s
}
