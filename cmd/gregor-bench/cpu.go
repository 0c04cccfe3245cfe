package main

// Broker CPU time: the timed part of a scenario reads the broker
// process's user+system CPU time from /proc/<pid>/stat before and after,
// so each scenario reports the broker's CPU per MB and per record beside
// its throughput (a broker that is faster only because it burns more CPU
// shows it).

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
)

type pidKey struct{}

// withBrokerPIDs tells scenarios run under ctx which processes the
// brokers are (their CPU times are added up).
func withBrokerPIDs(ctx context.Context, pids ...int) context.Context {
	return context.WithValue(ctx, pidKey{}, pids)
}

// clockTicks is USER_HZ, 100 on Linux for every architecture Go supports
// here (sysconf(_SC_CLK_TCK) without cgo).
const clockTicks = 100

// procCPU returns a process's user+system CPU seconds so far.
func procCPU(pid int) (float64, error) {
	user, sys, err := procTimes(pid)
	return user + sys, err
}

// procTimes returns a process's user and system CPU seconds so far.
func procTimes(pid int) (user, sys float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name (in parentheses, which may hold
	// spaces): state is field 3, utime 14, stime 15.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	return float64(ut) / clockTicks, float64(st) / clockTicks, nil
}

// cpuMeter measures the broker's CPU seconds over a timed section; it is
// a no-op without a broker pid in the context (gregor-bench run against
// an address).
type cpuMeter struct {
	pids      []int
	start     float64 // user+system seconds
	startUser float64
}

func startCPU(ctx context.Context) *cpuMeter {
	pids, _ := ctx.Value(pidKey{}).([]int)
	m := &cpuMeter{pids: pids}
	m.startUser, m.start, _ = m.times()
	return m
}

func (m *cpuMeter) total() (float64, error) {
	_, all, err := m.times()
	return all, err
}

// times returns the brokers' user seconds and user+system seconds.
func (m *cpuMeter) times() (user, all float64, err error) {
	for _, pid := range m.pids {
		u, s, err := procTimes(pid)
		if err != nil {
			return 0, 0, err
		}
		user += u
		all += u + s
	}
	return user, all, nil
}

// metrics returns the broker CPU per MB and per thousand records for a
// section that moved records of size bytes each, and the user-space part
// of it per thousand records; none without a pid. The user-space part is
// what the broker's own code costs: the rest is the kernel's (socket
// copies, page-cache writes), which every broker pays for the same bytes.
func (m *cpuMeter) metrics(records float64, size int) []metric {
	if len(m.pids) == 0 || records <= 0 {
		return nil
	}
	endUser, end, err := m.times()
	if err != nil {
		return nil
	}
	cpu, user := end-m.start, endUser-m.startUser
	mb := records * float64(size) / 1e6
	krec := records / 1000
	return []metric{
		{"cpu/MB", cpu * 1000 / mb, "ms", false},
		{"cpu/krec", cpu * 1000 / krec, "ms", false},
		{"user/krec", user * 1000 / krec, "ms", false},
	}
}
