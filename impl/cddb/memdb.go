package cddb

import (
	"context"
	"sync"
)

// MemDB is a DB in memory: the reference the DHT's DB is tested against,
// and a way to serve a local corpus. Its Family searches the whole window
// asked. It is safe for concurrent use.
type MemDB struct {
	mu   sync.RWMutex
	recs map[memKey]*Record
}

type memKey struct {
	categ  string
	discid uint32
}

// NewMemDB returns an empty database.
func NewMemDB() *MemDB { return &MemDB{recs: map[memKey]*Record{}} }

// Add stores r under every disc ID it lists, in category categ; a lower
// revision than the one stored is ignored.
func (m *MemDB) Add(categ string, r *Record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range r.DiscIDs {
		k := memKey{categ, id}
		if old, ok := m.recs[k]; ok && old.Revision > r.Revision {
			continue
		}
		m.recs[k] = r
	}
}

// Len returns the number of (category, disc ID) entries.
func (m *MemDB) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.recs)
}

func entryOf(k memKey, r *Record) Entry {
	return Entry{Category: k.categ, DiscID: k.discid, Title: r.Title, Offsets: r.Offsets, DiscLength: r.DiscLength}
}

// Lookup implements DB.
func (m *MemDB) Lookup(_ context.Context, discid uint32) ([]Entry, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []Entry
	for _, c := range Categories {
		k := memKey{c, discid}
		if r, ok := m.recs[k]; ok {
			out = append(out, entryOf(k, r))
		}
	}
	return out, nil
}

// Family implements DB by scanning every record.
func (m *MemDB) Family(_ context.Context, ntracks, lo, hi int) ([]Entry, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []Entry
	for k, r := range m.recs {
		if len(r.Offsets) == ntracks && r.DiscLength >= lo && r.DiscLength <= hi {
			out = append(out, entryOf(k, r))
		}
	}
	return out, nil
}

// Read implements DB.
func (m *MemDB) Read(_ context.Context, categ string, discid uint32) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	r, ok := m.recs[memKey{categ, discid}]
	if !ok {
		return nil, ErrNotFound
	}
	return r.Text, nil
}
