package zkmeta

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/config"
	"gregor/broker/metadata"
)

func (b *backend) exists(kpath string) (bool, error) {
	ok, _, err := b.conn.Exists(b.p(kpath))
	return ok, err
}

// CreateTopic records a new topic: its config, then its assignment. The
// controller then creates the partition states; until then the returned
// partitions have no leader.
func (b *backend) CreateTopic(ctx context.Context, spec metadata.TopicSpec) (metadata.TopicState, error) {
	return withCtx(ctx, func() (metadata.TopicState, error) { return b.createTopic(spec) })
}

func (b *backend) createTopic(spec metadata.TopicSpec) (metadata.TopicState, error) {
	if err := metadata.ValidateTopicName(spec.Name); err != nil {
		return metadata.TopicState{}, metadata.Errorf(kerr.InvalidTopicException, "%v", err)
	}
	if err := config.ValidateTopicConfigs(spec.Configs); err != nil {
		return metadata.TopicState{}, metadata.Errorf(kerr.InvalidConfig, "%v", err)
	}
	for _, kp := range []string{topicPath(spec.Name), deleteTopicsPath + "/" + spec.Name} {
		ok, err := b.exists(kp)
		if err != nil {
			return metadata.TopicState{}, err
		}
		if ok {
			return metadata.TopicState{}, metadata.Errorf(kerr.TopicAlreadyExists, "Topic '%s' already exists.", spec.Name)
		}
	}
	live, racks, err := b.liveBrokerRacks()
	if err != nil {
		return metadata.TopicState{}, err
	}
	if spec.Assignment == nil && b.opt.Config != nil {
		if spec.Partitions == -1 {
			spec.Partitions = b.opt.Config.NumPartitions
		}
		if spec.ReplicationFactor == -1 {
			spec.ReplicationFactor = b.opt.Config.DefaultReplicationFactor
		}
	}
	assign, err := metadata.PlaceTopic(spec, live, b.knownBroker(live), racks)
	if err != nil {
		return metadata.TopicState{}, err
	}
	id := metadata.NewUuid()
	st := metadata.TopicState{Name: spec.Name, ID: id, Configs: spec.Configs}
	for _, r := range assign {
		st.Partitions = append(st.Partitions, metadata.PartitionState{Replicas: slices.Clone(r), Leader: -1, Version: -1})
	}
	if spec.ValidateOnly {
		return st, nil
	}
	if err := b.setOrCreate(configPath(spec.Name), encodeConfig(spec.Configs)); err != nil {
		return metadata.TopicState{}, err
	}
	data, err := encodeTopic(id, assign)
	if err != nil {
		return metadata.TopicState{}, err
	}
	if _, err := b.conn.Create(b.p(topicPath(spec.Name)), data, 0, b.acl); err != nil {
		if errors.Is(err, zk.ErrNodeExists) {
			return metadata.TopicState{}, metadata.Errorf(kerr.TopicAlreadyExists, "Topic '%s' already exists.", spec.Name)
		}
		return metadata.TopicState{}, fmt.Errorf("creating %s: %w", topicPath(spec.Name), err)
	}
	return st, nil
}

// knownBroker reports whether the cluster knows a broker: registered now
// (live), or holding replicas of a topic as this broker last read them.
// Kafka 4 keeps a stopped broker registered (fenced), and a manual
// assignment may name it; ZooKeeper forgets its registration.
func (b *backend) knownBroker(live []int32) func(int32) bool {
	known := map[int32]bool{}
	for _, id := range live {
		known[id] = true
	}
	b.mu.Lock()
	for _, t := range b.topics {
		for _, r := range t.assign {
			for _, id := range r {
				known[id] = true
			}
		}
	}
	b.mu.Unlock()
	return func(id int32) bool { return known[id] }
}

func (b *backend) setOrCreate(kpath string, data []byte) error {
	_, err := b.conn.Set(b.p(kpath), data, -1)
	if errors.Is(err, zk.ErrNoNode) {
		_, err = b.conn.Create(b.p(kpath), data, 0, b.acl)
		if errors.Is(err, zk.ErrNodeExists) {
			_, err = b.conn.Set(b.p(kpath), data, -1)
		}
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", kpath, err)
	}
	return nil
}

