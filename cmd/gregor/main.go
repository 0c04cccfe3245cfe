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
	"os"
	"os/signal"
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
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv, err := start(ctx, cfg, log)
	if err != nil {
		log.Error().Err(err).Msg("start-up failed")
		return 1
	}
	if err := srv.serveMetrics(ctx, cfg.MetricsListener); err != nil {
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
