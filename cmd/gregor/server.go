package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"gregor/broker"
	"gregor/broker/config"
	"gregor/broker/metadata"
	"gregor/broker/share"
	"gregor/broker/storage"
	"gregor/broker/zkmeta"
	"gregor/coordinator"
	"gregor/internal/loglevel"
	"gregor/monitor"
	"gregor/protocol"
)

// logFS is the filesystem of the logs: the real one (nil), or in test
// builds one that injects disk failures (faultfs.go).
var logFS = func() storage.FS { return nil }

// server is a running broker with its listeners.
type server struct {
	log    zerolog.Logger
	levels *loglevel.Levels
	broker *broker.Broker
	coord  *coordinator.Coordinator
	net    *protocol.Server
	// listeners are the bound addresses by listener name.
	listeners map[string]string
	metrics   *monitor.Metrics
	monitor   *monitor.Server // nil when gregor.metrics.listener is empty
}

// componentLog is the named component's logger.
func (s *server) componentLog(name string) zerolog.Logger {
	if s.levels == nil { // a test's server
		return s.log.With().Str("component", name).Logger()
	}
	return s.levels.Logger(name)
}

// start opens the broker, loads metadata and starts serving every listener.
func start(ctx context.Context, cfg *config.Config, base zerolog.Logger) (*server, error) {
	// Every component's logger is named, so that its level can be changed
	// at run time (BROKER_LOGGER); the root's level is gregor.log.level.
	rootLevel, err := zerolog.ParseLevel(cfg.LogLevel)
	if err != nil {
		rootLevel = zerolog.InfoLevel
	}
	levels := loglevel.New(base, rootLevel)
	log := levels.Logger(loglevel.Root)
	// A listener on port 0 is bound first, so that the broker registers
	// and advertises the port it got (see SetBoundPorts); the others are
	// bound once the broker has started.
	opts := connectionOptions(cfg)
	// Those not handed over to the server by the end (start failed) are
	// closed.
	prebound := map[string]net.Listener{}
	defer func() {
		for _, ln := range prebound {
			ln.Close()
		}
	}()
	ports := map[string]int{}
	for _, l := range cfg.Listeners {
		if l.Port != 0 {
			continue
		}
		ln, err := protocol.ListenTCP(l.Addr(), opts.ReceiveBuffer, opts.ListenBacklog)
		if err != nil {
			return nil, fmt.Errorf("listener %s: %w", l, err)
		}
		prebound[l.Name] = ln
		ports[l.Name] = ln.Addr().(*net.TCPAddr).Port
	}
	cfg.SetBoundPorts(ports)
	var backend metadata.Backend
	if cfg.ZookeeperConnect != "" {
		opt := zkmeta.Options{
			Connect: cfg.ZookeeperConnect, SessionTimeout: cfg.ZookeeperSessionTimeout,
			Config: cfg, Log: log, LogLevels: levels,
		}
		if err := resolveBrokerID(ctx, cfg, opt, logFS(), log); err != nil {
			return nil, err
		}
		opt.Self = broker.SelfInfo(cfg)
		opt.SessionFile = filepath.Join(cfg.LogDirs[0], zkmeta.SessionFileName)
		zb, err := zkmeta.New(opt)
		if err != nil {
			return nil, fmt.Errorf("zookeeper.connect: %w", err)
		}
		backend = zb
	}
	b, err := broker.New(broker.Options{Config: cfg, Backend: backend, FS: logFS(), Log: levels.Logger("broker"), LogLevels: levels})
	if err != nil {
		return nil, err
	}
	// The coordinators hear about internal partitions from the first
	// metadata load on, so they are set up before the broker starts.
	ccfg := coordinatorConfig(cfg)
	ccfg.Authorizer = b.Authorizer()
	// A dynamic broker config, read as it is in force.
	ccfg.TxnPartitionVerificationNow = func() bool { return b.Config().TxnPartitionVerification }
	coord := coordinator.New(ccfg, b, levels.Logger("coordinator"))
	b.OnLeadership(coord.LeadershipChanged)
	b.OnTopicDeleted(coord.TopicDeleted)
	b.SetTxnVerifier(coord)
	b.SetSharePersister(sharePersister{coord})
	b.SetInternalTopics(coord)
	if err := b.Start(ctx); err != nil {
		b.Close()
		return nil, err
	}
	reg := protocol.NewRegistry()
	b.Register(reg)
	coord.Register(reg)
	b.WrapAPIs(reg) // traffic counts and client quotas, for every API
	s := &server{log: log, levels: levels, broker: b, coord: coord, net: protocol.NewServer(reg, levels.Logger("net")), listeners: map[string]string{}}
	s.net.Options = connectionOptions(b.Config())
	// Connection limits are dynamic broker configs, as in Kafka: applied
	// as they are delivered, and once more after registering, for one
	// delivered in between; one at a time, each with the configuration in
	// force when it runs, so an older one never lands after a newer one.
	var limitsMu sync.Mutex
	setLimits := func(*config.Config) {
		limitsMu.Lock()
		defer limitsMu.Unlock()
		if err := s.net.SetConnectionLimits(connectionOptions(b.Config())); err != nil {
			log.Error().Err(err).Msg("dynamic connection limits not all applied; those that failed stay as they were")
		}
	}
	b.OnConfig(setLimits)
	setLimits(nil)
	b.OnIPConnectionRates(func(r broker.IPConnectionRates) { s.net.SetIPConnectionRates(r.Default, r.ByIP) })
	s.net.OnClose = b.ConnClosed
	s.metrics = monitor.NewMetrics(s.sources())
	s.net.Observer = s.metrics.Observer
	// Every listener is bound before any serves, as Kafka's SocketServer
	// enables request processing only once all its acceptors are bound: a
	// client that reached one listener finds the others it is told of.
	type bound struct {
		name string
		ln   net.Listener
		sec  *protocol.Security
	}
	var ls []bound
	closeBound := func() {
		for _, b := range ls {
			b.ln.Close()
		}
	}
	for _, l := range cfg.Listeners {
		sec, err := s.listenerSecurity(cfg, l.Name, levels.Logger("security"))
		if err != nil {
			closeBound()
			s.shutdown(context.Background())
			return nil, err
		}
		ln, ok := prebound[l.Name]
		if ok {
			delete(prebound, l.Name)
			ls = append(ls, bound{l.Name, ln, sec})
			continue
		}
		ln, err = protocol.ListenTCP(l.Addr(), s.net.Options.ReceiveBuffer, s.net.Options.ListenBacklog)
		if err != nil {
			closeBound()
			s.shutdown(context.Background())
			return nil, fmt.Errorf("listener %s: %w", l, err)
		}
		ls = append(ls, bound{l.Name, ln, sec})
	}
	for i, l := range ls {
		if err := s.net.ServeSecure(l.ln, l.name, l.sec); err != nil {
			ls = ls[i:]
			closeBound()
			s.shutdown(context.Background())
			return nil, fmt.Errorf("listener %s: %w", l.name, err)
		}
		s.listeners[l.name] = l.ln.Addr().String()
		log.Info().Str("listener", l.name).Str("security_protocol", cfg.ListenerProtocols[l.name]).Str("addr", l.ln.Addr().String()).Msg("listening")
	}
	warnInterBrokerPrincipal(cfg, log)
	return s, nil
}

