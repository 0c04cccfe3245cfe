// Command gregor runs a Gregor broker: a Kafka-compatible message broker.
//
//	gregor                                   one broker on 127.0.0.1:9092, data in ./data
//	gregor --config server.properties        Kafka's server.properties, as it is
//	gregor --set key=value ...               override single keys
//	gregor check-config server.properties    report every problem of a config, start nothing
//	gregor dump-log --files SEGMENT.log      print a segment's batches, as kafka-dump-log.sh
//	gregor --version                         version, commit, Go version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

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
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usageText = `gregor: a Kafka-compatible message broker.

Usage:
  gregor [--config server.properties] [--set key=value ...]
  gregor server.properties [--set key=value ...]   (--override key=value too)
  gregor check-config server.properties [--set key=value ...]
  gregor dump-log [--print-data-log] [--deep-iteration] [--max-bytes N] --files FILE[,FILE...]
  gregor --version

Configuration is Kafka's server.properties keys, given in either of two ways
(both at once: --set overrides the file):
  a file     gregor --config server.properties   (or kafka-server-start.sh style:
             gregor server.properties)
  key=value  gregor --set listeners=PLAINTEXT://0.0.0.0:9092 --set log.dirs=/var/lib/gregor
With neither, one broker listens on 127.0.0.1:9092 and keeps its data in ./data.
The status page, /metrics, /healthz and /readyz are served at the host:port
gregor.metrics.listener names (default 127.0.0.1:9404, so http://127.0.0.1:9404/;
empty: not served).

Flags:
`

const usageTail = `
Documentation: README.md at the root of Gregor's source repository
(configuration keys, clusters on ZooKeeper, security, quotas, metrics and the
status page, the Grafana dashboard in monitor/grafana/).
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "check-config":
			return checkConfig(args[1:], stdout, stderr)
		case "dump-log":
			return dumpLog(args[1:], stdout, stderr)
		case "version":
			fmt.Fprintln(stdout, versionLine())
			return 0
		}
	}
	fs := flag.NewFlagSet("gregor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "Kafka `server.properties` file")
	sets := setFlags{}
	fs.Var(sets, "set", "override a config key: --set `key=value` (repeatable)")
	fs.Var(sets, "override", "the same as --set, as kafka-server-start.sh takes it: --override `key=value`")
	showVersion := fs.Bool("version", false, "print the version, commit and Go version, and exit")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), usageTail)
	}
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(stdout)
			fs.Usage()
			return 0
		}
	}
	// kafka-server-start.sh style: the properties file first, flags after.
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") && strings.HasSuffix(args[0], ".properties") {
		*cfgPath, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, versionLine())
		return 0
	}
	if fs.NArg() == 1 && *cfgPath == "" && strings.HasSuffix(fs.Arg(0), ".properties") {
		*cfgPath = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gregor: unexpected arguments %q (see gregor --help)\n", fs.Args())
		return 2
	}
	var cfg *config.Config
	var err error
	if *cfgPath != "" {
		cfg, err = config.LoadFile(*cfgPath, sets)
	} else {
		cfg, err = config.Load(nil, sets)
	}
	if err != nil {
		fmt.Fprintf(stderr, "gregor: invalid configuration:\n%v\n(gregor check-config lists every problem; see gregor --help)\n", err)
		return 2
	}
	return serve(cfg, stderr)
}

// serve runs the broker until SIGINT or SIGTERM.
func serve(cfg *config.Config, stderr io.Writer) int {
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	log.Info().Str("version", versionLine()).Msg("starting gregor")
	for _, k := range cfg.Unknown {
		if use, ok := config.RemovedKey(k); ok {
			log.Warn().Str("key", k).Str("use", use).Msg("config key removed in Kafka 4.0 ignored")
			continue
		}
		log.Warn().Str("key", k).Msg("unknown config key ignored")
	}
	for _, in := range config.NoEffectKeys(cfg.Values, false) {
		log.Warn().Str("key", in.Key).Str("why", in.Why).Msg("config key accepted but has no effect in Gregor")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv, err := start(ctx, cfg, log)
	if err != nil && ctx.Err() != nil {
		log.Info().Msg("stopped by a signal before start-up completed")
		return 1
	}
	if err != nil {
		log.Error().Err(err).Msg("start-up failed")
		return 1
	}
	if err := srv.startMonitor(cfg); err != nil {
		log.Error().Err(err).Msg("start-up failed")
		srv.shutdown(context.Background())
		return 1
	}
	srv.logStarted(cfg)
	code := 0
	select {
	case <-ctx.Done():
	case <-srv.broker.Failed():
		// Every log dir failed: nothing more can be served. Stop as
		// for a signal (leaderships are handed over first), and say so
		// in the exit status, as Kafka halts.
		code = 1
	}
	stop()
	log.Info().Msg("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.shutdown(shutdownCtx); err != nil && !errors.Is(err, context.Canceled) {
		log.Error().Err(err).Msg("shutdown")
		return 1
	}
	return code
}
