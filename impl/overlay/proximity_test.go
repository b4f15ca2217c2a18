package overlay

import (
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/wire"
)

// geoDelay is a wide-area latency model: every address is a point near one
// of five regional centres on a map in milliseconds (a region's hosts
// within ~10 ms of each other, regions 30-190 ms apart), and a datagram
// takes 2 ms plus the distance between its ends. Unlike the ring's default
// model it has near and far peers and obeys the triangle inequality, as
// the Internet roughly does: what delay-aware routing exploits.
func geoDelay(seed uint64) func(a, b netip.AddrPort) time.Duration {
	centres := [][2]float64{{0, 0}, {30, 10}, {80, 0}, {150, 40}, {100, 120}}
	pos := func(a netip.AddrPort) [2]float64 {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], seed)
		h := sha1.Sum(append(b[:], a.String()...))
		c := centres[int(h[0])%len(centres)]
		return [2]float64{c[0] + float64(h[1])/25.5 - 5, c[1] + float64(h[2])/25.5 - 5}
	}
	return func(a, b netip.AddrPort) time.Duration {
		p, q := pos(a), pos(b)
		d := math.Hypot(p[0]-q[0], p[1]-q[1])
		return 2*time.Millisecond + time.Duration(d*float64(time.Millisecond))
	}
}

// lookupDelays routes count lookups of random keys from random live nodes
// and returns the fraction that reached the true root and how long each of
// those took (the route there and the root's answer back).
func (r *ring) lookupDelays(count int) (float64, []time.Duration) {
	var addrs []netip.AddrPort
	for a := range r.nodes {
		if r.alive[a] {
			addrs = append(addrs, a)
		}
	}
	slices.SortFunc(addrs, func(a, b netip.AddrPort) int { return a.Compare(b) })
	type q struct {
		key  ID
		tag  uint64
		sent time.Time
	}
	var qs []q
	for range count {
		var key ID
		for i := range key {
			key[i] = byte(r.rng.IntN(256))
		}
		n := r.nodes[addrs[r.rng.IntN(len(addrs))]]
		id := n.Lookup(r.now, key)
		r.flush(n)
		qs = append(qs, q{key, id<<16 | uint64(binary.BigEndian.Uint16(n.self.ID[:])), r.now})
		r.run(20 * time.Millisecond) // one at a time: no lookup waits behind another
	}
	r.run(10 * time.Second)
	ok := 0
	var ds []time.Duration
	for _, x := range qs {
		if f, done := r.found[x.tag]; done && f.Root.ID == r.trueRoot(x.key) {
			ok++
			ds = append(ds, r.foundAt[x.tag].Sub(x.sent))
		}
	}
	return float64(ok) / float64(count), ds
}

// routeDelays routes count application messages for random keys from
// random live nodes, to the root (near false) or near-routed to the first
// node that knows the key's NearSize closest nodes (near true), and returns
// the fraction that arrived where they should and how long each of those
// took.
func (r *ring) routeDelays(count int, near bool) (float64, []time.Duration) {
	var addrs []netip.AddrPort
	for a := range r.nodes {
		if r.alive[a] {
			addrs = append(addrs, a)
		}
	}
	slices.SortFunc(addrs, func(a, b netip.AddrPort) int { return a.Compare(b) })
	type q struct {
		key  ID
		d    delivery
		sent time.Time
	}
	var qs []q
	for range count {
		var key ID
		for i := range key {
			key[i] = byte(r.rng.IntN(256))
		}
		n := r.nodes[addrs[r.rng.IntN(len(addrs))]]
		route := n.Route
		if near {
			route = n.RouteNear
		}
		id := route(r.now, key, []byte("get"))
		r.flush(n)
		qs = append(qs, q{key, delivery{n.self.Addr, id}, r.now})
		r.run(20 * time.Millisecond)
	}
	r.run(10 * time.Second)
	ok := 0
	var ds []time.Duration
	for _, x := range qs {
		a, done := r.deliveredAt[x.d]
		if !done {
			continue
		}
		at := r.byID(a.node)
		if (near && at.KnowsClosest(x.key, at.cfg.NearSize)) || (!near && a.node == r.trueRoot(x.key)) {
			ok++
			ds = append(ds, a.at.Sub(x.sent))
		}
	}
	return float64(ok) / float64(count), ds
}

func (r *ring) byID(id ID) *Node {
	for _, n := range r.nodes {
		if n.self.ID == id {
			return n
		}
	}
	panic("no node with that ID")
}

func meanDuration(ds []time.Duration) time.Duration {
	var s time.Duration
	for _, d := range ds {
		s += d
	}
	return s / time.Duration(max(len(ds), 1))
}

