package node_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/simnet"
	"github.com/opendht-go/opendht/impl/wire"
)

// laggingMemberClaimsRoot (RD-13, RD-7): under parallel reads a member
// whose view lags claims to be the key's root while the coordinator knows
// the root. The second-closest node of a key stops hearing from the four
// other nodes closest to the key (one-way: they still hear it), so that
// in its own view it is the root, of a set of farther nodes that hold
// nothing of the key. A put then reaches the root and the other members
// of its set, not the lagging one. A get is made at a gateway that knows
// the replica set, the lagging member in it, whose link from the root is
// slow: the lagging member's
// claim, and the answers of its set, arrive long before the root's. The
// gateway must not count its quorum in the lagging member's set, which
// the gateway's own view (the coordinator's plan) shows is not the root's;
// it waits for the root and returns the put. It returns the problems seen.
func laggingMemberClaimsRoot(t *testing.T, seed uint64, v node.Variant) []string {
	cfg := node.DefaultConfig()
	cfg.ParallelReads = true
	// Leaf sets of 6 a side: every node knows the whole ring of 12, so a
	// gateway outside a key's replica set knows the set and coordinates
	// the get itself (a near-routed get stops there).
	cfg.Overlay.LeafSetSize = 6
	c := newCluster(t, seed, 12, cfg)
	c.variant = v
	for _, sn := range c.nodes {
		plant(t, sn.n, sn.st, v)
	}
	c.net.RunFor(time.Minute)
	key := testKeyN(300)
	set := c.byCloseness(key)
	root, lagging := set[0], set[1]
	for _, m := range set[:cfg.Replicas+1] {
		if m != lagging {
			_ = c.net.SetLinkFaults(m.addr, lagging.addr, simnet.Faults{Loss: 1})
		}
	}
	// The lagging member drops the members it no longer hears from: in its
	// view it is the root, of a set that shares only itself with the
	// root's.
	lags := func() bool {
		for _, p := range lagging.n.ReplicaSetOf(key) {
			for _, m := range set[:cfg.Replicas+1] {
				if m != lagging && p.ID == m.n.Self().ID {
					return false
				}
			}
		}
		return true
	}
	c.net.RunUntil(lags, c.net.Now().Add(2*time.Minute))
	if !lags() {
		t.Fatalf("seed %d: node %d still sees members it does not hear from: %v", seed, lagging.i, lagging.n.ReplicaSetOf(key))
	}
	// The gateway: a node that knows the root's replica set, the lagging
	// member in it, so that it coordinates the get itself and asks both;
	// and outside the root's set (its own answer would hold the put).
	var gw *simNode
	in := func(sn *simNode, peers []wire.Peer) bool {
		return slices.ContainsFunc(peers, func(p wire.Peer) bool { return p.ID == sn.n.Self().ID })
	}
	for _, g := range set[cfg.Replicas+1:] {
		view := g.n.ReplicaSetOf(key)
		if g.n.Overlay().KnowsClosest(key, cfg.Replicas) && view[0].ID == root.n.Self().ID && in(lagging, view) &&
			!in(g, root.n.ReplicaSetOf(key)) {
			gw = g
			break
		}
	}
	if gw == nil {
		t.Fatalf("seed %d: no gateway outside the root's set that knows it's", seed)
	}
	if st := c.put(root, key, []byte("acknowledged"), nil, 3600); st != dht.StatusOK {
		t.Fatalf("seed %d: put: status %v", seed, st)
	}
	_ = c.net.SetLinkFaults(root.addr, gw.addr, simnet.Faults{Delay: 2 * time.Second / 5})
	var got *node.Completion
	gw.call(func(now time.Time) uint64 { return gw.n.Get(now, dht.Get{Key: key, MaxVals: 10}) }, func(d node.Completion) { got = &d })
	c.net.RunUntil(func() bool { return got != nil }, c.net.Now().Add(time.Minute))
	switch {
	case got == nil || got.Err != nil:
		return []string{fmt.Sprintf("the get at node %d failed: %+v", gw.i, got)}
	case !slices.ContainsFunc(got.Values, func(x dht.Value) bool { return string(x.Value) == "acknowledged" }):
		return []string{fmt.Sprintf("RD-7: the get at node %d missed the acknowledged put (root node %d, lagging member node %d claiming to be root)", gw.i, root.i, lagging.i)}
	}
	return nil
}

// TestLaggingMemberClaimsRoot runs laggingMemberClaimsRoot on fixed seeds
// against the correct node, and against the variant that counts the quorum
// in the set of the first member claiming to be root (its negative
// control), which it must catch on every seed.
func TestLaggingMemberClaimsRoot(t *testing.T) {
	if testing.Short() {
		t.Skip("simulated minutes of 12-node clusters")
	}
	for _, seed := range scenarioSeeds(t) {
		if p := laggingMemberClaimsRoot(t, seed, node.Variant{}); len(p) > 0 {
			t.Errorf("seed %d: %v (replay: go test -tags variants ./impl/node -run 'TestLaggingMemberClaimsRoot$')", seed, p)
		}
	}
	t.Run("negative control: first-root-claim", func(t *testing.T) {
		for _, seed := range scenarioSeeds(t) {
			p := laggingMemberClaimsRoot(t, seed, node.Variants["first-root-claim"])
			if len(p) == 0 {
				t.Errorf("seed %d: the variant that counts the first claim to be root was not caught", seed)
				continue
			}
			t.Logf("seed %d: caught: %s", seed, p[0])
		}
	})
}
