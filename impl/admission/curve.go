package admission

import (
	"fmt"

	"github.com/opendht-go/opendht/impl/dht"
)

// Curve holds the commitments of the stored items and tombstones, b bytes
// until each expiry, and answers the FST-3 test: is
//
//	B(tau)*T + C*(tau-now) <= C*T  for every tau in [now, now+T]?
//
// B is a step function that drops at each expiry e, so the left side peaks
// at tau = e-1; with S(e) the bytes expiring at e or later the test is
// max_e S(e)*T + C*e <= C*T + C*(now+1). Each treap node aggregates the bytes
// of one expiry; its subtree keeps the bytes sum and the maximum of
// (bytes at keys >= e within the subtree)*T + C*e, which composes upward.
type Curve struct {
	c, t  uint64 // capacity C in bytes, horizon T in seconds
	root  *cnode
	rng   uint64
	total int64
}

type cnode struct {
	e           dht.Time
	b           int64 // bytes expiring at e
	prio        uint64
	left, right *cnode
	sum         int64 // bytes in the subtree
	best        u128  // max over keys k in the subtree of suffix(k)*T + C*k
}

// NewCurve returns an empty curve for capacity c bytes and horizon t seconds.
func NewCurve(c, t int64) *Curve {
	if c <= 0 || t <= 0 {
		panic(fmt.Sprintf("admission: curve needs positive C and T, got C=%d T=%d", c, t))
	}
	return &Curve{c: uint64(c), t: uint64(t), rng: 0x9e3779b97f4a7c15}
}

// Total returns the bytes of every commitment on the curve, B at the
// earliest stored time.
func (cv *Curve) Total() int64 { return cv.total }

func (cv *Curve) nextPrio() uint64 {
	// xorshift: treap priorities need no quality, only independence from keys.
	x := cv.rng
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	cv.rng = x
	return x
}

func (cv *Curve) fix(n *cnode) {
	var rs int64
	var best u128
	if n.right != nil {
		rs = n.right.sum
		best = n.right.best
	}
	suffix := uint64(n.b + rs)
	self := mul64(suffix, cv.t).add(mul64(cv.c, uint64(n.e)))
	best = maxU(best, self)
	if n.left != nil {
		best = maxU(best, n.left.best.add(mul64(suffix, cv.t)))
		n.sum = n.left.sum + n.b + rs
	} else {
		n.sum = n.b + rs
	}
	n.best = best
}

// Add commits b bytes until expiry e.
func (cv *Curve) Add(e dht.Time, b int64) {
	if b <= 0 || e < 0 {
		panic(fmt.Sprintf("admission: bad commitment b=%d e=%d", b, e))
	}
	cv.root = cv.add(cv.root, e, b)
	cv.total += b
}

func (cv *Curve) add(n *cnode, e dht.Time, b int64) *cnode {
	if n == nil {
		n = &cnode{e: e, b: b, prio: cv.nextPrio()}
		cv.fix(n)
		return n
	}
	switch {
	case e == n.e:
		n.b += b
	case e < n.e:
		n.left = cv.add(n.left, e, b)
		if n.left.prio > n.prio {
			n = cv.rotateRight(n)
		}
	default:
		n.right = cv.add(n.right, e, b)
		if n.right.prio > n.prio {
			n = cv.rotateLeft(n)
		}
	}
	cv.fix(n)
	return n
}

func (cv *Curve) rotateRight(n *cnode) *cnode {
	l := n.left
	n.left = l.right
	cv.fix(n)
	l.right = n
	return l
}

func (cv *Curve) rotateLeft(n *cnode) *cnode {
	r := n.right
	n.right = r.left
	cv.fix(n)
	r.left = n
	return r
}

// Remove releases b bytes committed until e. It panics if they were not
// committed: the store and the curve would disagree.
func (cv *Curve) Remove(e dht.Time, b int64) {
	cv.root = cv.remove(cv.root, e, b)
	cv.total -= b
}

func (cv *Curve) remove(n *cnode, e dht.Time, b int64) *cnode {
	if n == nil {
		panic(fmt.Sprintf("admission: release of %d bytes at %d not committed", b, e))
	}
	switch {
	case e < n.e:
		n.left = cv.remove(n.left, e, b)
	case e > n.e:
		n.right = cv.remove(n.right, e, b)
	default:
		if n.b < b {
			panic(fmt.Sprintf("admission: release of %d bytes at %d, only %d committed", b, e, n.b))
		}
		n.b -= b
		if n.b == 0 {
			return cv.merge(n.left, n.right)
		}
	}
	cv.fix(n)
	return n
}

func (cv *Curve) merge(l, r *cnode) *cnode {
	switch {
	case l == nil:
		return r
	case r == nil:
		return l
	case l.prio > r.prio:
		l.right = cv.merge(l.right, r)
		cv.fix(l)
		return l
	default:
		r.left = cv.merge(l, r.left)
		cv.fix(r)
		return r
	}
}

// MinExpiry returns the earliest expiry on the curve, or false if it is
// empty. The store uses it to skip reclamation when nothing has expired.
func (cv *Curve) MinExpiry() (dht.Time, bool) {
	n := cv.root
	if n == nil {
		return 0, false
	}
	for n.left != nil {
		n = n.left
	}
	return n.e, true
}

// ExpireThrough drops every commitment whose expiry is at or before now
// (TTL-3). The store releases the items themselves.
func (cv *Curve) ExpireThrough(now dht.Time) {
	for cv.root != nil {
		n := cv.root
		for n.left != nil {
			n = n.left
		}
		if n.e > now {
			return
		}
		cv.Remove(n.e, n.b)
	}
}

// Fits is the FST-3 test of the current commitments at time now. Call
// ExpireThrough(now) first.
func (cv *Curve) Fits(now dht.Time) bool {
	if cv.root == nil {
		return true
	}
	limit := mul64(cv.c, cv.t).add(mul64(cv.c, uint64(now+1)))
	return !limit.less(cv.root.best)
}

// FitsWith tests the state in which b bytes until newE are added and, if
// oldB > 0, oldB bytes until oldE are released, without changing the curve.
func (cv *Curve) FitsWith(now dht.Time, newE dht.Time, b int64, oldE dht.Time, oldB int64) bool {
	if oldB > 0 {
		cv.Remove(oldE, oldB)
	}
	cv.Add(newE, b)
	ok := cv.Fits(now)
	cv.Remove(newE, b)
	if oldB > 0 {
		cv.Add(oldE, oldB)
	}
	return ok
}

// NeverFits is FST-7: a write of b bytes and TTL t that would fail FST-3
// even on an empty node.
func NeverFits(c, t int64, b, ttl int64) bool {
	lhs := mul64(uint64(b), uint64(t)).add(mul64(uint64(c), uint64(ttl-1)))
	return mul64(uint64(c), uint64(t)).less(lhs)
}