// DeleteTopic marks a topic for deletion; the controller deletes it.
func (b *backend) DeleteTopic(ctx context.Context, name string) error {
	_, err := withCtx(ctx, func() (struct{}, error) {
		ok, err := b.exists(topicPath(name))
		if err != nil {
			return struct{}{}, err
		}
		if !ok {
			return struct{}{}, kerr.UnknownTopicOrPartition
		}
		_, err = b.conn.Create(b.p(deleteTopicsPath+"/"+name), nil, 0, b.acl)
		if err != nil && !errors.Is(err, zk.ErrNodeExists) { // already marked: fine
			return struct{}{}, fmt.Errorf("marking %s for deletion: %w", name, err)
		}
		return struct{}{}, nil
	})
	return err
}

// CreatePartitions grows a topic's assignment to total partitions; the
// controller creates the new partitions' states.
func (b *backend) CreatePartitions(ctx context.Context, name string, total int32, assignment [][]int32) error {
	_, err := withCtx(ctx, func() (struct{}, error) { return struct{}{}, b.createPartitions(name, total, assignment) })
	return err
}

func (b *backend) createPartitions(name string, total int32, explicit [][]int32) error {
	for range 10 {
		data, stat, err := b.conn.Get(b.p(topicPath(name)))
		if errors.Is(err, zk.ErrNoNode) {
			return kerr.UnknownTopicOrPartition
		}
		if err != nil {
			return err
		}
		if ok, err := b.exists(deleteTopicsPath + "/" + name); err != nil {
			return err
		} else if ok {
			return metadata.Errorf(kerr.InvalidTopicException, "The topic is queued for deletion.")
		}
		var z topicZNode
		if err := json.Unmarshal(data, &z); err != nil {
			return fmt.Errorf("%s: %w", topicPath(name), err)
		}
		assign, _, _, err := decodeTopic(data)
		if err != nil {
			return err
		}
		have := int32(len(assign))
		if have == 0 {
			return fmt.Errorf("%s has no partitions", topicPath(name))
		}
		live, racks, err := b.liveBrokerRacks()
		if err != nil {
			return err
		}
		add, err := metadata.PlacePartitions(assign, total, explicit, live, b.knownBroker(live), racks)
		if err != nil {
			return err
		}
		if z.Partitions == nil {
			z.Partitions = map[string][]int32{}
		}
		for i, r := range add {
			z.Partitions[strconv.Itoa(int(have)+i)] = r
		}
		if z.AddingReplicas == nil {
			z.AddingReplicas = map[string][]int32{}
		}
		if z.RemovingReplicas == nil {
			z.RemovingReplicas = map[string][]int32{}
		}
		out, err := json.Marshal(&z)
		if err != nil {
			return err
		}
		_, err = b.conn.Set(b.p(topicPath(name)), out, stat.Version)
		if errors.Is(err, zk.ErrBadVersion) {
			continue
		}
		return err
	}
	return errors.New("the topic's assignment kept changing concurrently")
}

// announceConfigChange writes a config change notification for an entity
// (entity_path "topics/<t>", "brokers/<id>", ...) as Kafka does, so every
// broker re-reads its configs. A failure is logged: the configs are
// written, and a broker's full re-read will find them.
func (b *backend) announceConfigChange(entityPath string) {
	note, _ := json.Marshal(map[string]any{"version": 2, "entity_path": entityPath})
	if _, err := b.conn.Create(b.p(configChangesPath+"/"+configChangePrefix), note, zk.FlagSequence, b.acl); err != nil {
		b.log.Warn().Err(err).Str("entity", entityPath).Msg("writing config change notification")
	}
	b.purgeChanges(configChangesPath, configChangePrefix, configChangeRetention, &b.configPurged)
}

// Config change notifications are kept configChangeRetention, as Kafka's
// ZkNodeChangeNotificationListener (changeExpirationMs, 15 minutes)
// purges older ones; a purge runs at most every configPurgeEvery. Gregor
// reads no notification (every broker watches the entity znodes), so
// nothing else removes them: before, each config, quota or SCRAM change
// left a znode in /config/changes for ever. Variables for tests.
var (
	configChangeRetention = 15 * time.Minute
	configPurgeEvery      = time.Minute
)

