package loglevel

import (
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestLevelsFollowRootUntilSet(t *testing.T) {
	var out strings.Builder
	l := New(zerolog.New(&out).Level(zerolog.ErrorLevel), zerolog.InfoLevel)
	net := l.Logger("net")
	// Sampled by the component itself: zerolog keeps one sampler per
	// logger, so the level must hold through the hook as well.
	sampled := l.Logger("broker").Sample(&zerolog.BurstSampler{Burst: 100, Period: time.Second})
	root := l.Logger(Root)

	if net.Debug().Enabled() {
		t.Fatal("debug enabled on a logger following an INFO root")
	}
	net.Info().Msg("net-info")
	sampled.Debug().Msg("broker-debug-hidden")
	root.Info().Msg("root-info")
	if !l.Set("net", zerolog.DebugLevel) {
		t.Fatal("Set of an existing logger refused")
	}
	if !net.Debug().Enabled() {
		t.Fatal("debug not enabled on an already made logger after Set")
	}
	net.Debug().Msg("net-debug")
	sampled.Debug().Msg("broker-debug-hidden-2")
	l.Set(Root, zerolog.WarnLevel)
	sampled.Info().Msg("broker-info-hidden")
	root.Info().Msg("root-info-hidden")
	net.Debug().Msg("net-debug-2") // its own level, not the root's
	l.Set("broker", zerolog.DebugLevel)
	sampled.Debug().Msg("broker-debug")
	l.Unset("net")
	net.Info().Msg("net-info-hidden")
	net.Warn().Msg("net-warn")

	got := out.String()
	for _, want := range []string{"net-info", "root-info", "net-debug", "net-debug-2", "broker-debug", "net-warn"} {
		if !strings.Contains(got, `"message":"`+want+`"`) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "hidden") {
		t.Errorf("a line below its logger's level was written:\n%s", got)
	}
	if !strings.Contains(got, `"component":"net"`) || strings.Contains(got, `"component":"root"`) {
		t.Errorf("component fields wrong:\n%s", got)
	}
}

func TestNamesAndUnknown(t *testing.T) {
	l := New(zerolog.Nop(), zerolog.InfoLevel)
	l.Logger("zookeeper")
	l.Logger("broker")
	l.Logger("broker")
	if got := strings.Join(l.Names(), ","); got != "root,broker,zookeeper" {
		t.Fatalf("Names = %s", got)
	}
	if l.Exists("nope") || l.Set("nope", zerolog.DebugLevel) || l.Unset("nope") || l.Unset(Root) {
		t.Fatal("an unknown logger, or unsetting the root, was accepted")
	}
	if lvl, _ := l.Level("broker"); lvl != zerolog.InfoLevel {
		t.Fatalf("broker level %v, want the root's", lvl)
	}
	for name, want := range map[string]bool{"DEBUG": true, "debug": false, "OFF": false, "WARN": true, "WARNING": false} {
		if _, ok := ParseKafka(name); ok != want {
			t.Errorf("ParseKafka(%q) ok=%v", name, ok)
		}
	}
	if KafkaName(zerolog.WarnLevel) != "WARN" || KafkaName(zerolog.TraceLevel) != "TRACE" {
		t.Fatal("KafkaName")
	}
}
