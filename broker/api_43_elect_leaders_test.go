package broker

import (
	"context"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/config"
	"gregor/broker/metadata"
	"gregor/protocol"
)

// electBackend is the local backend with scripted election results.
type electBackend struct {
	metadata.Backend
	mu    sync.Mutex
	typ   int8
	parts map[string][]int32
	calls int
	// notController is how many calls are refused with NOT_CONTROLLER
	// first (the controller moving).
	notController int
}

func (e *electBackend) ElectLeaders(_ context.Context, typ int8, parts map[string][]int32) (map[string]map[int32]error, error) {
	e.mu.Lock()
	e.typ, e.parts, e.calls = typ, parts, e.calls+1
	refuse := e.calls <= e.notController
	e.mu.Unlock()
	if refuse {
		return nil, kerr.NotController
	}
	if parts == nil {
		parts = map[string][]int32{"t": {0, 1}}
	}
	out := map[string]map[int32]error{}
	for name, ps := range parts {
		out[name] = map[int32]error{}
		for _, p := range ps {
			switch {
			case name != "t":
				out[name][p] = kerr.UnknownTopicOrPartition
			case p == 0:
				out[name][p] = nil // elected: the local broker, its only replica, leads
			default:
				out[name][p] = kerr.ElectionNotNeeded
			}
		}
	}
	return out, nil
}

func TestHandleElectLeaders(t *testing.T) {
	cfg := config.Defaults()
	cfg.BrokerID = 1
	cfg.LogDirs = []string{t.TempDir()}
	be := &electBackend{Backend: metadata.NewLocal(cfg.LogDirs[0], metadata.BrokerInfo{ID: 1, Endpoints: map[string]metadata.Endpoint{"PLAINTEXT": {Host: "127.0.0.1", Port: 9092}}})}
	b, err := New(Options{Config: cfg, Log: zerolog.Nop(), Backend: be})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.CreateTopic(ctx, metadata.TopicSpec{Name: "t", Partitions: 2, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}

	call := func(version int16, typ int8, topics []kmsg.ElectLeadersRequestTopic) *kmsg.ElectLeadersResponse {
		t.Helper()
		r := kmsg.NewPtrElectLeadersRequest()
		r.Version, r.ElectionType, r.Topics, r.TimeoutMillis = version, typ, topics, 5000
		resp, err := b.handleElectLeaders(ctx, &protocol.Request{Key: 43, Version: version, Body: r})
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.ElectLeadersResponse)
	}
	topic := func(name string, ps ...int32) kmsg.ElectLeadersRequestTopic {
		rt := kmsg.NewElectLeadersRequestTopic()
		rt.Topic, rt.Partitions = name, ps
		return rt
	}
	codes := func(resp *kmsg.ElectLeadersResponse) map[string]map[int32]int16 {
		out := map[string]map[int32]int16{}
		for _, rt := range resp.Topics {
			if out[rt.Topic] != nil {
				t.Fatalf("topic %s answered twice: %+v", rt.Topic, resp.Topics)
			}
			out[rt.Topic] = map[int32]int16{}
			for _, rp := range rt.Partitions {
				if _, dup := out[rt.Topic][rp.Partition]; dup {
					t.Fatalf("%s-%d answered twice: %+v", rt.Topic, rp.Partition, rt.Partitions)
				}
				out[rt.Topic][rp.Partition] = rp.ErrorCode
			}
		}
		return out
	}

	// Named partitions: every one answered once, ELECTION_NOT_NEEDED too.
	resp := call(2, 0, []kmsg.ElectLeadersRequestTopic{topic("t", 0, 1, 0), topic("t", 1), topic("x", 3)})
	got := codes(resp)
	if len(got) != 2 || len(got["t"]) != 2 || got["t"][0] != 0 || got["t"][1] != kerr.ElectionNotNeeded.Code || got["x"][3] != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("named election answered %v", got)
	}
	if be.typ != metadata.ElectPreferred || len(be.parts["t"]) != 2 {
		t.Fatalf("backend asked type %d for %v", be.typ, be.parts)
	}
	// A null list: every partition, leaving out those needing no election.
	got = codes(call(2, 0, nil))
	if be.parts != nil || len(got) != 1 || len(got["t"]) != 1 || got["t"][0] != 0 {
		t.Fatalf("all-partitions election answered %v (backend asked for %v)", got, be.parts)
	}
	// v0 has no election type: always preferred.
	call(0, 1, []kmsg.ElectLeadersRequestTopic{topic("t", 0)})
	if be.typ != metadata.ElectPreferred {
		t.Fatalf("v0 request ran election type %d", be.typ)
	}
	call(1, 1, []kmsg.ElectLeadersRequestTopic{topic("t", 0)})
	if be.typ != metadata.ElectUnclean {
		t.Fatalf("v1 unclean request ran election type %d", be.typ)
	}
	// An unknown election type is refused without an election.
	calls := be.calls
	resp = call(1, 5, []kmsg.ElectLeadersRequestTopic{topic("t", 0)})
	if got = codes(resp); resp.ErrorCode != kerr.InvalidRequest.Code || got["t"][0] != kerr.InvalidRequest.Code || be.calls != calls {
		t.Fatalf("election type 5: top-level %d, partitions %v, backend calls %d -> %d", resp.ErrorCode, got, calls, be.calls)
	}
}

// An election refused with NOT_CONTROLLER while the controller moves (no
// controller to forward it to yet, or this broker about to become it) is
// tried again until the request's time is up, as Kafka 4's broker sends a
// forwarded request again on NOT_CONTROLLER (its broker-to-controller
// channel). Before, the first NOT_CONTROLLER was the answer, and the Java
// admin client's electLeaders, which does not retry it, failed.
func TestElectLeadersRetriedWhileTheControllerMoves(t *testing.T) {
	cfg := config.Defaults()
	cfg.BrokerID = 1
	cfg.LogDirs = []string{t.TempDir()}
	be := &electBackend{Backend: metadata.NewLocal(cfg.LogDirs[0], metadata.BrokerInfo{ID: 1, Endpoints: map[string]metadata.Endpoint{"PLAINTEXT": {Host: "127.0.0.1", Port: 9092}}}), notController: 3}
	b, err := New(Options{Config: cfg, Log: zerolog.Nop(), Backend: be})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.CreateTopic(ctx, metadata.TopicSpec{Name: "t", Partitions: 2, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	r := kmsg.NewPtrElectLeadersRequest()
	r.Version, r.TimeoutMillis = 2, 5000
	rt := kmsg.NewElectLeadersRequestTopic()
	rt.Topic, rt.Partitions = "t", []int32{0}
	r.Topics = append(r.Topics, rt)
	raw, err := b.handleElectLeaders(ctx, &protocol.Request{Key: 43, Version: 2, Body: r})
	if err != nil {
		t.Fatal(err)
	}
	resp := raw.(*kmsg.ElectLeadersResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("election while the controller moved: %+v, want t-0 elected", resp.Topics)
	}
	if be.calls != 4 {
		t.Fatalf("backend asked %d times, want 4 (3 refusals, then the election)", be.calls)
	}
}
