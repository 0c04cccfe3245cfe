package zkmeta

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"gregor/broker/metadata"
)

// Keys name what the loop must (re)read; each has at most one watch armed.
const (
	keySession = "0session"
	keyIDs     = "1ids"
	keyCtrl    = "2ctrl"
	keyTopics  = "3topics"
	keyDeletes = "4deletes"
	keyISRChg  = "5isrchg"
	preTopic   = "6t/"
	preConfig  = "7c/"
	// prePartitions + topic: the children of a topic's partitions znode,
	// read for a topic whose partitions are being created.
	prePartitions = "8p/"
	preState      = "8s/"
	// preBrokerCfg + entity: dynamic broker configs (/config/brokers).
	preBrokerCfg = "9b/"
)

func stateKey(t string, p int32) string { return preState + t + "/" + strconv.Itoa(int(p)) }

// splitStateKey is the topic and partition of a stateKey.
func splitStateKey(key string) (string, int32, bool) {
	rest, ok := strings.CutPrefix(key, preState)
	i := strings.LastIndexByte(rest, '/')
	if !ok || i < 0 {
		return "", 0, false
	}
	p, err := strconv.Atoi(rest[i+1:])
	if err != nil || p < 0 {
		return "", 0, false
	}
	return rest[:i], int32(p), true
}

func sortIDs(ids []int32) { slices.Sort(ids) }

// mark asks the loop to re-read key.
func (b *backend) mark(key string) {
	b.wmu.Lock()
	b.dirty[key] = true
	b.wmu.Unlock()
	b.kick()
}

func (b *backend) kick() {
	select {
	case b.sig <- struct{}{}:
	default:
	}
}

func (b *backend) hasDirty() bool {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	return len(b.dirty) > 0
}

// dirtyBeyondOwnWrites reports whether a key is to be read again other
// than a partition state this broker wrote as controller and has not read
// back. Those it has delivered already: reading them back only re-arms
// their watches (the write fired them), which the loop does after the
// first load. A restarted controller rewrites every state its broker
// replicates (metadata.Rejoin): the read-back of 3,000 states took the
// broker's start-up a second longer.
func (b *backend) dirtyBeyondOwnWrites() bool {
	b.wmu.Lock()
	keys := slices.Collect(maps.Keys(b.dirty))
	b.wmu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, k := range keys {
		if !b.ownUnreadWrite(k) {
			return true
		}
	}
	return false
}

// ownUnreadWrite reports whether key is a partition state this broker
// wrote and has not read back since.
func (b *backend) ownUnreadWrite(key string) bool {
	name, p, ok := splitStateKey(key)
	if !ok {
		return false
	}
	t := b.topics[name]
	return t != nil && int(p) < len(t.states) && t.states[p] != nil && t.states[p].own
}

// markAll asks for a full re-read.
func (b *backend) markAll() {
	b.wmu.Lock()
	for _, k := range []string{keyIDs, keyStopping, keyCtrl, keyTopics, keyDeletes, keyISRChg, keyFeatures} {
		b.dirty[k] = true
	}
	b.wmu.Unlock()
	b.mu.Lock()
	keys := append(b.brokerConfigKeys(), b.userKeys()...)
	keys = append(keys, b.namedConfigKeys()...)
	keys = append(keys, b.tokenKeys()...)
	keys = append(keys, b.offlineKeys()...)
	keys = append(keys, aclKeys()...)
	keys = append(keys, b.quotaKeys()...)
	for name, t := range b.topics {
		keys = append(keys, preTopic+name, preConfig+name)
		for p := range t.assign {
			keys = append(keys, stateKey(name, int32(p)))
		}
	}
	b.mu.Unlock()
	b.wmu.Lock()
	for _, k := range keys {
		b.dirty[k] = true
	}
	b.wmu.Unlock()
	b.kick()
}

func (b *backend) isArmed(key string) bool {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	return b.armed[key]
}

// arm records a watch on key; when it fires, key is re-read.
func (b *backend) arm(key string, ch <-chan zk.Event) {
	b.wmu.Lock()
	b.armed[key] = true
	b.wmu.Unlock()
	go func() {
		<-ch
		now := time.Now()
		b.wmu.Lock()
		delete(b.armed, key)
		b.dirty[key] = true
		if _, ok := b.fired[key]; !ok {
			b.fired[key] = now
		}
		b.wmu.Unlock()
		b.kick()
	}()
}

// maxRoundKeys bounds the keys one round reads. What it read is delivered
// at its end: a round reading thousands of partition states (a controlled
// shutdown's hand-over writes 2,000 in a tenth of a second) held every
// one of those leadership changes back until it had read the last, a
// second or more. What is left is read by the next rounds, at once.
const maxRoundKeys = 256