// listenerSecurity builds a listener's security from the configuration in
// force (with this broker's dynamic keystore and truststore keys, as Kafka
// builds its listeners), or from the static one if those cannot be read,
// and registers its TLS with the broker for dynamic updates.
func (s *server) listenerSecurity(static *config.Config, name string, log zerolog.Logger) (*protocol.Security, error) {
	cfg := s.broker.Config()
	sec, err := listenerSecurity(cfg, name, s.broker, log)
	if err != nil && !cfg.ListenerTLS(name).Equal(static.ListenerTLS(name)) {
		log.Error().Err(err).Str("listener", name).Msg("the listener's dynamic TLS config cannot be used; starting it with server.properties'")
		cfg = static
		sec, err = listenerSecurity(cfg, name, s.broker, log)
	}
	if err != nil {
		return nil, err
	}
	if sec != nil && sec.TLS != nil {
		s.broker.AddListenerTLS(name, sec.TLS, cfg.ListenerTLS(name))
	}
	return sec, nil
}

// sources are what the monitor reads. Listeners is the server's own map,
// filled as listeners come up and not changed after start-up.
func (s *server) sources() monitor.Sources {
	src := monitor.Sources{Broker: s.broker, Coord: s.coord, Net: s.net, Listeners: s.listeners, Version: versionLine()}
	if s.broker != nil {
		src.MaxGroups = int(s.broker.Config().MetricsMaxGroups)
	}
	return src
}