// purgeChanges deletes the change notifications (sequential znodes
// prefix+N under path) older than retention, oldest first, stopping at
// the first newer one (their sequence numbers follow their creation).
// Listing and reading them costs a round trip each, so it runs at most
// every configPurgeEvery per kind (last: when it last ran, Unix ns).
func (b *backend) purgeChanges(path, prefix string, retention time.Duration, last *atomic.Int64) {
	now := time.Now().UnixNano()
	prev := last.Load()
	if now-prev < int64(configPurgeEvery) || !last.CompareAndSwap(prev, now) {
		return
	}
	names, _, err := b.conn.Children(b.p(path))
	if err != nil {
		return
	}
	type change struct {
		seq  int64
		name string
	}
	var cs []change
	for _, n := range names {
		if seq, err := strconv.ParseInt(strings.TrimPrefix(n, prefix), 10, 64); err == nil && strings.HasPrefix(n, prefix) {
			cs = append(cs, change{seq, n})
		}
	}
	slices.SortFunc(cs, func(x, y change) int { return cmp.Compare(x.seq, y.seq) })
	cutoff := time.Now().Add(-retention).UnixMilli()
	for _, c := range cs {
		zpath := b.p(path + "/" + c.name)
		ok, stat, err := b.conn.Exists(zpath)
		if err != nil {
			return
		}
		if !ok || stat == nil {
			continue // deleted meanwhile
		}
		if stat.Ctime >= cutoff {
			return
		}
		if err := b.conn.Delete(zpath, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return
		}
	}
}

// readConfigZNode reads the configs stored at zpath (full path), with
// the znode's stat; missing says there is no znode (and no configs).
func (b *backend) readConfigZNode(zpath string) (cur map[string]string, stat *zk.Stat, missing bool, err error) {
	data, stat, err := b.conn.Get(zpath)
	if errors.Is(err, zk.ErrNoNode) {
		return nil, nil, true, nil
	}
	if err != nil {
		return nil, nil, false, err
	}
	if cur, err = decodeConfig(data); err != nil {
		return nil, nil, false, fmt.Errorf("reading %s: %w", zpath, err)
	}
	return cur, stat, false, nil
}

// editConfigZNode writes what edit makes of a config znode's configs by
// compare-and-set of its version, again from the start if another write
// came between, and announces a write in /config/changes as entityPath.
// With dropEmpty, no configs left deletes the znode (and none to start
// from and none made writes nothing).
func (b *backend) editConfigZNode(ctx context.Context, zpath, entityPath string, dropEmpty bool, edit func(map[string]string) (map[string]string, error)) error {
	_, err := withCtx(ctx, func() (struct{}, error) {
		for range 20 {
			cur, stat, missing, err := b.readConfigZNode(zpath)
			if err != nil {
				return struct{}{}, err
			}
			next, err := edit(cur)
			if err != nil {
				return struct{}{}, err
			}
			switch {
			case dropEmpty && missing && len(next) == 0:
				return struct{}{}, nil
			case missing:
				_, err = b.conn.Create(zpath, encodeConfig(next), 0, b.acl)
			case dropEmpty && len(next) == 0:
				err = b.conn.Delete(zpath, stat.Version)
			default:
				_, err = b.conn.Set(zpath, encodeConfig(next), stat.Version)
			}
			if errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNodeExists) || !missing && errors.Is(err, zk.ErrNoNode) {
				continue // changed meanwhile: edit what is there now
			}
			if err != nil {
				return struct{}{}, fmt.Errorf("writing %s: %w", zpath, err)
			}
			b.announceConfigChange(entityPath)
			return struct{}{}, nil
		}
		return struct{}{}, fmt.Errorf("the configs in %s kept changing", zpath)
	})
	return err
}

// EditTopicConfigs reads /config/topics/<name> and writes edit's result
// back by compare-and-set of the znode's version, again from the start if
// another write came between.
func (b *backend) EditTopicConfigs(ctx context.Context, name string, edit func(map[string]string) (map[string]string, error)) error {
	return b.editConfigZNode(ctx, b.p(configPath(name)), "topics/"+name, false, func(cur map[string]string) (map[string]string, error) {
		ok, err := b.exists(topicPath(name))
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, kerr.UnknownTopicOrPartition
		}
		next, err := edit(cur)
		if err != nil {
			return nil, err
		}
		if err := config.ValidateTopicConfigs(next); err != nil {
			return nil, metadata.Errorf(kerr.InvalidConfig, "%v", err)
		}
		return next, nil
	})
}