// takeDirty takes up to maxRoundKeys of the keys to read, in order, the
// partition states this broker's controller wrote and has not read back
// last: reading them only arms their watches again.
func (b *backend) takeDirty() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.wmu.Lock()
	defer b.wmu.Unlock()
	keys := slices.Collect(maps.Keys(b.dirty))
	sort.Strings(keys)
	if len(keys) > maxRoundKeys {
		var own []string
		keys = slices.DeleteFunc(keys, func(k string) bool {
			if b.ownUnreadWrite(k) {
				own = append(own, k)
				return true
			}
			return false
		})
		keys = append(keys, own...)[:maxRoundKeys]
	}
	for _, k := range keys {
		delete(b.dirty, k)
	}
	return keys
}

// takeFired returns when key's watch fired (zero if it did not) once the
// key has been read.
func (b *backend) takeFired(key string) time.Time {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	at := b.fired[key]
	delete(b.fired, key)
	return at
}

// barrier is a sync's: closed once a round has read its keys.
type barrier struct {
	done chan struct{}
	keys []string
}

// takeBarriers returns the barriers a round started now may close.
func (b *backend) takeBarriers() []barrier {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	bars := b.barriers
	b.barriers = nil
	return bars
}

// closeBarriers closes, at the end of a round, the barriers whose keys
// are read: none is still to be read (a round of its own reads what
// maxRoundKeys left, and one that failed gave up). The others wait for
// the next round.
func (b *backend) closeBarriers(bars []barrier, failed bool) {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	for _, bar := range bars {
		if !failed && slices.ContainsFunc(bar.keys, func(k string) bool { return b.dirty[k] }) {
			b.barriers = append(b.barriers, bar)
			continue
		}
		close(bar.done)
	}
}

