package overlay

import (
	"net/netip"

	"github.com/opendht-go/opendht/impl/wire"
)

// table is the Pastry routing table: row r holds nodes that share r digits
// with self, in the column of their next digit. A row is allocated when
// its first entry arrives: of the 160/b rows only about log_(2^b) N are
// ever filled, and in a simulation of 100,000 nodes the empty rows would
// be most of the memory.
type table struct {
	self wire.Peer
	b    int
	rows [][]*wire.Peer
	// perHost caps the entries that share an IP address (OH-5; 0: no
	// cap); refused counts the offers it turned down.
	perHost int
	refused int
}

func newTable(self wire.Peer, b int) *table {
	return &table{self: self, b: b, rows: make([][]*wire.Peer, IDBits/b)}
}

// slot returns the row and column where p belongs, or ok=false for self.
func (t *table) slot(id ID) (row, col int, ok bool) {
	row = SharedPrefix(t.self.ID, id, t.b)
	if row >= len(t.rows) {
		return 0, 0, false
	}
	return row, Digit(id, row, t.b), true
}

func (t *table) get(row, col int) *wire.Peer {
	if t.rows[row] == nil {
		return nil
	}
	return t.rows[row][col]
}

// offer puts p in its slot if the slot is empty, or if better says p is
// a better neighbour than the current entry (proximity neighbour
// selection). It reports whether the table changed.
func (t *table) offer(p wire.Peer, better func(old, cand wire.Peer) bool) bool {
	row, col, ok := t.slot(p.ID)
	if !ok {
		return false
	}
	if t.rows[row] == nil {
		t.rows[row] = make([]*wire.Peer, 1<<t.b)
	}
	cur := t.rows[row][col]
	switch {
	case cur == nil:
	case cur.ID == p.ID:
		if cur.Addr != p.Addr {
			cur.Addr = p.Addr
		}
		return false
	case !better(*cur, p):
		return false
	}
	if t.perHost > 0 && t.hostCount(p.Addr) >= t.perHost && (cur == nil || !sameHost(cur.Addr, p.Addr)) {
		t.refused++
		return false
	}
	c := p
	t.rows[row][col] = &c
	return true
}

// hostCount counts the entries on the host of a. It walks the table, but
// only when an offer would change a slot, which is rare.
func (t *table) hostCount(a netip.AddrPort) int {
	n := 0
	for _, row := range t.rows {
		for _, q := range row {
			if q != nil && sameHost(q.Addr, a) {
				n++
			}
		}
	}
	return n
}

func (t *table) remove(id ID) bool {
	row, col, ok := t.slot(id)
	if !ok || t.get(row, col) == nil || t.rows[row][col].ID != id {
		return false
	}
	t.rows[row][col] = nil
	return true
}

// row returns the filled entries of row r.
func (t *table) row(r int) []wire.Peer { return t.appendRow(nil, r) }

// appendRow appends the filled entries of row r to dst.
func (t *table) appendRow(dst []wire.Peer, r int) []wire.Peer {
	if r < 0 || r >= len(t.rows) {
		return dst
	}
	for _, p := range t.rows[r] {
		if p != nil {
			dst = append(dst, *p)
		}
	}
	return dst
}

// filled reports whether row r has an entry.
func (t *table) filled(r int) bool {
	for _, p := range t.rows[r] {
		if p != nil {
			return true
		}
	}
	return false
}

// all returns every entry.
func (t *table) all() []wire.Peer { return t.appendAll(nil) }

// appendAll appends every entry, as all lists them, to dst.
func (t *table) appendAll(dst []wire.Peer) []wire.Peer {
	for r := range t.rows {
		dst = t.appendRow(dst, r)
	}
	return dst
}

// size returns the number of entries.
func (t *table) size() int {
	n := 0
	for _, r := range t.rows {
		for _, p := range r {
			if p != nil {
				n++
			}
		}
	}
	return n
}
