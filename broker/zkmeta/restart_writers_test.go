package zkmeta

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/metadata"
	"gregor/internal/wait"
	"gregor/internal/zktest"
)

// The controller's own writers other than its round, a reassignment and a
// leader election, do not carry a restarted replica's leadership or ISR
// membership into a newer state, where the round would take it as
// current: broker 1 registers after the states were written (a restart),
// and its previous run's log may have lost its tail. They run here as
// the controller runs them, fenced by /controller_epoch, while a stand-in
// holds /controller so that no round decides first.
func TestControllerWritersDropRestartedReplicas(t *testing.T) {
	z := zktest.Start(t)
	const root = "/writers"
	raw := rawZK(t, z.Addr)
	acl := zk.WorldACL(zk.PermAll)
	create := func(path string, data []byte, flags int32) {
		t.Helper()
		if _, err := raw.Create(root+path, data, flags, acl); err != nil {
			t.Fatalf("creating %s: %v", path, err)
		}
	}
	for _, p := range []string{"", "/brokers", "/brokers/ids", "/brokers/topics"} {
		create(p, nil, 0)
	}
	create("/controller", []byte(`{"version":1,"brokerid":99,"timestamp":"0"}`), zk.FlagEphemeral)
	create("/controller_epoch", []byte("1"), 0)
	for _, id := range []string{"2", "3"} {
		create("/brokers/ids/"+id, []byte(`{"version":5,"host":"127.0.0.1","port":9092,"jmx_port":-1,"timestamp":"0","features":{},`+
			`"endpoints":["PLAINTEXT://127.0.0.1:9092"],"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"}}`), zk.FlagEphemeral)
	}
	topic := func(name string, replicas, adding, removing []int32, leader, epoch int32, isr []int32) {
		t.Helper()
		mj := func(v any) []byte {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		orNone := func(r []int32) map[string][]int32 {
			if r == nil {
				return map[string][]int32{}
			}
			return map[string][]int32{"0": r}
		}
		create("/brokers/topics/"+name, mj(map[string]any{"version": 3, "topic_id": metadata.NewUuid().String(),
			"partitions": map[string][]int32{"0": replicas}, "adding_replicas": orNone(adding), "removing_replicas": orNone(removing)}), 0)
		create("/brokers/topics/"+name+"/partitions", nil, 0)
		create("/brokers/topics/"+name+"/partitions/0", nil, 0)
		create("/brokers/topics/"+name+"/partitions/0/state", mj(map[string]any{"controller_epoch": 1, "leader": leader, "version": 1,
			"leader_epoch": epoch, "isr": isr}), 0)
	}
	// A reassignment of [1 2] to [1 3] under way, led by broker 1.
	topic("re", []int32{1, 3, 2}, []int32{3}, []int32{2}, 1, 5, []int32{1, 2})
	// A reassignment of [1 2] to [1 3] whose target is in sync, led by
	// broker 1.
	topic("done", []int32{1, 3, 2}, []int32{3}, []int32{2}, 1, 5, []int32{1, 2, 3})
	// Broker 1 is the preferred leader, in the ISR of broker 2's leadership.
	topic("el", []int32{1, 2, 3}, nil, nil, 2, 5, []int32{2, 1, 3})

	b := startLone(t, z.Addr+root) // broker 1, registered after the states: restarted
	wait.For(t, "broker 1 to read brokers 1-3 and both topics' states", 20*time.Second, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		ok := b.brokers[1] != nil && b.brokers[2] != nil && b.brokers[3] != nil
		for _, n := range []string{"re", "done", "el"} {
			tc := b.topics[n]
			ok = ok && tc != nil && len(tc.states) == 1 && tc.states[0] != nil
		}
		return ok
	})
	_, st, err := raw.Get(root + controllerEpochZ)
	if err != nil {
		t.Fatal(err)
	}
	fence := &zk.CheckVersionRequest{Path: root + controllerEpochZ, Version: st.Version}
	live := metadata.NewLive(1, 2, 3)
	state := func(name string) (leader, epoch int32, isr []int32) {
		t.Helper()
		data, _, err := raw.Get(root + statePath(name, 0))
		if err != nil {
			t.Fatal(err)
		}
		s, err := decodeState(data)
		if err != nil {
			t.Fatal(err)
		}
		return s.Leader, s.LeaderEpoch, s.ISR
	}

	// Cancelling the reassignment takes broker 3 away (the next epoch);
	// broker 1, restarted, neither leads nor stays in the ISR of it.
	res := map[int32]error{}
	if err := b.reassignTopic("re", map[int32][]int32{0: nil}, live, nil, false, res, fence, 1); err != nil || res[0] != nil {
		t.Fatalf("cancelling the reassignment: %v, %v", err, res[0])
	}
	if leader, epoch, isr := state("re"); leader != 2 || epoch != 6 || !slices.Equal(isr, []int32{2}) {
		t.Fatalf("cancelled reassignment wrote leader %d epoch %d ISR %v; want broker 2 at epoch 6 alone (broker 1 restarted since the state)", leader, epoch, isr)
	}

	// The round completes no reassignment of a partition naming a
	// restarted replica: its Rejoin comes first.
	b.mu.Lock()
	b.ctrlEpoch, b.ctrlEpochVer = 1, st.Version
	err = b.completeReassignment(b.topics["done"], 0, live, live)
	b.mu.Unlock()
	if leader, epoch, isr := state("done"); err != nil || leader != 1 || epoch != 5 {
		t.Fatalf("completing the reassignment of a partition led by a restarted replica: %v, wrote leader %d epoch %d ISR %v; want the state unchanged", err, leader, epoch, isr)
	}

	// A preferred election does not elect broker 1, restarted: it is
	// not available.
	err = b.electOne(metadata.ElectPreferred, "el", 0, []int32{1, 2, 3}, live, fence, 1)
	if leader, epoch, isr := state("el"); leader != 2 || epoch != 5 || !errors.Is(err, kerr.PreferredLeaderNotAvailable) {
		t.Fatalf("preferred election with the preferred replica restarted: %v, wrote leader %d epoch %d ISR %v; want PREFERRED_LEADER_NOT_AVAILABLE and broker 2 at epoch 5", err, leader, epoch, isr)
	}
}
