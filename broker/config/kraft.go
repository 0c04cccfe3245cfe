package config

// Kafka 4's KRaft files (config/server.properties, broker.properties,
// controller.properties). Gregor keeps a cluster's metadata in ZooKeeper
// and a single broker's in its log dir: a combined broker and controller
// whose quorum is itself alone (Kafka 4's quickstart) runs as a single
// broker; a node that needs other KRaft nodes is refused with what to do
// instead, rather than started as an unrelated single-broker cluster.

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

func (c *Config) deriveKRaft() []error {
	roles := splitList(c.Values["process.roles"])
	if len(roles) == 0 || c.ZookeeperConnect != "" {
		return nil
	}
	broker, controller := slices.Contains(roles, "broker"), slices.Contains(roles, "controller")
	switch {
	case controller && !broker:
		return []error{fmt.Errorf("process.roles=controller: Gregor has no KRaft controllers and needs none: " +
			"a cluster keeps its metadata in ZooKeeper (zookeeper.connect), a single broker in its log dir. " +
			"Start only the brokers")}
	case broker && !controller:
		return []error{fmt.Errorf("process.roles=broker: a KRaft broker needs KRaft controllers, which Gregor does not have. " +
			"For a cluster set zookeeper.connect (README, \"A cluster\"); for a single broker remove process.roles")}
	}
	if others := c.otherVoters(); len(others) > 0 {
		return []error{fmt.Errorf("controller.quorum.voters / controller.quorum.bootstrap.servers name other KRaft nodes (%s): "+
			"Gregor has no KRaft quorum. For a cluster set zookeeper.connect (README, \"A cluster\"); "+
			"for a single broker leave only this node in the quorum", strings.Join(others, ", "))}
	}
	return nil
}

// otherVoters lists the KRaft quorum's members that are not this node: a
// voter id@host:port of another id, or a bootstrap server whose port is
// none of this node's controller listeners'.
func (c *Config) otherVoters() []string {
	var others []string
	for _, v := range splitList(c.Values["controller.quorum.voters"]) {
		id, _, _ := strings.Cut(v, "@")
		if n, err := strconv.Atoi(strings.TrimSpace(id)); err != nil || int32(n) != c.BrokerID {
			others = append(others, v)
		}
	}
	own := map[string]bool{}
	for _, name := range splitList(c.Values["controller.listener.names"]) {
		if l, ok := c.Listener(name); ok {
			own[strconv.Itoa(l.Port)] = true
		}
	}
	for _, s := range splitList(c.Values["controller.quorum.bootstrap.servers"]) {
		if _, port, err := net.SplitHostPort(s); err != nil || !own[port] {
			others = append(others, s)
		}
	}
	return others
}
