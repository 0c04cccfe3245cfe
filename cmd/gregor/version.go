package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by the build (-ldflags "-X main.version=... -X main.commit=..."),
// as make build does; otherwise read from the module and VCS information
// Go records in the binary.
var (
	version = ""
	commit  = ""
)

// versionLine is what gregor --version prints: version, commit, Go.
func versionLine() string {
	v, c, modified, when := version, commit, false, ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if c == "" {
					c = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			case "vcs.time":
				when = s.Value
			}
		}
	}
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	if len(c) > 12 {
		c = c[:12]
	}
	if c == "" {
		c = "unknown"
	}
	if modified {
		c += "-dirty"
	}
	line := fmt.Sprintf("gregor %s (commit %s", v, c)
	if when != "" {
		line += ", " + when
	}
	return line + fmt.Sprintf(") %s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
