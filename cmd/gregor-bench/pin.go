package main

// Pinned runs. With -pin, compare runs the brokers on the machine's last
// CPU and its own load on the others, so that neither competes with the
// other for a core. A scenario whose rate then barely differs between two
// brokers, while neither broker's CPU is near a whole core, is bound by
// the client, not by the broker under measurement.

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// cpuSplit is the CPU a pinned run gives the brokers and the CPUs it
// keeps for the load.
type cpuSplit struct {
	broker int
	load   []int
}

// newCPUSplit splits the CPUs this process may use; it needs two.
func newCPUSplit() (*cpuSplit, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, err
	}
	var cpus []int
	for c := 0; c < runtime.NumCPU()*4 && len(cpus) < set.Count(); c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) < 2 {
		return nil, fmt.Errorf("-pin needs two CPUs, this process may use %d", len(cpus))
	}
	return &cpuSplit{broker: cpus[len(cpus)-1], load: cpus[:len(cpus)-1]}, nil
}

// pinProcess sets the affinity of every thread of pid. Threads the process
// starts later inherit it from the thread that starts them.
func pinProcess(pid int, cpus ...int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		// A thread may exit between the listing and the call.
		if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
			return fmt.Errorf("thread %d of %d: %w", tid, pid, err)
		}
	}
	return nil
}

// describe says how a run placed its processes.
func (s *cpuSplit) describe() string {
	if s == nil {
		return "brokers and load share the CPUs"
	}
	return fmt.Sprintf("brokers pinned to CPU %d, load to CPUs %v", s.broker, s.load)
}