// proximityRing is a settled ring of n nodes on the geographic latency
// model, all with cfg and variant v.
func proximityRing(t *testing.T, s uint64, n int, cfg Config, v Variant) *ring {
	r := newRing(t, s)
	r.delay = geoDelay(s)
	for i := range n {
		var boot []netip.AddrPort
		if i > 0 {
			boot = []netip.AddrPort{r.addr(r.rng.IntN(i))}
		}
		node := r.add(i, cfg, boot...)
		if v != (Variant{}) {
			if err := Plant(node, v); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = Plant(node, Variant{}) })
		}
		r.run(300 * time.Millisecond)
	}
	r.run(3 * time.Minute) // tuning fills the tables, pings measure RTTs
	return r
}

// TestProximityRoutingLowersGetRouteLatency (PR-1, PR-2): on a wide-area
// latency model, with delay-aware routing a near-routed message (a get on
// its way to a node that knows the key's replica set) arrives at least 15%
// sooner on average than with Pastry's prefix routing, on identical rings
// (same nodes, joins and keys), and every message, near-routed or to the
// root, arrives where it should. The negative control plants a delay-aware
// routing that ignores the RTTs it measured: the check must find no such
// gain.
func TestProximityRoutingLowersGetRouteLatency(t *testing.T) {
	s := seed(t)
	const nodes, messages = 150, 400
	type result struct{ near, root, lookup time.Duration }
	measure := func(t *testing.T, proximity bool, v Variant) result {
		cfg := DefaultConfig()
		cfg.ProximityRouting, cfg.NearSize = proximity, 4
		r := proximityRing(t, s, nodes, cfg, v)
		var res result
		for _, near := range []bool{true, false} {
			frac, ds := r.routeDelays(messages, near)
			if frac != 1 {
				t.Fatalf("proximity=%v near=%v: only %.3f of the messages arrived where they should", proximity, near, frac)
			}
			if near {
				res.near = meanDuration(ds)
			} else {
				res.root = meanDuration(ds)
			}
		}
		frac, ds := r.lookupDelays(messages)
		if frac != 1 {
			t.Fatalf("proximity=%v: only %.3f of lookups reached the true root", proximity, frac)
		}
		res.lookup = meanDuration(ds)
		return res
	}
	off := measure(t, false, Variant{})
	gain := func(t *testing.T, v Variant) float64 {
		on := measure(t, true, v)
		g := func(a, b time.Duration) float64 { return 1 - float64(a)/float64(b) }
		ms := func(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }
		t.Logf("N=%d, %d messages each, mean delay prefix -> delay-aware: near-routed %s -> %s (%.0f%% lower); to the root %s -> %s (%.0f%%); lookup and answer %s -> %s (%.0f%%)",
			nodes, messages, ms(off.near), ms(on.near), 100*g(on.near, off.near), ms(off.root), ms(on.root), 100*g(on.root, off.root),
			ms(off.lookup), ms(on.lookup), 100*g(on.lookup, off.lookup))
		return g(on.near, off.near)
	}
	if g := gain(t, Variant{}); g < 0.15 {
		t.Fatalf("delay-aware routing lowered the mean delay of near-routed messages by %.0f%%, want at least 15%%", 100*g)
	}
	t.Run("negative control: blind to RTT", func(t *testing.T) {
		if !VariantsBuilt {
			t.Skip("needs -tags variants to plant the blind variant")
		}
		if g := gain(t, Variant{BlindProximity: true}); g >= 0.15 {
			t.Fatalf("the check credited a routing blind to RTT with %.0f%% lower delay", 100*g)
		}
	})
}

// TestKnowsClosestIsRight (PR-2): in a settled ring, a node that says it
// knows a key's k closest nodes names exactly the true k closest, and
// nodes well inside the leaf set of the key's root say so (so near-routed
// messages do stop early). The negative control asks for more nodes than
// a leaf set can vouch for: no node may claim to know them.
func TestKnowsClosestIsRight(t *testing.T) {
	r := settledRing(t, 40, Variant{})
	ids := r.liveIDs()
	const k = 4
	claims := 0
	for range 300 {
		var key ID
		for i := range key {
			key[i] = byte(r.rng.IntN(256))
		}
		truth := slices.Clone(ids)
		slices.SortFunc(truth, func(a, b ID) int {
			if Closer(key, a, b) {
				return -1
			}
			return 1
		})
		for _, n := range r.nodes {
			if n.KnowsClosest(key, 2*n.cfg.LeafSetSize+1) {
				t.Fatalf("%v claims to know all %d nodes closest to %x in a ring of %d", n, 2*n.cfg.LeafSetSize+1, key[:4], len(ids))
			}
			if !n.KnowsClosest(key, k) {
				continue
			}
			claims++
			got := closestOf(key, append(n.Leaves(), n.self), k)
			for i := range k {
				if got[i].ID != truth[i] {
					t.Fatalf("%v claims to know the %d closest to %x but names %x as number %d, truly %x", n, k, key[:4], got[i].ID[:4], i, truth[i][:4])
				}
			}
		}
	}
	if claims < 300*3 {
		t.Fatalf("only %d claims over 300 keys: near routing would rarely stop early", claims)
	}
	t.Logf("300 keys, 40 nodes: %d (node, key) claims to know the replica set, all right", claims)
}

