package config

// Kafka's other keys: the rest of Kafka 3.9's broker ConfigDef
// (KafkaConfig) and LogConfig but those Kafka 4.0 removed (removed.go),
// which a Kafka user's server.properties or kafka-configs.sh may set. Each has Kafka's type, default, validator
// where it matters, and dynamic scope (DynamicBrokerConfig: per broker,
// cluster-wide default, or read-only), so it loads, alters, and is
// described as in Kafka. Those Gregor does not act on say why in NoEffect,
// and the broker logs that reason whenever one is set. Values Gregor
// cannot honour safely (TLS or ACLs to ZooKeeper, policy classes) stop
// start-up instead, naming the key.

import "errors"

// Why a key has no effect in Gregor (Key.NoEffect).
const (
	inertTiered          = "tiered storage is not supported"
	inertZooKeeperClient = "Gregor's ZooKeeper client needs only zookeeper.connect and zookeeper.session.timeout.ms"
	refusedZooKeeperTLS  = "TLS to ZooKeeper is not supported (zookeeper.ssl.client.enable must be false)"
	inertThreads         = "Gregor sizes its goroutines itself; there are no thread pools to size"
	inertTuning          = "a tuning setting of Kafka's implementation that Gregor's has no counterpart of"
	inertKRaft           = "Gregor keeps cluster metadata in ZooKeeper (or locally), never in KRaft"
	inertShareGroups     = "Kafka 4.1 dropped this limit; Gregor does not bound the number of share groups"
	inertMetrics         = "Gregor serves Prometheus metrics on gregor.metrics.listener instead of Kafka's reporters"
	inertJavaTLS         = "Gregor's TLS is Go's, with no Java key or trust managers"
	inertKerberos        = "GSSAPI (Kerberos) is not supported"
	inertLogin           = "a broker logs in with its JAAS config only, with nothing to refresh"
	inertQuotas          = "not a quota Gregor has (quota callback classes)"
	inertAtRunTime       = "Gregor sets up listeners and their security at start-up from server.properties; a value altered at run time is stored and described, not applied (except a listener's keystore and truststore keys)"
	inertUnknown         = "not a key Kafka or Gregor knows; kept as Kafka keeps custom broker configs"
)

// listenerOnlyKeys may be altered at run time only per listener, as
// listener.name.<listener>.<key> (Kafka's DynamicSecurityConfigs, the
// reconfigurable configs of its SslFactory). Altered per broker, they are
// applied at once: new connections of the listener get the new stores
// (ListenerTLS), after the broker checked they load and fit
// (tlsconf.Server.CheckUpdate).
var listenerOnlyKeys = map[string]bool{
	"ssl.keystore.type": true, "ssl.keystore.location": true, "ssl.keystore.password": true, "ssl.key.password": true,
	"ssl.truststore.type": true, "ssl.truststore.location": true, "ssl.truststore.password": true,
	"ssl.keystore.certificate.chain": true, "ssl.keystore.key": true, "ssl.truststore.certificates": true,
}

// clusterListenerKeys are the listener keys that may be altered as the
// cluster-wide default too, with or without a listener prefix (Kafka's
// ClusterLevelListenerConfigs).
var clusterListenerKeys = map[string]bool{"max.connections": true, "max.connection.creation.rate": true, "num.network.threads": true}