// serveMonitor starts the status page and metrics (gregor.metrics.listener).
func (s *server) serveMonitor(addr string) error {
	if addr == "" {
		return nil
	}
	m, err := monitor.Listen(addr, s.sources(), s.metrics, s.componentLog("monitor"))
	if err != nil {
		return err
	}
	s.monitor = m
	s.log.Info().Str("addr", m.Addr().String()).Msg("metrics endpoint listening")
	return nil
}

// logStarted writes the one start-up line a person reads: listeners, data
// dirs, cluster mode and where the status page is.
func (s *server) logStarted(cfg *config.Config) {
	var ls []string
	for _, l := range cfg.Listeners {
		ls = append(ls, fmt.Sprintf("%s://%s", l.Name, s.listeners[l.Name]))
	}
	mode := "single broker, local metadata"
	if cfg.Clustered() {
		mode = "cluster on ZooKeeper " + cfg.ZookeeperConnect
	}
	status := "off (gregor.metrics.listener is empty)"
	if s.monitor != nil {
		status = "http://" + s.monitor.Addr().String() + "/"
	}
	ev := s.log.Info().Int32("broker_id", cfg.BrokerID).Str("cluster_id", s.broker.ClusterID()).Strs("listeners", ls).
		Strs("log_dirs", cfg.LogDirs).Str("mode", mode).Str("status_page", status)
	if s.monitor != nil {
		ev = ev.Str("metrics", status+"metrics")
	}
	ev.Msgf("gregor started: broker %d (%s) on %s, data in %s, status page %s",
		cfg.BrokerID, mode, strings.Join(ls, ", "), strings.Join(cfg.LogDirs, ", "), status)
	s.warnFileLimit(cfg)
}

// warnFileLimit warns when the file descriptor limit leaves too little
// room: each partition replica holds a descriptor or more, each connection
// one, and near the limit new connections are held back so that the logs
// keep a reserve (protocol/fdroom.go). Kafka's documentation recommends
// 100,000 or more.
func (s *server) warnFileLimit(cfg *config.Config) {
	open, limit, ok := protocol.FileDescriptors()
	if !ok {
		return
	}
	parts := int(cfg.MaxBrokerPartitions)
	if need := 2*parts + 1024; limit < need {
		s.log.Warn().Int("file_limit", limit).Int("open_files", open).Int("recommended_at_least", need).
			Int("gregor_max_broker_partitions", parts).
			Msgf("the file descriptor limit (ulimit -n) is %d: up to %d partition replicas and their clients' connections need at least %d; raise it (Kafka recommends 100,000 or more)",
				limit, parts, need)
	}
}