func closestOf(key ID, ps []wire.Peer, k int) []wire.Peer {
	slices.SortFunc(ps, func(a, b wire.Peer) int {
		if Closer(key, a.ID, b.ID) {
			return -1
		}
		return 1
	})
	return ps[:k]
}

// TestKnowsClosestSmallRings (PR-2): in rings of 9 to 20 nodes with right
// leaf sets, a node that says it knows the k closest nodes to a key names
// the true ones. Small rings are where a side of a leaf set is short (its
// half of the ring holds fewer nodes than the side's size), and where a
// node just past the point opposite the node, in the other half, can be
// nearer to a key than the node's own nodes are. Among them the ring of
// the wide-area testbed on 10.231.0.0/16, where that mistake made fast
// reads (RD-14) answer from a node outside the replica set. The negative
// control is the rule that checks only the ends of the full sides: it must
// be caught on that ring.
func TestKnowsClosestSmallRings(t *testing.T) {
	const k = 4
	rng := rand.New(rand.NewPCG(7, 7))
	type ring struct {
		name string
		ids  []ID
	}
	var rings []ring
	for _, subnet := range []string{"10.231", "10.219", "10.213"} {
		var ids []ID
		for i := range 16 {
			ids = append(ids, ID(sha1.Sum(fmt.Appendf(nil, "%s.0.%d:5850", subnet, 10+i))))
		}
		rings = append(rings, ring{"testbed " + subnet, ids})
	}
	for r := range 40 {
		var ids []ID
		for range 9 + r%12 {
			var id ID
			for i := range id {
				id[i] = byte(rng.IntN(256))
			}
			ids = append(ids, id)
		}
		rings = append(rings, ring{fmt.Sprintf("random %d", r), ids})
	}
	endsOnlyWrong, claims := 0, 0
	for _, rg := range rings {
		peer := func(i int) wire.Peer { // one address each (OH-5)
			return wire.Peer{ID: rg.ids[i], Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 5850)}
		}
		var nodes []*Node
		for i := range rg.ids {
			n := New(DefaultConfig(), peer(i))
			n.joined = true
			for j := range rg.ids {
				n.leaves.add(peer(j))
			}
			if got, want := len(n.Leaves()), min(len(rg.ids)-1, 2*n.cfg.LeafSetSize); got > want || got < min(len(rg.ids)-1, n.cfg.LeafSetSize) {
				t.Fatalf("ring %s: node %x has %d leaves", rg.name, rg.ids[i][:4], got)
			}
			nodes = append(nodes, n)
		}
		for range 300 {
			var key ID
			for i := range key {
				key[i] = byte(rng.IntN(256))
			}
			truth := slices.Clone(rg.ids)
			slices.SortFunc(truth, func(a, b ID) int {
				if Closer(key, a, b) {
					return -1
				}
				return 1
			})
			for _, n := range nodes {
				got := closestOf(key, append(n.Leaves(), n.self), k)
				right := true
				for i := range k {
					right = right && got[i].ID == truth[i]
				}
				knows := n.KnowsClosest(key, k)
				if knows {
					claims++
				}
				if knows && !right {
					t.Fatalf("ring %s: node %x claims to know the %d closest to %x, names %x, %x, %x, %x; truly %x, %x, %x, %x",
						rg.name, n.self.ID[:4], k, key[:4], got[0].ID[:4], got[1].ID[:4], got[2].ID[:4], got[3].ID[:4],
						truth[0][:4], truth[1][:4], truth[2][:4], truth[3][:4])
				}
				if rg.name == "testbed 10.231" && knowsClosestEndsOnly(n, key, k) && !right {
					endsOnlyWrong++
				}
			}
		}
	}
	if endsOnlyWrong == 0 {
		t.Fatal("the negative control, the rule that checks only the ends of full sides, made no wrong claim on the testbed's ring")
	}
	if claims < len(rings)*300 {
		t.Fatalf("only %d claims over %d rings of 300 keys: near routing would rarely stop early", claims, len(rings))
	}
	t.Logf("%d right claims; negative control: the ends-only rule made %d wrong claims on the testbed's ring", claims, endsOnlyWrong)
}

// knowsClosestEndsOnly is KnowsClosest without the point opposite the
// node: the rule before PR-2 named it, the negative control of
// TestKnowsClosestSmallRings.
func knowsClosestEndsOnly(n *Node, key ID, k int) bool {
	if !n.joined || !n.leaves.covers(key) {
		return false
	}
	cands := append(n.leaves.all(), n.self)
	if k > len(cands) {
		return false
	}
	far := Distance(key, closestOf(key, cands, k)[k-1].ID)
	for _, side := range [][]wire.Peer{n.leaves.pred, n.leaves.succ} {
		front := n.leaves.front(side)
		if len(front) == n.leaves.size && Compare(Distance(key, front[len(front)-1].ID), far) <= 0 {
			return false
		}
	}
	return true
}
