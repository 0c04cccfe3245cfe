package integration

// Finalized feature levels in a three-broker cluster: a change made
// through one broker reaches every broker's ApiVersions and gates the
// APIs its feature stands for there too.

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
	"gregor/internal/wait"
	"gregor/internal/zktest"
)

func TestFeatureLevelsCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster tests start ZooKeeper and several brokers")
	}
	z := zktest.Start(t)
	brokers := map[int32]*brokertest.Broker{}
	for id := int32(1); id <= 3; id++ {
		brokers[id] = brokertest.Start(t, brokertest.Options{Set: map[string]string{
			"broker.id":                    strconv.Itoa(int(id)),
			"zookeeper.connect":            z.Addr + "/gregor-features",
			"zookeeper.session.timeout.ms": "4000",
		}})
	}
	// pinned sends a request to one broker only.
	pinned := func(id int32, req kmsg.Request) kmsg.Response {
		t.Helper()
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers[id].Addr))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := cl.Broker(int(id)).Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	transactionVersion := func(id int32) (int16, int64) {
		req := kmsg.NewPtrApiVersionsRequest()
		req.ClientSoftwareName, req.ClientSoftwareVersion = "gregor-integration", "1.0.0"
		resp := pinned(id, req).(*kmsg.ApiVersionsResponse)
		for _, f := range resp.FinalizedFeatures {
			if f.Name == "transaction.version" {
				return f.MaxVersionLevel, resp.FinalizedFeaturesEpoch
			}
		}
		return 0, resp.FinalizedFeaturesEpoch
	}
	upd := kmsg.NewPtrUpdateFeaturesRequest()
	for _, f := range []struct {
		name  string
		level int16
	}{{"transaction.version", 1}, {"group.version", 0}} {
		fu := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
		fu.Feature, fu.MaxVersionLevel, fu.UpgradeType = f.name, f.level, 2
		upd.FeatureUpdates = append(upd.FeatureUpdates, fu)
	}
	if r := pinned(1, upd).(*kmsg.UpdateFeaturesResponse); r.ErrorCode != 0 {
		t.Fatalf("UpdateFeatures through broker 1: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	for id := int32(1); id <= 3; id++ {
		wait.For(t, fmt.Sprintf("broker %d to advertise transaction.version 1 at a new epoch", id), 15*time.Second, func() bool {
			level, epoch := transactionVersion(id)
			return level == 1 && epoch > 1
		})
		hb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		hb.Group, hb.MemberID, hb.RebalanceTimeoutMillis = "g", "m1-aaaaaaaaaaaaaaaaaaaa", 30000
		hb.SubscribedTopicNames = []string{"t"}
		if code := pinned(id, hb).(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode; code != kerr.UnsupportedVersion.Code {
			t.Errorf("broker %d answered ConsumerGroupHeartbeat at group.version 0 with %v, want UNSUPPORTED_VERSION", id, kerr.ErrorForCode(code))
		}
	}
}
