package metadata

import (
	"context"
	"maps"
)

// applyScramLocked delivers the SCRAM credentials.
func (l *local) applyScramLocked() {
	if a, ok := l.apply.(ScramCredentialApplier); ok {
		a.ApplyScramCredentials(l.scramLocked())
	}
}

func (l *local) scramLocked() UserScram {
	out := UserScram{}
	for user, cfg := range l.doc.Users {
		if creds := ScramFromConfig(cfg); len(creds) > 0 {
			out[user] = creds
		}
	}
	return out
}

// UserScramCredentials returns every user's credentials.
func (l *local) UserScramCredentials(context.Context) (UserScram, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.scramLocked(), nil
}

// AlterUserScramCredentials changes one user's credentials and saves the
// file before delivering them.
func (l *local) AlterUserScramCredentials(_ context.Context, a ScramAlteration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	next, err := AlterScramConfig(l.doc.Users[a.User], a)
	if err != nil {
		return err
	}
	old := l.doc.Users
	users := maps.Clone(old)
	if users == nil {
		users = map[string]map[string]string{}
	}
	if len(next) == 0 {
		delete(users, a.User)
	} else {
		users[a.User] = next
	}
	l.doc.Users = users
	if err := l.saveLocked(); err != nil {
		l.doc.Users = old
		return err
	}
	l.applyScramLocked()
	return nil
}
