package records

import (
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// RecordError is one record of a batch that breaks a rule: its index in
// the batch and why (Produce v8+ record_errors, KIP-467).
type RecordError struct {
	Index   int32
	Message string
	// badTimestamp: the record's timestamp is out of range (or of the
	// wrong type), which makes the batch's error INVALID_TIMESTAMP.
	badTimestamp bool
}

// RecordErrors are the records of a batch that each break a per-record
// rule (a key on a compacted topic, a timestamp in range), found walking
// the whole batch, as Kafka's LogValidator collects them: the batch is
// refused whole, and the response names each culprit so a client fails
// exactly those. At most one error per record, the first rule it breaks.
// It is INVALID_TIMESTAMP if any record's timestamp is bad, INVALID_RECORD
// otherwise; it also matches ErrInvalid.
type RecordErrors struct {
	Errors []RecordError // by index
}

// Add names record i with why; timestamp marks a bad timestamp. A record
// already named keeps its first error.
func (e *RecordErrors) Add(i int32, timestamp bool, why string) {
	at, found := slices.BinarySearchFunc(e.Errors, i, func(r RecordError, i int32) int { return int(r.Index - i) })
	if found {
		return
	}
	e.Errors = slices.Insert(e.Errors, at, RecordError{Index: i, Message: why, badTimestamp: timestamp})
}

// timestamp reports whether any named record has a bad timestamp.
func (e *RecordErrors) timestamp() bool {
	return slices.ContainsFunc(e.Errors, func(r RecordError) bool { return r.badTimestamp })
}

// Has reports whether record i is named.
func (e *RecordErrors) Has(i int32) bool {
	_, found := slices.BinarySearchFunc(e.Errors, i, func(r RecordError, i int32) int { return int(r.Index - i) })
	return found
}

// Merge adds other's errors for records not yet named; either may be nil.
// It returns the union, nil if both are.
func (e *RecordErrors) Merge(other *RecordErrors) *RecordErrors {
	if e == nil {
		return other
	}
	if other != nil {
		for _, r := range other.Errors {
			e.Add(r.Index, r.badTimestamp, r.Message)
		}
	}
	return e
}

// Error is the partition's error message, as Kafka words it.
func (e *RecordErrors) Error() string {
	if e.timestamp() {
		return "One or more records have been rejected due to invalid timestamp"
	}
	shown := make([]string, 0, 3)
	for _, r := range e.Errors[:min(len(e.Errors), 3)] {
		shown = append(shown, fmt.Sprintf("RecordError(batchIndex=%d, message='%s')", r.Index, r.Message))
	}
	return fmt.Sprintf("One or more records have been rejected due to %d record errors in total, and only showing the first three errors at most: [%s]",
		len(e.Errors), strings.Join(shown, ", "))
}

// Unwrap makes the errors match ErrInvalid and the Kafka error code.
func (e *RecordErrors) Unwrap() []error {
	if e.timestamp() {
		return []error{ErrInvalid, kerr.InvalidTimestamp}
	}
	return []error{ErrInvalid, kerr.InvalidRecord}
}
