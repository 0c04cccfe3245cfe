package zkmeta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/config"
	"gregor/broker/metadata"
	"gregor/internal/loglevel"
)

// Options configures the ZooKeeper backend.
type Options struct {
	// Connect is zookeeper.connect: host:port[,host:port...][/chroot].
	Connect        string
	SessionTimeout time.Duration
	Self           metadata.BrokerInfo
	Config         *config.Config
	Log            zerolog.Logger
	// LogLevels, when set, names this package's logger ("zkmeta") so that
	// its level can be changed at run time.
	LogLevels *loglevel.Levels
	// SessionFile, when set, is where the broker keeps the id of the
	// ZooKeeper session its registration belongs to: a file in a log dir
	// the broker holds locked. A broker killed and started again before
	// ZooKeeper expired that session finds its registration still owned
	// by it, a session no process can be using any more (the one that
	// held the dir's lock is gone). It removes that registration, and the
	// session's other ephemeral znodes, at once: its partitions fail over
	// and it rejoins now, as a KRaft broker's new incarnation replaces its
	// old one, not after zookeeper.session.timeout.ms. The states its
	// previous run led are then older than its new registration, which
	// every controller takes as a restart (metadata.Rejoin).
	SessionFile string
}

// SessionFileName is the file, in the first log dir, that Options'
// SessionFile names.
const SessionFileName = ".zookeeper-session"

type backend struct {
	// beforeHandOverWrites, set by tests, runs between a hand-over's
	// reads and its writes.
	beforeHandOverWrites func()
	// isrChanged holds the partitions whose ISR this broker changed since
	// it last wrote an ISR change notification (isr.go).
	isrMu      sync.Mutex
	isrChanged map[isrKey]bool

	opt     Options
	log     zerolog.Logger
	slowLog zerolog.Logger // rate-limited, for slow rounds
	servers []string
	chroot  string
	timeout time.Duration
	acl     []zk.ACL

	conn      *zkConn         // each write's size checked
	events    <-chan zk.Event // conn's, once joined
	clusterID string          // set by Join

	shuttingDown atomic.Bool
	session      atomic.Int64 // the session /brokers/ids/<id> belongs to
	// registered is set by a registration and cleared when its session
	// expires; disconnected is when the connection was lost (zero while
	// connected), for the reconnection's log line.
	registered atomic.Bool
	// selfCzxid is the transaction that created this process's first
	// registration (its incarnation, written into the registrations that
	// follow a session expiry): a partition state older than it that names
	// the broker leader is its previous run's, not led until the controller
	// writes a new one (topicState).
	selfCzxid    int64
	disconnected atomic.Int64

	pidMu           sync.Mutex
	pidNext, pidEnd int64 // local producer id block, end exclusive
	cancel          context.CancelFunc
	done            chan struct{}
	closeOnce       sync.Once

	// Watch bookkeeping, shared with watch goroutines.
	wmu   sync.Mutex
	dirty map[string]bool
	armed map[string]bool
	// fired is when a key's watch fired, until the key is read.
	fired map[string]time.Time
	// barriers are closed at the end of the first round after which
	// their keys have been read (sync).
	barriers []barrier
	sig      chan struct{}

	// Loop state. The loop mutates it holding mu (never while calling the
	// Applier); other goroutines read it holding mu.
	mu             sync.Mutex
	apply          metadata.Applier
	brokers        map[int32]*liveBroker
	controller     int32
	topics         map[string]*topicCache
	deleting       map[string]bool
	removed        []string
	brokersChanged bool
	bounced        map[int32]bool
	stopping       map[int32]bool // brokers in controlled shutdown (stopping.go)
	isController   bool
	ctrlEpoch      int32
	ctrlEpochVer   int32
	rebalanceDue   bool // the leader imbalance check is due
	bcfg           brokerConfigs
	pw             passwords                             // set in New
	scram          entityCache[metadata.ScramCredential] // users.go
	gcfg           entityCache[string]                   // namedconfigs.go
	cmcfg          entityCache[string]                   // namedconfigs.go
	tokens         tokenCache                            // tokens.go
	offline        offlineCache                          // offline.go
	offlinePubMu   sync.Mutex                            // orders PublishOfflineReplicas
	features       featureCache                          // features.go
	tokenPurged    atomic.Int64                          // tokens.go: last purge of token change notifications (Unix ns)
	configPurged   atomic.Int64                          // ops.go: last purge of config change notifications (Unix ns)
	acls           aclCache                              // acls.go
	// roundReported is when the earliest change read in this round was
	// reported, for what the controller writes in it.
	roundReported time.Time
	// prefetched holds the reads of this round's keys done ahead.
	prefetched map[string]getResult
	quotas     quotaCache    // quotas.go
	elections  atomic.Uint64 // leaders changed by this broker as controller (status.go)
	// uncleanElections counts leaders elected from outside the ISR
	// (status.go).
	uncleanElections atomic.Uint64
	lastCtrl         atomic.Bool // isController as Status last read it
}

