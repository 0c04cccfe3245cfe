package metadata

import (
	"context"

	"gregor/broker/acl"
)

// applyAclsLocked delivers the ACLs.
func (l *local) applyAclsLocked() {
	if a, ok := l.apply.(AclApplier); ok {
		a.ApplyAcls(l.acls.Bindings())
	}
}

// loadAclsLocked reads the ACLs of the file into l.acls.
func (l *local) loadAclsLocked() error {
	bs, err := fromLocalAcls(l.doc.Acls)
	if err != nil {
		return err
	}
	l.acls = acl.NewSnapshot(bs)
	return nil
}

// Acls returns every ACL.
func (l *local) Acls(context.Context) ([]acl.Binding, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acls.Bindings(), nil
}

// CreateAcls adds ACLs (existing ones are kept once) and saves the file
// before delivering them.
func (l *local) CreateAcls(_ context.Context, bindings []acl.Binding) []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.replaceAclsLocked(l.acls.With(bindings))
	errs := make([]error, len(bindings))
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// DeleteAcls removes the ACLs the filters match.
func (l *local) DeleteAcls(_ context.Context, filters []acl.Filter) ([][]acl.Binding, []error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	next, matched := l.acls.Without(filters)
	err := l.replaceAclsLocked(next)
	errs := make([]error, len(filters))
	for i := range errs {
		if errs[i] = err; err != nil {
			matched[i] = nil
		}
	}
	return matched, errs
}

// replaceAclsLocked saves and delivers a new set of ACLs.
func (l *local) replaceAclsLocked(next *acl.Snapshot) error {
	if next.Len() == l.acls.Len() && equalBindings(next.Bindings(), l.acls.Bindings()) {
		return nil
	}
	old := l.doc.Acls
	l.doc.Acls = toLocalAcls(next)
	if err := l.saveLocked(); err != nil {
		l.doc.Acls = old
		return err
	}
	l.acls = next
	l.applyAclsLocked()
	return nil
}

func equalBindings(a, b []acl.Binding) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
