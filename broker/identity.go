package broker

// Whose the log dirs are. Each online log dir holds a meta.properties
// naming the broker and the cluster it was written for, as in Kafka
// (version 0, ZooKeeper mode's form). A broker whose broker.id differs
// from a dir's, or whose metadata store (zookeeper.connect and its chroot,
// or the local metadata file) names another cluster, refuses to start
// before it changes anything in them: serving another broker's replicas
// as its own, or setting them aside as stray, would lose data. A dir
// without one (new, or written by an earlier Gregor) gets one once the
// cluster is known.

import (
	"errors"
	"fmt"
	"slices"

	"gregor/broker/metadata"
	"gregor/broker/storage"
)

// identity is what the log dirs said of their owner at start-up.
type identity struct {
	// clusterID is the cluster the dirs name (empty when none names
	// one), and once checked the one the metadata store names.
	clusterID string
	// found is each opened dir's meta.properties, for those that had
	// one at start: only their contents were checked as this broker's.
	found map[*storage.Dir]storage.Meta
	// checked is set once the cluster id was checked.
	checked bool
}

// foundFuture is the copy of a log dir move found at start-up.
type foundFuture struct {
	storage.PartitionDir
	dir *storage.Dir
}

// readIdentity reads every log dir's meta.properties and checks that
// they name this broker and one cluster. It returns them by dir path,
// and the dirs that could not be read for a disk failure (offline from
// the start).
func (b *Broker) readIdentity() (map[string]storage.Meta, map[string]bool, error) {
	metas := make(map[string]storage.Meta)
	failed := make(map[string]bool)
	for _, d := range b.fails.paths {
		if b.pathOffline(d) { // it failed to open (lockDirs)
			failed[d] = true
			continue
		}
		m, ok, err := storage.ReadMeta(b.fs, d)
		switch {
		case err != nil && storage.IsDiskFailure(err) && b.FailCause() == nil:
			failed[d] = true
		case err != nil:
			if c := b.FailCause(); c != nil {
				return nil, nil, c
			}
			return nil, nil, fmt.Errorf("log dir %s: %w", d, err)
		case ok:
			metas[d] = m
		}
	}
	var clusterFrom string
	for _, d := range b.fails.paths {
		m, ok := metas[d]
		if !ok {
			continue
		}
		if m.BrokerID != b.id {
			return nil, nil, fmt.Errorf("configured broker.id %d doesn't match stored broker.id %d in %s/meta.properties. "+
				"If you moved your data, make sure your configured broker.id matches. "+
				"If you intend to create a new broker, you should remove all data in your data directories (log.dirs)", b.id, m.BrokerID, d)
		}
		switch {
		case m.ClusterID == "":
		case b.ident.clusterID == "":
			b.ident.clusterID, clusterFrom = m.ClusterID, d
		case m.ClusterID != b.ident.clusterID:
			return nil, nil, fmt.Errorf("the log dirs belong to different clusters: %s/meta.properties names cluster %s and %s/meta.properties cluster %s. "+
				"This could happen if multiple brokers shared a log directory (log.dirs) or partial data was manually copied from another broker",
				clusterFrom, b.ident.clusterID, d, m.ClusterID)
		}
	}
	return metas, failed, nil
}

// joinCluster checks the cluster the metadata store names against the
// one the log dirs name, has the store record it (accepted), and writes
// meta.properties where it is missing or names no cluster yet.
func (b *Broker) joinCluster(id string, accepted func() error) error {
	if id == "" {
		return nil
	}
	if want := b.ident.clusterID; want != "" && id != want {
		return fmt.Errorf("the cluster id %s doesn't match stored cluster id %s in meta.properties: the broker is trying to join the wrong cluster; "+
			"zookeeper.connect (or its chroot) may be wrong, or, for a single broker, the metadata file in the first log dir was lost", id, want)
	}
	if err := accepted(); err != nil {
		return fmt.Errorf("recording the cluster id: %w", err)
	}
	b.ident.clusterID, b.ident.checked = id, true
	for _, d := range b.dirs {
		if b.dirOffline(d) {
			continue
		}
		if m, ok := b.ident.found[d]; ok && m.ClusterID == id {
			continue
		}
		if err := storage.WriteMeta(b.fs, d.Path, storage.Meta{BrokerID: b.id, ClusterID: id}); err != nil {
			if storage.IsDiskFailure(err) && b.FailCause() == nil {
				continue // the dir goes offline; the others serve
			}
			if c := b.FailCause(); c != nil {
				return c
			}
			return fmt.Errorf("writing %s/meta.properties: %w", d.Path, err)
		}
	}
	return nil
}