// sync re-reads keys and waits until the loop has delivered what it read
// (or ctx ends): a round started after the keys were marked reads them.
func (b *backend) sync(ctx context.Context, keys []string) error {
	bar := barrier{done: make(chan struct{}), keys: slices.Clone(keys)}
	b.wmu.Lock()
	for _, k := range keys {
		b.dirty[k] = true
	}
	b.barriers = append(b.barriers, bar)
	b.wmu.Unlock()
	b.kick()
	select {
	case <-bar.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// noteReported records, for the topic a key belongs to, when the change
// read from it was reported.
func (b *backend) noteReported(key string, at time.Time) {
	if at.IsZero() {
		return
	}
	if b.roundReported.IsZero() || at.Before(b.roundReported) {
		b.roundReported = at
	}
	var name string
	switch {
	case strings.HasPrefix(key, preTopic):
		name = key[len(preTopic):]
	case strings.HasPrefix(key, preConfig):
		name = key[len(preConfig):]
	case strings.HasPrefix(key, preState):
		rest := key[len(preState):]
		if i := strings.LastIndexByte(rest, '/'); i >= 0 {
			name = rest[:i]
		}
	default:
		return
	}
	if t := b.topics[name]; t != nil && t.changed && (t.reported.IsZero() || at.Before(t.reported)) {
		t.reported = at
	}
}

// markReported stamps a topic the controller changed in this round.
func (b *backend) markReported(t *topicCache) {
	if t.reported.IsZero() {
		t.reported = b.roundReported
		if t.reported.IsZero() {
			t.reported = time.Now()
		}
	}
}

// children lists zpath's children, watching them for key.
func (b *backend) children(key, zpath string) ([]string, error) {
	if b.isArmed(key) {
		c, _, err := b.conn.Children(zpath)
		return c, err
	}
	c, _, ch, err := b.conn.ChildrenW(zpath)
	if err != nil {
		return nil, err
	}
	b.arm(key, ch)
	return c, nil
}

// get reads zpath, watching it (or its creation) for key.
func (b *backend) get(key, zpath string) ([]byte, *zk.Stat, bool, error) {
	if r, ok := b.prefetched[key]; ok {
		delete(b.prefetched, key)
		return r.data, r.stat, r.ok, r.err
	}
	return b.read(key, zpath)
}

// getResult is a read done ahead of processing its key.
type getResult struct {
	data []byte
	stat *zk.Stat
	ok   bool
	err  error
}

// prefetchParallel bounds the reads a round issues at once.
const prefetchParallel = 16

// parallel runs fn(0) to fn(n-1), at most limit at once, and returns when
// all have.
func parallel(n, limit int, fn func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, limit)
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}

// prefetch reads the znodes of a round's topic, config and partition
// state keys concurrently (one round trip instead of one per key); get
// then takes them from b.prefetched. A leadership move touches many
// partition states at once. Called without mu.
func (b *backend) prefetch(keys []string) {
	type job struct{ key, zpath string }
	var jobs []job
	b.mu.Lock()
	for _, k := range keys {
		if zpath, ok := b.zpathOf(k); ok {
			jobs = append(jobs, job{k, zpath})
		}
	}
	b.mu.Unlock()
	if len(jobs) < 2 {
		return
	}
	results := make([]getResult, len(jobs))
	parallel(len(jobs), prefetchParallel, func(i int) {
		r := &results[i]
		r.data, r.stat, r.ok, r.err = b.read(jobs[i].key, jobs[i].zpath)
	})
	b.mu.Lock()
	for i, j := range jobs {
		b.prefetched[j.key] = results[i]
	}
	b.mu.Unlock()
}

// zpathOf is the znode of a topic, config or state key of a known topic.
func (b *backend) zpathOf(key string) (string, bool) {
	switch {
	case strings.HasPrefix(key, preTopic):
		name := key[len(preTopic):]
		return b.p(topicPath(name)), b.topics[name] != nil
	case strings.HasPrefix(key, preConfig):
		name := key[len(preConfig):]
		return b.p(configPath(name)), b.topics[name] != nil
	case strings.HasPrefix(key, preState):
		name, p, ok := splitStateKey(key)
		if t := b.topics[name]; !ok || t == nil || int(p) >= len(t.states) {
			return "", false
		}
		return b.p(statePath(name, p)), true
	}
	return "", false
}

// read reads zpath, watching it (or its creation) for key.
func (b *backend) read(key, zpath string) ([]byte, *zk.Stat, bool, error) {
	if b.isArmed(key) {
		data, stat, err := b.conn.Get(zpath)
		if errors.Is(err, zk.ErrNoNode) {
			return nil, nil, false, nil
		}
		return data, stat, err == nil, err
	}
	data, stat, ch, err := b.conn.GetW(zpath)
	if err == nil {
		b.arm(key, ch)
		return data, stat, true, nil
	}
	if !errors.Is(err, zk.ErrNoNode) {
		return nil, nil, false, err
	}
	if !b.watchCreation(key) {
		return nil, nil, false, nil
	}
	ok, _, ch, err := b.conn.ExistsW(zpath)
	if err != nil {
		return nil, nil, false, err
	}
	b.arm(key, ch)
	if ok { // created in between: read it again
		b.mark(key)
	}
	return nil, nil, false, nil
}

// watchCreation reports whether the creation of key's missing znode needs
// a watch of its own. ZooKeeper keeps a watch on a znode that does not
// exist until the znode is created, and this broker keeps a goroutine
// waiting on it: on the znodes of a deleted topic, one of each for every
// topic ever deleted. So:
//   - a topic's znode has none: its creation changes the children of
//     /brokers/topics, which are watched (and a read that came before the
//     listing is done again, processTopic);
//   - nor has a listed entity's (a user's, a group's or subscription's
//     configs, a token, an offline replicas report, a quota entity's
//     config): one found deleted is
//     forgotten, and the watched listing has it again once it is created;
//   - a topic's config and partition states have one only while the topic
//     exists and is not being deleted (its mark in /admin/delete_topics is
//     made before the deletion starts and removed after it ends). A topic
//     created again under the name is read afresh (processTopic).
func (b *backend) watchCreation(key string) bool {
	var topic string
	switch {
	case strings.HasPrefix(key, preTopic), strings.HasPrefix(key, preUser), strings.HasPrefix(key, preGroup),
		strings.HasPrefix(key, preClientMetric), strings.HasPrefix(key, preToken), strings.HasPrefix(key, preOffline),
		strings.HasPrefix(key, preQUser), strings.HasPrefix(key, preQUserClient), strings.HasPrefix(key, preQClient),
		strings.HasPrefix(key, preQIP):
		return false
	case strings.HasPrefix(key, preConfig):
		topic = key[len(preConfig):]
	case strings.HasPrefix(key, prePartitions):
		topic = key[len(prePartitions):]
	case strings.HasPrefix(key, preState):
		rest := key[len(preState):]
		i := strings.LastIndexByte(rest, '/')
		if i < 0 {
			return true
		}
		topic = rest[:i]
	default:
		return true
	}
	marked, _, err := b.conn.Exists(b.p(deleteTopicsPath + "/" + topic))
	if err != nil || marked {
		return err != nil
	}
	exists, _, err := b.conn.Exists(b.p(topicPath(topic)))
	return err != nil || exists
}

func (b *backend) loop(ctx context.Context) {
	defer close(b.done)
	var retry <-chan time.Time
	var check <-chan time.Time
	if iv := b.rebalanceInterval(); iv > 0 {
		t := time.NewTicker(iv)
		defer t.Stop()
		check = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.sig:
		case <-retry:
		case <-check:
			b.mu.Lock()
			b.rebalanceDue = b.isController
			b.mu.Unlock()
		}
		retry = nil
		if b.round() {
			retry = time.After(250 * time.Millisecond)
		} else if b.hasDirty() {
			b.kick() // changed meanwhile: read it now
		}
	}
}

