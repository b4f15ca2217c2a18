package redir

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opendht-go/opendht/impl/clock"
	"github.com/opendht-go/opendht/impl/dht"
)

// ErrNoMembers is the answer of a lookup in a namespace that lists nobody.
var ErrNoMembers = errors.New("redir: namespace has no members")

// ErrLeft is returned by Refresh after Leave.
var ErrLeft = errors.New("redir: member has left")

// maxMembersNodes bounds the start-level nodes Members reads (b^l0).
const maxMembersNodes = 4096

// Redir looks up and registers members of namespaces in one DHT. It is
// safe for concurrent use.
type Redir struct {
	cfg Config
	d   DHT
	clk clock.Clock

	mu    sync.Mutex
	hints map[string]int // namespace -> the level its last lookup ended at

	gets, puts, removes, malformed atomic.Uint64

	// noDescend plants a bug for the negative control of the tests: a
	// lookup never goes down, so it misses members its node does not list.
	noDescend bool
}

// New returns a ReDiR client of d. A nil clk is the real clock; it only
// dates the records a member must remove when it leaves.
func New(d DHT, cfg Config, clk clock.Clock) (*Redir, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if clk == nil {
		clk = clock.Real()
	}
	return &Redir{cfg: cfg, d: d, clk: clk, hints: map[string]int{}}, nil
}

// Config is the configuration r was made with.
func (r *Redir) Config() Config { return r.cfg }

// Stats counts the DHT operations of a Redir, and the values under its tree
// nodes it skipped as malformed.
type Stats struct {
	Gets, Puts, Removes, Malformed uint64
}

// Stats returns the counts so far.
func (r *Redir) Stats() Stats {
	return Stats{Gets: r.gets.Load(), Puts: r.puts.Load(), Removes: r.removes.Load(), Malformed: r.malformed.Load()}
}

