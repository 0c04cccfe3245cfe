// Package browser drives a headless Chromium (Debian's chromium) for
// tests of pages a person reads: the DOM after the page rendered, and
// screenshots.
package browser

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
)

// Find returns the Chromium binary (CHROMIUM, or chromium on PATH).
func Find() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium on PATH (make deps installs Debian's chromium)")
}

// args are the flags that work on a machine without a network or a
// display: without the background-networking ones Chromium keeps trying
// to reach Google's hosts.
func args(profile string) []string {
	return []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + profile}
}

func run(ctx context.Context, bin string, extra ...string) ([]byte, error) {
	profile, err := os.MkdirTemp("", "gregor-chromium-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(profile)
	cmd := exec.CommandContext(ctx, bin, append(args(profile), extra...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %v\n%s", bin, err, lastBytes(stderr.Bytes(), 4<<10))
	}
	return stdout.Bytes(), nil
}

// DumpDOM loads url and returns the DOM as serialized after the page
// rendered (chromium --dump-dom).
func DumpDOM(ctx context.Context, bin, url string) (string, error) {
	out, err := run(ctx, bin, "--dump-dom", url)
	return string(out), err
}

// Screenshot saves a PNG of url rendered in a window of width x height.
func Screenshot(ctx context.Context, bin, url, path string, width, height int) error {
	_, err := run(ctx, bin, "--hide-scrollbars", "--window-size="+strconv.Itoa(width)+","+strconv.Itoa(height), "--screenshot="+path, url)
	return err
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
