package overlay

import (
	"net/netip"
	"slices"

	"github.com/opendht-go/opendht/impl/wire"
)

// leafSet holds the nearest nodes on each side of self: succ in clockwise
// order, pred in counter-clockwise order, size each. A node is on the side
// of the half of the circle it lies in (clockwise when exactly opposite),
// never on both: a side that runs short then looks short (see covers)
// instead of filling up with the other side's nodes. Each side also keeps as
// many again in reserve: when a leaf is found dead, the next one is there
// at once instead of after the next exchange.
type leafSet struct {
	self       wire.Peer
	size       int
	succ, pred []wire.Peer
	// perHost caps the entries of one side that share an IP address
	// (OH-5; 0: no cap); refused counts the peers it kept out.
	perHost int
	refused int
}

// sameHost reports whether two addresses are one host for the per-host
// caps: the same IP address, not loopback (a one-machine testbed).
func sameHost(a, b netip.AddrPort) bool {
	return a.Addr() == b.Addr() && !a.Addr().IsLoopback()
}

// front returns the first size entries of a side.
func (l *leafSet) front(side []wire.Peer) []wire.Peer { return side[:min(len(side), l.size)] }

func (l *leafSet) contains(id ID) bool {
	for _, p := range l.front(l.succ) {
		if p.ID == id {
			return true
		}
	}
	for _, p := range l.front(l.pred) {
		if p.ID == id {
			return true
		}
	}
	return false
}

// add offers p; it reports whether the leaf set changed.
func (l *leafSet) add(p wire.Peer) bool {
	if p.ID == l.self.ID {
		return false
	}
	if Compare(clockwise(l.self.ID, p.ID), clockwise(p.ID, l.self.ID)) <= 0 {
		return l.insert(&l.succ, p, func(x ID) ID { return clockwise(l.self.ID, x) })
	}
	return l.insert(&l.pred, p, func(x ID) ID { return clockwise(x, l.self.ID) })
}

func (l *leafSet) insert(side *[]wire.Peer, p wire.Peer, dist func(ID) ID) bool {
	s := *side
	for i, q := range s {
		if q.ID == p.ID {
			if q.Addr != p.Addr { // the node moved: keep its newest address
				s[i].Addr = p.Addr
			}
			return false
		}
	}
	i, _ := slices.BinarySearchFunc(s, p, func(q, p wire.Peer) int { return Compare(dist(q.ID), dist(p.ID)) })
	if i >= 2*l.size {
		return false
	}
	if l.perHost > 0 {
		// OH-5: at most perHost entries of one host on a side; a closer
		// one displaces the farthest.
		same, last := 0, -1
		for j, q := range s {
			if sameHost(q.Addr, p.Addr) {
				same, last = same+1, j
			}
		}
		if same >= l.perHost {
			if last < i {
				l.refused++
				return false
			}
			s = slices.Delete(s, last, last+1)
		}
	}
	s = slices.Insert(s, i, p)
	if len(s) > 2*l.size {
		s = s[:2*l.size]
	}
	*side = s
	return i < l.size // a change in reserve only is not a leaf-set change
}

// remove drops id from both sides; it reports whether it was there.
func (l *leafSet) remove(id ID) bool {
	n := len(l.succ) + len(l.pred)
	l.succ = slices.DeleteFunc(l.succ, func(p wire.Peer) bool { return p.ID == id })
	l.pred = slices.DeleteFunc(l.pred, func(p wire.Peer) bool { return p.ID == id })
	return len(l.succ)+len(l.pred) != n
}

// all returns the leaves, successors first (no node is on both sides).
func (l *leafSet) all() []wire.Peer {
	return l.appendAll(make([]wire.Peer, 0, len(l.front(l.succ))+len(l.front(l.pred))))
}

// appendAll appends the leaves, as all lists them, to dst.
func (l *leafSet) appendAll(dst []wire.Peer) []wire.Peer {
	return append(append(dst, l.front(l.succ)...), l.front(l.pred)...)
}

// covers reports whether key lies within the range the leaf set knows
// completely: the arc from the farthest predecessor through self to the
// farthest successor. Each side holds only nodes of its own half of the
// circle, so this arc never wraps: a node that lost its nearest leaves,
// or that knows only a few nodes scattered around the circle (a few nodes
// that joined through each other while the rest of the ring was out of
// reach), covers only as far as the nodes it has, and routes other keys
// on instead of answering for them. In a small ring a key in the gap
// between the two farthest leaves goes to the closest node known, which
// is then its root.
func (l *leafSet) covers(key ID) bool {
	lo, hi := l.self.ID, l.self.ID
	if k := len(l.front(l.pred)); k > 0 {
		lo = l.pred[k-1].ID
	}
	if k := len(l.front(l.succ)); k > 0 {
		hi = l.succ[k-1].ID
	}
	if lo == hi {
		// No leaves: this node is alone or lost every neighbour. It is
		// the root only of keys no node it knows is closer to, which the
		// routing decides from the routing table.
		return key == l.self.ID
	}
	return key == lo || key == hi || key == l.self.ID || Between(lo, key, hi)
}