// shutdown hands leaderships over and leaves the ISRs (controlled
// shutdown), and only then stops serving and closes the logs: requests on
// partitions this broker led are answered NOT_LEADER_OR_FOLLOWER while
// its listeners are still open, and no leader waits for it meanwhile.
func (s *server) shutdown(ctx context.Context) error {
	if s.monitor != nil {
		s.monitor.Stopping()
		defer s.monitor.Close()
	}
	var errs []error
	t0 := time.Now()
	if err := s.broker.ControlledShutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("controlled shutdown: %w", err))
	}
	handedOver := time.Since(t0)
	s.log.Info().Dur("took", handedOver).Msg("controlled shutdown done; closing listeners")
	s.net.Close()
	netClosed := time.Since(t0)
	s.coord.Close()
	coordClosed := time.Since(t0)
	errs = append(errs, s.broker.Close())
	s.log.Info().Dur("handed_over", handedOver).Dur("connections_closed", netClosed).Dur("coordinators_closed", coordClosed).
		Dur("logs_closed", time.Since(t0)).Msg("stopped")
	return errors.Join(errs...)
}

// connectionOptions maps the broker configuration to the connection
// layer's limits.
func connectionOptions(c *config.Config) protocol.Options {
	overrides, _ := protocol.ParseConnectionOverrides(c.MaxConnectionsPerIPOverrides) // validated on load
	return protocol.Options{
		MaxRequestSize:                 int32(c.SocketRequestMax),
		SendBuffer:                     int(c.SocketSendBuffer),
		ReceiveBuffer:                  int(c.SocketReceiveBuffer),
		ListenBacklog:                  c.SocketListenBacklog,
		QueuedMaxRequestBytes:          int64(c.QueuedMaxRequestBytes),
		ConnMaxQueuedBytes:             int64(c.ConnectionMaxQueuedBytes),
		MaxConnections:                 c.MaxConnections,
		MaxConnectionsPerIP:            c.MaxConnectionsPerIP,
		MaxConnectionsPerIPOverrides:   overrides,
		MaxConnectionsPerListener:      c.ListenerMaxConnections(),
		MaxConnectionCreationRate:      c.MaxConnectionCreationRate,
		ListenerConnectionCreationRate: c.ListenerConnectionCreationRates(),
		InterBrokerListener:            c.InterBrokerListener,
		ConnectionRateSamples:          c.QuotaWindowNum,
		ConnectionRateWindow:           c.QuotaWindowSize,
		IdleTimeout:                    c.ConnectionsMaxIdle,
		FailedAuthDelay:                c.FailedAuthDelay,
		SASLMaxReceiveSize:             c.SASLMaxReceiveSize,
	}
}

