package storage

import (
	"errors"
	"io"
	"math"

	"gregor/broker/records"
)

// recoverSegment scans a segment's batches, checking each header, CRC and
// offset order, and truncates the file at the first bad batch. A full scan
// (fromIndex false) rebuilds both indexes and assigns leader epochs; a tail
// scan starts at the last index entry and only finds the end. Offsets at
// or past limit (the next segment's base, when known) are not the
// segment's: a batch holding one is bad.
func (l *Log) recoverSegment(s *segment, fromIndex bool, limit int64) (truncated bool, err error) {
	pos := int64(0)
	if fromIndex {
		if e, ok, err := s.index.last(); err != nil {
			return false, err
		} else if ok {
			// The entry maps a batch's last offset to the batch's
			// position: the scan starts at that batch, with s.next
			// still at the base, and moves s.next past it.
			_, p := offsetEntry(e)
			pos = int64(p)
		}
		if e, ok, err := s.times.last(); err != nil {
			return false, err
		} else if ok {
			ts, rel := timeEntry(e)
			s.maxTs, s.maxTsOff = ts, s.base+int64(rel)
		}
	} else {
		if err := s.index.truncate(0); err != nil {
			return false, err
		}
		if err := s.times.truncate(0); err != nil {
			return false, err
		}
		s.next, s.maxTs, s.maxTsOff, s.firstTs, s.sinceIndex = s.base, -1, -1, -1, 0
		s.indexSuspect.Store(false)
	}
	end, err := l.scanValid(s, pos, !fromIndex, limit)
	if err != nil {
		return false, err
	}
	if end == s.size {
		return false, nil
	}
	l.log.Warn().Int64("segment", s.base).Int64("valid_bytes", end).Int64("file_bytes", s.size).
		Msg("truncating torn tail of segment")
	if err := s.log.Truncate(end); err != nil {
		return false, err
	}
	s.size = end
	if err := s.log.Sync(); err != nil {
		return false, err
	}
	return true, nil
}

// scanValid walks batches from pos and returns the position after the last
// good one. With rebuild it also re-creates index entries and epochs.
func (l *Log) scanValid(s *segment, pos int64, rebuild bool, limit int64) (int64, error) {
	sc := scanner{s: s, end: s.size}
	var buf []byte
	for {
		b, err := sc.at(pos)
		if err == io.EOF {
			return pos, nil
		}
		if errors.Is(err, errTorn) {
			return pos, nil
		}
		if err != nil {
			return 0, err
		}
		if pos > 0 && b.base < s.next || b.base < s.base || !s.holds(b.last, limit) {
			return pos, nil // offsets went backwards or out of range: not ours
		}
		if cap(buf) < int(b.size) {
			buf = make([]byte, b.size)
		}
		buf = buf[:b.size]
		if _, err := s.log.ReadAt(buf, pos); err != nil {
			return 0, err
		}
		if !records.CRCValid(buf) {
			return pos, nil
		}
		if rebuild {
			if s.sinceIndex > l.cfg.IndexIntervalBytes {
				if err := s.addIndexEntries(b.last, pos); err != nil {
					return 0, err
				}
			}
			s.sinceIndex += b.size
			if pos == 0 {
				s.firstTs = b.hdr.MaxTimestamp
			}
			l.epochs.assign(b.hdr.LeaderEpoch, b.base)
		}
		if b.hdr.MaxTimestamp > s.maxTs {
			s.maxTs, s.maxTsOff = b.hdr.MaxTimestamp, b.last
		}
		s.next = b.last + 1
		pos += b.size
	}
}

// holds reports whether offset last may be in the segment: within the
// range its relative offsets cover (Kafka's LogSegment.ensureOffsetInRange)
// and below limit. A base offset is outside the CRC: a flipped bit there
// is found only so.
func (s *segment) holds(last, limit int64) bool {
	return last-s.base <= math.MaxInt32 && last < limit
}
