package zkmeta

// Offline replicas. A broker whose log dir failed publishes the replicas
// it can no longer serve in /gregor/offline_replicas/<id>, so that every
// broker's Metadata names them in OfflineReplicas, as Kafka's controller
// has every broker's metadata do once a broker reports a failed dir. The
// znode is persistent and holds the broker's whole current set: a broker
// publishes it once its logs are loaded (deleting it when it has none)
// and again whenever the set changes. A dead broker's stale znode names
// nothing more than its absence does already: every replica of a broker
// that is not registered is offline.

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strconv"

	"github.com/go-zookeeper/zk"

	"gregor/broker/metadata"
)

const (
	gregorRootPath      = "/gregor"
	offlineReplicasPath = gregorRootPath + "/offline_replicas"
	// keyOffline: /gregor/offline_replicas children; preOffline + id: one
	// broker's set.
	keyOffline = "Oo"
	preOffline = "Op/"
)

// offlinePaths are created at start-up, with the brokers in controlled
// shutdown (stopping.go).
var offlinePaths = []string{gregorRootPath, offlineReplicasPath, stoppingPath}

func offlinePath(id string) string { return offlineReplicasPath + "/" + id }

// offlineZNode is the JSON of /gregor/offline_replicas/<id>.
type offlineZNode struct {
	Version    int                `json:"version"`
	Partitions map[string][]int32 `json:"partitions"`
}

// offlineCache is the loop's copy of the sets (guarded by backend.mu).
type offlineCache struct {
	byBroker map[string]map[string][]int32 // nil value: not read yet
	read     bool
	changed  bool
}

func (b *backend) processOfflineBrokers() error {
	c := &b.offline
	ids, err := b.optionalChildren(keyOffline, b.p(offlineReplicasPath))
	if err != nil {
		return err
	}
	if c.byBroker == nil {
		c.byBroker = map[string]map[string][]int32{}
	}
	reconcile(c.byBroker, ids, func(id string) {
		c.byBroker[id] = nil
		b.mark(preOffline + id)
	}, func(id string) {
		delete(c.byBroker, id)
		c.changed = true
	})
	if !c.read {
		c.read, c.changed = true, true
	}
	return nil
}

func (b *backend) processOfflineBroker(id string) error {
	c := &b.offline
	if _, ok := c.byBroker[id]; !ok {
		return nil
	}
	data, _, ok, err := b.get(preOffline+id, b.p(offlinePath(id)))
	if err != nil {
		return err
	}
	if !ok { // deleted: forgotten until listed again (watchCreation)
		delete(c.byBroker, id)
		c.changed = true
		return nil
	}
	var z offlineZNode
	if err := json.Unmarshal(data, &z); err != nil {
		b.log.Warn().Err(err).Str("broker", id).Msg("ignoring a malformed offline replicas znode")
		return nil
	}
	if z.Partitions == nil {
		z.Partitions = map[string][]int32{}
	}
	cur := c.byBroker[id]
	if cur == nil || !maps.EqualFunc(cur, z.Partitions, slices.Equal) {
		c.byBroker[id], c.changed = z.Partitions, true
	}
	return nil
}

// offlineKeys are the loop keys of the sets known, for a full re-read.
func (b *backend) offlineKeys() []string {
	keys := []string{keyOffline}
	for id := range b.offline.byBroker {
		keys = append(keys, preOffline+id)
	}
	return keys
}

// takeOffline returns the offline replicas to deliver, by broker, if they
// changed. Called holding mu.
func (b *backend) takeOffline() (map[int32]map[string][]int32, bool) {
	c := &b.offline
	if !c.changed || !c.read {
		return nil, false
	}
	c.changed = false
	out := make(map[int32]map[string][]int32, len(c.byBroker))
	for id, parts := range c.byBroker {
		n, err := strconv.ParseInt(id, 10, 32)
		if err != nil || len(parts) == 0 {
			continue
		}
		out[int32(n)] = parts
	}
	return out, true
}

// PublishOfflineReplicas records the replicas this broker cannot serve
// (its whole set; none deletes the znode).
func (b *backend) PublishOfflineReplicas(ctx context.Context, parts map[string][]int32) error {
	kpath := offlinePath(strconv.Itoa(int(b.self())))
	_, err := withCtx(ctx, func() (struct{}, error) {
		// One at a time, in order: a call abandoned by its context
		// still finishes before the next writes.
		b.offlinePubMu.Lock()
		defer b.offlinePubMu.Unlock()
		if len(parts) == 0 {
			if err := b.conn.Delete(b.p(kpath), -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
				return struct{}{}, err
			}
			return struct{}{}, nil
		}
		data, err := json.Marshal(offlineZNode{Version: 1, Partitions: parts})
		if err != nil {
			return struct{}{}, err
		}
		return struct{}{}, b.setOrCreate(kpath, data)
	})
	return err
}

var _ metadata.OfflineReplicaPublisher = (*backend)(nil)