type liveBroker struct {
	info  metadata.BrokerInfo
	czxid int64 // of the registration
	// since is the czxid of its process's first registration (its
	// incarnation): a state older than that is its previous run's. A
	// process registered again after its session expired is the same
	// incarnation, its log intact.
	since int64
}

type topicCache struct {
	name    string
	id      metadata.Uuid
	hasID   bool
	exists  bool
	version int32 // of the assignment znode
	assign  [][]int32
	// Replicas being added and removed by an ongoing reassignment, per
	// partition (nil when none).
	adding, removing [][]int32
	configs          map[string]string
	states           []*pstate
	// unread is set for a partition whose state may exist but has not
	// been read yet (the controller does not create it meanwhile).
	unread  []bool
	changed bool
	// reported is when the earliest undelivered change was reported.
	reported time.Time
}

type pstate struct {
	ctrlEpoch, leader, leaderEpoch int32
	isr                            []int32
	version                        int32
	// mzxid is the transaction that last wrote the state; a replica whose
	// registration (liveBroker.czxid) is newer restarted since
	// (metadata.Rejoin). writtenNow when this broker wrote it and has not
	// read it back: newer than every registration it knows of.
	mzxid int64
	// own: this broker's controller wrote it and has not read it back
	// since (the write fired its watch).
	own bool
}

// restartedIn is restarted for a state a writer other than the
// controller's round has just read from ZooKeeper (its leader, ISR and
// mzxid), against the registrations as this broker last read them. A
// writer must not carry a restarted replica's leadership or ISR membership
// into a newer state: that would make it look current to the controller.
// It takes mu.
func (b *backend) restartedIn(leader int32, isr []int32, mzxid int64) metadata.Live {
	b.mu.Lock()
	defer b.mu.Unlock()
	live := metadata.Live{}
	for id := range b.brokers {
		live[id] = true
	}
	return b.restarted(&pstate{leader: leader, isr: isr, mzxid: mzxid}, live)
}

// withoutRestarted returns ids without the restarted ones, except keep.
func withoutRestarted(ids []int32, restarted metadata.Live, keep int32) []int32 {
	var out []int32
	for _, id := range ids {
		if !restarted[id] || id == keep {
			out = append(out, id)
		}
	}
	return out
}

// writtenNow is the mzxid of a state this broker has just written, until
// its watch reads it back.
const writtenNow = math.MaxInt64

// restarted is the set of the live brokers among a partition's leader and
// ISR whose registration is newer than its state st.
func (b *backend) restarted(st *pstate, live metadata.Live) metadata.Live {
	var out metadata.Live
	for _, r := range append([]int32{st.leader}, st.isr...) {
		if lb := b.brokers[r]; lb != nil && live[r] && lb.since > st.mzxid {
			if out == nil {
				out = metadata.Live{}
			}
			out[r] = true
		}
	}
	return out
}