// loadFound completes or resumes the log dir moves found at start-up and
// gives each replica found the checkpoint another dir holds of it. It
// runs once the dirs are known to be this broker's, before the first
// metadata load opens any partition.
func (b *Broker) loadFound() error {
	b.placeMu.Lock()
	defer b.placeMu.Unlock()
	futures := b.futures
	b.futures = nil
	for _, f := range futures {
		if err := b.recoverFuture(f.PartitionDir, f.dir); err != nil {
			return err
		}
	}
	for tp, dir := range b.placement {
		b.adoptCheckpoint(tp, dir)
	}
	return nil
}

// strayCandidate reports whether a replica directory found at start in
// dir may be taken for stray: its dir is online and had a meta.properties
// naming this broker and the cluster the metadata store names.
func (b *Broker) strayCandidate(dir *storage.Dir) bool {
	if !b.ident.checked || b.dirOffline(dir) {
		return false
	}
	m, ok := b.ident.found[dir]
	return ok && m.ClusterID != "" && m.ClusterID == b.ident.clusterID
}

// moveStrayAside moves aside, once the first metadata load is in force,
// the replica directories found at start that are no replica of this
// broker's: their topic was deleted, or the partition moved to other
// brokers, while this broker was down. As Kafka does with stray logs,
// they are renamed "<name>.<random>-stray" and kept, for an operator to
// remove. Only dirs whose meta.properties named this broker and cluster
// at start are looked at, and only directories that name their topic id.
func (b *Broker) moveStrayAside() {
	type found struct {
		tp       storage.TP
		dir      *storage.Dir
		path, id string
	}
	// A directory a partition of this broker opened is no longer in
	// foundIDs (placePartition claims it).
	var cands []found
	b.placeMu.Lock()
	for tp, dir := range b.placement {
		if id, ok := b.foundIDs[tp]; ok && id != "" && b.strayCandidate(dir) {
			cands = append(cands, found{tp, dir, b.paths[tp], id})
		}
	}
	b.placeMu.Unlock()
	var errs []error
	for _, c := range cands {
		// Partition locks are taken before placeMu elsewhere.
		if p := b.Partition(c.tp.Topic, c.tp.Partition); p != nil && slices.Contains(p.State().Replicas, b.id) {
			continue
		}
		if l, ok := b.backend.(metadata.TopicLister); ok && b.Topic(c.tp.Topic) == nil && l.TopicListed(c.tp.Topic) {
			// Listed but not delivered (a topic znode that cannot
			// be read): whose the replicas are is unknown.
			b.log.Warn().Str("topic", c.tp.Topic).Int32("partition", c.tp.Partition).
				Msg("a replica directory of a topic the metadata lists but cannot be read is kept in place")
			continue
		}
		b.placeMu.Lock()
		// Renamed under the lock, and only if no partition claimed it
		// meanwhile: a partition placed meanwhile waits, then finds it
		// gone and makes its own directory.
		if id, ok := b.foundIDs[c.tp]; !ok || id != c.id || b.placement[c.tp] != c.dir || b.paths[c.tp] != c.path {
			b.placeMu.Unlock()
			continue
		}
		to, err := c.dir.MoveAside(c.path)
		if err != nil {
			b.placeMu.Unlock()
			errs = append(errs, fmt.Errorf("%s: %w", c.path, err))
			continue
		}
		delete(b.placement, c.tp)
		delete(b.paths, c.tp)
		delete(b.foundIDs, c.tp)
		b.placeMu.Unlock()
		b.log.Warn().Str("topic", c.tp.Topic).Int32("partition", c.tp.Partition).Str("topic_id", c.id).Str("moved_to", to).
			Msg("a replica directory of no replica of this broker (its topic deleted, or the partition moved away, while the broker was down) was moved aside and kept")
	}
	if err := errors.Join(errs...); err != nil {
		b.log.Warn().Err(err).Msg("moving aside replica directories of no replica of this broker")
	}
	if len(cands) > 0 {
		b.checkpointSoon()
	}
}
