package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/rs/zerolog"

	"gregor/broker/config"
	"gregor/broker/storage"
	"gregor/broker/zkmeta"
)

// resolveBrokerID gives a cluster broker without broker.id its id, as
// ZooKeeper-mode Kafka does: the one its log dirs' meta.properties name,
// else one ZooKeeper generates (broker.id.generation.enable, checked with
// the configuration). A dir that cannot be read is left to the broker,
// which takes it offline or refuses it.
func resolveBrokerID(ctx context.Context, cfg *config.Config, opt zkmeta.Options, fs storage.FS, log zerolog.Logger) error {
	if cfg.ZookeeperConnect == "" || cfg.BrokerID >= 0 {
		return nil
	}
	if fs == nil {
		fs = storage.OSFS{}
	}
	stored := make(map[int32][]string)
	for _, d := range cfg.LogDirs {
		m, ok, err := storage.ReadMeta(fs, d)
		switch {
		case err != nil && storage.IsDiskFailure(err):
			// Offline: the broker serves from the others.
		case err != nil:
			return fmt.Errorf("log dir %s: %w", d, err)
		case ok:
			stored[m.BrokerID] = append(stored[m.BrokerID], d)
		}
	}
	switch len(stored) {
	case 0:
		id, err := zkmeta.GenerateBrokerID(ctx, opt, cfg.ReservedBrokerMaxID)
		if err != nil {
			return err
		}
		setBrokerID(cfg, id)
		log.Info().Int32("broker_id", id).Msg("broker.id is not set: generated one from ZooKeeper")
	case 1:
		for id := range stored {
			setBrokerID(cfg, id)
		}
		log.Info().Int32("broker_id", cfg.BrokerID).Msg("broker.id is not set: taken from the log dirs' meta.properties")
	default:
		var named []string
		for id, dirs := range stored {
			named = append(named, fmt.Sprintf("%d in %v", id, dirs))
		}
		sort.Strings(named)
		return fmt.Errorf("broker.id is not set and the log dirs' meta.properties name different broker ids (%v): "+
			"this could happen if multiple brokers shared a log directory (log.dirs) or partial data was manually copied from another broker", named)
	}
	return nil
}

// setBrokerID sets the id in the configuration and in the values it is
// rebuilt from (with dynamic configs).
func setBrokerID(cfg *config.Config, id int32) {
	cfg.BrokerID = id
	if cfg.Values != nil {
		cfg.Values["broker.id"] = strconv.Itoa(int(id))
		cfg.Values["node.id"] = cfg.Values["broker.id"]
	}
}