var kafkaKeys = []Key{
	// Kafka 4.0 removed log.message.format.version and
	// message.format.version (KIP-724), and
	// log.message.timestamp.difference.max.ms and
	// message.timestamp.difference.max.ms (KIP-937): they are unknown keys
	// here too (removed.go).
	// Topic keys without a broker default.
	{Topic: "remote.log.copy.disable", Type: Boolean, Default: "false", Field: func(c *Config) any { return &c.TopicDefaults.RemoteLogCopyDisable },
		NoEffect: inertTiered, Doc: "Whether copying to tiered storage is stopped for the topic."},
	{Topic: "remote.log.delete.on.disable", Type: Boolean, Default: "false", Field: func(c *Config) any { return &c.TopicDefaults.RemoteLogDeleteOnDisable },
		NoEffect: inertTiered, Doc: "Whether remote segments are deleted when tiered storage is turned off for the topic."},
	// KafkaConfig's keys, by the class defining them in Kafka 3.9.
	{Name: "remote.log.storage.system.enable", Type: Boolean, Default: "false", NoEffect: inertTiered,
		Doc: "Whether tiered storage is enabled on the broker."},
	{Name: "remote.log.storage.manager.impl.prefix", Type: String, Default: "rsm.config.", NoEffect: inertTiered,
		Doc: "Prefix of the properties passed to the remote storage manager."},
	{Name: "remote.log.metadata.manager.impl.prefix", Type: String, Default: "rlmm.config.", NoEffect: inertTiered,
		Doc: "Prefix of the properties passed to the remote log metadata manager."},
	{Name: "remote.log.storage.manager.class.name", Type: String, NoDefault: true, NoEffect: inertTiered,
		Doc: "Class of the remote storage manager."},
	{Name: "remote.log.storage.manager.class.path", Type: String, NoDefault: true, NoEffect: inertTiered,
		Doc: "Class path of the remote storage manager."},
	{Name: "remote.log.metadata.manager.class.name", Type: String, Default: "org.apache.kafka.server.log.remote.metadata.storage.TopicBasedRemoteLogMetadataManager", NoEffect: inertTiered,
		Doc: "Class of the remote log metadata manager."},
	{Name: "remote.log.metadata.manager.class.path", Type: String, NoDefault: true, NoEffect: inertTiered,
		Doc: "Class path of the remote log metadata manager."},
	{Name: "remote.log.metadata.manager.listener.name", Type: String, NoDefault: true, NoEffect: inertTiered,
		Doc: "Listener the remote log metadata manager connects to."},
	{Name: "remote.log.metadata.custom.metadata.max.bytes", Type: Int, Default: "128", Valid: atLeast(0), NoEffect: inertTiered,
		Doc: "Largest custom metadata a remote segment may carry."},
	{Name: "remote.log.index.file.cache.total.size.bytes", Type: Long, Default: "1073741824", Valid: atLeast(1), Scope: ClusterWide, NoEffect: inertTiered,
		Doc: "Size of the cache of remote index files."},
	// KIP-1030 (Kafka 4.0): 2 threads by default, and 10 for the copier
	// and expiration pools, which no longer take -1. KIP-1105 (Kafka 4.0)
	// makes the copier, expiration and reader pools cluster-wide dynamic.
	{Name: "remote.log.manager.thread.pool.size", Type: Int, Default: "2", Valid: atLeast(1), NoEffect: inertTiered,
		Doc: "Threads copying and cleaning remote segments."},
	{Name: "remote.log.manager.copier.thread.pool.size", Type: Int, Default: "10", Valid: atLeast(1), Scope: ClusterWide, NoEffect: inertTiered,
		Doc: "Threads copying segments to remote storage."},
	{Name: "remote.log.manager.expiration.thread.pool.size", Type: Int, Default: "10", Valid: atLeast(1), Scope: ClusterWide, NoEffect: inertTiered,
		Doc: "Threads deleting expired remote segments."},
	{Name: "remote.log.manager.task.interval.ms", Type: Long, Default: "30000", Valid: atLeast(1), NoEffect: inertTiered,
		Doc: "How often the remote log manager runs its tasks."},
	{Name: "remote.log.reader.threads", Type: Int, Default: "10", Valid: atLeast(1), Scope: ClusterWide, NoEffect: inertTiered,
		Doc: "Threads reading from remote storage."},
	{Name: "remote.log.reader.max.pending.tasks", Type: Int, Default: "100", Valid: atLeast(1), NoEffect: inertTiered,
		Doc: "Most remote reads queued."},
	{Name: "remote.log.manager.copy.max.bytes.per.second", Type: Long, Default: "9223372036854775807", Valid: atLeast(1), Scope: ClusterWide, NoEffect: inertTiered,
		Doc: "Rate limit of copies to remote storage."},
	{Name: "remote.log.manager.copy.quota.window.num", Type: Int, Default: "11", Valid: atLeast(1), NoEffect: inertTiered,
		Doc: "Samples of the remote copy quota."},
	{Name: "remote.log.manager.copy.quota.window.size.seconds", Type: Int, Default: "1", Valid: atLeast(1), NoEffect: inertTiered,
		Doc: "Sample length of the remote copy quota."},
	{Name: "remote.log.manager.fetch.max.bytes.per.second", Type: Long, Default: "9223372036854775807", Valid: atLeast(1), Scope: ClusterWide, NoEffect: inertTiered,
		Doc: "Rate limit of reads from remote storage."},
	{Name: "remote.log.manager.fetch.quota.window.num", Type: Int, Default: "11", Valid: atLeast(1), NoEffect: inertTiered,
		Doc: "Samples of the remote fetch quota."},
	{Name: "remote.log.manager.fetch.quota.window.size.seconds", Type: Int, Default: "1", Valid: atLeast(1), NoEffect: inertTiered,
		Doc: "Sample length of the remote fetch quota."},
	{Name: "remote.fetch.max.wait.ms", Type: Int, Default: "500", Valid: atLeast(1), Scope: ClusterWide, NoEffect: inertTiered,
		Doc: "How long a fetch waits for data from remote storage."},
	// Kafka 4.0 (KIP-1075).
	{Name: "remote.list.offsets.request.timeout.ms", Type: Long, Default: "30000", Valid: atLeast(1), Scope: ClusterWide, NoEffect: inertTiered,
		Doc: "How long a ListOffsets request waits for offsets read from remote storage."},
	{Name: "zookeeper.connection.timeout.ms", Type: Int, Unit: Millis, NoDefault: true, Valid: atLeast(1), Field: func(c *Config) any { return &c.ZookeeperConnectionTimeout },
		Doc: "How long the broker waits at start-up for a ZooKeeper session before it gives up; when not set, twice zookeeper.session.timeout.ms and at least 30 s (Kafka: the session timeout)."},
	{Name: "zookeeper.set.acl", Type: Boolean, Default: "false", Valid: mustBe("false", "ZooKeeper ACLs (and the SASL login they need) are not supported"),
		Doc: "Whether the broker puts ACLs on the znodes it creates; only false is supported (no ZooKeeper authentication)."},
	{Name: "zookeeper.max.in.flight.requests", Type: Int, Default: "10", Valid: atLeast(1), NoEffect: inertZooKeeperClient,
		Doc: "Most unanswered requests to ZooKeeper."},
	{Name: "zookeeper.ssl.client.enable", Type: Boolean, Default: "false", Valid: mustBe("false", "TLS to ZooKeeper is not supported"),
		Doc: "Whether the broker connects to ZooKeeper over TLS; only false is supported (TLS to ZooKeeper is not)."},
	{Name: "zookeeper.clientCnxnSocket", Type: String, NoDefault: true, NoEffect: inertZooKeeperClient,
		Doc: "ZooKeeper client socket implementation class (Netty for TLS)."},
	{Name: "zookeeper.ssl.keystore.location", Type: String, NoDefault: true, NoEffect: refusedZooKeeperTLS,
		Doc: "Keystore for TLS to ZooKeeper."},
	{Name: "zookeeper.ssl.keystore.password", Type: Password, NoDefault: true, NoEffect: refusedZooKeeperTLS,
		Doc: "Password of the ZooKeeper TLS keystore."},
	{Name: "zookeeper.ssl.keystore.type", Type: String, NoDefault: true, NoEffect: refusedZooKeeperTLS,
		Doc: "Type of the ZooKeeper TLS keystore."},
	{Name: "zookeeper.ssl.truststore.location", Type: String, NoDefault: true, NoEffect: refusedZooKeeperTLS,
		Doc: "Truststore for TLS to ZooKeeper."},
	{Name: "zookeeper.ssl.truststore.password", Type: Password, NoDefault: true, NoEffect: refusedZooKeeperTLS,
		Doc: "Password of the ZooKeeper TLS truststore."},
	{Name: "zookeeper.ssl.truststore.type", Type: String, NoDefault: true, NoEffect: refusedZooKeeperTLS,
		Doc: "Type of the ZooKeeper TLS truststore."},
	{Name: "zookeeper.ssl.protocol", Type: String, Default: "TLSv1.2", NoEffect: refusedZooKeeperTLS,
		Doc: "TLS protocol to ZooKeeper."},
	{Name: "zookeeper.ssl.enabled.protocols", Type: List, NoDefault: true, NoEffect: refusedZooKeeperTLS,
		Doc: "TLS versions enabled to ZooKeeper."},
	{Name: "zookeeper.ssl.cipher.suites", Type: List, NoDefault: true, NoEffect: refusedZooKeeperTLS,
		Doc: "Cipher suites enabled to ZooKeeper."},
	{Name: "zookeeper.ssl.endpoint.identification.algorithm", Type: String, Default: "HTTPS", NoEffect: refusedZooKeeperTLS,
		Doc: "Host name verification of ZooKeeper certificates."},
	{Name: "zookeeper.ssl.crl.enable", Type: Boolean, Default: "false", NoEffect: refusedZooKeeperTLS,
		Doc: "Certificate revocation lists for TLS to ZooKeeper."},
	{Name: "zookeeper.ssl.ocsp.enable", Type: Boolean, Default: "false", NoEffect: refusedZooKeeperTLS,
		Doc: "OCSP for TLS to ZooKeeper."},
	{Name: "num.io.threads", Type: Int, Default: "8", Valid: atLeast(1), Scope: ClusterWide, NoEffect: inertThreads,
		Doc: "Threads processing requests."},
	{Name: "num.replica.alter.log.dirs.threads", Type: Int, NoDefault: true, NoEffect: inertThreads,
		Doc: "Threads moving replicas between log directories."},
	{Name: "background.threads", Type: Int, Default: "10", Valid: atLeast(1), Scope: ClusterWide, NoEffect: inertThreads,
		Doc: "Threads of background tasks."},
	{Name: "request.timeout.ms", Type: Int, Default: "30000", NoEffect: inertTuning,
		Doc: "Timeout of the broker's own client requests."},
	{Name: "socket.connection.setup.timeout.ms", Type: Long, Default: "10000", NoEffect: inertTuning,
		Doc: "Timeout of the broker's own connection attempts."},
	{Name: "socket.connection.setup.timeout.max.ms", Type: Long, Default: "30000", NoEffect: inertTuning,
		Doc: "Longest backoff of the broker's connection attempts."},
	{Name: "early.start.listeners", Type: String, NoDefault: true, NoEffect: inertTuning,
		Doc: "Listeners started before the authorizer has loaded."},
	{Name: "controlled.shutdown.max.retries", Type: Int, Default: "3", NoEffect: inertTuning,
		Doc: "Retries of a controlled shutdown."},
	{Name: "controlled.shutdown.retry.backoff.ms", Type: Long, Default: "5000", NoEffect: inertTuning,
		Doc: "Backoff between controlled shutdown retries."},
	{Name: "metadata.log.max.record.bytes.between.snapshots", Type: Long, Default: "20971520", Valid: atLeast(1), NoEffect: inertKRaft,
		Doc: "Metadata log bytes between snapshots."},
	{Name: "metadata.log.max.snapshot.interval.ms", Type: Long, Default: "3600000", Valid: atLeast(0), NoEffect: inertKRaft,
		Doc: "Time between metadata snapshots."},
	{Name: "process.roles", Type: List, Default: "", Valid: oneOf("broker", "controller"), NoEffect: inertKRaft,
		Doc: "The KRaft roles of the node: broker, controller."},
	{Name: "node.id", Type: Int, Default: "-1",
		Doc: "The KRaft node id: broker.id's synonym, as in Kafka (a file that sets only node.id names the broker by it; both set must be equal)."},
	{Name: "initial.broker.registration.timeout.ms", Type: Int, Default: "60000", NoEffect: inertKRaft,
		Doc: "How long a KRaft broker waits to register."},
	{Name: "broker.heartbeat.interval.ms", Type: Int, Default: "2000", NoEffect: inertKRaft,
		Doc: "Heartbeat interval of a KRaft broker."},
	{Name: "broker.session.timeout.ms", Type: Int, Default: "9000", NoEffect: inertKRaft,
		Doc: "Session timeout of a KRaft broker."},
	{Name: "controller.listener.names", Type: String, NoDefault: true, NoEffect: inertKRaft,
		Doc: "Listeners of the KRaft controller."},
	{Name: "sasl.mechanism.controller.protocol", Type: String, Default: "GSSAPI", NoEffect: inertKRaft,
		Doc: "SASL mechanism towards the KRaft controller."},
	{Name: "metadata.log.dir", Type: String, NoDefault: true, NoEffect: inertKRaft,
		Doc: "Directory of the KRaft metadata log."},
	{Name: "metadata.log.segment.bytes", Type: Int, Default: "1073741824", NoEffect: inertKRaft,
		Doc: "Segment size of the KRaft metadata log."},
	{Name: "metadata.log.segment.ms", Type: Long, Default: "604800000", NoEffect: inertKRaft,
		Doc: "Segment age of the KRaft metadata log."},
	{Name: "metadata.max.retention.bytes", Type: Long, Default: "104857600", NoEffect: inertKRaft,
		Doc: "Retention bytes of the KRaft metadata log."},
	{Name: "metadata.max.retention.ms", Type: Long, Default: "604800000", NoEffect: inertKRaft,
		Doc: "Retention time of the KRaft metadata log."},
	{Name: "metadata.max.idle.interval.ms", Type: Int, Default: "500", Valid: atLeast(0), NoEffect: inertKRaft,
		Doc: "How often an idle KRaft controller appends a no-op."},
	{Name: "zookeeper.metadata.migration.enable", Type: Boolean, Default: "false", NoEffect: inertKRaft,
		Doc: "Whether a ZooKeeper broker migrates to KRaft."},
	{Name: "eligible.leader.replicas.enable", Type: Boolean, Default: "false", NoEffect: inertKRaft,
		Doc: "Eligible leader replicas (KIP-966)."},
	{Name: "control.plane.listener.name", Type: String, NoDefault: true, NoEffect: inertTuning,
		Doc: "Listener reserved for the controller's requests to brokers."},
	{Name: "queued.max.requests", Type: Int, Default: "500", Valid: atLeast(1), NoEffect: inertThreads,
		Doc: "Requests queued for the request handlers before connections are no longer read (Gregor bounds them in bytes: queued.max.request.bytes)."},
	{Name: "num.network.threads", Type: Int, Default: "3", Valid: atLeast(1), Scope: ClusterWide, NoEffect: inertThreads,
		Doc: "Threads reading and writing connections."},
	{Name: "controller.socket.timeout.ms", Type: Int, Default: "30000", NoEffect: inertTuning,
		Doc: "Socket timeout of the controller's connections to brokers."},
	{Name: "fetch.purgatory.purge.interval.requests", Type: Int, Default: "1000", NoEffect: inertTuning,
		Doc: "Purge interval of the fetch purgatory."},
	{Name: "producer.purgatory.purge.interval.requests", Type: Int, Default: "1000", NoEffect: inertTuning,
		Doc: "Purge interval of the produce purgatory."},
	{Name: "delete.records.purgatory.purge.interval.requests", Type: Int, Default: "1", NoEffect: inertTuning,
		Doc: "Purge interval of the delete-records purgatory."},
	{Name: "group.coordinator.threads", Type: Int, Default: "1", Valid: atLeast(1), NoEffect: inertThreads,
		Doc: "Threads of the new group coordinator."},
	{Name: "group.coordinator.append.linger.ms", Type: Int, Default: "10", Valid: atLeast(0), NoEffect: inertTuning,
		Doc: "Linger of the new group coordinator's appends."},
	{Name: "offsets.load.buffer.size", Type: Int, Default: "5242880", Valid: atLeast(1), NoEffect: inertTuning,
		Doc: "Read buffer when loading __consumer_offsets."},
	{Name: "offsets.topic.compression.codec", Type: Int, Default: "0", NoEffect: inertTuning,
		Doc: "Compression of __consumer_offsets records."},
	{Name: "log.cleaner.threads", Type: Int, Default: "1", Valid: atLeast(0), Scope: ClusterWide, NoEffect: inertThreads,
		Doc: "Threads of the log cleaner."},
	{Name: "log.cleaner.io.buffer.size", Type: Int, Default: "524288", Valid: atLeast(0), Scope: ClusterWide, NoEffect: inertTuning,
		Doc: "I/O buffers of the log cleaner."},
	{Name: "group.share.max.groups", Type: Short, Default: "10", Valid: between(1, 100), NoEffect: inertShareGroups,
		Doc: "Most share groups."},
	{Name: "transaction.state.log.load.buffer.size", Type: Int, Default: "5242880", Valid: atLeast(1), NoEffect: inertTuning,
		Doc: "Read buffer when loading __transaction_state."},
	{Name: "controller.quorum.voters", Type: List, Default: "", NoEffect: inertKRaft,
		Doc: "The KRaft controller quorum, as id@host:port."},
	{Name: "controller.quorum.bootstrap.servers", Type: List, Default: "", NoEffect: inertKRaft,
		Doc: "Bootstrap addresses of the KRaft controller quorum."},
	{Name: "controller.quorum.election.timeout.ms", Type: Int, Default: "1000", NoEffect: inertKRaft,
		Doc: "KRaft election timeout."},
	{Name: "controller.quorum.fetch.timeout.ms", Type: Int, Default: "2000", NoEffect: inertKRaft,
		Doc: "KRaft fetch timeout."},
	{Name: "controller.quorum.election.backoff.max.ms", Type: Int, Default: "1000", NoEffect: inertKRaft,
		Doc: "Longest KRaft election backoff."},
	{Name: "controller.quorum.append.linger.ms", Type: Int, Default: "25", NoEffect: inertKRaft,
		Doc: "How long the KRaft leader lingers before appending."},
	{Name: "controller.quorum.request.timeout.ms", Type: Int, Default: "2000", NoEffect: inertKRaft,
		Doc: "KRaft request timeout."},
	{Name: "controller.quorum.retry.backoff.ms", Type: Int, Default: "20", NoEffect: inertKRaft,
		Doc: "KRaft retry backoff."},
	{Name: "metrics.num.samples", Type: Int, Default: "2", Valid: atLeast(1), NoEffect: inertMetrics,
		Doc: "Samples of Kafka's metrics."},
	{Name: "metrics.sample.window.ms", Type: Long, Default: "30000", Valid: atLeast(1), NoEffect: inertMetrics,
		Doc: "Sample window of Kafka's metrics."},
	{Name: "metric.reporters", Type: List, Default: "org.apache.kafka.common.metrics.JmxReporter", Scope: ClusterWide, NoEffect: inertMetrics,
		Doc: "Classes reporting Kafka's metrics."},
	{Name: "metrics.recording.level", Type: String, Default: "INFO", Valid: oneOf("INFO", "DEBUG", "TRACE"), NoEffect: inertMetrics,
		Doc: "Recording level of Kafka's metrics."},
	{Name: "kafka.metrics.reporters", Type: List, Default: "", NoEffect: inertMetrics,
		Doc: "Yammer metrics reporter classes."},
	{Name: "kafka.metrics.polling.interval.secs", Type: Int, Default: "10", Valid: atLeast(1), NoEffect: inertMetrics,
		Doc: "Polling interval of Yammer metrics reporters."},
	{Name: "telemetry.max.bytes", Type: Int, Default: "1048576", Valid: atLeast(1), NoEffect: inertMetrics,
		Doc: "Largest client telemetry push (KIP-714)."},
	{Name: "security.providers", Type: String, NoDefault: true,
		Doc: "Java security providers. Java classes cannot be loaded: setting it stops start-up."},
	{Name: "ssl.allow.dn.changes", Type: Boolean, Default: "false",
		Doc: "Whether a keystore updated at run time may change its certificate's distinguished name (read per listener, at start-up)."},
	{Name: "ssl.allow.san.changes", Type: Boolean, Default: "false",
		Doc: "Whether a keystore updated at run time may drop subject alternative names of its certificate (read per listener, at start-up)."},
	{Name: "ssl.provider", Type: String, NoDefault: true, Scope: PerBroker,
		Doc: "Java TLS provider. Java classes cannot be loaded: setting it stops start-up."},
	{Name: "ssl.keymanager.algorithm", Type: String, Default: "SunX509", Scope: PerBroker, NoEffect: inertJavaTLS,
		Doc: "Java key manager factory algorithm."},
	{Name: "ssl.trustmanager.algorithm", Type: String, Default: "PKIX", Scope: PerBroker, NoEffect: inertJavaTLS,
		Doc: "Java trust manager factory algorithm."},
	{Name: "ssl.secure.random.implementation", Type: String, NoDefault: true, Scope: PerBroker, NoEffect: inertJavaTLS,
		Doc: "Java SecureRandom implementation for TLS."},
	{Name: "ssl.engine.factory.class", Type: Class, NoDefault: true, Scope: PerBroker,
		Doc: "Java SSL engine factory. Java classes cannot be loaded: setting it stops start-up."},
	{Name: "sasl.kerberos.principal.to.local.rules", Type: List, Default: "DEFAULT", Scope: PerBroker, NoEffect: inertKerberos,
		Doc: "Rules mapping Kerberos principals to short names."},
	{Name: "sasl.client.callback.handler.class", Type: Class, NoDefault: true,
		Doc: "SASL client callback handler class. Java classes cannot be loaded: setting it stops start-up."},
	{Name: "sasl.login.class", Type: Class, NoDefault: true,
		Doc: "SASL login class. Java classes cannot be loaded: setting it stops start-up."},
	{Name: "sasl.login.callback.handler.class", Type: Class, NoDefault: true,
		Doc: "SASL login callback handler class. Java classes cannot be loaded: setting it stops start-up."},
	{Name: "sasl.kerberos.service.name", Type: String, NoDefault: true, Scope: PerBroker, NoEffect: inertKerberos,
		Doc: "Kerberos service name of the broker."},
	{Name: "sasl.kerberos.kinit.cmd", Type: String, Default: "/usr/bin/kinit", Scope: PerBroker, NoEffect: inertKerberos,
		Doc: "kinit command."},
	{Name: "sasl.kerberos.ticket.renew.window.factor", Type: Double, Default: "0.8", Scope: PerBroker, NoEffect: inertKerberos,
		Doc: "Share of a ticket's lifetime after which it is renewed."},
	{Name: "sasl.kerberos.ticket.renew.jitter", Type: Double, Default: "0.05", Scope: PerBroker, NoEffect: inertKerberos,
		Doc: "Jitter added to the ticket renewal time."},
	{Name: "sasl.kerberos.min.time.before.relogin", Type: Long, Default: "60000", Scope: PerBroker, NoEffect: inertKerberos,
		Doc: "Least time between Kerberos relogins."},
	{Name: "sasl.login.refresh.window.factor", Type: Double, Default: "0.8", Scope: PerBroker, NoEffect: inertLogin,
		Doc: "Share of a login credential's lifetime after which it is refreshed."},
	{Name: "sasl.login.refresh.window.jitter", Type: Double, Default: "0.05", Scope: PerBroker, NoEffect: inertLogin,
		Doc: "Jitter added to the login refresh time."},
	{Name: "sasl.login.refresh.min.period.seconds", Type: Short, Default: "60", Scope: PerBroker, NoEffect: inertLogin,
		Doc: "Least time between login refreshes."},
	{Name: "sasl.login.refresh.buffer.seconds", Type: Short, Default: "300", Scope: PerBroker, NoEffect: inertLogin,
		Doc: "Time before expiry a login is refreshed."},
	{Name: "sasl.login.connect.timeout.ms", Type: Int, NoDefault: true, NoEffect: inertLogin,
		Doc: "Connect timeout of an OAuth login."},
	{Name: "sasl.login.read.timeout.ms", Type: Int, NoDefault: true, NoEffect: inertLogin,
		Doc: "Read timeout of an OAuth login."},
	{Name: "sasl.login.retry.backoff.max.ms", Type: Long, Default: "10000", NoEffect: inertLogin,
		Doc: "Longest backoff of OAuth login retries."},
	{Name: "sasl.login.retry.backoff.ms", Type: Long, Default: "100", NoEffect: inertLogin,
		Doc: "Backoff of OAuth login retries."},
	{Name: "sasl.oauthbearer.token.endpoint.url", Type: String, NoDefault: true, NoEffect: inertLogin,
		Doc: "OAuth token endpoint the broker logs in with."},
	{Name: "sasl.oauthbearer.jwks.endpoint.refresh.ms", Type: Long, Default: "3600000", NoEffect: inertLogin,
		Doc: "How often an https JWKS endpoint is re-read (a file: JWKS is read when it changes)."},
	{Name: "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms", Type: Long, Default: "100", NoEffect: inertLogin,
		Doc: "Backoff of JWKS endpoint retries."},
	{Name: "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms", Type: Long, Default: "10000", NoEffect: inertLogin,
		Doc: "Longest backoff of JWKS endpoint retries."},
	// Delegation tokens (KIP-48): tokens are on when a secret is set.
	{Name: "delegation.token.secret.key", Type: Password, NoDefault: true,
		Field: func(c *Config) any { return &c.DelegationTokens.SecretKey },
		Doc:   "The secret signing delegation tokens (HmacSHA512 of the token id), the same on every broker. Without it the delegation token APIs answer DELEGATION_TOKEN_AUTH_DISABLED."},
	{Name: "delegation.token.max.lifetime.ms", Type: Long, Unit: Millis, Default: "604800000", Valid: atLeast(1),
		Field: func(c *Config) any { return &c.DelegationTokens.MaxLifetime },
		Doc:   "The longest a delegation token lives, renewed or not (a creation asking for longer gets this)."},
	{Name: "delegation.token.expiry.time.ms", Type: Long, Unit: Millis, Default: "86400000", Valid: atLeast(1),
		Field: func(c *Config) any { return &c.DelegationTokens.ExpiryTime },
		Doc:   "How long a delegation token lives from its creation or renewal unless renewed; the renewal period when a renewal asks for -1."},
	{Name: "delegation.token.expiry.check.interval.ms", Type: Long, Unit: Millis, Default: "3600000", Valid: atLeast(1),
		Field: func(c *Config) any { return &c.DelegationTokens.ExpiryCheckInterval },
		Doc:   "How often expired delegation tokens are removed."},
	{Name: "password.encoder.secret", Type: Password, NoDefault: true, Field: func(c *Config) any { return &c.PasswordEncoder.Secret },
		Doc: "The secret encrypting dynamic passwords (listener keystore passwords, JAAS configs) in ZooKeeper, as Kafka does. Without it, setting one is refused. No effect with local metadata, where they are kept as given (as in KRaft)."},
	{Name: "password.encoder.old.secret", Type: Password, NoDefault: true, Field: func(c *Config) any { return &c.PasswordEncoder.OldSecret },
		Doc: "The previous password.encoder.secret: at start-up, this broker's dynamic passwords encrypted with it are encrypted again with password.encoder.secret."},
	{Name: "password.encoder.keyfactory.algorithm", Type: String, NoDefault: true, Valid: validKeyFactory, Field: func(c *Config) any { return &c.PasswordEncoder.KeyFactory },
		Doc: "Key factory of the password encoder: PBKDF2WithHmacSHA512 (the default), PBKDF2WithHmacSHA256 or PBKDF2WithHmacSHA1."},
	{Name: "password.encoder.cipher.algorithm", Type: String, Default: "AES/CBC/PKCS5Padding", Valid: validCipher, Field: func(c *Config) any { return &c.PasswordEncoder.Cipher },
		Doc: "Cipher of the password encoder; only AES/CBC/PKCS5Padding, Kafka's default."},
	{Name: "password.encoder.key.length", Type: Int, Default: "128", Valid: validKeyLength, Field: func(c *Config) any { return &c.PasswordEncoder.KeyLength },
		Doc: "Key length of the password encoder, in bits: 128, 192 or 256."},
	{Name: "password.encoder.iterations", Type: Int, Default: "4096", Valid: validIterations, Field: func(c *Config) any { return &c.PasswordEncoder.Iterations },
		Doc: "PBKDF2 iterations of the password encoder (1024 to 1048576)."},
	{Name: "client.quota.callback.class", Type: Class, NoDefault: true, NoEffect: inertQuotas,
		Doc: "Class computing client quotas."},
	{Name: "log.flush.offset.checkpoint.interval.ms", Type: Int, Default: "60000", Valid: atLeast(0), NoEffect: inertTuning,
		Doc: "How often the recovery point is checkpointed."},
	{Name: "log.flush.start.offset.checkpoint.interval.ms", Type: Int, Default: "60000", Valid: atLeast(0), NoEffect: inertTuning,
		Doc: "How often log start offsets are checkpointed."},
	// KIP-1030 (Kafka 4.0): 2 by default.
	{Name: "num.recovery.threads.per.data.dir", Type: Int, Default: "2", Valid: atLeast(1), Scope: ClusterWide, NoEffect: inertThreads,
		Doc: "Threads per log directory recovering logs at start-up."},
	{Name: "create.topic.policy.class.name", Type: Class, NoDefault: true, Valid: noClass,
		Doc: "Policy class checking topic creations. Java classes cannot be loaded, so a policy would not be enforced: setting it stops start-up."},
	{Name: "alter.config.policy.class.name", Type: Class, NoDefault: true, Valid: noClass,
		Doc: "Policy class checking config changes. Java classes cannot be loaded, so a policy would not be enforced: setting it stops start-up."},
	{Name: "log.dir.failure.timeout.ms", Type: Long, Default: "30000", Valid: atLeast(1), NoEffect: inertTuning,
		Doc: "How long a broker waits for a failed log directory to be handled before shutting down."},
}

// mustBe accepts only one value of a key, the one Gregor honours.
func mustBe(want, why string) Validator {
	return func(v any) error {
		if s, ok := v.(bool); ok && (s && want == "true" || !s && want == "false") {
			return nil
		}
		return errors.New(why)
	}
}

// noClass refuses a Java class: Gregor cannot load one, and a policy
// class that is silently not run would let through what it should stop.
func noClass(v any) error {
	if v.(string) != "" {
		return errors.New("Java classes cannot be loaded")
	}
	return nil
}
