package config

import (
	"errors"
	"strings"
	"testing"
)

// The reconfiguration checks of Kafka's reconfigurable components: each
// refusal is "Invalid dynamic configuration" with Kafka's reason as its
// cause.
func TestCheckDynamicReconfiguration(t *testing.T) {
	c := Defaults()
	for _, tc := range []struct {
		perBroker bool
		set       map[string]string
		cause     string
	}{
		{false, map[string]string{"num.io.threads": "16"}, ""},
		{false, map[string]string{"num.io.threads": "17"}, "Dynamic thread count update validation failed for num.io.threads=17, value should not be greater than double the current value 8"},
		{true, map[string]string{"num.recovery.threads.per.data.dir": "5"}, "value should not be greater than double the current value 2"},
		{true, map[string]string{"background.threads": "4"}, "Dynamic thread count update validation failed for background.threads=4, value should be at least half the current value 10"},
		{false, map[string]string{"num.network.threads": "7"}, "Dynamic thread count update validation failed for num.network.threads=7"},
		{true, map[string]string{"listener.name.plaintext.num.network.threads": "1"}, ""}, // 1 is not below 3/2 in Kafka's integers
		{true, map[string]string{"listener.name.plaintext.num.network.threads": "7"}, "value should not be greater than double the current value 3"},
		{false, map[string]string{"log.cleaner.threads": "3"}, "Log cleaner threads cannot be increased to more than double the current value 1"},
		{false, map[string]string{"log.cleaner.threads": "0"}, "Log cleaner threads should be at least 1"},
		{false, map[string]string{"log.cleaner.threads": "2", "message.max.bytes": "2000000"}, ""},
		{true, map[string]string{"listeners": "PLAINTEXT://127.0.0.1:9092,EXTRA://127.0.0.1:9095", "advertised.listeners": "PLAINTEXT://127.0.0.1:9092"}, "!Invalid dynamic configuration: listener.security.protocol.map: No security protocol defined for listener EXTRA"},
		{true, map[string]string{"listeners": "PLAINTEXT://127.0.0.1:9092,EXTRA://127.0.0.1:9095", "advertised.listeners": "PLAINTEXT://127.0.0.1:9092",
			"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,EXTRA:PLAINTEXT"}, "Listeners cannot be added, removed or moved at run time"},
		{true, map[string]string{"advertised.listeners": "PLAINTEXT://elsewhere:9092"}, "Advertised listeners cannot be altered at run time"},
		{true, map[string]string{"listener.security.protocol.map": "PLAINTEXT:SSL"}, "!listener PLAINTEXT is SSL and needs a keystore"},
		{true, map[string]string{"listener.name.plaintext.connections.max.reauth.ms": "1000"}, "Configs cannot be updated dynamically for existing listener PLAINTEXT, restart broker or create a new listener for update"},
		{true, map[string]string{"listener.name.plaintext.max.connections": "10", "listener.name.other.connections.max.reauth.ms": "1000"}, ""},
		{false, map[string]string{"log.cleaner.dedupe.buffer.size": "1048576"}, "!log.cleaner.dedupe.buffer.size must be at least 1MB per cleaner thread."},
		{false, map[string]string{"log.cleaner.threads": "2", "log.cleaner.dedupe.buffer.size": "2097152"}, "!log.cleaner.dedupe.buffer.size must be at least 1MB per cleaner thread."},
		{false, map[string]string{"log.cleaner.dedupe.buffer.size": "1048577"}, ""},
		// DynamicLogConfig: a local retention within the retention.
		{false, map[string]string{"log.local.retention.ms": "-1"}, "Value must not be -1 as log.retention.ms value is set as 604800000."},
		{false, map[string]string{"log.retention.ms": "1000", "log.local.retention.ms": "2000"}, "Value must not be more than log.retention.ms property value: 1000"},
		{false, map[string]string{"log.retention.ms": "-1", "log.local.retention.ms": "-1"}, ""},
		{false, map[string]string{"log.retention.bytes": "1000", "log.local.retention.bytes": "2000"}, "Value must not be more than log.retention.bytes property value: 1000"},
		{false, map[string]string{"log.local.retention.bytes": "-1"}, ""}, // log.retention.bytes is unlimited
		{false, map[string]string{"max.connections": "0"}, "Invalid max.connections 0"},
		{true, map[string]string{"listener.name.plaintext.max.connections": "0"}, "Invalid max.connections 0"},
		{false, map[string]string{"max.connection.creation.rate": "0"}, "Invalid max.connection.creation.rate 0"},
		{false, map[string]string{"max.connections": "0", "listener.name.plaintext.max.connections": "5"}, ""}, // the listener keeps its own

	} {
		err := c.CheckDynamic(tc.perBroker, tc.set)
		var re *ReconfigError
		switch {
		case tc.cause == "" && err != nil:
			t.Errorf("%v: %v, want accepted", tc.set, err)
		case tc.cause == "":
		case strings.HasPrefix(tc.cause, "!"):
			// What a new KafkaConfig refuses, before the reconfigurable
			// components are asked: its own message.
			if err == nil || errors.As(err, &re) || !strings.Contains(err.Error(), tc.cause[1:]) {
				t.Errorf("%v: %v, want %q", tc.set, err, tc.cause[1:])
			}
		case !errors.As(err, &re) || err.Error() != "Invalid dynamic configuration" || !strings.Contains(re.Cause.Error(), tc.cause):
			t.Errorf("%v: %v (%#v), want Invalid dynamic configuration because %q", tc.set, err, re, tc.cause)
		}
	}
}