// fetch reads the records of tree node n: well-formed, inside n's interval
// (RZ-1), one per ID, in ID order. A node holding more than MaxNodeValues
// values is read in part.
func (r *Redir) fetch(ctx context.Context, ns string, n node) ([]Record, error) {
	r.gets.Add(1)
	vals, err := r.d.Get(ctx, dhtKey(ns, n))
	if err != nil && !errors.Is(err, ErrTooManyValues) {
		return nil, fmt.Errorf("redir: get of tree node (%d, %d): %w", n.level, n.index, err)
	}
	recs := make([]Record, 0, len(vals))
	for _, v := range vals {
		rec, err := decodeRecord(v)
		if err != nil || !r.cfg.within(n, rec.ID) {
			r.malformed.Add(1)
			continue
		}
		recs = append(recs, rec)
	}
	slices.SortStableFunc(recs, func(a, b Record) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	return slices.CompactFunc(recs, func(a, b Record) bool { return a.ID == b.ID }), nil
}

// Result is the answer of a lookup.
type Result struct {
	// Record is the member found.
	Record
	// Gets is the number of tree nodes the lookup fetched.
	Gets int
	// Level is the level it ended at.
	Level int
}

// Lookup returns the member of namespace ns whose ID succeeds key: the first
// at or after key on the circle (RZ-5..RZ-7).
func (r *Redir) Lookup(ctx context.Context, ns string, key dht.Key) (Result, error) {
	return r.search(ctx, ns, key, succ)
}

// Successor is Lookup.
func (r *Redir) Successor(ctx context.Context, ns string, key dht.Key) (Result, error) {
	return r.search(ctx, ns, key, succ)
}

// Predecessor returns the member of ns whose ID precedes key: the last
// strictly before key on the circle.
func (r *Redir) Predecessor(ctx context.Context, ns string, key dht.Key) (Result, error) {
	return r.search(ctx, ns, key, pred)
}

func (r *Redir) hint(ns string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l, ok := r.hints[ns]; ok {
		return l
	}
	return r.cfg.StartLevel
}

func (r *Redir) setHint(ns string, l int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hints[ns] = l
}

// search walks the tree from the namespace's hint level (RZ-6): down while
// key's sub-interval holds records on both sides of it, up while the node
// holds nothing on the searched side, and answers the closest record seen.
// Each level is fetched at most once.
func (r *Redir) search(ctx context.Context, ns string, k dht.Key, dir direction) (Result, error) {
	l := r.hint(ns)
	var visited uint64
	var best Record
	var bestDist dht.Key
	found := false
	res := Result{}
	for {
		recs, err := r.fetch(ctx, ns, r.cfg.covering(k, l))
		res.Gets++
		if err != nil {
			return res, err
		}
		visited |= 1 << l
		var below, above, ahead bool
		deeper := l+1 < r.cfg.Levels
		var child uint64
		if deeper {
			child = r.cfg.index(k, l+1)
		}
		for _, rec := range recs {
			if d := dir.distance(k, rec.ID); !found || bytes.Compare(d[:], bestDist[:]) < 0 {
				best, bestDist, found = rec, d, true
			}
			if dir.ahead(k, rec.ID) {
				ahead = true
			}
			if deeper && r.cfg.index(rec.ID, l+1) == child {
				if bytes.Compare(rec.ID[:], k[:]) < 0 {
					below = true
				} else {
					above = true
				}
			}
		}
		switch {
		case below && above && visited&(1<<(l+1)) == 0 && !r.noDescend:
			l++ // sandwiched: the sub-interval's node lists what this one may not
		case ahead:
			return r.answer(ns, res, best, l)
		case l > 0 && visited&(1<<(l-1)) == 0:
			l-- // nothing on the searched side here: the parent spans more
		case found:
			return r.answer(ns, res, best, l) // at the root this wraps around the circle
		default:
			return res, ErrNoMembers
		}
	}
}

func (r *Redir) answer(ns string, res Result, best Record, l int) (Result, error) {
	r.setHint(ns, l)
	res.Record, res.Level = best, l
	return res, nil
}

// Members lists every member of ns that the start-level nodes list (RZ-2):
// b^l0 gets.
func (r *Redir) Members(ctx context.Context, ns string) ([]Record, error) {
	width := uint64(1) << uint(r.cfg.StartLevel*r.cfg.digitBits())
	if width > maxMembersNodes {
		return nil, fmt.Errorf("redir: listing members reads %d tree nodes; at most %d", width, maxMembersNodes)
	}
	byID := map[dht.Key]Record{}
	for j := range width {
		recs, err := r.fetch(ctx, ns, node{r.cfg.StartLevel, j})
		if err != nil {
			return nil, err
		}
		for _, rec := range recs {
			byID[rec.ID] = rec
		}
	}
	return slices.SortedFunc(maps.Values(byID), func(a, b Record) int { return bytes.Compare(a.ID[:], b.ID[:]) }), nil
}

// Member is one registration in a namespace: its records in the tree are
// soft state that Refresh renews and Leave removes.
type Member struct {
	r      *Redir
	ns     string
	rec    Record
	value  []byte
	secret []byte

	mu     sync.Mutex
	placed map[node]time.Time // tree nodes that may hold the record, until when
	left   bool
}

// Walk is what one registration did.
type Walk struct {
	// Gets and Puts count the DHT operations.
	Gets, Puts int
	// Levels lists the levels the record was put at.
	Levels []int
}

// Register makes (id, payload) a member of ns and writes its records
// (RZ-2..RZ-4). The member must Refresh every Config.RefreshPeriod to stay
// listed. On an error the member is returned all the same, partly
// registered: its next Refresh completes the registration.
func (r *Redir) Register(ctx context.Context, ns string, id dht.Key, payload []byte) (*Member, Walk, error) {
	if len(payload) > MaxPayload {
		return nil, Walk{}, fmt.Errorf("redir: payload of %d bytes; at most %d", len(payload), MaxPayload)
	}
	secret := make([]byte, 20)
	_, _ = rand.Read(secret) // a new secret per registration: a rejoin is not blocked by the last leave's tombstones (PUT-4)
	rec := Record{ID: id, Payload: bytes.Clone(payload)}
	m := &Member{r: r, ns: ns, rec: rec, value: encodeRecord(rec), secret: secret, placed: map[node]time.Time{}}
	w, err := m.Refresh(ctx)
	return m, w, err
}

// Record is the member's record.
func (m *Member) Record() Record { return m.rec }

// Namespace is the member's namespace.
func (m *Member) Namespace() string { return m.ns }

// Refresh writes the member's records again, where the namespace now needs
// them: the soft-state renewal.
func (m *Member) Refresh(ctx context.Context) (Walk, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.left {
		return Walk{}, ErrLeft
	}
	r, cfg, id := m.r, m.r.cfg, m.rec.ID
	var w Walk
	var errs []error
	put := func(n node) {
		w.Puts++
		r.puts.Add(1)
		// Counted as placed before the put returns: a put whose outcome is
		// unknown may have taken effect, and Leave must remove it.
		m.placed[n] = r.clk.Now().Add(cfg.TTL + time.Second)
		if err := r.d.PutRemovable(ctx, dhtKey(m.ns, n), m.value, m.secret, cfg.TTL); err != nil {
			errs = append(errs, fmt.Errorf("redir: put at tree node (%d, %d): %w", n.level, n.index, err))
			return
		}
		w.Levels = append(w.Levels, n.level)
	}
	l0 := cfg.StartLevel
	recs, err := r.fetch(ctx, m.ns, cfg.covering(id, l0))
	w.Gets++
	if err != nil {
		return w, err
	}
	put(cfg.covering(id, l0)) // RZ-2: always at the start level
	// RZ-4: down to the deepest level at which another member seen at the
	// start level shares the interval.
	deepest := l0
	for _, rec := range recs {
		if rec.ID != id {
			deepest = max(deepest, cfg.sharedDepth(id, rec.ID))
		}
	}
	for l := l0 + 1; l <= deepest; l++ {
		put(cfg.covering(id, l))
	}
	// RZ-3: up while the member is the lowest or highest of the node.
	for l := l0; l > 0 && extreme(id, recs); l-- {
		n := cfg.covering(id, l-1)
		recs, err = r.fetch(ctx, m.ns, n)
		w.Gets++
		if err != nil {
			errs = append(errs, err)
			break
		}
		put(n)
	}
	now := r.clk.Now()
	maps.DeleteFunc(m.placed, func(_ node, until time.Time) bool { return !until.After(now) })
	return w, errors.Join(errs...)
}

// extreme says whether id is the lowest or the highest of recs and id.
func extreme(id dht.Key, recs []Record) bool {
	lower, higher := false, false
	for _, rec := range recs {
		switch cmp.Compare(string(rec.ID[:]), string(id[:])) {
		case -1:
			lower = true
		case 1:
			higher = true
		}
	}
	return !lower || !higher
}

// Leave removes the member's records from every tree node that may hold
// one (RZ-8's clean departure); after it, Refresh fails with ErrLeft. A
// record whose remove failed is forgotten at its TTL.
func (m *Member) Leave(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.left = true
	var errs []error
	now := m.r.clk.Now()
	for n, until := range m.placed {
		if !until.After(now) {
			continue
		}
		m.r.removes.Add(1)
		if err := m.r.d.Remove(ctx, dhtKey(m.ns, n), m.value, m.secret, m.r.cfg.TTL); err != nil {
			errs = append(errs, fmt.Errorf("redir: remove at tree node (%d, %d): %w", n.level, n.index, err))
		}
	}
	clear(m.placed)
	return errors.Join(errs...)
}

// Interval is the index j of the tree node of level l whose interval holds
// k (RZ-1): applications that walk the hierarchy themselves, like a
// multicast tree, use it with TreeNode.
func (c Config) Interval(k dht.Key, level int) uint64 { return c.index(k, level) }

// TreeNode reads the records of tree node (level, index) of ns: well-formed,
// inside the node's interval, one per ID, in ID order (RZ-1).
func (r *Redir) TreeNode(ctx context.Context, ns string, level int, index uint64) ([]Record, error) {
	if level < 0 || level >= r.cfg.Levels || (level*r.cfg.digitBits() < 64 && index>>uint(level*r.cfg.digitBits()) != 0) {
		return nil, fmt.Errorf("redir: no tree node (%d, %d) in a tree of %d levels of branching %d", level, index, r.cfg.Levels, r.cfg.Branching)
	}
	return r.fetch(ctx, ns, node{level, index})
}
