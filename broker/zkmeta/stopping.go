package zkmeta

// Brokers in controlled shutdown. Kafka's controller learns of one from
// its ControlledShutdown request and, until the broker is gone, elects it
// nowhere: it is left out of new partitions' leaders and ISRs, of failover
// and reassignment elections and of preferred-leader elections
// (ControllerContext.liveBrokerIds, without shuttingDownBrokerIds). A
// Gregor broker hands its own leaderships over, so the controller and the
// other brokers learn of its shutdown from an ephemeral znode it creates
// first, /gregor/controlled_shutdown/<id>: it goes with the broker's
// session, as its registration does, so a broker back under a new session
// is eligible again. Where only brokers in controlled shutdown could lead
// a partition (two stopped at once), one of them is elected all the same
// rather than none: it still serves until it stops, and hands over again.

import (
	"errors"
	"strconv"

	"github.com/go-zookeeper/zk"

	"gregor/broker/metadata"
)

const (
	// stoppingPath is created at start-up (offlinePaths).
	stoppingPath = gregorRootPath + "/controlled_shutdown"
	// keyStopping: /gregor/controlled_shutdown children (sorted after
	// keyIDs, before the controller's work reads either).
	keyStopping = "1stopping"
)

func stoppingMarker(id int32) string { return stoppingPath + "/" + strconv.Itoa(int(id)) }

// processStopping reads which brokers are in controlled shutdown.
func (b *backend) processStopping() error {
	c, err := b.optionalChildren(keyStopping, b.p(stoppingPath))
	if err != nil {
		return err
	}
	b.stopping = parseIDs(c)
	return nil
}

// parseIDs is the broker ids among znode names.
func parseIDs(names []string) map[int32]bool {
	ids := map[int32]bool{}
	for _, name := range names {
		if n, err := strconv.ParseInt(name, 10, 32); err == nil {
			ids[int32(n)] = true
		}
	}
	return ids
}

// markStopping announces this broker's controlled shutdown. It is best
// effort: without it the others may still elect this broker meanwhile,
// and its own handovers move those leaderships on.
func (b *backend) markStopping() {
	zpath := b.p(stoppingMarker(b.self()))
	_, err := b.conn.Create(zpath, nil, zk.FlagEphemeral, b.acl)
	if err != nil && !errors.Is(err, zk.ErrNodeExists) {
		b.log.Warn().Err(err).Msg("controlled shutdown: could not announce it in ZooKeeper; other brokers may elect this one meanwhile")
	}
}

// eligible is live less the brokers in controlled shutdown, as the loop
// last read them. Called with mu held.
func (b *backend) eligible(live metadata.Live) metadata.Live {
	if len(b.stopping) == 0 {
		return live
	}
	out := metadata.Live{}
	for id := range live {
		if !b.stopping[id] {
			out[id] = true
		}
	}
	return out
}

// eligibleBrokerIDs is liveBrokerIDs less the brokers in controlled
// shutdown, read from ZooKeeper now (outside the loop).
func (b *backend) eligibleBrokerIDs() (live, eligible metadata.Live, err error) {
	ids, err := b.liveBrokerIDs()
	if err != nil {
		return nil, nil, err
	}
	live = metadata.NewLive(ids...)
	c, _, err := b.conn.Children(b.p(stoppingPath))
	if errors.Is(err, zk.ErrNoNode) {
		return live, live, nil
	}
	if err != nil {
		return nil, nil, err
	}
	stopping := parseIDs(c)
	eligible = metadata.Live{}
	for id := range live {
		if !stopping[id] {
			eligible[id] = true
		}
	}
	return live, eligible, nil
}
