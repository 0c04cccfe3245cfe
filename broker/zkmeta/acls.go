package zkmeta

// ACLs, kept as Kafka's AclAuthorizer keeps them in ZooKeeper:
//
//   - /kafka-acl/<ResourceType>/<name> holds a literal pattern's ACLs and
//     /kafka-acl-extended/prefixed/<ResourceType>/<name> a prefixed one's,
//     as {"version":1,"acls":[{"principal":"User:alice",
//     "permissionType":"Allow","operation":"Read","host":"*"}]}
//     (ResourceType is Topic, Group, Cluster, TransactionalId,
//     DelegationToken or User); a pattern without ACLs has no znode;
//   - every change is announced by a sequential znode:
//     /kafka-acl-changes/acl_changes_NNNNNNNNNN holding "TOPIC:<name>" for
//     a literal pattern, /kafka-acl-extended-changes/acl_changes_NNNNNNNNNN
//     holding {"version":1,"resourceType":"TOPIC","name":"<name>",
//     "patternType":"PREFIXED"} for a prefixed one.
//
// Every broker watches both change paths: a new notification makes it
// re-read the pattern it names, so a change reaches every broker as soon
// as ZooKeeper's watch fires. Notifications older than 15 minutes are
// deleted, as Kafka's ZkNodeChangeNotificationListener does. The change
// paths are watched before the ACLs are read whole (at start and on a new
// session), so no change falls between the two. A write is a
// compare-and-set on the pattern's znode version, retried on a race.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/acl"
	"gregor/broker/metadata"
)

const (
	aclLiteralPath     = "/kafka-acl"
	aclExtendedPath    = "/kafka-acl-extended"
	aclPrefixedPath    = aclExtendedPath + "/prefixed"
	aclChangesPath     = "/kafka-acl-changes"
	aclExtChangesPath  = "/kafka-acl-extended-changes"
	aclChangePrefix    = "acl_changes_"
	aclChangeRetention = 15 * time.Minute

	// Loop keys, in the order a round processes them: the change paths
	// are watched before the full read.
	keyAclChanges    = "Cachg"
	keyAclExtChanges = "Cxchg"
	keyAcls          = "Dacls"
	preAcl           = "Ea/" // + pattern type/resource type/name: one pattern
)

// aclResourceTypes are the resource types with a path under each store.
var aclResourceTypes = []acl.ResourceType{acl.Topic, acl.Group, acl.Cluster, acl.TransactionalID, acl.DelegationToken, acl.User}

// aclPaths are created at start, as Kafka's createAclPaths does.
func aclPaths() []string {
	paths := []string{aclLiteralPath, aclExtendedPath, aclPrefixedPath, aclChangesPath, aclExtChangesPath}
	for _, t := range aclResourceTypes {
		paths = append(paths, aclLiteralPath+"/"+t.String(), aclPrefixedPath+"/"+t.String())
	}
	return paths
}

// aclStore is where a pattern type's ACLs live.
func aclStore(pt acl.PatternType) string {
	if pt == acl.Prefixed {
		return aclPrefixedPath
	}
	return aclLiteralPath
}

func aclPath(p acl.Pattern) string {
	return aclStore(p.PatternType) + "/" + p.Type.String() + "/" + p.Name
}

func aclKey(p acl.Pattern) string {
	return preAcl + strconv.Itoa(int(p.PatternType)) + "/" + strconv.Itoa(int(p.Type)) + "/" + p.Name
}

func parseAclKey(k string) (acl.Pattern, bool) {
	f := strings.SplitN(k[len(preAcl):], "/", 3)
	if len(f) != 3 {
		return acl.Pattern{}, false
	}
	pt, err1 := strconv.Atoi(f[0])
	rt, err2 := strconv.Atoi(f[1])
	return acl.Pattern{Type: acl.ResourceType(rt), Name: f[2], PatternType: acl.PatternType(pt)}, err1 == nil && err2 == nil
}

// extendedChange is the JSON of an extended change notification.
type extendedChange struct {
	Version      int    `json:"version"`
	ResourceType string `json:"resourceType"`
	Name         string `json:"name"`
	PatternType  string `json:"patternType"`
}

// encodeAclChange is what a change notification of a pattern holds.
func encodeAclChange(p acl.Pattern) (path string, data []byte) {
	if p.PatternType == acl.Literal {
		return aclChangesPath, []byte(p.Type.Enum() + ":" + p.Name)
	}
	data, _ = json.Marshal(extendedChange{Version: 1, ResourceType: p.Type.Enum(), Name: p.Name, PatternType: p.PatternType.String()})
	return aclExtChangesPath, data
}