// round reads what changed, acts as controller if this broker is one, and
// delivers the changes. It reads one batch of keys (at most
// maxRoundKeys), so that a stream of changes is delivered as it comes
// rather than once it stops. It reports
// whether something must be retried (after a pause); what changed while
// it ran is left dirty for the next round.
func (b *backend) round() (retry bool) {
	start := time.Now()
	bars := b.takeBarriers()
	defer func() { b.closeBarriers(bars, retry) }()
	b.mu.Lock()
	b.roundReported = time.Time{}
	b.mu.Unlock()
	keys := b.takeDirty()
	b.prefetch(keys)
	defer func() {
		b.mu.Lock()
		clear(b.prefetched)
		b.mu.Unlock()
	}()
	for j, k := range keys {
		b.mu.Lock()
		err := b.process(k)
		if err == nil {
			b.noteReported(k, b.takeFired(k))
		}
		b.mu.Unlock()
		if err != nil {
			if !b.shuttingDown.Load() {
				b.log.Debug().Err(err).Str("key", k).Msg("reading ZooKeeper; will retry")
			}
			b.wmu.Lock()
			for _, k := range keys[j:] {
				b.dirty[k] = true
			}
			b.wmu.Unlock()
			retry = true
			break
		}
	}
	read := time.Since(start)
	// What was read goes out before the controller's work, which writes
	// to ZooKeeper partition by partition: a change another broker made
	// must not wait for it.
	b.deliver()
	delivered := time.Since(start)
	if !retry {
		b.mu.Lock()
		if err := b.control(); err != nil {
			retry = true
			if !b.shuttingDown.Load() {
				b.log.Warn().Err(err).Msg("controller work failed; will retry")
			}
		}
		b.mu.Unlock()
	}
	controlled := time.Since(start)
	b.deliver() // what the controller wrote
	if took := time.Since(start); took > slowRound {
		b.slowLog.Warn().Int("keys", len(keys)).Dur("reading", read).Dur("delivering", delivered-read).
			Dur("controlling", controlled-delivered).Dur("delivering_writes", took-controlled).Msg("slow metadata round")
	}
	return retry
}

// slowRound is the metadata round duration above which it is logged: a
// second holds every change behind it up that long. A routine round on a
// busy machine (a topic's partitions written to ZooKeeper one by one, a
// restarted broker's leaders moved back) takes tens of milliseconds, and
// is not worth a warning.
const slowRound = time.Second

func (b *backend) process(key string) error {
	switch {
	case key == keySession:
		return b.processSession()
	case key == keyIDs:
		return b.processIDs()
	case key == keyStopping:
		return b.processStopping()
	case key == keyCtrl:
		return b.processCtrl()
	case key == keyTopics:
		return b.processTopics()
	case key == keyDeletes:
		c, err := b.children(keyDeletes, b.p(deleteTopicsPath))
		if err != nil {
			return err
		}
		was := b.deleting
		b.deleting = map[string]bool{}
		for _, t := range c {
			b.deleting[t] = true
		}
		for name := range was {
			if !b.deleting[name] {
				b.deletionDropped(name)
			}
		}
		return nil
	case key == keyISRChg:
		c, err := b.children(keyISRChg, b.p(isrChangePath))
		if err != nil {
			return err
		}
		if b.isController { // the controller consumes the notifications
			b.deleteISRChangeNotes(c)
		}
		return nil
	case strings.HasPrefix(key, preTopic):
		return b.processTopic(key[len(preTopic):])
	case strings.HasPrefix(key, preConfig):
		return b.processConfig(key[len(preConfig):])
	case strings.HasPrefix(key, preBrokerCfg):
		return b.processBrokerConfig(key[len(preBrokerCfg):])
	case key == keyUsers:
		return b.processUsers()
	case strings.HasPrefix(key, preUser):
		return b.processUser(key[len(preUser):])
	case key == keyGroups:
		return b.processGroups()
	case strings.HasPrefix(key, preGroup):
		return b.processGroup(key[len(preGroup):])
	case key == keyClientMetrics:
		return b.processClientMetrics()
	case strings.HasPrefix(key, preClientMetric):
		return b.processClientMetric(key[len(preClientMetric):])
	case key == keyFeatures:
		return b.processFeatures()
	case key == keyTokens:
		return b.processTokens()
	case strings.HasPrefix(key, preToken):
		return b.processToken(key[len(preToken):])
	case key == keyOffline:
		return b.processOfflineBrokers()
	case strings.HasPrefix(key, preOffline):
		return b.processOfflineBroker(key[len(preOffline):])
	case key == keyAclChanges:
		return b.processAclChanges(key, aclChangesPath)
	case key == keyAclExtChanges:
		return b.processAclChanges(key, aclExtChangesPath)
	case key == keyAcls:
		return b.processAcls()
	case strings.HasPrefix(key, preAcl):
		return b.processAcl(key)
	case strings.HasPrefix(key, "Q"):
		return b.processQuota(key)
	case strings.HasPrefix(key, prePartitions):
		return b.processPartitions(key[len(prePartitions):])
	case strings.HasPrefix(key, preState):
		if name, p, ok := splitStateKey(key); ok {
			return b.processState(name, p)
		}
		return nil
	}
	return nil
}

