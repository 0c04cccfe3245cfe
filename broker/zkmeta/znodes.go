package zkmeta

import (
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gregor/broker/metadata"
)

// Kafka's classic ZooKeeper layout.
const (
	brokerIDsPath      = "/brokers/ids"
	brokerTopicsPath   = "/brokers/topics"
	brokerSeqIDPath    = "/brokers/seqid"
	controllerPath     = "/controller"
	controllerEpochZ   = "/controller_epoch"
	clusterIDPath      = "/cluster/id"
	configTopicsPath   = "/config/topics"
	configChangesPath  = "/config/changes"
	deleteTopicsPath   = "/admin/delete_topics"
	isrChangePath      = "/isr_change_notification"
	producerBlockPath  = "/latest_producer_id_block"
	logDirEventPath    = "/log_dir_event_notification"
	producerBlockSize  = 1000
	configChangePrefix = "config_change_"
	isrChangePrefix    = "isr_change_"
)

// persistentPaths are the paths a Kafka broker creates at startup, and
// /config/groups and /config/client-metrics (group configs and client
// metrics subscriptions, which ZooKeeper-mode Kafka had not).
var persistentPaths = []string{
	"/brokers", brokerIDsPath, brokerTopicsPath, brokerSeqIDPath,
	"/config", configChangesPath, configTopicsPath, "/config/clients", "/config/users", "/config/brokers", "/config/ips", configGroupsPath,
	configClientMetricsPath,
	"/admin", deleteTopicsPath, isrChangePath, logDirEventPath, "/cluster",
}

func topicPath(t string) string      { return brokerTopicsPath + "/" + t }
func partitionsPath(t string) string { return topicPath(t) + "/partitions" }
func partitionPath(t string, p int32) string {
	return partitionsPath(t) + "/" + strconv.Itoa(int(p))
}
func statePath(t string, p int32) string { return partitionPath(t, p) + "/state" }
func configPath(t string) string         { return configTopicsPath + "/" + t }
func brokerPath(id int32) string         { return brokerIDsPath + "/" + strconv.Itoa(int(id)) }

func nowMs() string { return strconv.FormatInt(time.Now().UnixMilli(), 10) }

// brokerZNode is /brokers/ids/<id> (version 5).
type brokerZNode struct {
	ListenerSecurityProtocolMap map[string]string `json:"listener_security_protocol_map,omitempty"`
	Endpoints                   []string          `json:"endpoints,omitempty"`
	Rack                        *string           `json:"rack,omitempty"`
	JmxPort                     int               `json:"jmx_port"`
	Features                    map[string]any    `json:"features"`
	Host                        *string           `json:"host"`
	Timestamp                   string            `json:"timestamp"`
	Port                        int32             `json:"port"`
	Version                     int               `json:"version"`
	// Incarnation is Gregor's own: the transaction that created the
	// process's first registration, written when it registers again
	// under a new session (after an expiry). Absent, the registration is
	// its process's first, and its own czxid is the incarnation.
	Incarnation int64 `json:"gregor_incarnation,omitempty"`
}

var securityProtocols = []string{"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}

// encodeBroker is the registration of self; incarnation is its first
// registration's czxid, 0 for the first.
func encodeBroker(self metadata.BrokerInfo, incarnation int64) ([]byte, error) {
	z := brokerZNode{
		Incarnation:                 incarnation,
		ListenerSecurityProtocolMap: map[string]string{},
		JmxPort:                     -1,
		Features:                    map[string]any{},
		Timestamp:                   nowMs(),
		Port:                        -1,
		Version:                     5,
	}
	for _, n := range registrationOrder(self) {
		ep := self.Endpoints[n]
		proto := "PLAINTEXT"
		if p, ok := self.Protocols[n]; ok {
			proto = p
		} else if slices.Contains(securityProtocols, n) {
			proto = n
		}
		z.ListenerSecurityProtocolMap[n] = proto
		z.Endpoints = append(z.Endpoints, n+"://"+net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port))))
		// The top-level host and port, for clients that know only
		// PLAINTEXT, are the first endpoint whose security protocol is
		// PLAINTEXT, whatever its listener's name, as Kafka's
		// BrokerIdZNode.encode.
		if proto == "PLAINTEXT" && z.Host == nil {
			h := ep.Host
			z.Host, z.Port = &h, ep.Port
		}
	}
	if self.Rack != "" {
		r := self.Rack
		z.Rack = &r
	}
	return json.Marshal(&z)
}

