package overlay

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/wire"
)

// TestSmallRingsRouteEveryKey: in rings of 2 to 12 nodes, where the two
// sides of a leaf set may reach past each other and hold the whole ring,
// every lookup reaches the true root and no message loops. Rings of 5 to 7
// nodes used to take the arc between the farthest predecessor and the
// farthest successor, there the short gap on the far side of the ring, for
// the leaf set's range: the root of a key near it thought the key was not
// its own and sent it by prefix to a farther node, which sent it back (the
// gateway of the real-process kill -9 test that got no answer for a key).
func TestSmallRingsRouteEveryKey(t *testing.T) {
	base := seed(t)
	for n := 2; n <= 12; n++ {
		for k := range uint64(3) {
			r := newRing(t, base+k)
			cfg := DefaultConfig()
			first := int(base%1000+k) * 100
			r.add(first, cfg)
			for i := 1; i < n; i++ {
				r.add(first+i, cfg, r.addr(first))
				r.run(500 * time.Millisecond)
			}
			r.run(time.Minute)
			frac, _ := r.lookups(300)
			looped := 0
			for _, nd := range r.nodes {
				looped += nd.stats.RoutesLooped
			}
			if frac != 1 || looped != 0 {
				t.Fatalf("ring of %d nodes (seed %d): %.3f of lookups reached the true root, %d routes looped", n, base+k, frac, looped)
			}
		}
	}
}

// TestRoutingLoopFreeUnderInconsistentViews: nodes that each know a random
// part of the ring (leaf sets and tables that disagree, as after crashes,
// restarts and partitions) route every key without a loop, every hop
// strictly closer to the key.
func TestRoutingLoopFreeUnderInconsistentViews(t *testing.T) {
	rng := rand.New(rand.NewPCG(seed(t), 11))
	for round := range 100 {
		m, density := 3+rng.IntN(60), 5+rng.IntN(90)
		nodes := map[ID]*Node{}
		var peers []wire.Peer
		for i := range m {
			p := wire.Peer{ID: nodeID(round*1000 + i), Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 5850)}
			peers = append(peers, p)
			nodes[p.ID] = New(DefaultConfig(), p)
		}
		for _, self := range peers {
			for _, p := range peers {
				if rng.IntN(100) < density {
					nodes[self.ID].learn(p)
				}
			}
		}
		for range 50 {
			var key ID
			for i := range key {
				key[i] = byte(rng.IntN(256))
			}
			for _, start := range peers {
				// nextHop is deterministic: a node visited twice is a loop.
				seen := map[ID]bool{start.ID: true}
				path := []string{fmt.Sprintf("%x", start.ID[:4])}
				cur := nodes[start.ID]
				for {
					next := cur.nextHop(key, nil)
					if next.ID == cur.self.ID {
						break
					}
					path = append(path, fmt.Sprintf("%x", next.ID[:4]))
					if seen[next.ID] {
						t.Fatalf("round %d (%d nodes), key %x: routing loop %v", round, m, key[:4], path)
					}
					if !Closer(key, next.ID, cur.self.ID) {
						t.Fatalf("round %d (%d nodes), key %x: the route %v goes away from the key", round, m, key[:4], path)
					}
					seen[next.ID] = true
					cur = nodes[next.ID]
				}
			}
		}
	}
}

// idHex returns an ID that starts with the given hex digits.
func idHex(prefix string) ID {
	var id ID
	for i, c := range prefix {
		var v byte
		_, _ = fmt.Sscanf(string(c), "%x", &v)
		id[i/2] |= v << (4 * (1 - i%2))
	}
	return id
}

// TestRouteNeverLoopsBetweenDisagreeingViews: A (3ffa) knows the nodes 40
// to 43 between it and the key 44ed; its routing-table slot for the key's
// first digit holds 4d27, which shares that digit with the key but lies
// farther from it than A. 4d27 knows A but not 40-43, so to 4d27 the key is
// within its leaf set and A is the closest node. Pastry's prefix hop
// A -> 4d27 and the numeric hop 4d27 -> A then bounce every message for the
// key between them until its hop limit, each hop acknowledged. Routing
// only ever to closer nodes takes A's rare case to 43 instead.
func TestRouteNeverLoopsBetweenDisagreeingViews(t *testing.T) {
	key := idHex("44ed")
	peer := func(prefix string, i int) wire.Peer {
		return wire.Peer{ID: idHex(prefix), Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 5850)}
	}
	a, b := peer("3ffa", 1), peer("4d27", 2)
	between := []wire.Peer{peer("40", 3), peer("41", 4), peer("42", 5), peer("43", 6)}
	ccw := []wire.Peer{peer("3f", 7), peer("3e", 8), peer("3d", 9), peer("3c", 10)}
	cw := []wire.Peer{peer("5", 11), peer("6", 12), peer("7", 13), peer("8", 14)}
	nodes := map[ID]*Node{}
	view := func(self wire.Peer, known ...[]wire.Peer) {
		n := New(DefaultConfig(), self)
		for _, ps := range known {
			for _, p := range ps {
				n.learn(p)
			}
		}
		nodes[self.ID] = n
	}
	view(a, []wire.Peer{b}, between, ccw, cw) // b first: it keeps the slot
	view(b, []wire.Peer{a}, ccw[:3], cw)
	var all []wire.Peer
	for _, ps := range [][]wire.Peer{{a, b}, between, ccw, cw} {
		all = append(all, ps...)
	}
	for _, p := range all[2:] {
		view(p, all)
	}
	if nodes[a.ID].leaves.covers(key) || !nodes[b.ID].leaves.covers(key) {
		t.Fatal("the views are not the ones this test is about")
	}
	cur, path := nodes[a.ID], []string{"3ffa"}
	for range len(nodes) {
		next := cur.nextHop(key, nil)
		if next.ID == cur.self.ID {
			break
		}
		path = append(path, fmt.Sprintf("%x", next.ID[:2]))
		cur = nodes[next.ID]
	}
	if cur.self.ID != idHex("43") || len(path) > 3 {
		t.Fatalf("route from 3ffa for key 44ed: %v, want it to end at 4300 (the true root) in a hop or two", path)
	}
}