// A listeners value stored dynamically by an older Gregor, never in force,
// may be deleted (the listeners go back to those bound) or kept while
// other keys change, though not changed.
func TestCheckDynamicStaleListenersDeletable(t *testing.T) {
	c, errs := Defaults().WithDynamic(Dynamic{PerBroker: map[string]string{"listeners": "PLAINTEXT://127.0.0.1:9999", "num.io.threads": "8"}})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if err := c.CheckDynamic(true, map[string]string{"num.io.threads": "8"}); err != nil {
		t.Fatalf("deleting the stale listeners: %v", err)
	}
	if err := c.CheckDynamic(true, map[string]string{"listeners": "PLAINTEXT://127.0.0.1:9999", "num.io.threads": "9"}); err != nil {
		t.Fatalf("another key changed while the stale listeners stay: %v", err)
	}
	if err := c.CheckDynamic(true, map[string]string{"listeners": "PLAINTEXT://127.0.0.1:9998"}); err == nil {
		t.Fatal("listeners changed again, to others than those bound: accepted")
	}
}

// So may a fixed config of an existing listener (its JAAS config) that an
// older Gregor stored.
func TestCheckDynamicStaleListenerConfigDeletable(t *testing.T) {
	const jaas = "listener.name.plaintext.plain.sasl.jaas.config"
	c, errs := Defaults().WithDynamic(Dynamic{PerBroker: map[string]string{jaas: "x required;"}})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if err := c.CheckDynamic(true, map[string]string{}); err != nil {
		t.Fatalf("deleting the stale JAAS config: %v", err)
	}
	if err := c.CheckDynamic(true, map[string]string{jaas: "y required;"}); err == nil {
		t.Fatal("the JAAS config of an existing listener changed: accepted")
	}
}

// Start-up refuses a dedupe buffer Kafka's KafkaConfig refuses.
func TestDedupeBufferPerCleanerThread(t *testing.T) {
	if _, err := Load(map[string]string{"log.cleaner.dedupe.buffer.size": "1000"}, nil); err == nil || !strings.Contains(err.Error(), "log.cleaner.dedupe.buffer.size must be at least 1MB per cleaner thread.") {
		t.Fatalf("log.cleaner.dedupe.buffer.size=1000: %v, want refused", err)
	}
}

// Start-up refuses a queued.max.request.bytes below socket.request.max.bytes,
// as Kafka's KafkaConfig requires; -1 (unbounded) and equal are accepted.
func TestQueuedMaxRequestBytesAtLeastSocketRequestMax(t *testing.T) {
	const want = "queued.max.request.bytes must be larger or equal to socket.request.max.bytes"
	if _, err := Load(map[string]string{"queued.max.request.bytes": "1048576"}, nil); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("queued.max.request.bytes=1048576 beside the default socket.request.max.bytes: %v, want refused", err)
	}
	for _, ok := range []map[string]string{
		{"queued.max.request.bytes": "-1"},
		{"queued.max.request.bytes": "1048576", "socket.request.max.bytes": "1048576"},
	} {
		if _, err := Load(ok, nil); err != nil {
			t.Fatalf("%v: %v, want accepted", ok, err)
		}
	}
}
