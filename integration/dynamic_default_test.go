package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Incremental changes of the cluster-wide dynamic broker configs sent at
// once to different brokers all land: each broker applies its change to
// the configs as ZooKeeper holds them, by compare-and-set, not to those it
// was last delivered (which may not have the change just made through the
// other broker yet).
func TestClusterDefaultEditsThroughDifferentBrokersAllLand(t *testing.T) {
	c := startCluster(t, 2, nil)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	keys := []string{"log.retention.bytes", "log.roll.ms", "log.segment.bytes", "message.max.bytes",
		"log.flush.interval.ms", "log.index.interval.bytes", "log.cleaner.delete.retention.ms", "log.roll.jitter.ms"}
	for round := range 3 {
		var wg sync.WaitGroup
		for i, k := range keys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := kmsg.NewPtrIncrementalAlterConfigsRequest()
				r := kmsg.NewIncrementalAlterConfigsRequestResource()
				r.ResourceType = kmsg.ConfigResourceTypeBroker
				r.ResourceName = ""
				cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
				cfg.Name, cfg.Op, cfg.Value = k, 0, kmsg.StringPtr(fmt.Sprint(2000000+round*100+i))
				r.Configs = append(r.Configs, cfg)
				req.Resources = append(req.Resources, r)
				resp, err := req.RequestWith(ctx, cl.Broker(1+i%2))
				if err != nil {
					t.Error(err)
					return
				}
				if err := kerr.ErrorForCode(resp.Resources[0].ErrorCode); err != nil {
					t.Errorf("setting %s through broker %d: %v %v", k, 1+i%2, err, resp.Resources[0].ErrorMessage)
				}
			}()
		}
		wg.Wait()
		// Each broker describes the whole set as it now stands.
		for id := 1; id <= 2; id++ {
			waitFor(t, fmt.Sprintf("broker %d to describe every default of round %d", id, round), 10*time.Second, func() bool {
				req := kmsg.NewPtrDescribeConfigsRequest()
				r := kmsg.NewDescribeConfigsRequestResource()
				r.ResourceType = kmsg.ConfigResourceTypeBroker
				r.ResourceName = ""
				req.Resources = append(req.Resources, r)
				resp, err := req.RequestWith(ctx, cl.Broker(id))
				if err != nil || len(resp.Resources) != 1 {
					return false
				}
				got := make(map[string]string)
				for _, cv := range resp.Resources[0].Configs {
					if cv.Value != nil {
						got[cv.Name] = *cv.Value
					}
				}
				for i, k := range keys {
					if got[k] != fmt.Sprint(2000000+round*100+i) {
						return false
					}
				}
				return true
			})
		}
	}
}

// A stored cluster default that may not be applied (here a read-only key,
// written by another tool straight into ZooKeeper) does not make later
// incremental changes fail: it is dropped from the new set, as Kafka reads
// stored configs, and the valid ones are kept.
func TestClusterDefaultEditDropsUnusableStoredConfigs(t *testing.T) {
	c := startCluster(t, 1, nil)
	conn := c.zkConn()
	path := c.chroot + "/config/brokers/<default>"
	stored := []byte(`{"version":1,"config":{"log.dirs":"/elsewhere","log.retention.ms":"5000000"}}`)
	if _, err := conn.Create(path, stored, 0, zk.WorldACL(zk.PermAll)); err != nil {
		if _, err := conn.Set(path, stored, -1); err != nil {
			t.Fatal(err)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	r := kmsg.NewIncrementalAlterConfigsRequestResource()
	r.ResourceType = kmsg.ConfigResourceTypeBroker
	cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	cfg.Name, cfg.Value = "log.roll.ms", kmsg.StringPtr("7000000")
	r.Configs = append(r.Configs, cfg)
	req.Resources = append(req.Resources, r)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.Resources[0].ErrorCode); err != nil {
		t.Fatalf("an incremental change with an unusable stored default: %v %v", err, resp.Resources[0].ErrorMessage)
	}
	data, _, err := conn.Get(path)
	if err != nil {
		t.Fatal(err)
	}
	var zn struct {
		Config map[string]string `json:"config"`
	}
	if err := json.Unmarshal(data, &zn); err != nil {
		t.Fatal(err)
	}
	if zn.Config["log.roll.ms"] != "7000000" || zn.Config["log.retention.ms"] != "5000000" || zn.Config["log.dirs"] != "" {
		t.Fatalf("the stored default after the change: %v, want log.roll.ms and log.retention.ms and no log.dirs", zn.Config)
	}
}