// StoredTopicConfigs reads /config/topics/<name>.
func (b *backend) StoredTopicConfigs(ctx context.Context, name string) (map[string]string, error) {
	return withCtx(ctx, func() (map[string]string, error) {
		cur, _, _, err := b.readConfigZNode(b.p(configPath(name)))
		return cur, err
	})
}

// AlterTopicConfigs replaces a topic's config overrides and notifies the
// brokers through /config/changes, as Kafka does.
func (b *backend) AlterTopicConfigs(ctx context.Context, name string, configs map[string]string) error {
	_, err := withCtx(ctx, func() (struct{}, error) {
		if err := config.ValidateTopicConfigs(configs); err != nil {
			return struct{}{}, metadata.Errorf(kerr.InvalidConfig, "%v", err)
		}
		ok, err := b.exists(topicPath(name))
		if err != nil {
			return struct{}{}, err
		}
		if !ok {
			return struct{}{}, kerr.UnknownTopicOrPartition
		}
		if err := b.setOrCreate(configPath(name), encodeConfig(configs)); err != nil {
			return struct{}{}, err
		}
		b.announceConfigChange("topics/" + name)
		return struct{}{}, nil
	})
	return err
}

// UpdatePartition records the leader's ISR change by compare-and-set on the
// partition state znode at st.Version.
func (b *backend) UpdatePartition(ctx context.Context, topic string, partition int32, st metadata.PartitionState) (metadata.PartitionState, error) {
	return withCtx(ctx, func() (metadata.PartitionState, error) {
		if st.Version < 0 {
			return metadata.PartitionState{}, metadata.ErrStaleState
		}
		zpath := b.p(statePath(topic, partition))
		data, stat, err := b.conn.Get(zpath)
		if errors.Is(err, zk.ErrNoNode) {
			return metadata.PartitionState{}, kerr.UnknownTopicOrPartition
		}
		if err != nil {
			return metadata.PartitionState{}, err
		}
		if stat.Version != st.Version {
			return metadata.PartitionState{}, metadata.ErrStaleState
		}
		cur, err := decodeState(data)
		if err != nil {
			return metadata.PartitionState{}, fmt.Errorf("%s: %w", statePath(topic, partition), err)
		}
		// ISR members that restarted since the state was written leave
		// it: they rejoin once caught up, as added by a change (which
		// then is newer than their restart).
		if restarted := b.restartedIn(cur.Leader, cur.ISR, stat.Mzxid); len(restarted) > 0 {
			if restarted[cur.Leader] {
				return metadata.PartitionState{}, metadata.ErrStaleState // the controller moves its leadership first
			}
			st.ISR = slices.DeleteFunc(slices.Clone(st.ISR), func(r int32) bool { return restarted[r] && slices.Contains(cur.ISR, r) })
		}
		stat, err = b.conn.Set(zpath, encodeState(cur.ControllerEpoch, st.Leader, st.LeaderEpoch, st.ISR), st.Version)
		if errors.Is(err, zk.ErrBadVersion) {
			return metadata.PartitionState{}, metadata.ErrStaleState
		}
		if err != nil {
			return metadata.PartitionState{}, err
		}
		b.noteISRChange(topic, partition)
		out := st
		out.Replicas, out.ISR = slices.Clone(st.Replicas), slices.Clone(st.ISR)
		out.Version = stat.Version
		return out, nil
	})
}

