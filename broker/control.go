package broker

import (
	"encoding/binary"
	"errors"

	"gregor/broker/records"
)

// controlMarker is a transaction marker: key (version int16, type int16),
// value (version int16, coordinator epoch int32).
type controlMarker struct {
	typ              int16
	coordinatorEpoch int32
}

var errBadControl = errors.New("malformed control batch")

// parseControl decodes the marker in a control batch.
func parseControl(batch []byte) (controlMarker, error) {
	var cm controlMarker
	found := false
	err := records.Each(batch, func(r *records.Record) error {
		if found || len(r.Key) < 4 {
			return errBadControl
		}
		cm.typ = int16(binary.BigEndian.Uint16(r.Key[2:]))
		if len(r.Value) >= 6 {
			cm.coordinatorEpoch = int32(binary.BigEndian.Uint32(r.Value[2:]))
		}
		found = true
		return nil
	})
	if err == nil && !found {
		err = errBadControl
	}
	return cm, err
}

// buildControl encodes a transaction marker batch for a producer.
func buildControl(pid int64, epoch int16, commit bool, coordinatorEpoch int32, ts int64) ([]byte, error) {
	typ := records.ControlAbort
	if commit {
		typ = records.ControlCommit
	}
	key := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, 0), uint16(typ))
	val := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(nil, 0), uint32(coordinatorEpoch))
	return records.Build(&records.Batch{
		Attributes:     records.AttrControl | records.AttrTransactional,
		FirstTimestamp: ts, MaxTimestamp: ts,
		ProducerID: pid, ProducerEpoch: epoch, BaseSequence: -1,
		Records: []records.Record{{Key: key, Value: val}},
	})
}