// New returns a ZooKeeper metadata backend; it connects in Start.
func New(opt Options) (metadata.Backend, error) {
	if opt.Connect == "" {
		return nil, errors.New("zkmeta: zookeeper.connect is empty")
	}
	hosts, chroot := opt.Connect, ""
	if i := strings.IndexByte(hosts, '/'); i >= 0 {
		hosts, chroot = hosts[:i], path.Clean(hosts[i:])
		if chroot == "/" {
			chroot = ""
		}
	}
	var servers []string
	for _, h := range strings.Split(hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			servers = append(servers, h)
		}
	}
	if len(servers) == 0 {
		return nil, fmt.Errorf("zkmeta: no servers in zookeeper.connect %q", opt.Connect)
	}
	pw, err := newPasswords(opt.Config)
	if err != nil {
		return nil, err
	}
	timeout := opt.SessionTimeout
	if timeout <= 0 {
		timeout = 18 * time.Second
	}
	log := opt.Log.With().Str("component", "zkmeta").Logger()
	if opt.LogLevels != nil {
		log = opt.LogLevels.Logger("zkmeta")
	}
	return &backend{
		opt: opt, log: log,
		slowLog: log.Sample(&zerolog.BurstSampler{Burst: 5, Period: 10 * time.Second}),
		servers: servers, chroot: chroot, timeout: timeout, acl: zk.WorldACL(zk.PermAll),
		dirty: map[string]bool{}, armed: map[string]bool{}, fired: map[string]time.Time{}, sig: make(chan struct{}, 1),
		brokers: map[int32]*liveBroker{}, controller: -1, topics: map[string]*topicCache{},
		deleting: map[string]bool{}, bounced: map[int32]bool{},
		bcfg: brokerConfigs{read: map[string]bool{}}, prefetched: map[string]getResult{}, pw: pw,
	}, nil
}

// p maps a Kafka path into the chroot.
func (b *backend) p(kpath string) string { return b.chroot + kpath }

func (b *backend) self() int32 { return b.opt.Self.ID }

type zkLogger struct{ log zerolog.Logger }

func (l zkLogger) Printf(format string, args ...any) { l.log.Debug().Msgf(format, args...) }

// Join connects to ZooKeeper, makes the paths the broker uses and reads
// the cluster id (creating it for a new cluster). Start goes on from
// there; Close closes the session of a Join without a Start.
func (b *backend) Join(ctx context.Context) (string, error) {
	if b.events != nil {
		return b.clusterID, nil
	}
	conn, events, err := Connect(b.servers, b.timeout, zkLogger{b.log})
	if err != nil {
		return "", fmt.Errorf("connecting to ZooKeeper %s: %w", b.opt.Connect, err)
	}
	b.conn = &zkConn{conn}
	err = b.awaitSession(ctx, events)
	if err == nil {
		err = b.setup()
	}
	if err != nil {
		conn.Close()
		b.conn = nil
		return "", err
	}
	b.events = events
	return b.clusterID, nil
}

// Joined does nothing: Join created a new cluster's id in ZooKeeper, as
// Kafka's brokers do at start.
func (b *backend) Joined() error { return nil }

