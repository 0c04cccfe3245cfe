package zkmeta

// Entity configs the loop caches by watching their znodes: a kind of
// entity under /config/<kind> (users' SCRAM credentials, groups' configs),
// each entity's znode decoded into a map of values of type E.

import (
	"maps"

	"gregor/broker/metadata"
)

// entityCache is the loop's copy of one kind of entity (guarded by
// backend.mu).
type entityCache[E any] struct {
	byName  map[string]map[string]E // by sanitized name; nil: not read yet
	read    bool                    // the children were listed once
	changed bool
}

// list reconciles the cache with the entities listed under path (the loop
// key key); a new one's znode (the loop key prefix+name) is marked to be
// read.
func (c *entityCache[E]) list(b *backend, key, path, prefix string) error {
	names, err := b.optionalChildren(key, path)
	if err != nil {
		return err
	}
	if c.byName == nil {
		c.byName = map[string]map[string]E{}
	}
	reconcile(c.byName, names, func(name string) {
		c.byName[name] = nil
		b.mark(prefix + name)
	}, func(name string) {
		delete(c.byName, name)
		c.changed = true
	})
	if !c.read {
		c.read, c.changed = true, true
	}
	return nil
}

// entityDecoding is how one kind of entity's znode becomes its values.
type entityDecoding[E any] struct {
	kind   string // for the log
	decode func(cfg map[string]string) map[string]E
	equal  func(x, y E) bool
}

// load reads an entity's znode (the loop key prefix+name at path), if the
// entity is still listed.
func (c *entityCache[E]) load(b *backend, name, prefix, path string, d entityDecoding[E]) error {
	if _, ok := c.byName[name]; !ok {
		return nil
	}
	data, _, ok, err := b.get(prefix+name, b.p(path))
	if err != nil {
		return err
	}
	if !ok {
		// Deleted: forgotten until the listing, whose watch fired with
		// the deletion, has it again (watchCreation).
		delete(c.byName, name)
		c.changed = true
		return nil
	}
	cfg, err := decodeConfig(data)
	if err != nil {
		b.log.Warn().Err(err).Str(d.kind, name).Msg("ignoring malformed " + d.kind + " config znode")
		cfg = nil
	}
	v := d.decode(cfg)
	if v == nil {
		v = map[string]E{}
	}
	if cur := c.byName[name]; cur == nil || !maps.EqualFunc(v, cur, d.equal) {
		c.byName[name], c.changed = v, true
	}
	return nil
}

// keys are the loop keys of the entities known, for a full re-read.
func (c *entityCache[E]) keys(listKey, prefix string) []string {
	keys := []string{listKey}
	for name := range c.byName {
		keys = append(keys, prefix+name)
	}
	return keys
}

// take returns every entity with values, by its real name, if any changed
// since the last take.
func (c *entityCache[E]) take() (map[string]map[string]E, bool) {
	if !c.changed || !c.read {
		return nil, false
	}
	c.changed = false
	out := make(map[string]map[string]E, len(c.byName))
	for name, v := range c.byName {
		if len(v) == 0 {
			continue
		}
		real, err := metadata.DesanitizeEntity(name)
		if err != nil {
			continue
		}
		out[real] = maps.Clone(v)
	}
	return out, true
}
