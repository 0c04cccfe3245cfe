package metadata

import (
	"context"
	"maps"
)

// applyQuotasLocked delivers the client quotas.
func (l *local) applyQuotasLocked() {
	if a, ok := l.apply.(ClientQuotaApplier); ok {
		a.ApplyClientQuotas(l.quotasLocked())
	}
}

func (l *local) quotasLocked() ClientQuotas {
	out := ClientQuotas{}
	for path, cfg := range l.doc.ClientQuotas {
		e, ok := ParseQuotaPath(path)
		if !ok {
			continue
		}
		if q := QuotasFromConfig(e, cfg); len(q) > 0 {
			out[e] = q
		}
	}
	return out
}

// ClientQuotas returns every entity's quotas.
func (l *local) ClientQuotas(context.Context) (ClientQuotas, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.quotasLocked(), nil
}

// AlterClientQuota changes one entity's quotas and saves the file before
// delivering them.
func (l *local) AlterClientQuota(_ context.Context, a QuotaAlteration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	path := a.Entity.Path()
	old := l.doc.ClientQuotas
	next := maps.Clone(old)
	if next == nil {
		next = map[string]map[string]string{}
	}
	cfg := AlterQuotaConfig(old[path], a)
	if len(cfg) == 0 {
		delete(next, path)
	} else {
		next[path] = cfg
	}
	if len(next) == 0 {
		next = nil
	}
	l.doc.ClientQuotas = next
	if err := l.saveLocked(); err != nil {
		l.doc.ClientQuotas = old
		return err
	}
	l.applyQuotasLocked()
	return nil
}
