package main

// Brokers in steady state. A broker that has run for a while has a page
// cache as large as the machine lets it be, and each write takes a page
// the kernel reclaims from old log data. A fresh broker on a machine with
// gigabytes free instead takes pages the kernel has never handed out, and
// on a VM with free page reporting (see machine.go) the first touch of each
// traps to the host: a run then measures how much of its memory the host
// happens to back, three times as much for three brokers on one machine as
// for one. memoryGroups puts each broker in a memory cgroup of its own with
// a limit, so that after a warm-up run every broker writes into pages
// reclaimed from its own page cache, as on a machine of that size.

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// memoryGroups creates and removes per-broker memory cgroups under the
// bench's own (cgroup v1 memory controller, or v2 with memory enabled).
type memoryGroups struct {
	parent string // the directory the groups are made in
	v2     bool
	limit  int64
	made   []string
}

// newMemoryGroups finds where this process may make memory cgroups; nil
// (with the reason) when it may not or limitMB is 0.
func newMemoryGroups(limitMB int) (*memoryGroups, string) {
	if limitMB <= 0 {
		return nil, "-memory-mb 0"
	}
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, err.Error()
	}
	defer f.Close()
	var v1, v2 string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2 = parts[2]
		case strings.Contains(","+parts[1]+",", ",memory,"):
			v1 = parts[2]
		}
	}
	g := &memoryGroups{limit: int64(limitMB) << 20}
	switch {
	case v1 != "":
		g.parent = filepath.Join("/sys/fs/cgroup/memory", v1)
	case v2 != "":
		root := "/sys/fs/cgroup"
		if _, err := os.Stat("/sys/fs/cgroup/unified/cgroup.controllers"); err == nil {
			root = "/sys/fs/cgroup/unified"
		}
		g.parent, g.v2 = filepath.Join(root, v2), true
		ctl, _ := os.ReadFile(filepath.Join(g.parent, "cgroup.subtree_control"))
		if !strings.Contains(" "+strings.TrimSpace(string(ctl))+" ", " memory ") {
			return nil, "the memory controller is not enabled for " + g.parent
		}
	default:
		return nil, "no memory cgroup"
	}
	probe := filepath.Join(g.parent, fmt.Sprintf("gregor-bench-%d-probe", os.Getpid()))
	if err := os.Mkdir(probe, 0o755); err != nil {
		return nil, err.Error()
	}
	os.Remove(probe)
	return g, ""
}

// place moves pid into a new group of its own named name.
func (g *memoryGroups) place(name string, pid int) error {
	if g == nil {
		return nil
	}
	dir := filepath.Join(g.parent, fmt.Sprintf("gregor-bench-%d-%s", os.Getpid(), name))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	g.made = append(g.made, dir)
	limitFile := "memory.limit_in_bytes"
	if g.v2 {
		limitFile = "memory.max"
	}
	if err := os.WriteFile(filepath.Join(dir, limitFile), []byte(strconv.FormatInt(g.limit, 10)), 0o644); err != nil {
		return fmt.Errorf("limiting %s: %w", dir, err)
	}
	return os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644)
}

// remove deletes the groups; their processes must have exited.
func (g *memoryGroups) remove() {
	if g == nil {
		return
	}
	for _, dir := range g.made {
		os.Remove(dir)
	}
}

func (g *memoryGroups) describe(why string) string {
	if g == nil {
		return "brokers take memory as it comes (" + why + ")"
	}
	return fmt.Sprintf("each broker in a memory cgroup of %d MB, after a warm-up run", g.limit>>20)
}
