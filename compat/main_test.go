// Package compat drives real, independently written Kafka clients against
// a running broker: a gregor process started for the package's tests, or
// any broker named by COMPAT_BOOTSTRAP (host:port), a real Apache Kafka
// included, so the same suite proves both sides agree.
//
// KAFKA_TOOLS_DIR names the bin directory of an Apache Kafka distribution
// (kafka-topics.sh, ...); tests that need the Java tools skip without it.
package compat

import (
	"crypto/rand"
	"encoding/hex"
	"flag"
	"os"
	"strings"
	"sync"
	"testing"

	"gregor/internal/brokertest"
)

var (
	sharedOnce sync.Once
	sharedAddr string
	sharedT    *sharedTB
)

// bootstrap returns the address of the broker under test: COMPAT_BOOTSTRAP
// if set, otherwise one gregor process shared by the package's tests.
func bootstrap(t testing.TB) string {
	t.Helper()
	if a := os.Getenv("COMPAT_BOOTSTRAP"); a != "" {
		return a
	}
	if testing.Short() {
		t.Skip("-short: needs a broker (a gregor process, or COMPAT_BOOTSTRAP)")
	}
	sharedOnce.Do(func() {
		sharedT = &sharedTB{TB: t}
		b := brokertest.StartShared(sharedT, brokertest.Options{Set: brokerSettings(t)})
		sharedAddr = b.Addr
		sharedBroker = b
	})
	if sharedAddr == "" {
		t.Fatal("shared broker failed to start")
	}
	return sharedAddr
}

var sharedBroker *brokertest.Broker

// brokerSettings are broker.properties' settings, which the cluster run
// (scripts/compat-cluster.sh) passes to its brokers too.
func brokerSettings(t testing.TB) map[string]string {
	data, err := os.ReadFile("broker.properties")
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("broker.properties: %q is not key=value", line)
		}
		set[k] = v
	}
	return set
}

// usingGregor reports whether the tests run against our own process (so
// tests may read its logs or data directory).
func usingGregor() bool { return os.Getenv("COMPAT_BOOTSTRAP") == "" }

// sharedTB lets the shared broker outlive the test that started it.
type sharedTB struct{ testing.TB }

// randomName returns a unique topic or group name with a prefix.
func randomName(prefix string) string {
	var b [6]byte
	rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	for _, b := range secBrokers { // security_test.go
		b.Kill()
		if code != 0 {
			os.Stderr.WriteString("secure gregor log (last 16 KiB):\n" + b.Logs(16<<10) + "\n")
		}
		b.Cleanup()
	}
	if secShared != nil {
		os.RemoveAll(secShared.certs.Dir)
	}
	if sharedBroker != nil {
		sharedBroker.Kill()
		if code != 0 {
			os.Stderr.WriteString("shared gregor log (last 16 KiB):\n" + sharedBroker.Logs(16<<10) + "\n")
		}
		sharedBroker.Cleanup()
	}
	os.Exit(code)
}
