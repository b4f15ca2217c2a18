package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/overlay"
	"github.com/opendht-go/opendht/impl/testbed"
)

// getFloor prints, for a testbed's RTT matrix and ring (node IDs from the
// addresses on subnet), how fast a get could possibly be with a client
// next to its gateway, over uniformly random keys and gateways. No answer
// of a member comes sooner than the round trip between the gateway and it
// (zero when the gateway is the member). RD-7 needs R members of the
// root's replica set and so the root's answer (RD-13): the larger of the
// root's round trip and the R-th smallest member's is a floor under any
// way of reading that keeps RD-7. Without the root's word (any R members,
// the first to answer: what OpenDHT measured, which promised no such
// thing) the floor is the R-th smallest alone. The distance between the
// floor and a measured get is routing, processing and the shaper.
func getFloor(w io.Writer, m testbed.Matrix, subnet netip.Prefix, port, replicas int, samples int, seed uint64) error {
	n := len(m)
	if replicas < 1 || replicas > n {
		return fmt.Errorf("replicas must be in [1, %d], got %d", n, replicas)
	}
	ids := make([]overlay.ID, n)
	for i := range n {
		ids[i] = node.IDFor(netip.AddrPortFrom(testbed.NodeAddr(subnet, i), uint16(port)))
	}
	rng := rand.New(rand.NewPCG(seed, 0xf1))
	floors := make([][]time.Duration, replicas) // by R-1: with the root's answer
	anyR := make([][]time.Duration, replicas)   // without
	order := make([]int, n)
	for range samples {
		var key overlay.ID
		for j := range key {
			key[j] = byte(rng.IntN(256))
		}
		g := rng.IntN(n)
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int {
			if overlay.Closer(key, ids[a], ids[b]) {
				return -1
			}
			return 1
		})
		root := m[g][order[0]]
		var rtts []time.Duration
		for _, r := range order[:replicas] {
			rtts = append(rtts, m[g][r])
		}
		slices.Sort(rtts)
		for q := range replicas {
			floors[q] = append(floors[q], max(root, rtts[q]))
			anyR[q] = append(anyR[q], rtts[q])
		}
	}
	fmt.Fprintf(w, "# floor of get latency with a client next to its gateway, %d replicas, over %d random keys and gateways:\n", replicas, samples)
	fmt.Fprintf(w, "# rd7: the root and the R nearest members (by RTT from the gateway) answer; any: the R nearest alone\n")
	pct := func(ds []time.Duration, p float64) float64 {
		return float64(ds[int(p*float64(len(ds)-1))]) / float64(time.Millisecond)
	}
	for q := range replicas {
		slices.Sort(floors[q])
		slices.Sort(anyR[q])
		fmt.Fprintf(w, "R=%d rd7_p50_ms=%.1f rd7_p90_ms=%.1f rd7_p99_ms=%.1f any_p50_ms=%.1f any_p90_ms=%.1f any_p99_ms=%.1f\n", q+1,
			pct(floors[q], 0.5), pct(floors[q], 0.9), pct(floors[q], 0.99), pct(anyR[q], 0.5), pct(anyR[q], 0.9), pct(anyR[q], 0.99))
	}
	return nil
}