// processSession handles a new session (after expiry): register again,
// stand for controller again, re-read everything.
func (b *backend) processSession() error {
	sid := b.conn.SessionID()
	if sid == 0 || sid == b.session.Load() || b.shuttingDown.Load() {
		return nil
	}
	b.log.Warn().Str("session", fmt.Sprintf("0x%x", sid)).Msg("ZooKeeper session was lost (expired); registering again under a new session and re-reading metadata")
	b.isController = false
	if err := b.register(); err != nil {
		return fmt.Errorf("registering again: %w", err)
	}
	b.mu.Unlock()
	b.markAll()
	b.mu.Lock()
	return nil
}

func (b *backend) processIDs() error {
	c, err := b.children(keyIDs, b.p(brokerIDsPath))
	if err != nil {
		return err
	}
	seen := map[int32]bool{}
	for _, name := range c {
		n, err := strconv.ParseInt(name, 10, 32)
		if err != nil {
			continue
		}
		id := int32(n)
		data, stat, err := b.conn.Get(b.p(brokerPath(id)))
		if errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			return err
		}
		seen[id] = true
		old := b.brokers[id]
		if old != nil && old.czxid == stat.Czxid {
			continue
		}
		info, since, err := decodeBrokerIncarnation(id, data)
		if err != nil {
			b.log.Warn().Err(err).Msg("ignoring broker registration")
			continue
		}
		if old != nil && b.isController {
			// Gone and back between two reads, for this round's
			// control. Only the controller keeps them: one kept by a
			// broker that becomes controller later would move
			// leaderships off brokers long back (a restart removes its
			// previous run's registration at once, so every broker
			// sees it as such a bounce); a newer registration than a
			// state is taken as a restart anyway (metadata.Rejoin).
			b.bounced[id] = true
		}
		if since == 0 || since > stat.Czxid {
			since = stat.Czxid
		}
		b.brokers[id] = &liveBroker{info: info, czxid: stat.Czxid, since: since}
		b.brokersChanged = true
		b.log.Info().Int32("broker", id).Msg("broker registered")
	}
	for id := range b.brokers {
		if !seen[id] {
			delete(b.brokers, id)
			b.brokersChanged = true
			b.log.Info().Int32("broker", id).Msg("broker gone")
		}
	}
	return nil
}

func (b *backend) processCtrl() error {
	data, stat, ok, err := b.get(keyCtrl, b.p(controllerPath))
	if err != nil {
		return err
	}
	if !ok {
		if b.controller != -1 {
			b.controller, b.brokersChanged = -1, true
		}
		if b.isController {
			b.log.Info().Msg("resigned as controller")
			b.isController = false
		}
		if b.shuttingDown.Load() || b.session.Load() != b.conn.SessionID() {
			return nil
		}
		z, _ := jsonMarshal(&controllerZNode{Version: 1, BrokerID: b.self(), Timestamp: nowMs()})
		_, err := b.conn.Create(b.p(controllerPath), z, zk.FlagEphemeral, b.acl)
		if err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return err
		}
		b.mark(keyCtrl) // read who won
		return nil
	}
	var z controllerZNode
	if err := jsonUnmarshal(data, &z); err != nil {
		return fmt.Errorf("%s: %w", controllerPath, err)
	}
	if z.BrokerID != b.controller {
		b.controller, b.brokersChanged = z.BrokerID, true
	}
	mine := z.BrokerID == b.self() && stat.EphemeralOwner == b.conn.SessionID() && stat.EphemeralOwner != 0
	switch {
	case mine && !b.isController:
		if err := b.bumpControllerEpoch(); err != nil {
			return err
		}
		b.isController = true
		b.bounced = map[int32]bool{}
		b.mark(keyISRChg) // the notifications left for a predecessor
		b.log.Info().Int32("controller_epoch", b.ctrlEpoch).Msg("elected controller")
	case !mine && b.isController:
		b.isController = false
		b.log.Info().Int32("controller", z.BrokerID).Msg("no longer controller")
	}
	return nil
}