// AllocateProducerIDs hands out n producer ids from this broker's block,
// reserving a new block of max(n, 1000) ids in /latest_producer_id_block
// when it runs out.
func (b *backend) AllocateProducerIDs(ctx context.Context, n int64) (int64, error) {
	return withCtx(ctx, func() (int64, error) {
		b.pidMu.Lock()
		defer b.pidMu.Unlock()
		if n <= 0 {
			n = 1
		}
		if b.pidEnd-b.pidNext >= n {
			s := b.pidNext
			b.pidNext += n
			return s, nil
		}
		size := max(n, producerBlockSize)
		zpath := b.p(producerBlockPath)
		for range 20 {
			data, stat, err := b.conn.Get(zpath)
			var start int64
			exists := true
			switch {
			case errors.Is(err, zk.ErrNoNode):
				start, exists = 0, false
			case err != nil:
				return 0, err
			case len(data) > 0:
				var z producerBlockZNode
				if err := json.Unmarshal(data, &z); err != nil {
					return 0, fmt.Errorf("%s: %w", producerBlockPath, err)
				}
				end, err := z.BlockEnd.Int64()
				if err != nil {
					return 0, fmt.Errorf("%s: block_end %q: %w", producerBlockPath, z.BlockEnd, err)
				}
				start = end + 1
			}
			out := mustJSON(producerBlockOut{Version: 1, Broker: b.self(),
				BlockStart: strconv.FormatInt(start, 10), BlockEnd: strconv.FormatInt(start+size-1, 10)})
			if !exists {
				_, err = b.conn.Create(zpath, out, 0, b.acl)
				if errors.Is(err, zk.ErrNodeExists) {
					continue
				}
			} else {
				_, err = b.conn.Set(zpath, out, stat.Version)
				if errors.Is(err, zk.ErrBadVersion) {
					continue
				}
			}
			if err != nil {
				return 0, err
			}
			b.pidNext, b.pidEnd = start+n, start+size
			return start, nil
		}
		return 0, errors.New("producer id block allocation kept conflicting")
	})
}

