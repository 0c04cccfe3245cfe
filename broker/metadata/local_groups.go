package metadata

// Named config sets of a single broker, kept in its metadata file: group
// configs and client metrics subscriptions.

import (
	"context"
	"maps"
)

// applyGroupConfigsLocked delivers every group's configs.
func (l *local) applyGroupConfigsLocked() {
	if a, ok := l.apply.(GroupConfigApplier); ok {
		a.ApplyGroupConfigs(cloneEntities(l.doc.GroupConfigs))
	}
}

// applyClientMetricsLocked delivers every client metrics subscription.
func (l *local) applyClientMetricsLocked() {
	if a, ok := l.apply.(ClientMetricsApplier); ok {
		a.ApplyClientMetrics(cloneEntities(l.doc.ClientMetrics))
	}
}

// AlterGroupConfigs replaces a group's configs.
func (l *local) AlterGroupConfigs(_ context.Context, group string, configs map[string]string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.alterEntityLocked(&l.doc.GroupConfigs, group, configs); err != nil {
		return err
	}
	l.applyGroupConfigsLocked()
	return nil
}

// AlterClientMetrics replaces a client metrics subscription's configs.
func (l *local) AlterClientMetrics(_ context.Context, name string, configs map[string]string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.alterEntityLocked(&l.doc.ClientMetrics, name, configs); err != nil {
		return err
	}
	l.applyClientMetricsLocked()
	return nil
}

// EditNamedConfigs edits a group's configs or a client metrics
// subscription's as they are now.
func (l *local) EditNamedConfigs(_ context.Context, kind NamedConfigs, name string, edit func(map[string]string) (map[string]string, error)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	field, apply := &l.doc.GroupConfigs, l.applyGroupConfigsLocked
	if kind == ClientMetricsConfigs {
		field, apply = &l.doc.ClientMetrics, l.applyClientMetricsLocked
	}
	next, err := edit(maps.Clone((*field)[name]))
	if err != nil {
		return err
	}
	if err := l.alterEntityLocked(field, name, next); err != nil {
		return err
	}
	apply()
	return nil
}

// alterEntityLocked replaces one entity's configs (none removes it) in a
// field of the document and saves it; on failure the field is as it was.
func (l *local) alterEntityLocked(field *map[string]map[string]string, name string, configs map[string]string) error {
	old := *field
	next := make(map[string]map[string]string, len(old)+1)
	maps.Copy(next, old)
	if len(configs) == 0 {
		delete(next, name)
	} else {
		next[name] = maps.Clone(configs)
	}
	if len(next) == 0 {
		next = nil
	}
	*field = next
	if err := l.saveLocked(); err != nil {
		*field = old
		return err
	}
	return nil
}

func cloneEntities(in map[string]map[string]string) map[string]map[string]string {
	out := make(map[string]map[string]string, len(in))
	for name, c := range in {
		out[name] = maps.Clone(c)
	}
	return out
}