// bumpControllerEpoch increments /controller_epoch; its znode version
// fences every write this controller makes.
func (b *backend) bumpControllerEpoch() error {
	zpath := b.p(controllerEpochZ)
	for range 10 {
		data, stat, err := b.conn.Get(zpath)
		if errors.Is(err, zk.ErrNoNode) {
			_, err := b.conn.Create(zpath, []byte("1"), 0, b.acl)
			if errors.Is(err, zk.ErrNodeExists) {
				continue
			}
			if err != nil {
				return err
			}
			_, stat, err := b.conn.Get(zpath)
			if err != nil {
				return err
			}
			b.ctrlEpoch, b.ctrlEpochVer = 1, stat.Version
			return nil
		}
		if err != nil {
			return err
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 32)
		if err != nil {
			return fmt.Errorf("%s: %q: %w", controllerEpochZ, data, err)
		}
		stat, err = b.conn.Set(zpath, []byte(strconv.Itoa(int(n)+1)), stat.Version)
		if errors.Is(err, zk.ErrBadVersion) {
			continue
		}
		if err != nil {
			return err
		}
		b.ctrlEpoch, b.ctrlEpochVer = int32(n)+1, stat.Version
		return nil
	}
	return errors.New("could not increment the controller epoch")
}

func (b *backend) processTopics() error {
	c, err := b.children(keyTopics, b.p(brokerTopicsPath))
	if err != nil {
		return err
	}
	reconcile(b.topics, c, func(name string) {
		b.topics[name] = &topicCache{name: name}
		b.mark(preTopic + name)
		b.mark(preConfig + name)
	}, func(name string) {
		delete(b.topics, name)
		b.removed = append(b.removed, name)
	})
	return nil
}

// TopicListed reports whether /brokers/topics lists name, as the loop
// last read it, whether its znode could be read or not.
func (b *backend) TopicListed(name string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.topics[name]
	return ok
}

func (b *backend) processTopic(name string) error {
	t := b.topics[name]
	if t == nil {
		return nil
	}
	_, prefetched := b.prefetched[preTopic+name]
	data, stat, ok, err := b.get(preTopic+name, b.p(topicPath(name)))
	if err != nil {
		return err
	}
	if !ok {
		// Read ahead of this round's listing, which still has it: it was
		// created again in between (no watch waits for its creation, see
		// watchCreation), so read it again.
		if prefetched {
			b.mark(preTopic + name)
		}
		return nil
	}
	assign, adding, removing, id, hasID, err := decodeTopicReassigning(data)
	if err != nil {
		b.log.Warn().Err(err).Str("topic", name).Msg("ignoring malformed topic znode")
		return nil
	}
	t.adding, t.removing = adding, removing
	if t.exists && hasID && t.hasID && id != t.id { // recreated
		// Its config and states were last read while the old one was
		// deleted, with no watch for their creation (watchCreation).
		t.states, t.unread = nil, nil
		b.mark(preConfig + name)
	}
	if !t.exists || id != t.id || hasID != t.hasID || !slices.EqualFunc(assign, t.assign, slices.Equal) {
		t.changed = true
	}
	t.exists, t.id, t.hasID, t.version, t.assign = true, id, hasID, stat.Version, assign
	// A topic that has partition znodes (stat.NumChildren: its
	// partitions znode) may have their states already: until they are
	// read, the controller creates none of them (it would find them there,
	// one round trip each: 3,000 partitions' took 1.8 s at a restart).
	// A topic just created has none, and its states are created at once.
	//
	// The states of a topic first seen with partition znodes are read at
	// once (a start-up's load). Those of partitions being created (a new
	// topic's, or ones added) are read as the partitions znode lists
	// them: the controller creates each partition's znode with its state.
	// Read at once, most were missing yet, and each took a read, a watch
	// for its creation and a read again (2,000 partitions: 8 s).
	listed := len(t.states) == 0 && stat.NumChildren > 0
	for p := len(t.states); p < len(assign); p++ {
		t.states = append(t.states, nil)
		t.unread = append(t.unread, stat.NumChildren > 0)
		if listed {
			b.mark(stateKey(name, int32(p)))
		}
	}
	if len(t.states) > 0 && !listed && slices.Contains(t.states, nil) {
		b.mark(prePartitions + name)
	}
	if len(t.states) > len(assign) {
		t.states, t.unread = t.states[:len(assign)], t.unread[:len(assign)]
	}
	return nil
}