// decodeAclChange reads a notification (Kafka writes the resource type as
// its enum name; older versions wrote Topic).
func decodeAclChange(changes string, data []byte) (acl.Pattern, error) {
	if changes == aclChangesPath {
		typ, name, ok := strings.Cut(string(data), ":")
		rt, ok2 := acl.ParseResourceType(typ)
		if !ok || !ok2 {
			return acl.Pattern{}, fmt.Errorf("expected a string in format ResourceType:ResourceName but got %q", data)
		}
		return acl.Pattern{Type: rt, Name: name, PatternType: acl.Literal}, nil
	}
	var ev extendedChange
	if err := json.Unmarshal(data, &ev); err != nil {
		return acl.Pattern{}, fmt.Errorf("ACL change event %q: %w", data, err)
	}
	rt, ok1 := acl.ParseResourceType(ev.ResourceType)
	pt, ok2 := acl.ParsePatternType(ev.PatternType)
	if ev.Version > 1 || !ok1 || !ok2 {
		return acl.Pattern{}, fmt.Errorf("ACL change event %q: unsupported", data)
	}
	return acl.Pattern{Type: rt, Name: ev.Name, PatternType: pt}, nil
}

// aclCache is the loop's copy of the ACLs (guarded by backend.mu).
type aclCache struct {
	byPattern map[acl.Pattern][]acl.Entry
	lastSeq   map[string]int64 // by change path: the last notification applied
	read      bool             // read whole once
	changed   bool
}

func (c *aclCache) set(p acl.Pattern, es []acl.Entry) {
	if c.byPattern == nil {
		c.byPattern = map[acl.Pattern][]acl.Entry{}
	}
	es = metadata.AddAcls(nil, es)
	if slices.Equal(c.byPattern[p], es) {
		return
	}
	if len(es) == 0 {
		delete(c.byPattern, p)
	} else {
		c.byPattern[p] = es
	}
	c.changed = true
}

func (c *aclCache) bindings() []acl.Binding {
	var out []acl.Binding
	for p, es := range c.byPattern {
		for _, e := range es {
			out = append(out, acl.Binding{Pattern: p, Entry: e})
		}
	}
	slices.SortFunc(out, acl.CompareBindings)
	return out
}

// aclKeys are the loop keys of a full re-read.
func aclKeys() []string { return []string{keyAclChanges, keyAclExtChanges, keyAcls} }

// processAclChanges reads the notifications of one change path (watching
// it) and marks the patterns changed since the last one applied. The
// first time, before the full read, it only notes where the
// notifications stand.
func (b *backend) processAclChanges(key, changes string) error {
	c, err := b.children(key, b.p(changes))
	if errors.Is(err, zk.ErrNoNode) {
		c, err = nil, nil
	}
	if err != nil {
		return err
	}
	ac := &b.acls
	if ac.lastSeq == nil {
		ac.lastSeq = map[string]int64{}
	}
	last, seen := ac.lastSeq[changes]
	var seqs []int64
	byseq := map[int64]string{}
	for _, n := range c {
		seq, err := strconv.ParseInt(strings.TrimPrefix(n, aclChangePrefix), 10, 64)
		if err != nil || !strings.HasPrefix(n, aclChangePrefix) {
			continue
		}
		seqs = append(seqs, seq)
		byseq[seq] = n
	}
	slices.Sort(seqs)
	if !seen {
		ac.lastSeq[changes] = -1
		if len(seqs) > 0 {
			ac.lastSeq[changes] = seqs[len(seqs)-1]
		}
		b.purgeAclChanges(changes, seqs, byseq)
		return nil
	}
	for _, seq := range seqs {
		if seq <= last {
			continue
		}
		data, _, err := b.conn.Get(b.p(changes + "/" + byseq[seq]))
		if errors.Is(err, zk.ErrNoNode) {
			continue // purged already
		}
		if err != nil {
			return err
		}
		p, err := decodeAclChange(changes, data)
		if err != nil {
			b.log.Warn().Err(err).Str("znode", changes+"/"+byseq[seq]).Msg("ignoring malformed ACL change notification")
		} else {
			b.mark(aclKey(p))
		}
		ac.lastSeq[changes] = seq
	}
	b.purgeAclChanges(changes, seqs, byseq)
	return nil
}

// purgeAclChanges deletes notifications older than aclChangeRetention.
func (b *backend) purgeAclChanges(changes string, seqs []int64, byseq map[int64]string) {
	cutoff := time.Now().Add(-aclChangeRetention).UnixMilli()
	for _, seq := range seqs {
		zpath := b.p(changes + "/" + byseq[seq])
		_, stat, err := b.conn.Exists(zpath)
		if err != nil || stat == nil || stat.Ctime >= cutoff {
			return // in order of creation: the rest are newer
		}
		if err := b.conn.Delete(zpath, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return
		}
	}
}

