package store

import (
	"bytes"
	"fmt"
	"math/rand/v2"

	"github.com/opendht-go/opendht/impl/dht"
)

// digestTree is an ordered set of identity entries (item ID, tombstone
// flag) augmented with the XOR and the count of the summaries in every
// subtree, so that the XOR and count of any key range take one descent.
//
// It is a treap: a binary search tree on the item ID (byte order of key,
// secret hash, value hash: the order of the identity records on disk) that
// is a max-heap on a random priority, hence of expected depth O(log N)
// whatever the insertion order. Priorities come from a source seeded per
// tree at random: clients choose keys and values, and could otherwise grind
// IDs into a degenerate shape.
//
// Nodes live in an arena of fixed-size chunks of plain structs linked by
// int32 indices: the garbage collector has no pointer to trace, and growth
// never copies the nodes already there (a node's address is stable). Index
// 0 is the empty tree: a node with count 0 and XOR 0, so that the
// aggregates of a missing child read as neutral without a branch. Freed
// nodes are reused through a free list threaded through their left links.
//
// A digestTree is not safe for concurrent use; digestIndex guards it.
type digestTree struct {
	chunks [][]dnode
	used   int32 // nodes handed out from the chunks, including node 0
	free   int32 // head of the free list, 0 if empty
	root   int32
	rng    *rand.Rand
}

// dnode is one entry. Field order keeps it at 96 bytes.
type dnode struct {
	id          dht.ItemID // 60 bytes
	count       int32      // entries in the subtree
	sum         uint64     // this entry's summary
	xor         uint64     // XOR of the summaries in the subtree
	left, right int32
	prio        uint32
	tomb        bool
}

const (
	chunkBits = 12 // 4096 nodes (384 KiB) per chunk
	chunkLen  = 1 << chunkBits
	chunkMask = chunkLen - 1
)

func newDigestTree(seed uint64) *digestTree {
	t := &digestTree{rng: rand.New(rand.NewPCG(seed, 0x6469676573742121))}
	t.reset()
	return t
}

// reset empties the tree and gives back its memory.
func (t *digestTree) reset() {
	t.chunks = [][]dnode{make([]dnode, chunkLen)}
	t.used, t.free, t.root = 1, 0, 0
}

func (t *digestTree) at(i int32) *dnode { return &t.chunks[i>>chunkBits][i&chunkMask] }

// alloc returns a fresh node holding one entry.
func (t *digestTree) alloc(id dht.ItemID, tomb bool) int32 {
	var i int32
	if t.free != 0 {
		i = t.free
		t.free = t.at(i).left
	} else {
		if int(t.used) == len(t.chunks)*chunkLen {
			if len(t.chunks) == 1<<(31-chunkBits) {
				panic(fmt.Sprintf("store: digest index full at %d entries", t.used))
			}
			t.chunks = append(t.chunks, make([]dnode, chunkLen))
		}
		i = t.used
		t.used++
	}
	s := Summary(id, tomb)
	*t.at(i) = dnode{id: id, count: 1, sum: s, xor: s, prio: t.rng.Uint32(), tomb: tomb}
	return i
}

func (t *digestTree) release(i int32) {
	*t.at(i) = dnode{left: t.free}
	t.free = i
}

// pull recomputes n's aggregates from its children.
func (t *digestTree) pull(n int32) {
	N := t.at(n)
	l, r := t.at(N.left), t.at(N.right)
	N.count = l.count + r.count + 1
	N.xor = l.xor ^ r.xor ^ N.sum
}

func cmpID(a, b *dht.ItemID) int {
	if c := bytes.Compare(a.Key[:], b.Key[:]); c != 0 {
		return c
	}
	if c := bytes.Compare(a.SecretHash[:], b.SecretHash[:]); c != 0 {
		return c
	}
	return bytes.Compare(a.ValueHash[:], b.ValueHash[:])
}

// split cuts the subtree n into the entries below id and those at or
// above it.
func (t *digestTree) split(n int32, id *dht.ItemID) (lo, hi int32) {
	if n == 0 {
		return 0, 0
	}
	N := t.at(n)
	if cmpID(&N.id, id) < 0 {
		N.right, hi = t.split(N.right, id)
		t.pull(n)
		return n, hi
	}
	lo, N.left = t.split(N.left, id)
	t.pull(n)
	return lo, n
}

// merge joins two subtrees, every entry of a below every entry of b.
func (t *digestTree) merge(a, b int32) int32 {
	if a == 0 {
		return b
	}
	if b == 0 {
		return a
	}
	A, B := t.at(a), t.at(b)
	if A.prio > B.prio {
		A.right = t.merge(A.right, b)
		t.pull(a)
		return a
	}
	B.left = t.merge(a, B.left)
	t.pull(b)
	return b
}

