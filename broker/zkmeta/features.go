package zkmeta

// The cluster's finalized feature levels (KIP-584), kept where
// ZooKeeper-mode Kafka keeps them: /feature, {"version":2,"status":1,
// "features":{"<name>":{"min_version_level":1,"max_version_level":<level>}}}
// with only the features above level 0. No znode means no level was ever
// set, so the brokers' defaults hold. The epoch ApiVersions advertises is
// the znode's version plus 2 (the defaults' epoch is 1). Every broker
// watches the znode.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
)

const (
	featurePath = "/feature"
	keyFeatures = "Ifeat"
)

type featureZNode struct {
	Version  int                           `json:"version"`
	Status   int                           `json:"status"`
	Features map[string]featureLevelsZNode `json:"features"`
}

type featureLevelsZNode struct {
	MinVersionLevel int16 `json:"min_version_level"`
	MaxVersionLevel int16 `json:"max_version_level"`
}

// featureCache is what was read of /feature.
type featureCache struct {
	levels  map[string]int16 // nil: no znode
	epoch   int64
	read    bool
	changed bool
}

func (b *backend) processFeatures() error {
	data, stat, ok, err := b.get(keyFeatures, b.p(featurePath))
	if err != nil {
		return err
	}
	c := &b.features
	var levels map[string]int16
	var epoch int64
	if ok {
		var z featureZNode
		if err := json.Unmarshal(data, &z); err != nil {
			b.log.Error().Err(err).Msg("ignoring a malformed " + featurePath)
			return nil
		}
		levels = map[string]int16{}
		for name, f := range z.Features {
			if f.MaxVersionLevel > 0 {
				levels[name] = f.MaxVersionLevel
			}
		}
		epoch = int64(stat.Version) + 2
	}
	if !c.read || epoch != c.epoch || !maps.Equal(levels, c.levels) || (levels == nil) != (c.levels == nil) {
		c.levels, c.epoch, c.read, c.changed = levels, epoch, true, true
	}
	return nil
}

// takeFeatures returns the levels to deliver if they changed. Called
// holding mu.
func (b *backend) takeFeatures() (map[string]int16, int64, bool) {
	c := &b.features
	if !c.changed {
		return nil, 0, false
	}
	c.changed = false
	return maps.Clone(c.levels), c.epoch, true
}

// UpdateFeatures writes /feature.
func (b *backend) UpdateFeatures(ctx context.Context, levels map[string]int16) error {
	z := featureZNode{Version: 2, Status: 1, Features: map[string]featureLevelsZNode{}}
	for name, level := range levels {
		if level > 0 {
			z.Features[name] = featureLevelsZNode{MinVersionLevel: 1, MaxVersionLevel: level}
		}
	}
	data, err := json.Marshal(z)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", featurePath, err)
	}
	_, err = withCtx(ctx, func() (struct{}, error) {
		return struct{}{}, b.setOrCreate(featurePath, data)
	})
	return err
}
