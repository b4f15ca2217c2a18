package simnet

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// seedFlag replays a randomized test of this package:
//
//	go test ./impl/simnet/ -run '^TestName$' -count=1 -args -seed=N
var seedFlag = flag.Uint64("seed", 0, "seed of the randomized simnet tests (0: a fresh one)")

// testSeed returns the seed of a randomized test and makes sure a failure
// prints it with the command that replays it.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d; replay: go test ./impl/simnet/ -run '^%s$' -count=1 -args -seed=%d", seed, t.Name(), seed)
		}
	})
	return seed
}

// addr returns the i-th test address, alternating IPv4 and IPv6 so both
// families go through every test.
func addr(i int) netip.AddrPort {
	if i%2 == 0 {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 5850)
	}
	return netip.AddrPortFrom(netip.AddrFrom16([16]byte{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}), 5850)
}

func newNet(t testing.TB, seed uint64, cfg Config) *Network {
	t.Helper()
	n, err := New(seed, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func attach(t testing.TB, n *Network, a netip.AddrPort, h func(from netip.AddrPort, p []byte)) *Endpoint {
	t.Helper()
	if h == nil {
		h = func(netip.AddrPort, []byte) {}
	}
	e, err := n.Attach(a, h)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// fixedLatency is a network with a constant base latency and no jitter,
// for tests that reason about exact times.
func fixedLatency(d time.Duration) Config {
	c := DefaultConfig()
	c.MinLatency, c.MaxLatency, c.Jitter = d, d, 0
	return c
}

// inbox records what an endpoint received.
type inbox struct {
	got [][]byte
	src []netip.AddrPort
}

func (b *inbox) handler(from netip.AddrPort, p []byte) {
	b.got = append(b.got, bytes.Clone(p))
	b.src = append(b.src, from)
}

func (b *inbox) strings() []string {
	var out []string
	for i, g := range b.got {
		out = append(out, fmt.Sprintf("%v:%s", b.src[i], g))
	}
	return out
}

func nanFloat() float64 { return math.NaN() }
func posInf() float64   { return math.Inf(1) }
