package zkmeta

import (
	"context"
	"fmt"
)

// GenerateBrokerID gives a broker without broker.id one, as ZooKeeper-mode
// Kafka does: each call writes /brokers/seqid, and the id is the znode's
// new version above reservedMax (1001 for the first broker of a cluster,
// by default). It uses a session of its own, closed before it returns.
func GenerateBrokerID(ctx context.Context, opt Options, reservedMax int32) (int32, error) {
	mb, err := New(opt)
	if err != nil {
		return 0, err
	}
	b := mb.(*backend)
	defer b.Close()
	if _, err := b.Join(ctx); err != nil {
		return 0, err
	}
	stat, err := b.conn.Set(b.p(brokerSeqIDPath), nil, -1) // made by Join
	if err != nil {
		return 0, fmt.Errorf("generating a broker id at %s: %w", brokerSeqIDPath, err)
	}
	if int64(stat.Version)+int64(reservedMax) > 1<<31-1 {
		return 0, fmt.Errorf("generating a broker id: %s version %d is past the ids above reserved.broker.max.id %d", brokerSeqIDPath, stat.Version, reservedMax)
	}
	return stat.Version + reservedMax, nil
}
