package overlay

import (
	"crypto/sha1"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// TestPausingNodesStayInTheRing: sixteen nodes a fraction of a
// millisecond apart (one host's loopback), routing a steady stream of
// application messages, while one node after another stops handling
// datagrams for 20-300 ms (a loaded host, a GC pause: what the
// loopback testbed sees under a bulk load). A pause is not a failure: no
// node may declare another dead, and every leaf set stays exact.
// Reference: spec/SPEC.md section 22 (FD-1..FD-3). The negative control
// plants FragileLiveness (no RTO floor, every timeout counted, late
// answers dropped), which must lose peers.
func TestPausingNodesStayInTheRing(t *testing.T) {
	run := func(t *testing.T, fragile bool) (dead, late, bad int) {
		const N = 16
		r := newRing(t, seed(t))
		r.delay = func(a, b netip.AddrPort) time.Duration { return 150 * time.Microsecond }
		cfg := DefaultConfig()
		r.add(0, cfg)
		for i := 1; i < N; i++ {
			r.add(i, cfg, r.addr(0))
			r.run(300 * time.Millisecond)
		}
		r.run(time.Minute)
		if bad := r.leafSetsCorrect(); bad != 0 {
			t.Fatalf("the ring did not form: %d wrong leaf sets", bad)
		}
		var addrs []netip.AddrPort
		for a, n := range r.nodes {
			addrs = append(addrs, a)
			if fragile {
				if err := Plant(n, Variant{FragileLiveness: true}); err != nil {
					t.Fatal(err)
				}
			}
		}
		slices.SortFunc(addrs, func(a, b netip.AddrPort) int { return a.Compare(b) })
		before := 0
		for _, n := range r.nodes {
			before += n.Stats().DeadDeclared
		}
		// A minute of traffic: a routed message every 2 ms from a random
		// node, and every 400 ms one node pauses for 20-300 ms.
		for step := range 30000 {
			n := r.nodes[addrs[r.rng.IntN(N)]]
			key := ID(sha1.Sum([]byte(fmt.Sprint("key", step))))
			n.Route(r.now, key, []byte("payload"))
			r.flush(n)
			if step%200 == 0 {
				a := addrs[r.rng.IntN(N)]
				r.stalled[a] = r.now.Add(time.Duration(20+r.rng.IntN(280)) * time.Millisecond)
			}
			r.run(2 * time.Millisecond)
		}
		r.run(10 * time.Second)
		for _, n := range r.nodes {
			dead += n.Stats().DeadDeclared
			late += n.Stats().LateReplies
		}
		return dead - before, late, r.leafSetsCorrect()
	}
	dead, late, bad := run(t, false)
	t.Logf("peers declared dead %d, late answers taken %d, wrong leaf sets %d", dead, late, bad)
	if dead != 0 || bad != 0 {
		t.Fatalf("pauses of at most 300 ms: %d peers declared dead, %d wrong leaf sets; want none", dead, bad)
	}
	t.Run("negative control: fragile liveness", func(t *testing.T) {
		if !VariantsBuilt {
			t.Skip("needs -tags variants")
		}
		dead, _, _ := run(t, true)
		t.Logf("peers declared dead %d", dead)
		if dead == 0 {
			t.Fatal("the pause check did not notice failure detection without FD-1..FD-3")
		}
	})
}
