package overlay

import (
	"encoding/binary"
	"math"
	"slices"
	"time"

	"github.com/opendht-go/opendht/impl/wire"
)

// Delay-aware routing (OpenDHT's latency work; spec/SPEC.md PR-1, PR-2).
//
// Pastry's next hop is the routing-table entry for the key's next digit:
// it makes the most progress in ID space, whatever it costs in time. On a
// wide-area network one far hop can cost more than two near ones. With
// Config.ProximityRouting the node scores every peer it knows that makes
// progress (is strictly closer to the key than itself, which keeps routes
// loop-free) by the time it expects the rest of the route to take from
// there: the one-way delay to the peer (half its smoothed RTT) plus the
// hops expected after it, each costing the median one-way delay of the
// node's measured peers. The hops expected after a peer come from how far
// it lies from the key, in nodes (the ID distance over the mean gap
// between nodes, which the leaf set measures): none once the peer is the
// destination, one from inside the destination's leaf set, then one per
// digit of base 2^b still to resolve.

// fraction returns d as a fraction of the circle (its top 64 bits are
// plenty for an estimate).
func fraction(d ID) float64 {
	return float64(binary.BigEndian.Uint64(d[:8])) / math.Exp2(64)
}

// gap estimates the mean distance between adjacent nodes, as a fraction of
// the circle, from the arc the leaf set spans.
func (n *Node) gap() float64 {
	pred, succ := n.leaves.front(n.leaves.pred), n.leaves.front(n.leaves.succ)
	k := len(pred) + len(succ)
	if k == 0 {
		return 1
	}
	span := 0.0
	if len(pred) > 0 {
		span += fraction(clockwise(pred[len(pred)-1].ID, n.self.ID))
	}
	if len(succ) > 0 {
		span += fraction(clockwise(n.self.ID, succ[len(succ)-1].ID))
	}
	return max(span/float64(k), 1e-18)
}

// hopDelay is the one-way delay a hop is expected to take: half the
// median smoothed RTT of the peers the node has measured.
func (n *Node) hopDelay(known []wire.Peer) time.Duration {
	rtts := n.rttBuf[:0]
	defer func() { n.rttBuf = rtts[:0] }()
	for _, p := range known {
		if info := n.peers[p.ID]; info != nil && info.rtt.samples > 0 {
			rtts = append(rtts, info.rtt.srtt)
		}
	}
	if len(rtts) == 0 {
		return n.cfg.InitialRTO / 2
	}
	slices.Sort(rtts)
	return rtts[len(rtts)/2] / 2
}

// hopsAfter estimates how many hops a message for key still takes once it
// is at a node dist away from the key (in nodes, dist = ID distance / gap).
// near: the message is delivered at the first node that knows the key's
// replica set (Config.NearSize); root is true when the node is, as far as
// this one knows, the key's root.
func (n *Node) hopsAfter(nodes float64, near, root bool) float64 {
	l := float64(n.cfg.LeafSetSize)
	switch {
	case root:
		return 0
	case near && nodes <= l-float64(n.cfg.NearSize+1)/2:
		return 0 // it knows the replica set
	case nodes <= l:
		return 1 // the destination is in its leaf set
	}
	return 1 + math.Ceil(math.Log(nodes/l)/math.Log(float64(int(1)<<n.cfg.DigitBits)))
}

// proximityHop is nextHop under delay-aware routing: the usable peer that
// makes progress toward key with the least expected delay to the
// destination; self when none makes progress.
func (n *Node) proximityHop(key ID, usable func(wire.Peer) bool, near bool) wire.Peer {
	if n.leaves.covers(key) && !near {
		// The root is a leaf: any other hop is one hop more.
		best := n.self
		for _, p := range n.leaves.front(n.leaves.succ) {
			if usable(p) && Closer(key, p.ID, best.ID) {
				best = p
			}
		}
		for _, p := range n.leaves.front(n.leaves.pred) {
			if usable(p) && Closer(key, p.ID, best.ID) {
				best = p
			}
		}
		return best
	}
	// Every route asks: the peers and their RTTs go in scratch space the
	// node reuses.
	known := n.tbl.appendAll(n.leaves.appendAll(n.knownBuf[:0]))
	defer func() { n.knownBuf = known[:0] }()
	closest := n.self
	for _, p := range known {
		if usable(p) && Closer(key, p.ID, closest.ID) {
			closest = p
		}
	}
	hop := n.hopDelay(known)
	gap := n.gap()
	best, bestCost := n.self, time.Duration(math.MaxInt64)
	for _, p := range known {
		if !usable(p) || !Closer(key, p.ID, n.self.ID) {
			continue
		}
		owd := 2 * hop // unmeasured: assume a long way
		if info := n.peers[p.ID]; info != nil && info.rtt.samples > 0 {
			owd = info.rtt.srtt / 2
		}
		if n.bug().BlindProximity {
			owd = hop
		}
		nodes := fraction(Distance(key, p.ID)) / gap
		root := p.ID == closest.ID && nodes < 1
		cost := owd + time.Duration(n.hopsAfter(nodes, near, root)*float64(hop))
		if cost < bestCost || (cost == bestCost && Closer(key, p.ID, best.ID)) {
			best, bestCost = p, cost
		}
	}
	return best
}

// KnowsClosest reports whether the node knows the k nodes closest to key
// (itself included) for certain, as far as its leaf set is right: the k
// closest of itself and its leaves all lie nearer to the key than any
// point of the ring the leaf set does not cover, so no node the node does
// not know can be closer. A side holds the nodes of its own half of the
// ring: one shorter than the leaf set's size holds every node of that
// half. What the node does not know is then the arc from the far end of
// each full side to the point opposite the node, and the key's distance
// to that arc is its distance to one of the arc's ends. (Checking the
// sides' ends alone misses the opposite point when one side is short: a
// node just past it, in the other half, may be nearer to a key than the
// node's own nodes are; PR-2.)
func (n *Node) KnowsClosest(key ID, k int) bool {
	if !n.joined || !n.leaves.covers(key) {
		return false
	}
	cands := append(n.leaves.all(), n.self)
	if k > len(cands) {
		return false
	}
	slices.SortFunc(cands, func(a, b wire.Peer) int {
		if Closer(key, a.ID, b.ID) {
			return -1
		}
		if Closer(key, b.ID, a.ID) {
			return 1
		}
		return 0
	})
	far := Distance(key, cands[k-1].ID)
	full := 0
	for _, side := range [][]wire.Peer{n.leaves.pred, n.leaves.succ} {
		front := n.leaves.front(side)
		if len(front) < n.leaves.size {
			continue
		}
		full++
		if Compare(Distance(key, front[len(front)-1].ID), far) <= 0 {
			return false
		}
	}
	if full == 1 && Compare(Distance(key, opposite(n.self.ID)), far) <= 0 {
		return false // an unknown node near the opposite point may be closer
	}
	return true
}

// opposite returns the point of the ring half a turn from id.
func opposite(id ID) ID {
	id[0] ^= 0x80
	return id
}