// producerBlockOut is /latest_producer_id_block as Kafka writes it (ids
// as strings).
type producerBlockOut struct {
	Version    int    `json:"version"`
	Broker     int32  `json:"broker"`
	BlockStart string `json:"block_start"`
	BlockEnd   string `json:"block_end"`
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Shutdown is a controlled shutdown: leaderships move to another live ISR
// member, this broker leaves the ISRs it is in, and it resigns as
// controller. It returns once this broker's own loop has read and
// delivered the states it wrote, so the caller can wait for them to be
// in force before it stops serving. The broker stops replicating first,
// so that no leader puts it back into an ISR.
func (b *backend) Shutdown(ctx context.Context) error {
	b.shuttingDown.Store(true)
	_, err := withCtx(ctx, func() (struct{}, error) {
		b.markStopping()
		return struct{}{}, b.shutdown(ctx)
	})
	return err
}

// handOverParallel bounds the ZooKeeper requests a hand-over has in
// flight at once: reads of the states, then multi-ops writing up to
// controlWriteBatch of them each.
const handOverParallel = 16

// HandOver hands over the leaderships of some partitions, and leaves
// their ISRs, as Shutdown does for all (their replicas here cannot serve:
// a failed log dir, a full disk).
func (b *backend) HandOver(ctx context.Context, parts map[string][]int32) error {
	_, err := withCtx(ctx, func() (struct{}, error) {
		return struct{}{}, b.handOverMany(ctx, func(topic string, p int32) bool { return slices.Contains(parts[topic], p) }, "replicas that cannot serve")
	})
	return err
}

func (b *backend) shutdown(ctx context.Context) error {
	err := b.handOverMany(ctx, func(string, int32) bool { return true }, "controlled shutdown")
	errs := []error{err}
	self := b.self()
	// Resign as controller.
	data, stat, err := b.conn.Get(b.p(controllerPath))
	if err == nil && stat.EphemeralOwner == b.conn.SessionID() {
		var z controllerZNode
		if json.Unmarshal(data, &z) == nil && z.BrokerID == self {
			if err := b.conn.Delete(b.p(controllerPath), stat.Version); err != nil && !errors.Is(err, zk.ErrNoNode) {
				errs = append(errs, err)
			} else {
				b.log.Info().Msg("resigned as controller for shutdown")
			}
		}
	}
	return errors.Join(errs...)
}

// handOverMany applies metadata.ControlledShutdown to the partitions want
// picks among those this broker holds a replica of, and waits until its
// own loop has delivered the states it wrote. It decides from the states
// it has read (its cache), then writes the changed ones by compare-and-set
// in multi-ops of up to controlWriteBatch: a write of its own per
// partition made a broker leading thousands wait on as many ZooKeeper
// syncs (2,000 partitions, 2.8 s). A batch that cannot be written whole (a
// state changed since it was read) is handed over a partition at a time,
// each read again. A partition the cache says needs nothing, or has no
// state read for, is read first: a stale cache must not leave this broker
// in an ISR.
func (b *backend) handOverMany(ctx context.Context, want func(topic string, p int32) bool, why string) error {
	self := b.self()
	var mine []handOverWrite
	type cachedState struct {
		z       stateZNode
		version int32
		mzxid   int64
	}
	var cached []*cachedState
	b.mu.Lock()
	apply, _ := b.apply.(metadata.PartitionApplier)
	for name, t := range b.topics {
		for p, r := range t.assign {
			if slices.Contains(r, self) && want(name, int32(p)) {
				mine = append(mine, handOverWrite{topic: name, id: t.id, p: int32(p), replicas: slices.Clone(r)})
				var c *cachedState
				// One this broker wrote and has not read back has no
				// transaction id to tell a restarted replica by.
				if p < len(t.states) && t.states[p] != nil && t.states[p].mzxid != writtenNow {
					st := t.states[p]
					c = &cachedState{stateZNode{ControllerEpoch: st.ctrlEpoch, Leader: st.leader, LeaderEpoch: st.leaderEpoch, ISR: slices.Clone(st.isr)}, st.version, st.mzxid}
				}
				cached = append(cached, c)
			}
		}
	}
	b.mu.Unlock()
	live, eligible, err := b.eligibleBrokerIDs()
	if err != nil {
		return err
	}
	parallel(len(mine), handOverParallel, func(i int) {
		w := &mine[i]
		if c := cached[i]; c != nil {
			if w.decide(b, c.z, c.version, c.mzxid, live, eligible); w.write != nil {
				return
			}
		}
		data, stat, err := b.conn.Get(b.p(statePath(w.topic, w.p)))
		if errors.Is(err, zk.ErrNoNode) {
			return
		}
		if err == nil {
			var z stateZNode
			if z, err = decodeState(data); err == nil {
				w.decide(b, z, stat.Version, stat.Mzxid, live, eligible)
			}
		}
		w.err = err
	})
	if b.beforeHandOverWrites != nil {
		b.beforeHandOverWrites()
	}
	var batches [][]*handOverWrite
	var batch []*handOverWrite
	for i := range mine {
		if w := &mine[i]; w.write != nil && w.err == nil {
			batch = append(batch, w)
			if len(batch) == controlWriteBatch {
				batches, batch = append(batches, batch), nil
			}
		}
	}
	if len(batch) > 0 {
		batches = append(batches, batch)
	}
	// What is written is in force here at once, batch by batch: this
	// broker stops leading (and answers NOT_LEADER_OR_FOLLOWER with the new
	// leader) without waiting for its watch to read it back, nor for the
	// other batches.
	applyWritten := func(w *handOverWrite) {
		if w.changed && apply != nil {
			apply.ApplyPartition(w.topic, w.id, w.p, w.st)
		}
	}
	parallel(len(batches), handOverParallel, func(i int) {
		batch := batches[i]
		ops := make([]any, len(batch))
		for j, w := range batch {
			ops[j] = w.write
		}
		resp, err := b.conn.Multi(ops...)
		if err == nil && len(resp) == len(batch) {
			for j, w := range batch {
				w.written(b, resp[j].Stat)
				applyWritten(w)
			}
			return
		}
		for _, w := range batch {
			// The multi may have been written (a connection lost before
			// its answer), and this finds nothing left to do: it is read
			// back all the same.
			w.write, w.reread = nil, true
			w.st, w.changed, w.err = b.handOver(w.topic, w.p, w.replicas, live, eligible)
			applyWritten(w)
		}
	})
	var (
		errs    []error
		written []string
		changed int
	)
	for i := range mine {
		w := &mine[i]
		if w.err != nil {
			errs = append(errs, w.err)
		}
		if w.changed {
			changed++
		}
		if w.changed || w.reread {
			written = append(written, stateKey(w.topic, w.p))
		}
	}
	if len(written) > 0 {
		if err := b.sync(ctx, written); err != nil {
			errs = append(errs, fmt.Errorf("waiting for the handed over states to be read back: %w", err))
		}
	}
	b.log.Info().Int("partitions", len(mine)).Int("changed", changed).Str("why", why).Msg("leaderships handed over and ISRs left")
	return errors.Join(errs...)
}

// handOverWrite is one partition of a hand-over: what was decided from
// the state read (write, nil for no change) and then what was written.
type handOverWrite struct {
	topic    string
	id       metadata.Uuid
	p        int32
	replicas []int32

	write     *zk.SetDataRequest
	oldLeader int32
	next      metadata.Partition

	st      metadata.PartitionState
	changed bool
	reread  bool // its batch failed: read back whatever was written
	err     error
}

// decide sets w.write to the state metadata.ControlledShutdown makes of
// state z (at the znode version given, last written in transaction
// mzxid), or leaves it nil where nothing changes.
func (w *handOverWrite) decide(b *backend, z stateZNode, version int32, mzxid int64, live, eligible metadata.Live) {
	w.write = nil
	next, ok := b.handOverState(w.topic, w.p, w.replicas, z, mzxid, live, eligible)
	if !ok {
		return
	}
	w.oldLeader, w.next = z.Leader, next
	w.write = &zk.SetDataRequest{Path: b.p(statePath(w.topic, w.p)),
		Data: encodeState(z.ControllerEpoch, next.Leader, next.LeaderEpoch, next.ISR), Version: version}
}

// written records that w.write was written; stat is the state's new one.
func (w *handOverWrite) written(b *backend, stat *zk.Stat) {
	version := w.write.Version + 1
	if stat != nil {
		version = stat.Version
	}
	if w.next.Leader != w.oldLeader {
		b.log.Info().Str("topic", w.topic).Int32("partition", w.p).Int32("leader", w.next.Leader).Int32("leader_epoch", w.next.LeaderEpoch).Msg("leadership handed over")
	}
	w.st = metadata.PartitionState{Replicas: w.replicas, Leader: w.next.Leader, LeaderEpoch: w.next.LeaderEpoch, ISR: slices.Clone(w.next.ISR), Version: version}
	w.changed = true
}

// minusLive returns live without the brokers in out.
func minusLive(live, out metadata.Live) metadata.Live {
	m := metadata.Live{}
	for id := range live {
		if !out[id] {
			m[id] = true
		}
	}
	return m
}

// handOver applies metadata.ControlledShutdown to one partition by
// compare-and-set of its state znode, read again until it is written; it
// reports whether it wrote, and what.
func (b *backend) handOver(topic string, p int32, replicas []int32, live, eligible metadata.Live) (metadata.PartitionState, bool, error) {
	zpath := b.p(statePath(topic, p))
	for range 10 {
		data, stat, err := b.conn.Get(zpath)
		if errors.Is(err, zk.ErrNoNode) {
			return metadata.PartitionState{}, false, nil
		}
		if err != nil {
			return metadata.PartitionState{}, false, err
		}
		z, err := decodeState(data)
		if err != nil {
			return metadata.PartitionState{}, false, err
		}
		w := handOverWrite{topic: topic, p: p, replicas: replicas}
		if w.decide(b, z, stat.Version, stat.Mzxid, live, eligible); w.write == nil {
			return metadata.PartitionState{}, false, nil
		}
		stat, err = b.conn.Set(zpath, w.write.Data, w.write.Version)
		if errors.Is(err, zk.ErrBadVersion) {
			continue
		}
		if err != nil {
			return metadata.PartitionState{}, false, err
		}
		w.written(b, stat)
		return w.st, true, nil
	}
	return metadata.PartitionState{}, false, fmt.Errorf("state of %s-%d kept changing during controlled shutdown", topic, p)
}

// handOverState is what a hand-over makes of partition p's state z (last
// written in transaction mzxid): its leadership handed to a broker not in
// controlled shutdown itself (eligible) where one is in the ISR, and this
// broker out of the ISR. It reports false where that changes nothing.
func (b *backend) handOverState(topic string, p int32, replicas []int32, z stateZNode, mzxid int64, live, eligible metadata.Live) (metadata.Partition, bool) {
	cur := z.partition(topic, p, replicas)
	// Replicas restarted since the state was written are neither
	// handed the leadership nor kept in the ISR; a restarted leader's
	// partition is the controller's to move (metadata.Rejoin).
	dropped := false
	if restarted := b.restartedIn(z.Leader, z.ISR, mzxid); len(restarted) > 0 {
		if restarted[z.Leader] {
			return metadata.Partition{}, false
		}
		cur.ISR = withoutRestarted(cur.ISR, restarted, -1)
		dropped = len(cur.ISR) != len(z.ISR)
		live, eligible = minusLive(live, restarted), minusLive(eligible, restarted)
	}
	next, ok := metadata.ControlledShutdown(cur, b.self(), eligible)
	if !ok {
		next, ok = metadata.ControlledShutdown(cur, b.self(), live)
	}
	if !ok && dropped {
		next, ok = cur, true
	}
	return next, ok
}