// processAcls reads every ACL (listing the stores' resource types and
// names) and replaces the cache.
func (b *backend) processAcls() error {
	all := map[acl.Pattern][]acl.Entry{}
	for _, pt := range []acl.PatternType{acl.Literal, acl.Prefixed} {
		store := aclStore(pt)
		types, _, err := b.conn.Children(b.p(store))
		if errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			return err
		}
		for _, typ := range types {
			rt, ok := acl.ParseResourceType(typ)
			if !ok {
				b.log.Warn().Str("znode", store+"/"+typ).Msg("ignoring ACLs of an unknown resource type")
				continue
			}
			names, _, err := b.conn.Children(b.p(store + "/" + typ))
			if errors.Is(err, zk.ErrNoNode) {
				continue
			}
			if err != nil {
				return err
			}
			for _, name := range names {
				p := acl.Pattern{Type: rt, Name: name, PatternType: pt}
				es, err := b.readAcls(p)
				if err != nil {
					return err
				}
				if len(es) > 0 {
					all[p] = es
				}
			}
		}
	}
	ac := &b.acls
	for p := range ac.byPattern {
		if _, ok := all[p]; !ok {
			ac.set(p, nil)
		}
	}
	for p, es := range all {
		ac.set(p, es)
	}
	if !ac.read {
		ac.read, ac.changed = true, true
	}
	return nil
}

// processAcl re-reads one pattern's ACLs.
func (b *backend) processAcl(key string) error {
	p, ok := parseAclKey(key)
	if !ok {
		return nil
	}
	es, err := b.readAcls(p)
	if err != nil {
		return err
	}
	b.acls.set(p, es)
	return nil
}

