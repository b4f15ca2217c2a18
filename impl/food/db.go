package food

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/opendht-go/opendht/impl/cddb"
	"github.com/opendht-go/opendht/impl/client"
)

// DefaultFamilyWindow is how many seconds on either side of a query's
// disc length an inexact lookup searches: one get per second, in
// parallel. FreeDB searched up to FuzzyWindow (tens of seconds); every
// second costs a get here, and another pressing of a disc almost always
// has a length within a second or two of it.
const DefaultFamilyWindow = 2

// DB is the CD database on the DHT: a cddb.DB that answers from the
// values the loader put, through the public client. It is safe for
// concurrent use.
type DB struct {
	c *client.Client
	// FamilyWindow bounds the seconds an inexact lookup searches on each
	// side of the disc length (at most the window a query asks for).
	FamilyWindow int
	// Skipped counts values under FOOD keys that were not FOOD values
	// of the kind expected (another application's, or damaged).
	mu      sync.Mutex
	skipped int
}

// NewDB returns the database reached through c.
func NewDB(c *client.Client) *DB { return &DB{c: c, FamilyWindow: DefaultFamilyWindow} }

// Skipped returns the number of foreign or damaged values met so far.
func (d *DB) Skipped() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.skipped
}

func (d *DB) skip() {
	d.mu.Lock()
	d.skipped++
	d.mu.Unlock()
}

// Entries returns the entries under discid, one per category: the highest
// revision, ties broken by the larger sum so every reader picks the same.
// Values that are not entries of this disc ID are skipped.
func (d *DB) Entries(ctx context.Context, discid uint32) (map[string]Entry, error) {
	vals, err := d.c.Get(ctx, DiscKey(discid))
	if err != nil {
		return nil, err
	}
	out := map[string]Entry{}
	for _, v := range vals {
		e, err := DecodeEntry(v.Data)
		if err != nil || e.DiscID != discid {
			d.skip()
			continue
		}
		old, ok := out[e.Category]
		if !ok || e.Revision > old.Revision || (e.Revision == old.Revision && bytes.Compare(e.Sum[:], old.Sum[:]) > 0) {
			out[e.Category] = e
		}
	}
	return out, nil
}

// Lookup implements cddb.DB.
func (d *DB) Lookup(ctx context.Context, discid uint32) ([]cddb.Entry, error) {
	es, err := d.Entries(ctx, discid)
	if err != nil {
		return nil, err
	}
	var out []cddb.Entry
	for _, c := range cddb.Categories {
		if e, ok := es[c]; ok {
			out = append(out, e.CDDB())
		}
	}
	return out, nil
}

// Family implements cddb.DB: one get per second of [lo, hi], narrowed to
// FamilyWindow seconds on each side of its middle.
func (d *DB) Family(ctx context.Context, ntracks, lo, hi int) ([]cddb.Entry, error) {
	mid := (lo + hi) / 2
	lo, hi = max(lo, mid-d.FamilyWindow, 0), min(hi, mid+d.FamilyWindow)
	if lo > hi {
		return nil, nil
	}
	type res struct {
		vals []client.Value
		err  error
	}
	results := make([]res, hi-lo+1)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			v, err := d.c.Get(ctx, FamilyKey(ntracks, lo+i))
			results[i] = res{v, err}
		})
	}
	wg.Wait()
	var out []cddb.Entry
	for i, r := range results {
		if r.err != nil {
			return nil, r.err
		}
		for _, v := range r.vals {
			e, err := DecodeFamily(v.Data)
			if err != nil || len(e.Offsets) != ntracks || e.DiscLength != lo+i {
				d.skip()
				continue
			}
			out = append(out, e.CDDB())
		}
	}
	return out, nil
}

// Read implements cddb.DB.
func (d *DB) Read(ctx context.Context, categ string, discid uint32) ([]byte, error) {
	es, err := d.Entries(ctx, discid)
	if err != nil {
		return nil, err
	}
	e, ok := es[categ]
	if !ok {
		return nil, cddb.ErrNotFound
	}
	return d.Text(ctx, e)
}

// ErrMissingChunk: a chunk an entry names is not (yet, or no longer) in
// the DHT: the reader gets an error, never part of a record.
var ErrMissingChunk = errors.New("food: chunk missing")

// Text fetches and checks the text of an entry: cddb.ErrCorrupt if what
// the DHT holds does not match the entry, ErrMissingChunk if a chunk is
// not there.
func (d *DB) Text(ctx context.Context, e Entry) ([]byte, error) {
	var chunks [][]byte
	if e.Chunks != nil {
		chunks = make([][]byte, len(e.Chunks))
		errs := make([]error, len(e.Chunks))
		var wg sync.WaitGroup
		for i, k := range e.Chunks {
			wg.Go(func() {
				vals, err := d.c.Get(ctx, k)
				if err != nil {
					errs[i] = err
					return
				}
				for _, v := range vals {
					if c, ok := chunkData(k, v.Data); ok {
						chunks[i] = c
						return
					}
					d.skip()
				}
				errs[i] = fmt.Errorf("%w: %s/%08x chunk %d of %d (%s)", ErrMissingChunk, e.Category, e.DiscID, i+1, len(e.Chunks), k)
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
	}
	text, err := Assemble(e, chunks)
	if err != nil {
		return nil, fmt.Errorf("%w: %s/%08x: %v", cddb.ErrCorrupt, e.Category, e.DiscID, err)
	}
	if _, err := cddb.Parse(text); err != nil {
		return nil, fmt.Errorf("%w: %s/%08x: %v", cddb.ErrCorrupt, e.Category, e.DiscID, err)
	}
	return text, nil
}

// FetchAll gets every record stored under discid, text included: what
// the paper timed ("all CDs' data for a discid").
func (d *DB) FetchAll(ctx context.Context, discid uint32) (map[string][]byte, error) {
	es, err := d.Entries(ctx, discid)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for c, e := range es {
		t, err := d.Text(ctx, e)
		if err != nil {
			return nil, err
		}
		out[c] = t
	}
	return out, nil
}
