// Command gregor runs a Gregor broker: a Kafka-compatible message broker.
//
//	gregor                                   one broker on 127.0.0.1:9092, data in ./data
//	gregor --config server.properties        Kafka's server.properties, as it is
//	gregor --set key=value ...               override single keys
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"gregor/broker/config"
)

// setFlags collects repeated --set key=value flags.
type setFlags map[string]string

func (s setFlags) String() string { return fmt.Sprint(map[string]string(s)) }
func (s setFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("--set wants key=value, got %q", v)
	}
	s[strings.TrimSpace(k)] = val
	return nil
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("gregor", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "Kafka server.properties file")
	sets := setFlags{}
	fs.Var(sets, "set", "override a config key: --set key=value (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 1 && *cfgPath == "" && strings.HasSuffix(fs.Arg(0), ".properties") {
		*cfgPath = fs.Arg(0) // kafka-server-start.sh style
	}
	var cfg *config.Config
	var err error
	if *cfgPath != "" {
		cfg, err = config.LoadFile(*cfgPath, sets)
	} else {
		cfg, err = config.Load(nil, sets)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gregor: invalid configuration:\n%v\n", err)
		return 2
	}
	log := newLogger(cfg.LogLevel)
	for _, k := range cfg.Unknown {
		log.Warn().Str("key", k).Msg("unknown config key ignored")
	}
	for _, in := range config.NoEffectKeys(cfg.Values, false) {
		log.Warn().Str("key", in.Key).Str("why", in.Why).Msg("config key accepted but has no effect in Gregor")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv, err := start(ctx, cfg, log)
	if err != nil {
		log.Error().Err(err).Msg("start-up failed")
		return 1
	}
	if err := srv.startMetrics(ctx, cfg); err != nil {
		log.Error().Err(err).Msg("start-up failed")
		srv.shutdown(context.Background())
		return 1
	}
	<-ctx.Done()
	stop()
	log.Info().Msg("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.shutdown(shutdownCtx); err != nil && !errors.Is(err, context.Canceled) {
		log.Error().Err(err).Msg("shutdown")
		return 1
	}
	return 0
}

func newLogger(level string) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	return zerolog.New(os.Stderr).Level(lvl).With().Timestamp().Logger()
}

// startMetrics opens the metrics endpoint. A gregor.metrics.listener set
// by the operator must open, or start-up fails. The default (127.0.0.1:9404)
// is only a preference: a second broker on the host, started from a
// Kafka server.properties copied with another broker.id, listeners and
// log.dirs (Kafka's quickstart), finds it taken, so it moves by its first
// listener's distance from 9092 (a broker on 9093 serves metrics on 9405),
// else to a free port; failing that the broker runs without metrics. Each
// move is logged with the address taken.
func (s *server) startMetrics(ctx context.Context, cfg *config.Config) error {
	if _, explicit := cfg.Values["gregor.metrics.listener"]; explicit || cfg.MetricsListener == "" {
		return s.serveMetrics(ctx, cfg.MetricsListener)
	}
	var first error
	for i, addr := range metricsFallbacks(cfg) {
		err := s.serveMetrics(ctx, addr)
		if err == nil {
			if i > 0 {
				s.log.Warn().Str("default", cfg.MetricsListener).Str("addr", addr).Err(first).
					Msg("default metrics address taken (another broker on this host?); set gregor.metrics.listener to choose one")
			}
			return nil
		}
		if first == nil {
			first = err
		}
	}
	s.log.Warn().Err(first).Msg("no metrics endpoint: the default address and its fallbacks are taken; set gregor.metrics.listener")
	return nil
}

// metricsFallbacks lists the addresses the default metrics endpoint tries:
// the default, the default port moved as far as the first listener's port
// is from Kafka's 9092, then any free port on the same host.
func metricsFallbacks(cfg *config.Config) []string {
	host, port, err := net.SplitHostPort(cfg.MetricsListener)
	if err != nil {
		return []string{cfg.MetricsListener}
	}
	out := []string{cfg.MetricsListener}
	if p, err := strconv.Atoi(port); err == nil && len(cfg.Listeners) > 0 {
		if moved := p + cfg.Listeners[0].Port - 9092; moved != p && moved > 0 && moved < 65536 {
			out = append(out, net.JoinHostPort(host, strconv.Itoa(moved)))
		}
	}
	return append(out, net.JoinHostPort(host, "0"))
}
