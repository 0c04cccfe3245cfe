package main

// The machine's price of fresh memory. A broker writes every produced byte
// into the page cache once (every replica does, so three brokers write it
// three times), and a page the kernel has not used for a while can cost far
// more to fill than one it has: on a VM whose freed memory goes back to the
// host (free page reporting, ballooning), the first touch of each page traps
// to the host. That cost is the machine's, not the broker's, and it can set
// the produce and replication rates by itself, so the reports print it.

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// pageCost is what filling memory costs on this machine, in ms per MB.
type pageCost struct {
	freshFile     float64 // appending to a new file: new page-cache pages
	overwriteFile float64 // rewriting the same file: pages already cached
	freshAnon     float64 // first touch of newly mapped anonymous memory
}

// measurePageCost writes size bytes to a new file in dir, then over it
// again, and touches size bytes of new anonymous memory.
func measurePageCost(dir string, size int) (pageCost, error) {
	var pc pageCost
	f, err := os.CreateTemp(dir, "gregor-bench-pages-*")
	if err != nil {
		return pc, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	mb := float64(size) / 1e6
	pass := func() (float64, error) {
		start := time.Now()
		for off := 0; off < size; off += len(buf) {
			if _, err := f.WriteAt(buf, int64(off)); err != nil {
				return 0, err
			}
		}
		return float64(time.Since(start).Microseconds()) / 1e3 / mb, nil
	}
	if pc.freshFile, err = pass(); err != nil {
		return pc, err
	}
	if pc.overwriteFile, err = pass(); err != nil {
		return pc, err
	}
	start := time.Now()
	anon := make([]byte, size)
	for i := 0; i < len(anon); i += 4096 {
		anon[i] = 1
	}
	pc.freshAnon = float64(time.Since(start).Microseconds()) / 1e3 / mb
	return pc, nil
}

func (pc pageCost) String() string {
	return fmt.Sprintf("new page cache %.2f ms/MB, cached pages %.2f ms/MB, new anonymous memory %.2f ms/MB",
		pc.freshFile, pc.overwriteFile, pc.freshAnon)
}

// printPageCost measures and prints the machine's page cost, with what it
// means for the brokers' CPU per MB (copies is how many brokers store each
// byte).
func printPageCost(dir string, copies int) {
	pc, err := measurePageCost(dir, 256<<20)
	if err != nil {
		fmt.Fprintf(os.Stderr, "measuring the page cost: %v\n", err)
		return
	}
	fmt.Printf("machine: %s\n", pc)
	if copies > 0 {
		fmt.Printf("  storing each byte in %d brokers' page cache costs at least %.1f ms/MB of their CPU on this machine\n",
			copies, float64(copies)*pc.freshFile)
	}
}

func machineCmd(args []string) {
	fs := flag.NewFlagSet("machine", flag.ExitOnError)
	dir := fs.String("dir", os.TempDir(), "a directory on the disk the broker's logs would use")
	sizeMB := fs.Int("mb", 512, "how many MB to write and touch")
	fs.Parse(args)
	abs, _ := filepath.Abs(*dir)
	pc, err := measurePageCost(abs, *sizeMB<<20)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%s (%d MB in %s)\n", pc, *sizeMB, abs)
}
