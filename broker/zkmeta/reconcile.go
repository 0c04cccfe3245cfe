package zkmeta

import (
	"errors"

	"github.com/go-zookeeper/zk"
)

// reconcile makes known's keys the names listed: added is called for each
// name it does not hold (and adds it), removed for each it holds that is
// no longer listed (and deletes it).
func reconcile[V any](known map[string]V, names []string, added, removed func(name string)) {
	seen := make(map[string]bool, len(names))
	for _, name := range names {
		seen[name] = true
		if _, ok := known[name]; !ok {
			added(name)
		}
	}
	for name := range known {
		if !seen[name] {
			removed(name)
		}
	}
}

// optionalChildren is children of a node that may not exist yet (none).
func (b *backend) optionalChildren(key, path string) ([]string, error) {
	c, err := b.children(key, path)
	if errors.Is(err, zk.ErrNoNode) {
		return nil, nil
	}
	return c, err
}