// deletionDropped reads again what a topic had missing while it was
// marked for deletion, if it is still there once the mark is gone (a
// deletion dropped, as with delete.topic.enable=false): while marked,
// its config's and states' creation had no watch (watchCreation).
func (b *backend) deletionDropped(name string) {
	t := b.topics[name]
	if t == nil {
		return
	}
	b.mark(preTopic + name)
	b.mark(preConfig + name)
	if slices.Contains(t.states, nil) {
		b.mark(prePartitions + name)
	}
	for p, st := range t.states {
		if st == nil {
			b.mark(stateKey(name, int32(p)))
		}
	}
}

// processPartitions reads which partitions of a topic have their znode
// (and so their state, created with it) and marks those states not read
// yet to be read. Those without one are known not to have a state: the
// controller may create them. While some are missing, the listing is
// watched.
func (b *backend) processPartitions(name string) error {
	t := b.topics[name]
	if t == nil || !t.exists || !slices.Contains(t.states, nil) {
		return nil // every state read: no listing or watch needed
	}
	key, zpath := prePartitions+name, b.p(partitionsPath(name))
	var c []string
	var err error
	if b.isArmed(key) {
		c, _, err = b.conn.Children(zpath)
	} else {
		var ch <-chan zk.Event
		if c, _, ch, err = b.conn.ChildrenW(zpath); err == nil {
			b.arm(key, ch)
		}
	}
	if errors.Is(err, zk.ErrNoNode) {
		c, err = nil, nil
		if !b.isArmed(key) && b.watchCreation(key) {
			ok, _, ch, err := b.conn.ExistsW(zpath)
			if err != nil {
				return err
			}
			if ok {
				// Created in between: list it, watching its children
				// (this watch is on its data, which never changes).
				b.mark(key)
			} else {
				b.arm(key, ch)
			}
		}
	}
	if err != nil {
		return err
	}
	listed := make([]bool, len(t.states))
	for _, s := range c {
		if p, err := strconv.Atoi(s); err == nil && p >= 0 && p < len(listed) {
			listed[p] = true
		}
	}
	for p, st := range t.states {
		switch {
		case st != nil:
		case listed[p]:
			if k := stateKey(name, int32(p)); !b.isArmed(k) {
				b.mark(k)
			}
		case p < len(t.unread):
			t.unread[p] = false
		}
	}
	return nil
}

func (b *backend) processConfig(name string) error {
	t := b.topics[name]
	if t == nil {
		return nil
	}
	data, _, _, err := b.get(preConfig+name, b.p(configPath(name)))
	if err != nil {
		return err
	}
	c, err := decodeConfig(data)
	if err != nil {
		b.log.Warn().Err(err).Str("topic", name).Msg("ignoring malformed topic config znode")
		return nil
	}
	if !maps.Equal(c, t.configs) {
		t.configs, t.changed = c, true
	}
	return nil
}

func (b *backend) processState(name string, p int32) error {
	t := b.topics[name]
	if t == nil || int(p) >= len(t.states) {
		return nil
	}
	data, stat, ok, err := b.get(stateKey(name, p), b.p(statePath(name, p)))
	if err != nil {
		return err
	}
	if int(p) < len(t.unread) {
		t.unread[p] = false
	}
	if !ok {
		if t.states[p] != nil {
			t.states[p], t.changed = nil, true
		}
		return nil
	}
	z, err := decodeState(data)
	if err != nil {
		b.log.Warn().Err(err).Str("topic", name).Int32("partition", p).Msg("ignoring malformed partition state")
		return nil
	}
	st := &pstate{ctrlEpoch: z.ControllerEpoch, leader: z.Leader, leaderEpoch: z.LeaderEpoch, isr: z.ISR, version: stat.Version, mzxid: stat.Mzxid}
	if old := t.states[p]; old == nil || old.version != st.version || old.leader != st.leader || old.leaderEpoch != st.leaderEpoch || !slices.Equal(old.isr, st.isr) {
		t.states[p], t.changed = st, true
	} else if old.mzxid != st.mzxid { // read back after this broker wrote it
		t.states[p] = st
		t.changed = t.changed || st.leader == b.self()
	} else {
		old.own = false
	}
	return nil
}

