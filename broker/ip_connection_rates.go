package broker

// Connection creation rates per IP (KIP-612): the connection_creation_rate
// quotas of ip entities, which the network layer enforces on accept
// (protocol.Server.SetIPConnectionRates). An entity names an address or a
// host, resolved as Kafka's InetAddress.getByName resolves it (to its
// first address, IPv4 before IPv6 as Java prefers by default); hosts are
// resolved off the metadata delivery, and a resolution that finishes
// after a newer delivery is dropped.

import (
	"context"
	"math"
	"net"
	"sync"
	"time"

	"gregor/broker/metadata"
)

// IPConnectionRates are the connection creation rates in force: Default
// for an IP without its own (0: none), ByIP keyed by net.IP's String form.
type IPConnectionRates struct {
	Default int
	ByIP    map[string]int
}

// ipRatesState is the broker's copy and its listeners (guarded by mu).
type ipRatesState struct {
	mu        sync.Mutex
	seq       uint64 // deliveries begun
	applied   uint64 // the delivery in force
	rates     IPConnectionRates
	listeners []func(IPConnectionRates)
}

// applyIPConnectionRates takes the ip entities of delivered quotas.
func (b *Broker) applyIPConnectionRates(q metadata.ClientQuotas) {
	r := IPConnectionRates{ByIP: map[string]int{}}
	hosts := map[string]int{}
	for e, vals := range q {
		v, ok := vals[metadata.ConnectionCreationRate]
		if e.IP == "" || !ok {
			continue
		}
		rate := int(min(v, math.MaxInt32))
		if e.IP == metadata.DefaultEntity {
			r.Default = rate
			continue
		}
		name, err := metadata.DesanitizeEntity(e.IP)
		if err != nil {
			name = e.IP
		}
		if ip := net.ParseIP(name); ip != nil {
			r.ByIP[ip.String()] = rate
		} else {
			hosts[name] = rate
		}
	}
	b.ipRates.mu.Lock()
	b.ipRates.seq++
	seq := b.ipRates.seq
	b.ipRates.mu.Unlock()
	if len(hosts) == 0 {
		b.setIPConnectionRates(seq, r)
		return
	}
	go func() {
		for host, rate := range hosts {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
			cancel()
			if err != nil || len(addrs) == 0 {
				b.log.Warn().Err(err).Str("host", host).Msg("connection_creation_rate quota names a host that does not resolve; not applied")
				continue
			}
			r.ByIP[firstAddress(addrs).String()] = rate
		}
		b.setIPConnectionRates(seq, r)
	}()
}

func (b *Broker) setIPConnectionRates(seq uint64, r IPConnectionRates) {
	s := &b.ipRates
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq < s.applied {
		return
	}
	s.applied, s.rates = seq, r
	for _, fn := range s.listeners {
		fn(r)
	}
}

// OnIPConnectionRates registers a listener for the per-IP connection
// creation rates: called now with those in force, then with each change,
// one at a time. It must not block.
func (b *Broker) OnIPConnectionRates(fn func(IPConnectionRates)) {
	s := &b.ipRates
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listeners = append(s.listeners, fn)
	fn(s.rates)
}

// firstAddress is the address Java's InetAddress.getByName gives for a
// host with java.net.preferIPv6Addresses unset: its first IPv4 address,
// or its first address when it has none.
func firstAddress(addrs []net.IPAddr) net.IP {
	for _, a := range addrs {
		if a.IP.To4() != nil {
			return a.IP
		}
	}
	return addrs[0].IP
}
