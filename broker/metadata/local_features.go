package metadata

// The finalized feature levels of a single broker, kept in its metadata
// file.

import (
	"context"
	"maps"
)

// applyFeaturesLocked delivers the finalized feature levels.
func (l *local) applyFeaturesLocked() {
	a, ok := l.apply.(FeatureApplier)
	if !ok {
		return
	}
	if l.doc.FeaturesEpoch == 0 {
		a.ApplyFeatures(nil, 0)
		return
	}
	levels := maps.Clone(l.doc.Features)
	if levels == nil {
		levels = map[string]int16{}
	}
	a.ApplyFeatures(levels, l.doc.FeaturesEpoch)
}

// UpdateFeatures replaces the finalized feature levels.
func (l *local) UpdateFeatures(_ context.Context, levels map[string]int16) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	old, oldEpoch := l.doc.Features, l.doc.FeaturesEpoch
	next := map[string]int16{}
	for name, level := range levels {
		if level > 0 {
			next[name] = level
		}
	}
	l.doc.Features, l.doc.FeaturesEpoch = next, max(oldEpoch+1, 2)
	if err := l.saveLocked(); err != nil {
		l.doc.Features, l.doc.FeaturesEpoch = old, oldEpoch
		return err
	}
	l.applyFeaturesLocked()
	return nil
}