// insert puts node x into the subtree n, in one descent. An entry of
// the same ID already there is taken out and returned as old (0 if none);
// the caller frees it.
func (t *digestTree) insert(n, x int32) (root, old int32) {
	if n == 0 {
		return x, 0
	}
	N, X := t.at(n), t.at(x)
	if X.prio > N.prio {
		var rest int32
		X.left, rest = t.split(n, &X.id)
		// rest holds the entries at or above X's ID: take out the one
		// equal to it, if any (the smallest of them).
		X.right, old = t.removeMin(rest, &X.id)
		t.pull(x)
		return x, old
	}
	switch c := cmpID(&X.id, &N.id); {
	case c < 0:
		N.left, old = t.insert(N.left, x)
	case c > 0:
		N.right, old = t.insert(N.right, x)
	default: // x takes n's place
		X.left, X.right, X.prio = N.left, N.right, N.prio
		t.pull(x)
		return x, n
	}
	t.pull(n)
	return n, old
}

// removeMin takes the smallest entry out of the subtree n if its ID is id,
// and returns it as old (0 if it is not id).
func (t *digestTree) removeMin(n int32, id *dht.ItemID) (root, old int32) {
	if n == 0 {
		return 0, 0
	}
	N := t.at(n)
	if N.left != 0 {
		N.left, old = t.removeMin(N.left, id)
		if old != 0 {
			t.pull(n)
		}
		return n, old
	}
	if cmpID(&N.id, id) != 0 {
		return n, 0
	}
	return N.right, n
}

// remove deletes id from the subtree n; found is false if it was absent.
func (t *digestTree) remove(n int32, id *dht.ItemID) (root int32, found bool) {
	if n == 0 {
		return 0, false
	}
	N := t.at(n)
	switch c := cmpID(id, &N.id); {
	case c < 0:
		N.left, found = t.remove(N.left, id)
	case c > 0:
		N.right, found = t.remove(N.right, id)
	default:
		m := t.merge(N.left, N.right)
		t.release(n)
		return m, true
	}
	if found {
		t.pull(n)
	}
	return n, found
}

// set makes id an entry with the given tombstone flag: inserts it, or
// replaces the flag (and so the summary) of the entry already there.
func (t *digestTree) set(id dht.ItemID, tomb bool) {
	var old int32
	t.root, old = t.insert(t.root, t.alloc(id, tomb))
	if old != 0 {
		t.release(old)
	}
}

// has reports whether id is an entry.
func (t *digestTree) has(id *dht.ItemID) bool {
	for n := t.root; n != 0; {
		N := t.at(n)
		switch c := cmpID(id, &N.id); {
		case c < 0:
			n = N.left
		case c > 0:
			n = N.right
		default:
			return true
		}
	}
	return false
}

// del removes id; it reports whether it was there.
func (t *digestTree) del(id dht.ItemID) bool {
	var found bool
	t.root, found = t.remove(t.root, &id)
	return found
}

func (t *digestTree) len() int { return int(t.at(t.root).count) }

// below returns the XOR and the count of the entries whose key is below k.
func (t *digestTree) below(k *dht.Key) (x uint64, c int) {
	n := t.root
	for n != 0 {
		N := t.at(n)
		if bytes.Compare(N.id.Key[:], k[:]) < 0 {
			L := t.at(N.left)
			x ^= L.xor ^ N.sum
			c += int(L.count) + 1
			n = N.right
		} else {
			n = N.left
		}
	}
	return x, c
}

// rangeDigest is the XOR and count of the entries with key in [lo, hi),
// hi zero meaning the end of the key space (see Store.DigestRange).
func (t *digestTree) rangeDigest(lo, hi *dht.Key) (uint64, int) {
	var xh uint64
	var ch int
	if *hi == (dht.Key{}) {
		R := t.at(t.root)
		xh, ch = R.xor, int(R.count)
	} else {
		if bytes.Compare(lo[:], hi[:]) >= 0 {
			return 0, 0
		}
		xh, ch = t.below(hi)
	}
	xl, cl := t.below(lo)
	return xh ^ xl, ch - cl
}

// digestEntry is one entry as ListRange reports it.
type digestEntry struct {
	id   dht.ItemID
	tomb bool
	sum  uint64
}

