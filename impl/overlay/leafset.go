package overlay

import (
	"slices"

	"github.com/opendht-go/opendht/impl/wire"
)

// leafSet holds the nearest nodes on each side of self: succ in clockwise
// order, pred in counter-clockwise order, size each. In a network of fewer
// than 2*size+1 nodes a node can be on both sides. Each side also keeps as
// many again in reserve: when a leaf is found dead, the next one is there
// at once instead of after the next exchange.
type leafSet struct {
	self       wire.Peer
	size       int
	succ, pred []wire.Peer
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
	a := l.insert(&l.succ, p, func(x ID) ID { return clockwise(l.self.ID, x) })
	b := l.insert(&l.pred, p, func(x ID) ID { return clockwise(x, l.self.ID) })
	return a || b
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

// all returns the distinct leaves.
func (l *leafSet) all() []wire.Peer {
	out := slices.Clone(l.front(l.succ))
	for _, p := range l.front(l.pred) {
		if !slices.ContainsFunc(out, func(q wire.Peer) bool { return q.ID == p.ID }) {
			out = append(out, p)
		}
	}
	return out
}

// covers reports whether key lies within the range the leaf set knows
// completely: between the farthest predecessor and the farthest successor.
// A side that is not full means the node knows the whole ring, and so do
// two sides that reach past each other: in a ring of fewer than 2*size+2
// nodes the farthest predecessor lies clockwise before the farthest
// successor, and the arc from one to the other is then the short gap
// between them, not the leaf set's range.
func (l *leafSet) covers(key ID) bool {
	if len(l.succ) < l.size || len(l.pred) < l.size {
		return true
	}
	lo, hi := l.pred[l.size-1].ID, l.succ[l.size-1].ID
	if lo == hi || Between(l.self.ID, lo, hi) {
		return true
	}
	return key == lo || key == hi || Between(lo, key, hi)
}