// registrationOrder is the order of a broker's endpoints in its
// registration: as advertised (Kafka keeps advertised.listeners' order),
// then any endpoint not listed there by name.
func registrationOrder(self metadata.BrokerInfo) []string {
	names := make([]string, 0, len(self.Endpoints))
	for _, n := range self.Listeners {
		if _, ok := self.Endpoints[n]; ok && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	var rest []string
	for n := range self.Endpoints {
		if !slices.Contains(names, n) {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	return append(names, rest...)
}

func decodeBroker(id int32, data []byte) (metadata.BrokerInfo, error) {
	bi, _, err := decodeBrokerIncarnation(id, data)
	return bi, err
}

// decodeBrokerIncarnation is decodeBroker with the registration's
// incarnation (0: it is its process's first registration).
func decodeBrokerIncarnation(id int32, data []byte) (metadata.BrokerInfo, int64, error) {
	var z brokerZNode
	if err := json.Unmarshal(data, &z); err != nil {
		return metadata.BrokerInfo{}, 0, fmt.Errorf("broker %d registration: %w", id, err)
	}
	bi := metadata.BrokerInfo{ID: id, Endpoints: map[string]metadata.Endpoint{}}
	if z.Rack != nil {
		bi.Rack = *z.Rack
	}
	for _, e := range z.Endpoints {
		name, addr, ok := strings.Cut(e, "://")
		if !ok {
			continue
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			continue
		}
		n, err := strconv.Atoi(port)
		if err != nil {
			continue
		}
		bi.Endpoints[name] = metadata.Endpoint{Host: host, Port: int32(n)}
	}
	if len(bi.Endpoints) == 0 && z.Host != nil && z.Port > 0 {
		bi.Endpoints["PLAINTEXT"] = metadata.Endpoint{Host: *z.Host, Port: z.Port}
	}
	if ms, err := strconv.ParseInt(z.Timestamp, 10, 64); err == nil && ms > 0 {
		bi.Registered = time.UnixMilli(ms)
	}
	return bi, z.Incarnation, nil
}

// topicZNode is /brokers/topics/<t> (version 3).
type topicZNode struct {
	Version          int                `json:"version"`
	Partitions       map[string][]int32 `json:"partitions"`
	TopicID          string             `json:"topic_id,omitempty"`
	AddingReplicas   map[string][]int32 `json:"adding_replicas"`
	RemovingReplicas map[string][]int32 `json:"removing_replicas"`
}

func encodeTopic(id metadata.Uuid, assign [][]int32) ([]byte, error) {
	return encodeTopicReassigning(id, assign, nil, nil)
}

// encodeTopicReassigning encodes a topic's assignment with the replicas
// being added to and removed from each partition under reassignment
// (Kafka's "adding_replicas" and "removing_replicas", listing only the
// partitions that have some).
func encodeTopicReassigning(id metadata.Uuid, assign, adding, removing [][]int32) ([]byte, error) {
	z := topicZNode{Version: 3, Partitions: map[string][]int32{}, TopicID: id.String(),
		AddingReplicas: map[string][]int32{}, RemovingReplicas: map[string][]int32{}}
	for p, r := range assign {
		k := strconv.Itoa(p)
		z.Partitions[k] = r
		if p < len(adding) && len(adding[p]) > 0 {
			z.AddingReplicas[k] = adding[p]
		}
		if p < len(removing) && len(removing[p]) > 0 {
			z.RemovingReplicas[k] = removing[p]
		}
	}
	return json.Marshal(&z)
}

// decodeTopic returns the assignment, partition by partition (up to the
// first missing partition number), and the topic id if there is one.
func decodeTopic(data []byte) (assign [][]int32, id metadata.Uuid, hasID bool, err error) {
	assign, _, _, id, hasID, err = decodeTopicReassigning(data)
	return assign, id, hasID, err
}

// decodeTopicReassigning is decodeTopic with the replicas being added and
// removed by reassignments, per partition (nil when none).
func decodeTopicReassigning(data []byte) (assign, adding, removing [][]int32, id metadata.Uuid, hasID bool, err error) {
	var z topicZNode
	if err = json.Unmarshal(data, &z); err != nil {
		return nil, nil, nil, id, false, err
	}
	for p := 0; ; p++ {
		k := strconv.Itoa(p)
		r, ok := z.Partitions[k]
		if !ok {
			break
		}
		assign = append(assign, r)
		adding = append(adding, z.AddingReplicas[k])
		removing = append(removing, z.RemovingReplicas[k])
	}
	if z.TopicID != "" {
		if id, err = metadata.ParseUuid(z.TopicID); err != nil {
			return nil, nil, nil, id, false, err
		}
		hasID = true
	}
	return assign, adding, removing, id, hasID, nil
}

// stateZNode is /brokers/topics/<t>/partitions/<p>/state.
type stateZNode struct {
	ControllerEpoch int32   `json:"controller_epoch"`
	Leader          int32   `json:"leader"`
	Version         int     `json:"version"`
	LeaderEpoch     int32   `json:"leader_epoch"`
	ISR             []int32 `json:"isr"`
}

func encodeState(ctrlEpoch, leader, leaderEpoch int32, isr []int32) []byte {
	if isr == nil {
		isr = []int32{}
	}
	b, _ := json.Marshal(&stateZNode{ControllerEpoch: ctrlEpoch, Leader: leader, Version: 1, LeaderEpoch: leaderEpoch, ISR: isr})
	return b
}

func decodeState(data []byte) (stateZNode, error) {
	var z stateZNode
	err := json.Unmarshal(data, &z)
	return z, err
}

// partition is partition p of topic, with the given replicas, led as z
// says, as the controller's decisions take it.
func (z stateZNode) partition(topic string, p int32, replicas []int32) metadata.Partition {
	return metadata.Partition{Topic: topic, Index: p, Replicas: replicas, Leader: z.Leader, LeaderEpoch: z.LeaderEpoch, ISR: z.ISR}
}

// configZNode is /config/topics/<t>.
type configZNode struct {
	Version int               `json:"version"`
	Config  map[string]string `json:"config"`
}

func encodeConfig(c map[string]string) []byte {
	if c == nil {
		c = map[string]string{}
	}
	b, _ := json.Marshal(&configZNode{Version: 1, Config: c})
	return b
}

func decodeConfig(data []byte) (map[string]string, error) {
	var z configZNode
	if len(data) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(data, &z); err != nil {
		return nil, err
	}
	if len(z.Config) == 0 {
		return nil, nil
	}
	return z.Config, nil
}

// controllerZNode is /controller.
type controllerZNode struct {
	Version   int    `json:"version"`
	BrokerID  int32  `json:"brokerid"`
	Timestamp string `json:"timestamp"`
}

// clusterIDZNode is /cluster/id.
type clusterIDZNode struct {
	Version string `json:"version"`
	ID      string `json:"id"`
}

// producerBlockZNode is /latest_producer_id_block.
type producerBlockZNode struct {
	Version    int         `json:"version"`
	Broker     int32       `json:"broker"`
	BlockStart json.Number `json:"block_start"`
	BlockEnd   json.Number `json:"block_end"`
}
