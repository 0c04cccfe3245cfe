package main

// gregor check-config: load a configuration as the broker would, report
// every problem at once (unknown keys, invalid values, settings Gregor
// cannot honour such as a missing keystore or an unsupported SASL
// mechanism), and start nothing.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/rs/zerolog"

	"gregor/broker/config"
	"gregor/protocol/sasl"
)

// noCredentials stands in for the broker's SCRAM credential store: a
// check reads no metadata.
type noCredentials struct{}

func (noCredentials) ScramCredential(string, string) (sasl.ScramCredential, bool) {
	return sasl.ScramCredential{}, false
}

func checkConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gregor check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sets := setFlags{}
	fs.Var(sets, "set", "override a config key: --set `key=value` (repeatable)")
	fs.Var(sets, "override", "the same as --set: --override `key=value`")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: gregor check-config server.properties [--set key=value ...]\n\nReports every problem of a configuration at once and starts nothing.\nExit status: 0 when the broker would start (unknown keys are only warned\nabout, as the broker ignores them), 1 when it would not, 2 on bad usage.")
		fs.PrintDefaults()
	}
	var path string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		path, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if path == "" && fs.NArg() == 1 {
		path = fs.Arg(0)
	} else if fs.NArg() > 0 || (path == "" && len(sets) == 0) {
		fs.Usage()
		return 2
	}
	var values map[string]string
	if path != "" {
		var err error
		if values, err = config.ReadFile(path); err != nil {
			fmt.Fprintf(stdout, "error: %v\n", err)
			return 1
		}
	}
	errs, warnings := configProblems(values, sets)
	name := path
	if name == "" {
		name = "the --set keys"
	}
	for _, w := range warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	for _, e := range errs {
		fmt.Fprintf(stdout, "error: %s\n", e)
	}
	if len(errs) > 0 {
		fmt.Fprintf(stdout, "%s: %d errors, %d warnings: gregor would not start\n", name, len(errs), len(warnings))
		return 1
	}
	fmt.Fprintf(stdout, "%s: OK (%d warnings)\n", name, len(warnings))
	return 0
}

// configProblems lists what stops a broker from starting with a
// configuration, and what it would warn about.
func configProblems(values, overrides map[string]string) (errs, warnings []string) {
	cfg, unknown, err := config.Check(values, overrides)
	for _, k := range unknown {
		if use, ok := config.RemovedKey(k); ok {
			warnings = append(warnings, fmt.Sprintf("%s: removed in Kafka 4.0, ignored (use %s)", k, use))
			continue
		}
		warnings = append(warnings, fmt.Sprintf("%s: unknown key, ignored", k))
	}
	if err != nil {
		errs = append(errs, splitErrors(err)...)
		return errs, warnings
	}
	// What start-up warns about: keys Kafka has that do nothing here.
	for _, in := range config.NoEffectKeys(cfg.Values, false) {
		warnings = append(warnings, fmt.Sprintf("%s: accepted but has no effect in Gregor (%s)", in.Key, in.Why))
	}
	// What only start-up would find: stores, JAAS configs, validators.
	opts := connectionOptions(cfg)
	if err := opts.Validate(); err != nil {
		errs = append(errs, splitErrors(err)...)
	}
	for _, l := range cfg.Listeners {
		if _, err := listenerSecurity(cfg, l.Name, noCredentials{}, zerolog.Nop()); err != nil {
			errs = append(errs, err.Error())
		}
	}
	return errs, warnings
}

// splitErrors lists the errors errors.Join gathered, one per line.
func splitErrors(err error) []string {
	var out []string
	for _, line := range strings.Split(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}
