package zkmeta

import (
	"os"
	"path/filepath"
	"testing"

	"time"

	"gregor/broker/metadata"
	"gregor/internal/wait"
	"gregor/internal/zktest"
)

// A registration replaced between two reads (a broker gone and back, as a
// restart that removes its previous run's registration makes it) is kept
// for the next round's control only by the controller. A broker that is
// not the controller used to keep it until it became controller, maybe
// much later, and then moved the leaderships off a broker long back.
func TestOnlyTheControllerKeepsBounces(t *testing.T) {
	z := zktest.Start(t)
	b := startLone(t, z.Addr+"/bounce")
	wait.For(t, "broker 1 to be controller and see itself registered", 20*time.Second, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.isController && b.brokers[1] != nil
	})
	for _, controller := range []bool{false, true} {
		b.mu.Lock()
		b.isController = controller
		b.brokers[1] = &liveBroker{info: metadata.BrokerInfo{ID: 1}, czxid: 1} // as read before a restart
		b.bounced = map[int32]bool{}
		err := b.processIDs()
		got := b.bounced[1]
		b.isController = true
		b.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		if got != controller {
			t.Fatalf("controller %v: broker 1's new registration taken as a bounce: %v, want %v", controller, got, controller)
		}
	}
}

// A broker registered again under a new session (its old one expired, as
// in a ZooKeeper outage) is the same process, its log intact: its new
// registration names its first one's czxid as its incarnation, and the
// states written since that first registration stay its own (not taken as
// a previous run's, which would empty every ISR down to its leader after
// an outage that expired every session).
func TestRegisteringAgainKeepsTheIncarnation(t *testing.T) {
	z := zktest.Start(t)
	const root = "/incarnation"
	b := startLone(t, z.Addr+root)
	raw := rawZK(t, z.Addr)
	_, first, err := raw.Get(root + "/brokers/ids/1")
	if err != nil {
		t.Fatal(err)
	}
	// A state written between the two registrations, naming broker 1.
	if _, err := raw.Create(root+"/between", nil, 0, b.acl); err != nil {
		t.Fatal(err)
	}
	_, between, err := raw.Get(root + "/between")
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Delete(root+"/brokers/ids/1", -1); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	err = b.register()
	b.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	data, again, err := raw.Get(root + "/brokers/ids/1")
	if err != nil {
		t.Fatal(err)
	}
	if again.Czxid == first.Czxid {
		t.Fatal("the registration was not made again")
	}
	_, inc, err := decodeBrokerIncarnation(1, data)
	if err != nil || inc != first.Czxid {
		t.Fatalf("registration again names incarnation %d (%v), want the first registration's czxid %d: %s", inc, err, first.Czxid, data)
	}
	wait.For(t, "broker 1 to read its new registration", 20*time.Second, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		lb := b.brokers[1]
		return lb != nil && lb.czxid == again.Czxid
	})
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.selfCzxid != first.Czxid || b.brokers[1].since != first.Czxid {
		t.Fatalf("incarnation: own %d, read %d; want %d", b.selfCzxid, b.brokers[1].since, first.Czxid)
	}
	st := &pstate{leader: 1, isr: []int32{1}, mzxid: between.Mzxid}
	if r := b.restarted(st, metadata.Live{1: true}); len(r) > 0 {
		t.Fatalf("a state written after the first registration is taken as a previous run's after registering again: %v", r)
	}
	st.mzxid = first.Czxid - 1
	if r := b.restarted(st, metadata.Live{1: true}); !r[1] {
		t.Fatalf("a state written before the first registration is not taken as a previous run's: %v", r)
	}
}

// The session a broker's previous run recorded is taken only from a file
// written on this machine: a log dir copied or moved to another machine,
// while the broker that wrote it may still run, must not remove that
// broker's live registration.
func TestPreviousSessionOnlyFromThisMachine(t *testing.T) {
	b := &backend{opt: Options{SessionFile: filepath.Join(t.TempDir(), SessionFileName)}}
	b.keepSession(0x1234abcd)
	if got := b.previousSession(); got != 0x1234abcd {
		t.Fatalf("previous session read back as %x, want 1234abcd", got)
	}
	for name, content := range map[string]string{
		"another machine":            "1234abcd\nmachine-id 00000000000000000000000000000000\n",
		"no machine (an older file)": "1234abcd\n",
		"garbage":                    "zz\n" + machineIdentity() + "\n",
	} {
		if err := os.WriteFile(b.opt.SessionFile, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := b.previousSession(); got != 0 {
			t.Errorf("%s: previous session %x taken, want none", name, got)
		}
	}
}
