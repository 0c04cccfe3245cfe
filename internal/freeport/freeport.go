// Package freeport picks a free loopback TCP port for a listener that will
// be bound (and, after a restart, bound again) later.
//
// A port the kernel hands out for port 0 lies in its ephemeral range,
// where it also picks the local ports of outgoing connections: on a busy
// machine, a broker restarted on such a port can find it taken by some
// client's connection (bind: address already in use). So the port is
// picked below that range.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// lowest is the bottom of the range ports are picked from.
const lowest = 20000

// reserved are ports that processes of the test suite bind at fixed
// numbers while other tests pick theirs: scripts/compat-cluster.sh's
// ZooKeeper (22181) and three brokers (29092 to 29094), started in a lane
// of their own beside the integration tests. A broker given one of them
// failed to start (bind: address already in use) when the cluster bound it
// between the pick and the broker's start.
var reserved = [][2]int{{22180, 22189}, {29090, 29099}}

// isReserved reports whether port lies in a reserved range.
func isReserved(port int) bool {
	for _, r := range reserved {
		if port >= r[0] && port <= r[1] {
			return true
		}
	}
	return false
}

// Pick returns a loopback port that is free now and outside the kernel's
// ephemeral range (any free port where that range leaves no room).
func Pick() (int, error) {
	top := ephemeralLow()
	for range 200 {
		if top <= lowest+100 {
			break
		}
		port := lowest + rand.IntN(top-lowest)
		if isReserved(port) {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		l.Close()
		return port, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("no free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ephemeralLow is the lowest port of the kernel's ephemeral range (Linux's
// default, 32768, where it cannot be read).
func ephemeralLow() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(data))
	if len(f) < 1 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}
