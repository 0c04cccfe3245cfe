package metadata

// Group configs of a single broker, kept in its metadata file.

import (
	"context"
	"maps"
)

// applyGroupConfigsLocked delivers every group's configs.
func (l *local) applyGroupConfigsLocked() {
	if a, ok := l.apply.(GroupConfigApplier); ok {
		out := make(map[string]map[string]string, len(l.doc.GroupConfigs))
		for g, c := range l.doc.GroupConfigs {
			out[g] = maps.Clone(c)
		}
		a.ApplyGroupConfigs(out)
	}
}

// AlterGroupConfigs replaces a group's configs.
func (l *local) AlterGroupConfigs(_ context.Context, group string, configs map[string]string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.doc.GroupConfigs
	next := make(map[string]map[string]string, len(old)+1)
	for g, c := range old {
		next[g] = c
	}
	if len(configs) == 0 {
		delete(next, group)
	} else {
		next[group] = maps.Clone(configs)
	}
	if len(next) == 0 {
		next = nil
	}
	l.doc.GroupConfigs = next
	if err := l.saveLocked(); err != nil {
		l.doc.GroupConfigs = old
		return err
	}
	l.applyGroupConfigsLocked()
	return nil
}