// coordinatorConfig maps the broker configuration to the coordinators'.
func coordinatorConfig(c *config.Config) coordinator.Config {
	return coordinator.Config{
		BrokerID:                  c.BrokerID,
		OffsetsTopicPartitions:    c.OffsetsTopicNumPartitions,
		OffsetsTopicReplication:   c.OffsetsTopicReplicationFactor,
		OffsetsTopicSegmentBytes:  int64(c.OffsetsTopicSegmentBytes),
		TxnTopicSegmentBytes:      int64(c.TxnStateSegmentBytes),
		OffsetsRetention:          c.OffsetsRetention,
		OffsetsCommitTimeout:      c.OffsetsCommitTimeout,
		OffsetMetadataMaxBytes:    c.OffsetMetadataMaxBytes,
		OffsetsRetentionCheck:     c.OffsetsRetentionCheck,
		InitialRebalanceDelay:     c.GroupInitialRebalanceDelay,
		MinSessionTimeout:         c.GroupMinSessionTimeout,
		MaxSessionTimeout:         c.GroupMaxSessionTimeout,
		MaxGroupSize:              c.GroupMaxSize,
		ConsumerProtocol:          c.ConsumerProtocolEnabled(),
		ConsumerSessionTimeout:    c.ConsumerGroupSessionTimeout,
		ConsumerHeartbeatInterval: c.ConsumerGroupHeartbeatInterval,
		ConsumerMaxGroupSize:      c.ConsumerGroupMaxSize,
		ConsumerAssignors:         c.ConsumerGroupAssignors,
		MigrationPolicy:           c.ConsumerGroupMigrationPolicy,
		TxnTopicPartitions:        c.TxnStateNumPartitions,
		TxnTopicReplication:       c.TxnStateReplicationFactor,
		TxnTopicMinISR:            c.TxnStateMinIsr,
		TxnMaxTimeout:             c.TxnMaxTimeout,
		TxnIDExpiration:           c.TxnIDExpiration,
		TxnAbortCheckPeriod:       c.TxnAbortCheckInterval,
		TxnIDExpireCheckPeriod:    c.TxnIDExpireCheckInterval,
		TxnPartitionVerification:  c.TxnPartitionVerification,

		ShareGroupEnable:                c.ShareGroupEnable,
		ShareSessionTimeout:             c.ShareGroupSessionTimeout,
		ShareMinSessionTimeout:          c.ShareGroupMinSessionTimeout,
		ShareMaxSessionTimeout:          c.ShareGroupMaxSessionTimeout,
		ShareHeartbeatInterval:          c.ShareGroupHeartbeatInterval,
		ShareMinHeartbeatInterval:       c.ShareGroupMinHeartbeatInterval,
		ShareMaxHeartbeatInterval:       c.ShareGroupMaxHeartbeatInterval,
		ShareMaxGroupSize:               c.ShareGroupMaxSize,
		ShareInitializeRetryInterval:    c.ShareGroupInitializeRetryInterval,
		ShareRecordLockDuration:         c.ShareGroupRecordLockDuration,
		ShareStateTopicPartitions:       c.ShareStateTopicNumPartitions,
		ShareStateTopicReplication:      c.ShareStateTopicReplicationFactor,
		ShareStateTopicMinISR:           c.ShareStateTopicMinIsr,
		ShareStateSegmentBytes:          int64(c.ShareStateTopicSegmentBytes),
		ShareSnapshotUpdatesPerSnapshot: c.ShareSnapshotUpdateRecordsPerSnapshot,
		ShareWriteTimeout:               c.ShareCoordinatorWriteTimeout,
		ShareStatePruneInterval:         c.ShareStateTopicPruneInterval,
		ShareColdSnapshotInterval:       c.ShareColdPartitionSnapshotInterval,
	}
}

// warnInterBrokerPrincipal warns when a cluster's brokers will be denied
// what they do to each other: with ACLs on, the inter-broker principal
// needs CLUSTER_ACTION, which super.users gives it (Kafka's advice).
func warnInterBrokerPrincipal(cfg *config.Config, log zerolog.Logger) {
	ac, ok := cfg.Authorizer()
	p, known := cfg.InterBrokerPrincipal()
	if !ok || cfg.ZookeeperConnect == "" || !known || slices.Contains(ac.SuperUsers, p) {
		return
	}
	log.Warn().Str("principal", p).Str("listener", cfg.InterBrokerListener).
		Msg("the inter-broker principal is not in super.users: other brokers' fetches and transaction markers need ACLs granting it ClusterAction on the cluster")
}

// sharePersister lets share partition leaders reach the share coordinators.
type sharePersister struct{ c *coordinator.Coordinator }

func (p sharePersister) ReadShareState(ctx context.Context, group string, topic [16]byte, partition, leaderEpoch int32) (broker.ShareState, error) {
	st, err := p.c.ReadShareState(ctx, group, topic, partition, leaderEpoch)
	return broker.ShareState{Start: st.Start, StateEpoch: st.StateEpoch, Batches: st.Batches}, err
}

func (p sharePersister) WriteShareState(ctx context.Context, group string, topic [16]byte, partition, stateEpoch, leaderEpoch int32, w share.Write) error {
	return p.c.WriteShareState(ctx, group, topic, partition, stateEpoch, leaderEpoch, w)
}
