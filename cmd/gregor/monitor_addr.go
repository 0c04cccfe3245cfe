package main

import (
	"net"
	"strconv"

	"gregor/broker/config"
)

// startMonitor opens the metrics and status endpoint. A
// gregor.metrics.listener set by the operator must open, or start-up
// fails. The default (127.0.0.1:9404) is only a preference: a second
// broker on the host, started from a Kafka server.properties copied with
// another broker.id, listeners and log.dirs (Kafka's quickstart), finds it
// taken, so it moves by its first listener's distance from 9092 (a broker
// on 9093 serves metrics on 9405), else to a free port; failing that the
// broker runs without the endpoint. Each move is logged with the address
// taken.
func (s *server) startMonitor(cfg *config.Config) error {
	if _, explicit := cfg.Values["gregor.metrics.listener"]; explicit || cfg.MetricsListener == "" {
		return s.serveMonitor(cfg.MetricsListener)
	}
	var first error
	for i, addr := range metricsFallbacks(cfg) {
		err := s.serveMonitor(addr)
		if err == nil {
			if i > 0 {
				s.log.Warn().Str("default", cfg.MetricsListener).Str("addr", addr).Err(first).
					Msg("default metrics address taken (another broker on this host?); set gregor.metrics.listener to choose one")
			}
			return nil
		}
		if first == nil {
			first = err
		}
	}
	s.log.Warn().Err(first).Msg("no metrics endpoint: the default address and its fallbacks are taken; set gregor.metrics.listener")
	return nil
}

// metricsFallbacks lists the addresses the default metrics endpoint tries:
// the default, the default port moved as far as the first listener's port
// is from Kafka's 9092, then any free port on the same host.
func metricsFallbacks(cfg *config.Config) []string {
	host, port, err := net.SplitHostPort(cfg.MetricsListener)
	if err != nil {
		return []string{cfg.MetricsListener}
	}
	out := []string{cfg.MetricsListener}
	if p, err := strconv.Atoi(port); err == nil && len(cfg.Listeners) > 0 {
		if moved := p + cfg.Listeners[0].Port - 9092; moved != p && moved > 0 && moved < 65536 {
			out = append(out, net.JoinHostPort(host, strconv.Itoa(moved)))
		}
	}
	return append(out, net.JoinHostPort(host, "0"))
}