// topicState builds what the Applier gets; a partition without a state
// znode yet has no leader. Nor has one whose state names this broker
// (self) leader but was written before its registration (registered, the
// czxid): that is its previous run's leadership, and the log it led may
// have lost its tail since. The controller writes it a new state, the
// leader then at the next leader epoch or another replica (metadata.Rejoin);
// until then this broker does not lead it, so that no follower truncates
// to it at the epoch its previous run led.
func (t *topicCache) topicState(self int32, registered int64) metadata.TopicState {
	ts := metadata.TopicState{Name: t.name, ID: t.id, Configs: maps.Clone(t.configs)}
	for p, r := range t.assign {
		ps := metadata.PartitionState{Replicas: slices.Clone(r), Leader: -1, Version: -1}
		if p < len(t.adding) && len(t.adding[p]) > 0 {
			ps.Adding = slices.Clone(t.adding[p])
		}
		if p < len(t.removing) && len(t.removing[p]) > 0 {
			ps.Removing = slices.Clone(t.removing[p])
		}
		if st := t.states[p]; st != nil {
			ps.Leader, ps.LeaderEpoch, ps.ISR, ps.Version = st.leader, st.leaderEpoch, slices.Clone(st.isr), st.version
			if st.leader == self && st.mzxid < registered {
				ps.Leader = -1
			}
		}
		ts.Partitions = append(ts.Partitions, ps)
	}
	return ts
}

// deliver hands what changed to the Applier, without holding mu.
func (b *backend) deliver() {
	b.mu.Lock()
	apply := b.apply
	var brokers []metadata.BrokerInfo
	changedBrokers := b.brokersChanged
	if changedBrokers {
		for _, lb := range b.brokers {
			brokers = append(brokers, lb.info)
		}
		slices.SortFunc(brokers, func(x, y metadata.BrokerInfo) int { return int(x.ID) - int(y.ID) })
	}
	controller := b.controller
	removed := b.removed
	var topics []metadata.TopicState
	names := slices.Sorted(maps.Keys(b.topics))
	for _, name := range names {
		t := b.topics[name]
		if !t.changed || !t.exists || !t.hasID || len(t.assign) == 0 {
			continue
		}
		t.changed = false
		ts := t.topicState(b.self(), b.selfCzxid)
		ts.Reported, t.reported = t.reported, time.Time{}
		topics = append(topics, ts)
	}
	b.brokersChanged, b.removed = false, nil
	cfgDefaults, cfgSelf, cfgChanged := b.takeBrokerConfigs()
	scram, scramChanged := b.takeScram()
	groupCfgs, groupCfgsChanged := b.takeGroupConfigs()
	clientMetrics, clientMetricsChanged := b.takeClientMetrics()
	tokens, tokensChanged := b.takeTokens()
	features, featuresEpoch, featuresChanged := b.takeFeatures()
	acls, aclsChanged := b.takeAcls()
	quotas, quotasChanged := b.takeQuotas()
	offline, offlineChanged := b.takeOffline()
	b.mu.Unlock()

	if apply == nil {
		return
	}
	if changedBrokers {
		apply.ApplyBrokers(brokers, controller)
	}
	for _, name := range removed {
		b.log.Info().Str("topic", name).Msg("topic removed from cluster metadata")
		apply.RemoveTopic(name)
	}
	for _, ts := range topics {
		apply.ApplyTopic(ts)
	}
	if a, ok := apply.(metadata.BrokerConfigApplier); ok && cfgChanged {
		a.ApplyBrokerConfigs(cfgDefaults, cfgSelf)
	}
	if a, ok := apply.(metadata.ScramCredentialApplier); ok && scramChanged {
		a.ApplyScramCredentials(scram)
	}
	if a, ok := apply.(metadata.GroupConfigApplier); ok && groupCfgsChanged {
		a.ApplyGroupConfigs(groupCfgs)
	}
	if a, ok := apply.(metadata.ClientMetricsApplier); ok && clientMetricsChanged {
		a.ApplyClientMetrics(clientMetrics)
	}
	if a, ok := apply.(metadata.DelegationTokenApplier); ok && tokensChanged {
		a.ApplyDelegationTokens(tokens)
	}
	if a, ok := apply.(metadata.FeatureApplier); ok && featuresChanged {
		a.ApplyFeatures(features, featuresEpoch)
	}
	if a, ok := apply.(metadata.AclApplier); ok && aclsChanged {
		a.ApplyAcls(acls)
	}
	if a, ok := apply.(metadata.ClientQuotaApplier); ok && quotasChanged {
		a.ApplyClientQuotas(quotas)
	}
	if a, ok := apply.(metadata.OfflineReplicaApplier); ok && offlineChanged {
		a.ApplyOfflineReplicas(offline)
	}
}