// collect appends to buf, up to its capacity, the entries in ID order from
// the first one at or above from (above it if after is set) whose key is
// below hi (hi zero: no bound). It returns buf and whether the range may
// hold more entries than were appended.
func (t *digestTree) collect(buf []digestEntry, from *dht.ItemID, after bool, hi *dht.Key) ([]digestEntry, bool) {
	bounded := *hi != (dht.Key{})
	// The path of nodes at or above from whose left subtree is still to
	// be visited; its top is the next entry in order.
	var stackBuf [64]int32
	stack := stackBuf[:0]
	for n := t.root; n != 0; {
		N := t.at(n)
		c := cmpID(&N.id, from)
		if c > 0 || (c == 0 && !after) {
			stack = append(stack, n)
			n = N.left
		} else {
			n = N.right
		}
	}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		N := t.at(n)
		if bounded && bytes.Compare(N.id.Key[:], hi[:]) >= 0 {
			return buf, false
		}
		if len(buf) == cap(buf) {
			return buf, true
		}
		buf = append(buf, digestEntry{N.id, N.tomb, N.sum})
		for m := N.right; m != 0; m = t.at(m).left {
			stack = append(stack, m)
		}
	}
	return buf, false
}

// builder builds a tree from entries given in increasing ID order in
// linear time, as a Cartesian tree: it keeps the right spine of the tree
// built so far on a stack; a new node adopts as its left subtree the spine
// nodes of lower priority and becomes the right child of the one above.
// A spine node leaves the spine only when nothing more can join its
// subtree, so that is when its aggregates are computed.
type builder struct {
	t     *digestTree
	spine []int32
	last  dht.ItemID
}

func (t *digestTree) newBuilder() *builder {
	t.reset()
	return &builder{t: t}
}

// add appends an entry above every entry added so far.
func (b *builder) add(id dht.ItemID, tomb bool) error {
	if b.t.used > 1 && cmpID(&b.last, &id) >= 0 {
		return fmt.Errorf("%w: identity %v after %v", errCorruptRecord, id, b.last)
	}
	b.last = id
	x := b.t.alloc(id, tomb)
	p := b.t.at(x).prio
	var child int32
	for len(b.spine) > 0 && b.t.at(b.spine[len(b.spine)-1]).prio < p {
		child = b.spine[len(b.spine)-1]
		b.spine = b.spine[:len(b.spine)-1]
		b.t.pull(child)
	}
	b.t.at(x).left = child
	if len(b.spine) > 0 {
		b.t.at(b.spine[len(b.spine)-1]).right = x
	}
	b.spine = append(b.spine, x)
	return nil
}

// finish completes the tree.
func (b *builder) finish() {
	for i := len(b.spine) - 1; i >= 0; i-- {
		b.t.pull(b.spine[i])
	}
	if len(b.spine) > 0 {
		b.t.root = b.spine[0]
	}
	b.spine = nil
}

// check verifies the tree's invariants (order, heap, aggregates, the
// arena's accounting) and returns the first violation.
func (t *digestTree) check() error {
	var prev *dht.ItemID
	var walk func(n int32, depth int) (uint64, int32, error)
	walk = func(n int32, depth int) (uint64, int32, error) {
		if n == 0 {
			return 0, 0, nil
		}
		if depth > 200 {
			return 0, 0, fmt.Errorf("depth over 200 at node %d", n)
		}
		N := t.at(n)
		for _, c := range []int32{N.left, N.right} {
			if c != 0 && t.at(c).prio > N.prio {
				return 0, 0, fmt.Errorf("heap order broken at node %d", n)
			}
		}
		lx, lc, err := walk(N.left, depth+1)
		if err != nil {
			return 0, 0, err
		}
		if prev != nil && cmpID(prev, &N.id) >= 0 {
			return 0, 0, fmt.Errorf("order broken at node %d: %v after %v", n, N.id, *prev)
		}
		prev = &N.id
		if N.sum != Summary(N.id, N.tomb) {
			return 0, 0, fmt.Errorf("node %d holds summary %x, want %x", n, N.sum, Summary(N.id, N.tomb))
		}
		rx, rc, err := walk(N.right, depth+1)
		if err != nil {
			return 0, 0, err
		}
		x, c := lx^rx^N.sum, lc+rc+1
		if N.xor != x || N.count != c {
			return 0, 0, fmt.Errorf("node %d aggregates (%x, %d), want (%x, %d)", n, N.xor, N.count, x, c)
		}
		return x, c, nil
	}
	_, c, err := walk(t.root, 0)
	if err != nil {
		return err
	}
	nfree := int32(0)
	for f := t.free; f != 0; f = t.at(f).left {
		nfree++
		if nfree > t.used {
			return fmt.Errorf("free list has a cycle")
		}
	}
	if c+nfree+1 != t.used {
		return fmt.Errorf("%d entries and %d free nodes, %d nodes in use", c, nfree, t.used-1)
	}
	return nil
}
