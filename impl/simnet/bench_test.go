package simnet

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// Benchmarks of the event loop at the scale the DHT simulations need:
// 10,000 endpoints. Run with
//
//	go test ./impl/simnet/ -run '^$' -bench . -benchmem
//
// Each reports events/s: one event is one delivery (with the handler's
// forwarding Send) or one timer.

const benchNodes = 10_000

// forwarding builds a network of benchNodes endpoints whose handlers
// forward every datagram to a random peer, with one datagram per node in
// flight.
func forwarding(b *testing.B, cfg Config) *Network {
	n := newNet(b, 1, cfg)
	r := rand.New(rand.NewPCG(2, 3))
	eps := make([]*Endpoint, benchNodes)
	for i := range eps {
		eps[i] = attach(b, n, addr(i), nil)
	}
	for i := range eps {
		ep := eps[i]
		ep.handler = func(_ netip.AddrPort, p []byte) {
			ep.Send(addr(r.IntN(benchNodes)), p)
		}
	}
	payload := make([]byte, 200)
	for i := range eps {
		eps[i].Send(addr(r.IntN(benchNodes)), payload)
	}
	return n
}

func reportEvents(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkDeliveries(b *testing.B) {
	n := forwarding(b, DefaultConfig())
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		n.Step()
	}
	reportEvents(b)
}

func BenchmarkDeliveriesKeepPayloads(b *testing.B) {
	cfg := DefaultConfig()
	cfg.KeepPayloads = true
	n := forwarding(b, cfg)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		n.Step()
	}
	reportEvents(b)
}

// Loss and duplication at 1% each (the population of datagrams does a
// random walk) and 20 ms of extra jitter.
func BenchmarkDeliveriesWithFaults(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Faults = Faults{Loss: 0.01, Duplicate: 0.01, Jitter: 20 * time.Millisecond}
	n := forwarding(b, cfg)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if !n.Step() {
			b.StopTimer()
			n = forwarding(b, cfg) // loss may, in a long run, drain the datagrams
			b.StartTimer()
		}
	}
	reportEvents(b)
}

// Every node has a periodic maintenance timer on its own drifting clock,
// jittered like Bamboo's (0.5-1.5 of the period), and each tick also arms
// and cancels a request timeout.
func BenchmarkNodeTimers(b *testing.B) {
	n := newNet(b, 1, DefaultConfig())
	r := rand.New(rand.NewPCG(2, 3))
	for i := range benchNodes {
		c, err := n.Clock(addr(i), 0, float64(r.IntN(201)-100)*1e-6)
		if err != nil {
			b.Fatal(err)
		}
		var tick func()
		tick = func() {
			c.AfterFunc(5*time.Second, func() {}).Stop()
			c.AfterFunc(time.Duration(2000+r.IntN(4000))*time.Millisecond, tick)
		}
		c.AfterFunc(time.Duration(r.IntN(4000))*time.Millisecond, tick)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		n.Step()
	}
	reportEvents(b)
}