// Start connects (unless Join did), registers this broker, loads and delivers the metadata,
// and keeps delivering changes until Close; ctx bounds the first load
// only (a stopping broker still needs the loop for its controlled
// shutdown).
func (b *backend) Start(ctx context.Context, apply metadata.Applier) error {
	if _, err := b.Join(ctx); err != nil {
		return err
	}
	conn, events := b.conn, b.events
	if err := b.registerAtStart(ctx); err != nil {
		conn.Close()
		return err
	}
	if err := b.reencodePasswords(ctx); err != nil {
		conn.Close()
		return err
	}
	// The server this session reads from may lag the ensemble's leader:
	// the first load is read once it caught up, so it names every topic
	// (the broker takes a replica directory of a topic it does not name
	// for stray).
	if _, err := conn.Sync(b.p(brokerTopicsPath)); err != nil {
		conn.Close()
		return fmt.Errorf("syncing with the ZooKeeper ensemble: %w", err)
	}
	b.mu.Lock()
	b.apply = apply
	b.mu.Unlock()
	b.markAll()

	// The first load: every key read and delivered before Start returns.
	deadline := time.Now().Add(max(30*time.Second, 2*b.timeout))
	for {
		retry := b.round()
		if !retry && !b.dirtyBeyondOwnWrites() {
			break
		}
		if time.Now().After(deadline) {
			conn.Close()
			return errors.New("loading cluster metadata from ZooKeeper did not complete")
		}
		if retry {
			select {
			case <-ctx.Done():
				conn.Close()
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b.cancel, b.done = cancel, make(chan struct{})
	go b.watchSession(lctx, events)
	go b.loop(lctx)
	go b.propagateISRChanges(lctx)
	return nil
}

func (b *backend) awaitSession(ctx context.Context, events <-chan zk.Event) error {
	wait := max(30*time.Second, 2*b.timeout)
	if b.opt.Config != nil && b.opt.Config.ZookeeperConnectionTimeout > 0 {
		wait = b.opt.Config.ZookeeperConnectionTimeout
	}
	began := time.Now()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	state := zk.StateConnecting
	for {
		select {
		case ev := <-events:
			if ev.Type == zk.EventSession {
				state = ev.State
			}
			if ev.State == zk.StateHasSession {
				b.log.Info().Str("zookeeper", b.opt.Connect).Str("session", fmt.Sprintf("0x%x", b.conn.SessionID())).Msg("connected to ZooKeeper")
				return nil
			}
		case <-tick.C:
			// As Kafka's ZooKeeperClient says "Waiting until connected."
			b.log.Warn().Str("zookeeper", b.opt.Connect).Str("state", state.String()).Dur("waited", time.Since(began)).Dur("gives_up_after", wait).
				Msg("waiting for a ZooKeeper session (zookeeper.connection.timeout.ms bounds the wait)")
		case <-timer.C:
			return fmt.Errorf("no ZooKeeper session with %s within %v (zookeeper.connection.timeout.ms); the connection is %s: is ZooKeeper running there?", b.opt.Connect, wait, state)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// setup creates the chroot and Kafka's persistent paths, the cluster id and
// this broker's registration.
func (b *backend) setup() error {
	if b.chroot != "" {
		parts := strings.Split(strings.TrimPrefix(b.chroot, "/"), "/")
		for i := range parts {
			if err := b.ensure("/" + strings.Join(parts[:i+1], "/")); err != nil {
				return err
			}
		}
	}
	for _, kp := range append(append(slices.Clone(persistentPaths), aclPaths()...), append(slices.Clone(tokenPaths), offlinePaths...)...) {
		if err := b.ensure(b.p(kp)); err != nil {
			return err
		}
	}
	id, err := b.ensureClusterID()
	if err != nil {
		return err
	}
	b.clusterID = id
	return nil
}

func (b *backend) ensure(zpath string) error {
	_, err := b.conn.Create(zpath, nil, 0, b.acl)
	if err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return fmt.Errorf("creating %s: %w", zpath, err)
	}
	return nil
}

func (b *backend) ensureClusterID() (string, error) {
	for range 5 {
		data, _, err := b.conn.Get(b.p(clusterIDPath))
		if err == nil {
			var z clusterIDZNode
			if err := json.Unmarshal(data, &z); err != nil || z.ID == "" {
				return "", fmt.Errorf("%s: invalid cluster id %q", clusterIDPath, data)
			}
			return z.ID, nil
		}
		if !errors.Is(err, zk.ErrNoNode) {
			return "", fmt.Errorf("reading %s: %w", clusterIDPath, err)
		}
		data, _ = json.Marshal(&clusterIDZNode{Version: "1", ID: metadata.NewUuid().String()})
		_, err = b.conn.Create(b.p(clusterIDPath), data, 0, b.acl)
		if err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return "", fmt.Errorf("creating %s: %w", clusterIDPath, err)
		}
	}
	return "", errors.New("could not create or read the cluster id")
}

// registerAtStart creates /brokers/ids/<id>. A registration left by the
// session this broker's previous run recorded (SessionFile) is removed; one
// left by another earlier session is waited out; one that outlives a
// session timeout belongs to a live broker with our id.
func (b *backend) registerAtStart(ctx context.Context) error {
	zpath := b.p(brokerPath(b.self()))
	deadline := time.Now().Add(b.timeout + 2*time.Second)
	logged := false
	for {
		err := b.register()
		if err == nil {
			return nil
		}
		if !errors.Is(err, zk.ErrNodeExists) {
			return err
		}
		ok, stat, ch, err := b.conn.ExistsW(zpath)
		if err != nil {
			return fmt.Errorf("checking %s: %w", zpath, err)
		}
		if !ok {
			continue
		}
		if b.removePreviousRun(zpath, stat) {
			continue
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("broker.id %d is already registered in ZooKeeper at %s by another live session (0x%x)", b.self(), brokerPath(b.self()), stat.EphemeralOwner)
		}
		if !logged {
			b.log.Warn().Int32("broker", b.self()).Str("owner", fmt.Sprintf("0x%x", stat.EphemeralOwner)).Msg("broker id registered by another session; waiting for it to expire")
			logged = true
		}
		select {
		case <-ch:
		case <-time.After(time.Until(deadline)):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// register creates this broker's ephemeral registration for the current
// session. It returns zk.ErrNodeExists if another session holds it.
func (b *backend) register() error {
	data, err := encodeBroker(b.opt.Self, b.selfCzxid)
	if err != nil {
		return err
	}
	zpath := b.p(brokerPath(b.self()))
	sid := b.conn.SessionID()
	_, err = b.conn.Create(zpath, data, zk.FlagEphemeral, b.acl)
	if err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return err
	}
	_, stat, err := b.conn.Get(zpath)
	if errors.Is(err, zk.ErrNoNode) { // the other session's expired meanwhile: again
		return zk.ErrNodeExists
	}
	if err != nil {
		return err
	}
	if stat.EphemeralOwner != sid {
		return fmt.Errorf("%s: %w (owned by session 0x%x)", brokerPath(b.self()), zk.ErrNodeExists, stat.EphemeralOwner)
	}
	if b.selfCzxid == 0 {
		b.selfCzxid = stat.Czxid
	}
	b.session.Store(sid)
	b.registered.Store(true)
	b.log.Info().Int32("broker", b.self()).Str("session", fmt.Sprintf("0x%x", sid)).Msg("registered in ZooKeeper")
	b.keepSession(sid)
	return nil
}

// keepSession records the registration's session in SessionFile, with
// the machine's identity (written aside and renamed into place; unsynced:
// a machine that crashed before the file reached the disk only waits the
// old session out on restart).
func (b *backend) keepSession(sid int64) {
	if b.opt.SessionFile == "" {
		return
	}
	tmp := b.opt.SessionFile + ".tmp"
	err := os.WriteFile(tmp, []byte(strconv.FormatInt(sid, 16)+"\n"+machineIdentity()+"\n"), 0o644)
	if err == nil {
		err = os.Rename(tmp, b.opt.SessionFile)
	}
	if err != nil {
		b.log.Warn().Err(err).Str("file", b.opt.SessionFile).Msg("recording the ZooKeeper session; a restart after a crash will wait for it to expire")
	}
}

// machineIdentity names this machine: its /etc/machine-id, else its host
// name.
func machineIdentity() string {
	if id, err := os.ReadFile("/etc/machine-id"); err == nil && len(strings.TrimSpace(string(id))) > 0 {
		return "machine-id " + strings.TrimSpace(string(id))
	}
	host, _ := os.Hostname()
	return "host " + host
}

// previousSession is the session SessionFile names, or 0; also 0 when
// the file was written on another machine (a log dir copied or moved
// while the broker that wrote it may still run there).
func (b *backend) previousSession() int64 {
	if b.opt.SessionFile == "" {
		return 0
	}
	data, err := os.ReadFile(b.opt.SessionFile)
	if err != nil {
		return 0
	}
	sidText, identity, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
	if strings.TrimSpace(identity) != machineIdentity() {
		return 0
	}
	sid, err := strconv.ParseInt(strings.TrimSpace(sidText), 16, 64)
	if err != nil {
		return 0
	}
	return sid
}

// removePreviousRun removes this broker's registration at zpath (stat)
// if the session that owns it is the one the broker's previous run
// recorded (SessionFile), with that session's controller znode and
// controlled-shutdown marker. It reports whether it removed it.
func (b *backend) removePreviousRun(zpath string, stat *zk.Stat) bool {
	prev := b.previousSession()
	if prev == 0 || stat.EphemeralOwner != prev || prev == b.conn.SessionID() {
		return false
	}
	if err := b.conn.Delete(zpath, stat.Version); err != nil && !errors.Is(err, zk.ErrNoNode) {
		b.log.Warn().Err(err).Str("session", fmt.Sprintf("0x%x", prev)).Msg("removing the registration of this broker's previous run; waiting for its session to expire")
		return false
	}
	for _, other := range []string{b.p(controllerPath), b.p(stoppingMarker(b.self()))} {
		ok, st, err := b.conn.Exists(other)
		if err != nil || !ok || st.EphemeralOwner != prev {
			continue
		}
		if err := b.conn.Delete(other, st.Version); err != nil && !errors.Is(err, zk.ErrNoNode) {
			b.log.Warn().Err(err).Str("path", other).Msg("removing a znode of this broker's previous run")
		}
	}
	b.log.Info().Int32("broker", b.self()).Str("session", fmt.Sprintf("0x%x", prev)).
		Msg("removed the registration of this broker's previous run, which did not stop cleanly: its partitions fail over now, not once ZooKeeper expires its session")
	return true
}

func (b *backend) ClusterID() string { return b.clusterID }

// watchSession follows the connection's state: an expired session is
// replaced by the client library; the loop then registers again.
func (b *backend) watchSession(ctx context.Context, events <-chan zk.Event) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if ev.Type != zk.EventSession {
				continue
			}
			switch ev.State {
			case zk.StateExpired:
				b.registered.Store(false)
				b.log.Warn().Msg("ZooKeeper session expired; reconnecting with a new session")
			case zk.StateDisconnected:
				if !b.shuttingDown.Load() && b.disconnected.CompareAndSwap(0, time.Now().UnixNano()) {
					b.log.Warn().Dur("session_timeout", b.timeout).
						Msg("disconnected from ZooKeeper; reconnecting, and serving meanwhile with the metadata last read")
				}
			case zk.StateHasSession:
				if at := b.disconnected.Swap(0); at != 0 {
					b.log.Info().Dur("after", time.Since(time.Unix(0, at))).Bool("same_session", b.conn.SessionID() == b.session.Load()).
						Msg("reconnected to ZooKeeper")
				}
				if b.conn.SessionID() != b.session.Load() {
					b.mark(keySession)
				}
			}
		}
	}
}

// Close ends the session: this broker's ephemeral znodes vanish.
func (b *backend) Close() error {
	b.closeOnce.Do(func() {
		b.shuttingDown.Store(true)
		if b.cancel != nil {
			b.cancel()
		}
		if b.conn != nil {
			b.conn.Close()
		}
		if b.done != nil {
			<-b.done
		}
	})
	return nil
}

// withCtx runs op, giving up waiting for it when ctx ends.
func withCtx[T any](ctx context.Context, op func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := op()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, unreachable(r.err)
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// unreachable turns an error of the ZooKeeper connection (no server
// reachable, the connection lost or closing, the session expired) into
// REQUEST_TIMED_OUT, which clients retry: what a Kafka 4 broker that
// cannot reach its controller answers a request it forwards
// (ForwardingManager's timeout). Other errors pass unchanged.
func unreachable(err error) error {
	for _, e := range []error{zk.ErrNoServer, zk.ErrConnectionClosed, zk.ErrSessionExpired, zk.ErrClosing} {
		if errors.Is(err, e) {
			return metadata.Errorf(kerr.RequestTimedOut, "ZooKeeper is not reachable: %v", err)
		}
	}
	return err
}

// liveBrokerRacks reads the registered brokers, sorted, and the racks of
// those that have one: as the loop last read them, or from the
// registration of a broker it has not read yet.
func (b *backend) liveBrokerRacks() ([]int32, map[int32]string, error) {
	ids, err := b.liveBrokerIDs()
	if err != nil {
		return nil, nil, err
	}
	racks := make(map[int32]string)
	var unread []int32
	b.mu.Lock()
	for _, id := range ids {
		if lb, ok := b.brokers[id]; ok {
			if lb.info.Rack != "" {
				racks[id] = lb.info.Rack
			}
		} else {
			unread = append(unread, id)
		}
	}
	b.mu.Unlock()
	for _, id := range unread {
		data, _, err := b.conn.Get(b.p(brokerPath(id)))
		if errors.Is(err, zk.ErrNoNode) {
			continue // gone meanwhile; placed on as without a rack
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading broker %d: %w", id, err)
		}
		if info, err := decodeBroker(id, data); err == nil && info.Rack != "" {
			racks[id] = info.Rack
		}
	}
	return ids, racks, nil
}

// liveBrokerIDs reads the registered brokers, sorted.
func (b *backend) liveBrokerIDs() ([]int32, error) {
	children, _, err := b.conn.Children(b.p(brokerIDsPath))
	if err != nil {
		return nil, fmt.Errorf("listing brokers: %w", err)
	}
	var ids []int32
	for _, c := range children {
		if n, err := strconv.ParseInt(c, 10, 32); err == nil {
			ids = append(ids, int32(n))
		}
	}
	sortIDs(ids)
	return ids, nil
}