// readAcls reads a pattern's znode; a malformed one is logged and read as
// no ACLs.
func (b *backend) readAcls(p acl.Pattern) ([]acl.Entry, error) {
	data, _, err := b.conn.Get(b.p(aclPath(p)))
	if errors.Is(err, zk.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	es, err := metadata.DecodeAclEntries(data)
	if err != nil {
		b.log.Warn().Err(err).Str("znode", aclPath(p)).Msg("ignoring malformed ACL znode")
		return nil, nil
	}
	return es, nil
}

// takeAcls returns the ACLs to deliver if they changed. Called holding mu.
func (b *backend) takeAcls() ([]acl.Binding, bool) {
	ac := &b.acls
	if !ac.changed || !ac.read {
		return nil, false
	}
	ac.changed = false
	return ac.bindings(), true
}

// Acls reads every ACL from ZooKeeper.
func (b *backend) Acls(ctx context.Context) ([]acl.Binding, error) {
	return withCtx(ctx, func() ([]acl.Binding, error) {
		var out []acl.Binding
		for _, pt := range []acl.PatternType{acl.Literal, acl.Prefixed} {
			for _, rt := range aclResourceTypes {
				names, _, err := b.conn.Children(b.p(aclStore(pt) + "/" + rt.String()))
				if errors.Is(err, zk.ErrNoNode) {
					continue
				}
				if err != nil {
					return nil, err
				}
				for _, name := range names {
					p := acl.Pattern{Type: rt, Name: name, PatternType: pt}
					es, err := b.readAcls(p)
					if err != nil {
						return nil, err
					}
					for _, e := range es {
						out = append(out, acl.Binding{Pattern: p, Entry: e})
					}
				}
			}
		}
		slices.SortFunc(out, acl.CompareBindings)
		return out, nil
	})
}

// CreateAcls adds ACLs pattern by pattern.
func (b *backend) CreateAcls(ctx context.Context, bindings []acl.Binding) []error {
	byPattern := map[acl.Pattern][]acl.Entry{}
	for _, bd := range bindings {
		byPattern[bd.Pattern] = append(byPattern[bd.Pattern], bd.Entry)
	}
	errByPattern := map[acl.Pattern]error{}
	for _, p := range slices.SortedFunc(maps.Keys(byPattern), comparePatterns) {
		adds := byPattern[p]
		_, err := withCtx(ctx, func() (struct{}, error) {
			return struct{}{}, b.updateAcls(p, func(cur []acl.Entry) []acl.Entry { return metadata.AddAcls(cur, adds) })
		})
		errByPattern[p] = err
	}
	errs := make([]error, len(bindings))
	for i, bd := range bindings {
		errs[i] = errByPattern[bd.Pattern]
	}
	return errs
}

// DeleteAcls removes the ACLs the filters match from every pattern that
// has ACLs (as this broker last read them) or that a filter names
// exactly.
func (b *backend) DeleteAcls(ctx context.Context, filters []acl.Filter) ([][]acl.Binding, []error) {
	b.mu.Lock()
	candidates := map[acl.Pattern]bool{}
	for p := range b.acls.byPattern {
		candidates[p] = true
	}
	b.mu.Unlock()
	for _, f := range filters {
		if f.Unknown() || f.Name == nil || f.Type == acl.AnyResource {
			continue
		}
		for _, pt := range []acl.PatternType{acl.Literal, acl.Prefixed} {
			if f.PatternType == pt || f.PatternType == acl.AnyPattern {
				candidates[acl.Pattern{Type: f.Type, Name: *f.Name, PatternType: pt}] = true
			}
		}
	}
	matched := make([][]acl.Binding, len(filters))
	errs := make([]error, len(filters))
	for _, p := range slices.SortedFunc(maps.Keys(candidates), comparePatterns) {
		var hit []int
		for i, f := range filters {
			if !f.Unknown() && f.MatchesPattern(p) {
				hit = append(hit, i)
			}
		}
		if len(hit) == 0 {
			continue
		}
		var removed map[int][]acl.Binding
		_, err := withCtx(ctx, func() (struct{}, error) {
			return struct{}{}, b.updateAcls(p, func(cur []acl.Entry) []acl.Entry {
				removed = map[int][]acl.Binding{}
				var keep []acl.Entry
				for _, e := range cur {
					gone := false
					for _, i := range hit {
						if filters[i].MatchesEntry(e) {
							removed[i] = append(removed[i], acl.Binding{Pattern: p, Entry: e})
							gone = true
						}
					}
					if !gone {
						keep = append(keep, e)
					}
				}
				return keep
			})
		})
		for i, bs := range removed {
			if err != nil {
				if errs[i] == nil {
					errs[i] = err
				}
				continue
			}
			matched[i] = append(matched[i], bs...)
		}
	}
	return matched, errs
}

// updateAcls rewrites one pattern's znode with what change makes of its
// entries (deleting it when none are left), compare-and-set on its
// version, and announces the change. Unchanged entries write nothing.
func (b *backend) updateAcls(p acl.Pattern, change func([]acl.Entry) []acl.Entry) error {
	if !zkPathElement(p.Name) {
		// Kafka's ZooKeeper layout keeps the name raw in the path, and
		// ZooKeeper refuses it (ZooKeeper-mode Kafka failed alike).
		return metadata.Errorf(kerr.InvalidRequest, "ACLs of the resource %q cannot be kept in ZooKeeper: its name contains '/', is '.' or '..', or holds characters ZooKeeper refuses in a path", p.Name)
	}
	zpath := b.p(aclPath(p))
	for range 10 {
		data, stat, err := b.conn.Get(zpath)
		exists := err == nil
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			return err
		}
		cur, err := metadata.DecodeAclEntries(data)
		if err != nil {
			b.log.Warn().Err(err).Str("znode", aclPath(p)).Msg("replacing a malformed ACL znode")
			cur = nil
		}
		cur = metadata.AddAcls(nil, cur)
		next := metadata.AddAcls(nil, change(cur))
		if slices.Equal(cur, next) && (exists || len(next) == 0) {
			return nil
		}
		switch {
		case len(next) == 0:
			err = b.conn.Delete(zpath, stat.Version)
		case exists:
			_, err = b.conn.Set(zpath, metadata.EncodeAclEntries(next), stat.Version)
		default:
			_, err = b.conn.Create(zpath, metadata.EncodeAclEntries(next), 0, b.acl)
			if errors.Is(err, zk.ErrNoNode) { // the resource type's path is missing
				if err = b.ensure(b.p(aclStore(p.PatternType) + "/" + p.Type.String())); err == nil {
					continue
				}
			}
		}
		if errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNodeExists) || errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			return fmt.Errorf("writing %s: %w", aclPath(p), err)
		}
		changes, note := encodeAclChange(p)
		if _, err := b.conn.Create(b.p(changes+"/"+aclChangePrefix), note, zk.FlagSequence, b.acl); err != nil {
			b.log.Warn().Err(err).Str("pattern", p.String()).Msg("writing ACL change notification")
		}
		b.mark(aclKey(p)) // this broker applies it without waiting for the watch
		return nil
	}
	return fmt.Errorf("ACLs of %s changed concurrently too often", p)
}

func comparePatterns(a, b acl.Pattern) int {
	return acl.CompareBindings(acl.Binding{Pattern: a}, acl.Binding{Pattern: b})
}

// zkPathElement reports whether ZooKeeper takes name as one element of a
// path (its PathUtils.validatePath).
func zkPathElement(name string) bool {
	if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
		return false
	}
	for _, r := range name {
		if r <= 0x1f || r >= 0x7f && r <= 0x9f || r >= 0xd800 && r <= 0xf8ff || r >= 0xfff0 && r <= 0xffff {
			return false
		}
	}
	return true
}
