package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/opendht-go/opendht/impl/admission"
	"github.com/opendht-go/opendht/impl/dht"
)

// Format of the directory; bumped when an older binary must not read it.
const (
	formatMagic   = "opendht-go store"
	formatVersion = 1
)

// Errors of the store.
var (
	// ErrNotStore: the directory holds something that is not a store.
	ErrNotStore = errors.New("store: directory is not an opendht store")
	// ErrLocked: another process (or another Store in this one) has the
	// store open.
	ErrLocked = errors.New("store: the store is in use by another process (another node running on the same --data?)")
	// ErrNewerFormat: the store was written by a newer version.
	ErrNewerFormat = errors.New("store: store format is newer than this binary")
	// ErrFailed: an earlier write to disk failed; the store refuses to go on
	// with memory and disk that may disagree. Reopen it.
	ErrFailed = errors.New("store: failed after a disk error, reopen it")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("store: closed")
	// ErrClientTooLong: a client identity longer than 255 bytes.
	ErrClientTooLong = errors.New("store: client identity is longer than 255 bytes")
)

// Store is one node's durable storage. Its methods are safe for concurrent
// use: writes and admission are serialised by one mutex, gets read Pebble
// without it.
type Store struct {
	cfg   Config
	db    *pebble.DB
	log   *slog.Logger
	wopts *pebble.WriteOptions

	mu      sync.Mutex
	now     dht.Time
	vbuf    []byte // a value record being written (the batch copies it)
	nextSeq uint64
	curve   *admission.Curve
	queues  *admission.Queues
	usage   map[dht.ClientID]int64
	items   map[dht.ClientID]int // records charged to each client
	failed  error
	closed  bool

	digest *digestIndex // follows the identity records (digest.go)
	// inBatch holds the items and tombstones the batch being built wrote:
	// with the digest index (every applied batch), it tells lookup which
	// identities cannot exist without asking Pebble.
	inBatch map[dht.ItemID]struct{}

	lastNow atomic.Int64 // s.now for lock-free readers

	rc      *readCache // nil when Config.ReadCacheSize is 0
	touched []dht.Key  // keys the running steps changed otherwise, to invalidate in rc
	// added holds the new items (PUT-3) the running steps wrote: a cached
	// key whose only change in the batch is new items gains them in place.
	added []addedItem
}

// Open opens the store in cfg.Dir, creating it if the directory is absent
// or empty. A directory with other contents that is not a store of this
// format is refused (DUR-2).
func Open(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	fs := cfg.FS
	if fs == nil {
		fs = vfs.Default
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	fresh, err := isFresh(fs, cfg.Dir)
	if err != nil {
		return nil, err
	}
	if !fresh {
		if err := checkUnlocked(fs, cfg.Dir); err != nil {
			return nil, err
		}
	}
	cache := pebble.NewCache(max(cfg.CacheSize, 1<<20))
	defer cache.Unref()
	opts := &pebble.Options{
		FS:                 fs,
		Cache:              cache,
		ErrorIfNotExists:   !fresh,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             quietLogger{log},
		Comparer:           comparer,
		MemTableSize:       uint64(cfg.MemTableSize),
	}
	// Most puts look up an identity that does not exist yet: bloom filters
	// answer those without reading every level.
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebble.Open(cfg.Dir, opts)
	if err != nil {
		if !fresh {
			return nil, fmt.Errorf("%w: %s: %w", ErrNotStore, cfg.Dir, err)
		}
		return nil, fmt.Errorf("store: open %s: %w", cfg.Dir, err)
	}
	s := &Store{
		cfg: cfg, db: db, log: log,
		wopts:   pebble.Sync,
		curve:   admission.NewCurve(cfg.Capacity, cfg.MaxTTL),
		queues:  admission.NewQueues(cfg.QueueLimit, cfg.QueueTimeout),
		usage:   map[dht.ClientID]int64{},
		items:   map[dht.ClientID]int{},
		nextSeq: 1,
		digest:  newDigestIndex(),
		inBatch: map[dht.ItemID]struct{}{},
	}
	if cfg.NoSync {
		s.wopts = pebble.NoSync
	}
	if cfg.ReadCacheSize > 0 {
		s.rc = newReadCache(cfg.ReadCacheSize)
	}
	if err := s.load(fresh); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := s.rebuildDigest(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// checkUnlocked fails with ErrLocked when another opener holds the
// engine's lock file. It takes the lock and lets it go at once: the engine
// takes it for good when it opens. It only looks at a lock file that
// exists, so that a foreign directory is left alone.
func checkUnlocked(fs vfs.FS, dir string) error {
	name := fs.PathJoin(dir, "LOCK")
	if _, err := fs.Stat(name); err != nil {
		return nil
	}
	l, err := fs.Lock(name)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrLocked, dir, err)
	}
	return l.Close()
}

// isFresh reports whether dir is absent or empty.
func isFresh(fs vfs.FS, dir string) (bool, error) {
	names, err := fs.List(dir)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: list %s: %w", dir, err)
	}
	return len(names) == 0, nil
}

func (s *Store) load(fresh bool) error {
	meta, closer, err := s.db.Get(metaKey)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		if !fresh {
			return fmt.Errorf("%w: %s holds a database without store metadata", ErrNotStore, s.cfg.Dir)
		}
		b := s.db.NewBatch()
		_ = b.Set(metaKey, encodeMeta(), nil)
		_ = b.Set([]byte{tagCounter}, binary.BigEndian.AppendUint64(nil, 1), nil)
		if err := b.Commit(pebble.Sync); err != nil {
			return fmt.Errorf("store: initialise %s: %w", s.cfg.Dir, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("store: read metadata: %w", err)
	}
	verr := checkMeta(meta)
	_ = closer.Close()
	if verr != nil {
		return verr
	}
	c, closer, err := s.db.Get([]byte{tagCounter})
	if err != nil {
		return fmt.Errorf("%w: sequence counter: %w", ErrNotStore, err)
	}
	if len(c) != 8 {
		_ = closer.Close()
		return fmt.Errorf("%w: sequence counter of %d bytes", errCorruptRecord, len(c))
	}
	s.nextSeq = binary.BigEndian.Uint64(c)
	_ = closer.Close()
	// Rebuild the commitment curve and the per-client usage (FST-10).
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{tagExpiry}, UpperBound: []byte{tagExpiry + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		x, err := decodeExpiry(it.Key(), it.Value())
		if err != nil {
			return err
		}
		s.curve.Add(x.e, x.charge)
		s.usage[x.client.Charged()] += x.charge // AC-4
		s.items[x.client.Charged()]++
	}
	return it.Error()
}

func encodeMeta() []byte {
	b := []byte(formatMagic)
	return binary.BigEndian.AppendUint32(b, formatVersion)
}

func checkMeta(b []byte) error {
	if len(b) != len(formatMagic)+4 || !bytes.HasPrefix(b, []byte(formatMagic)) {
		return fmt.Errorf("%w: unknown metadata %q", ErrNotStore, b)
	}
	if v := binary.BigEndian.Uint32(b[len(formatMagic):]); v > formatVersion {
		return fmt.Errorf("%w: version %d, this binary reads up to %d", ErrNewerFormat, v, formatVersion)
	}
	return nil
}

// Close closes the store. Queued writes are dropped unacknowledged. The
// Pendings of earlier steps must have been waited for.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.db.Close()
}

// Usage returns the bytes charged to each client (FST-10).
func (s *Store) Usage() map[dht.ClientID]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := maps.Clone(s.usage)
	for c, b := range u {
		if b == 0 {
			delete(u, c)
		}
	}
	return u
}

// ClientUsage is what one client holds in the store.
type ClientUsage struct {
	// Bytes charged to the client (as Usage).
	Bytes int64
	// Items counts the client's live items and tombstones.
	Items int
	// Queued counts the client's writes waiting for admission.
	Queued int
}

// Clients returns, for every client that holds something or has writes
// queued, what it holds: for status pages and metrics.
func (s *Store) Clients() map[dht.ClientID]ClientUsage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[dht.ClientID]ClientUsage, len(s.items))
	for c, n := range s.items {
		out[c] = ClientUsage{Bytes: s.usage[c], Items: n}
	}
	for c, q := range s.queues.Lens() {
		u := out[c]
		u.Queued = q
		out[c] = u
	}
	return out
}

// Committed returns B(now): the bytes of every live item and tombstone.
func (s *Store) Committed() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.curve.Total()
}

// Queued returns the number of writes waiting for admission.
func (s *Store) Queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queues.Len()
}

// Step runs one step of the node's state machine at time now (STEP-1) and
// returns once every write it completed with status 0 is durable. The error
// is a disk or lifecycle error; validation errors are in the result.
// It is StepAsync followed by Wait: the node's one write path, without
// the pipelining.
func (s *Store) Step(op dht.Op, now dht.Time) (dht.Result, error) {
	res, p, err := s.StepAsync(op, now)
	if err != nil {
		return dht.Result{}, err
	}
	if p != nil {
		if err := p.Wait(); err != nil {
			return dht.Result{}, err
		}
	}
	return res, nil
}

// Pending is what a step wrote, on its way to disk: the writes are applied
// (reads see them) but not yet known to be durable.
type Pending struct {
	s *Store
	b *pebble.Batch
	// Completed are the writes the steps decided (as in dht.Result, in
	// step order): their statuses may be reported once Wait has returned
	// nil.
	Completed []dht.Completion
}

// Wait returns once the step's writes are durable, or the store's error.
// Steps become durable in the order they ran, so waiting for them in that
// order waits for each fsync once. Wait must be called exactly once.
func (p *Pending) Wait() error {
	return p.s.syncWait(p.b)
}

// StepAsync runs one step like Step but does not wait for the fsync: it
// returns the result at once and, when the step wrote anything, a Pending
// whose Wait reports durability. A write's status 0 must not be reported
// to anyone before that Wait returns (DUR-1). Writing steps that run while
// earlier ones are being synced share the fsync (group commit).
func (s *Store) StepAsync(op dht.Op, now dht.Time) (dht.Result, *Pending, error) {
	res, p, err := s.StepsAsync([]dht.Op{op}, now)
	if err != nil {
		return dht.Result{}, nil, err
	}
	return res[0], p, nil
}

// StepsAsync runs one step per op, in order, all at time now, into one
// Pebble batch: one WAL record and one fsync for all of them. The results
// are those of StepAsync for each op in turn; the Pending, nil when no step
// wrote anything, covers them all. A driver submits here the operations
// that accumulated while its previous batch was being applied.
func (s *Store) StepsAsync(ops []dht.Op, now dht.Time) ([]dht.Result, *Pending, error) {
	s.mu.Lock()
	res, b, err := s.stepsLocked(ops, now)
	s.mu.Unlock()
	if err != nil || b == nil {
		return res, nil, err
	}
	p := &Pending{s: s, b: b}
	if len(res) == 1 {
		p.Completed = res[0].Completed
	} else {
		for _, r := range res {
			p.Completed = append(p.Completed, r.Completed...)
		}
	}
	return res, p, nil
}

func (s *Store) syncWait(b *pebble.Batch) error {
	if b == nil {
		return nil
	}
	err := b.SyncWait()
	_ = b.Close()
	if err != nil {
		s.fail(err)
		return fmt.Errorf("%w: %w", ErrFailed, err)
	}
	return nil
}

func (s *Store) fail(err error) {
	s.mu.Lock()
	if s.failed == nil {
		s.failed = err
		s.log.Error("store failed", "err", err)
	}
	s.mu.Unlock()
}

// stepsLocked runs steps into one batch and hands it to the WAL; the caller
// waits for the fsync after releasing the mutex. Several steps in one batch
// is group commit: one WAL record and one fsync for all of them.
func (s *Store) stepsLocked(ops []dht.Op, now dht.Time) ([]dht.Result, *pebble.Batch, error) {
	if s.closed {
		return nil, nil, ErrClosed
	}
	if s.failed != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrFailed, s.failed)
	}
	s.touched = s.touched[:0]
	clear(s.added)
	s.added = s.added[:0]
	b := s.db.NewIndexedBatch()
	clear(s.inBatch)
	out := make([]dht.Result, len(ops))
	for i, op := range ops {
		res, err := s.stepInto(b, op, now)
		if err != nil {
			return nil, nil, s.abort(b, err)
		}
		out[i] = res
	}
	if b.Empty() {
		_ = b.Close()
		return out, nil, nil
	}
	if !s.wopts.Sync {
		if err := s.db.Apply(b, s.wopts); err != nil {
			return nil, nil, s.abort(b, err)
		}
		s.followBatch(b)
		_ = b.Close()
		s.invalidate()
		return out, nil, nil
	}
	if err := s.db.ApplyNoSyncWait(b, s.wopts); err != nil {
		return nil, nil, s.abort(b, err)
	}
	s.followBatch(b)
	s.invalidate()
	return out, b, nil
}

// touch notes that the running step writes or deletes records of key k.
func (s *Store) touch(k dht.Key) {
	if s.rc != nil {
		s.touched = append(s.touched, k)
	}
}

// touchAdd notes that the running step stores a new item (PUT-3) under
// id.Key, with its value record.
func (s *Store) touchAdd(id dht.ItemID, r ident, value []byte) {
	if s.rc != nil {
		s.added = append(s.added, addedItem{key: id.Key, charge: r.charge, item: cachedItem{
			seq: r.seq, pos: dht.ItemPos{SecretHash: id.SecretHash, ValueHash: id.ValueHash},
			expiry: r.expiry, value: slices.Clone(value),
		}})
	}
}

// invalidate brings the read cache up to date once the batch that wrote
// the touched keys is applied: a key with only new items gains them, any
// other touched key is dropped, so a get from then on reads the new
// records.
func (s *Store) invalidate() {
	if s.rc != nil {
		if s.mut() == mutCacheMissesNewItems {
			s.rc.update(s.touched, nil)
		} else {
			s.rc.update(s.touched, s.added)
		}
	}
	s.touched = s.touched[:0]
	clear(s.added)
	s.added = s.added[:0]
}

// stepInto does the work of one step, writing into b.
func (s *Store) stepInto(b *pebble.Batch, op dht.Op, now dht.Time) (dht.Result, error) {
	var res dht.Result
	if now > s.now { // TTL-6
		s.now = now
		s.lastNow.Store(int64(now))
	}
	if err := s.expire(b); err != nil {
		return res, err
	}
	for _, w := range s.queues.Timeouts(s.now) { // FST-8
		res.Completed = append(res.Completed, dht.Completion{ID: w.ID, Status: dht.StatusTryAgain})
	}
	done, err := s.admit(b)
	if err != nil {
		return res, err
	}
	res.Completed = append(res.Completed, done...)
	switch op.Kind {
	case dht.OpGet:
		if err := op.Get.Validate(); err != nil {
			res.Err = err
			break
		}
		rep, err := s.read(b, op.Get, s.now)
		if errors.Is(err, dht.ErrBadPlacemark) { // the other order's placemark (LIM-5)
			res.Err = err
			break
		}
		if err != nil {
			return res, err
		}
		res.Reply = rep
	case dht.OpPut, dht.OpRemove:
		c, err := s.enqueue(b, op)
		if errors.Is(err, errCorruptRecord) {
			return res, err
		}
		if err != nil {
			res.Err = err
			break
		}
		if c != nil {
			res.Completed = append(res.Completed, *c)
		}
		done, err := s.admit(b)
		if err != nil {
			return res, err
		}
		res.Completed = append(res.Completed, done...)
	case dht.OpTick:
	default:
		res.Err = fmt.Errorf("store: unknown operation %v", op.Kind)
	}
	return res, nil
}

// abort marks the store failed: memory (curve, usage, queues) may already
// reflect a batch that did not reach the disk. The caller holds the mutex.
func (s *Store) abort(b *pebble.Batch, err error) error {
	_ = b.Close()
	if s.rc != nil {
		s.rc.clear()
	}
	if s.failed == nil {
		s.failed = err
		s.log.Error("store failed", "err", err)
	}
	return fmt.Errorf("%w: %w", ErrFailed, err)
}

// expire reclaims every item and tombstone whose expiry is not after now
// (TTL-3, TTL-5), in the step's batch, through the expiry index.
func (s *Store) expire(b *pebble.Batch) error {
	if e, ok := s.curve.MinExpiry(); !ok || e > s.now {
		return nil // the curve holds one commitment per expiry index entry
	}
	s.curve.ExpireThrough(s.now)
	upper := expiryKey(s.now+1, dht.ItemID{}, 0)[:9]
	it, err := b.NewIter(&pebble.IterOptions{LowerBound: []byte{tagExpiry}, UpperBound: upper})
	if err != nil {
		return err
	}
	var dead []expiryEntry
	for it.First(); it.Valid(); it.Next() {
		x, err := decodeExpiry(it.Key(), it.Value())
		if err != nil {
			_ = it.Close()
			return err
		}
		dead = append(dead, x)
	}
	if err := it.Close(); err != nil {
		return err
	}
	for _, x := range dead {
		_ = b.Delete(expiryKey(x.e, x.id, x.kind), nil)
		_ = b.Delete(identKey(x.id), nil)
		s.inBatch[x.id] = struct{}{}
		if x.kind == kindItem {
			_ = b.Delete(valueKey(x.id.Key, x.seq), nil)
		}
		s.release(x.client, x.charge)
		s.touch(x.id.Key)
	}
	return nil
}

// release takes a record's charge off the identity it is charged to
// (FST-10; without an account's quota, AC-4).
func (s *Store) release(c dht.ClientID, charge int64) {
	c = c.Charged()
	if s.usage[c] -= charge; s.usage[c] == 0 {
		delete(s.usage, c)
	}
	if s.items[c]--; s.items[c] <= 0 {
		delete(s.items, c)
	}
}

// enqueue validates a write and queues it, or completes it at once with
// status 1 (FST-5..FST-7).
func (s *Store) enqueue(b *pebble.Batch, op dht.Op) (*dht.Completion, error) {
	var client dht.ClientID
	var ttl int64
	var payload int
	switch op.Kind {
	case dht.OpPut:
		if err := op.Put.Validate(); err != nil {
			return nil, err
		}
		t, err := s.authenticate(b, op.Put) // IM-3, SG-5, SG-6, SG-8
		if err != nil {
			return nil, err
		}
		op.Put.TTL = t
		client, ttl, payload = op.Put.Client, op.Put.TTL, len(op.Put.Value)
		op.Put.Value = slices.Clone(op.Put.Value)
	case dht.OpRemove:
		if err := op.Remove.Validate(); err != nil {
			return nil, err
		}
		if err := op.Remove.AuthenticateRemove(); err != nil { // IM-4
			return nil, err
		}
		client, ttl, payload = op.Remove.Client, op.Remove.TTL, len(op.Remove.Secret)
		op.Remove.Secret = slices.Clone(op.Remove.Secret)
	}
	if len(client) > 255 {
		return nil, ErrClientTooLong
	}
	if s.queues.IsPending(op.ID) {
		return nil, dht.ErrDuplicateRequest
	}
	charged, quota := client.Quota() // AC-4
	ttl = min(ttl, s.cfg.MaxTTL)     // TTL-1
	charge := dht.ChargedBytes(payload)
	if admission.NeverFits(s.cfg.Capacity, s.cfg.MaxTTL, charge, ttl) { // FST-7
		return &dht.Completion{ID: op.ID, Status: dht.StatusOverCapacity}, nil
	}
	w := &admission.Write{ID: op.ID, Client: charged, Quota: quota, Charge: charge, TTL: ttl, Op: op}
	if !s.queues.Enqueue(w, s.now) { // FST-6
		return &dht.Completion{ID: op.ID, Status: dht.StatusOverCapacity}, nil
	}
	return nil, nil
}

// admit runs FST-4: heads in start-tag order while they fit.
func (s *Store) admit(b *pebble.Batch) ([]dht.Completion, error) {
	var out []dht.Completion
	for {
		w := s.queues.Head()
		if w == nil {
			return out, nil
		}
		ok, err := s.apply(b, w)
		if err != nil {
			return out, err
		}
		if !ok {
			return out, nil
		}
		s.queues.PopHead()
		st := dht.StatusOK
		if w.OverQuota {
			st = dht.StatusOverQuota
		}
		out = append(out, dht.Completion{ID: w.ID, Status: st})
	}
}

func (s *Store) lookup(b *pebble.Batch, id dht.ItemID) (ident, bool, error) {
	// Most puts are of new items: the digest index, which holds every
	// identity of every applied batch, answers those in memory; only an
	// identity it holds, or one this batch wrote, is read from Pebble.
	_, written := s.inBatch[id]
	if s.mut() == mutLookupSkipsBatch {
		written = false
	}
	if !written && !s.digest.has(id) {
		return ident{}, false, nil
	}
	v, closer, err := b.Get(identKey(id))
	if errors.Is(err, pebble.ErrNotFound) {
		return ident{}, false, nil
	}
	if err != nil {
		return ident{}, false, err
	}
	defer closer.Close()
	r, err := decodeIdent(v)
	if err != nil {
		return r, false, err
	}
	if r.expiry <= s.now {
		// expire() reclaimed everything up to now under the same mutex.
		panic(fmt.Sprintf("store: expired identity record %v (expiry %d, now %d) survived reclamation", id, r.expiry, s.now))
	}
	return r, true, nil
}

// apply computes the effect of the head write and, if it is a no-op or
// passes FST-3, writes it into b. ok is false if the write must wait. A
// write refused for its quota (AC-5) is ok, with w.OverQuota set and
// nothing written.
func (s *Store) apply(b *pebble.Batch, w *admission.Write) (ok bool, err error) {
	e := s.now + dht.Time(w.TTL)
	// overQuota is AC-5 for a write whose effect replaces the record old
	// (if found) by one of w.Charge bytes charged to w's identity.
	overQuota := func(old ident, found bool) bool {
		if w.Quota == 0 || s.mut() == mutIgnoreQuota {
			return false
		}
		before := s.usage[w.Client]
		after := before + w.Charge
		if found && old.client.Charged() == w.Client {
			after -= old.charge
		}
		if dht.OverQuota(w.Quota, before, after) {
			w.OverQuota = true
			return true
		}
		return false
	}
	switch w.Op.Kind {
	case dht.OpPut:
		p := w.Op.Put
		id := p.ID()
		old, found, err := s.lookup(b, id)
		if err != nil {
			return false, err
		}
		if found && old.kind == kindTombstone && s.mut() == mutIgnoreTombstones {
			found = false
		}
		if found && (old.kind == kindTombstone || e <= old.expiry) { // PUT-4, PUT-5
			return true, nil
		}
		if stale, err := s.stale(b, p, e); err != nil || stale { // SG-6: outranked while it waited
			return err == nil, err
		}
		if overQuota(old, found) {
			return true, nil
		}
		if found { // PUT-6: extend in place
			if !s.curve.FitsWith(s.now, e, w.Charge, old.expiry, old.charge) {
				return false, nil
			}
			if err := s.supersede(b, p, e); err != nil {
				return false, err
			}
			s.uncommit(b, id, old)
			nr := ident{kind: kindItem, expiry: e, seq: old.seq, charge: w.Charge, client: p.Client}
			s.commit(b, id, nr)
			s.touch(id.Key)
			s.vbuf = appendValue(s.vbuf[:0], id.SecretHash, e, p.Value)
			_ = b.Set(valueKey(id.Key, old.seq), s.vbuf, nil)
			return true, nil
		}
		if !s.curve.FitsWith(s.now, e, w.Charge, 0, 0) {
			return false, nil
		}
		if err := s.supersede(b, p, e); err != nil {
			return false, err
		}
		nr := ident{kind: kindItem, expiry: e, seq: s.nextSeq, charge: w.Charge, client: p.Client} // PUT-3
		s.nextSeq++
		_ = b.Set([]byte{tagCounter}, binary.BigEndian.AppendUint64(nil, s.nextSeq), nil)
		s.commit(b, id, nr)
		s.touchAdd(id, nr, p.Value)
		s.vbuf = appendValue(s.vbuf[:0], id.SecretHash, e, p.Value)
		_ = b.Set(valueKey(id.Key, nr.seq), s.vbuf, nil)
		return true, nil
	case dht.OpRemove:
		r := w.Op.Remove
		id := r.ID()
		old, found, err := s.lookup(b, id)
		if err != nil {
			return false, err
		}
		if found && old.kind == kindTombstone && e <= old.expiry { // RM-4
			return true, nil
		}
		if found && old.kind == kindItem { // RM-3
			e = max(e, old.expiry)
		}
		if overQuota(old, found) {
			return true, nil
		}
		var oldE dht.Time
		var oldB int64
		if found {
			oldE, oldB = old.expiry, old.charge
		}
		if !s.curve.FitsWith(s.now, e, w.Charge, oldE, oldB) {
			return false, nil
		}
		if found {
			s.uncommit(b, id, old) // RM-2: deletes the item, or the shorter tombstone
			if old.kind == kindItem {
				_ = b.Delete(valueKey(id.Key, old.seq), nil)
			}
		}
		s.commit(b, id, ident{kind: kindTombstone, expiry: e, charge: w.Charge, client: r.Client, secret: r.Secret})
		if s.mut() != mutCacheKeepsRemoved {
			s.touch(id.Key)
		}
		return true, nil
	}
	panic(fmt.Sprintf("store: write %d of kind %v in the queues", w.ID, w.Op.Kind))
}

// commit writes an identity record and its expiry entry and charges it.
// Every write of a step that changes what a key holds commits a record,
// and its caller tells the read cache (touch, touchAdd).
func (s *Store) commit(b *pebble.Batch, id dht.ItemID, r ident) {
	_ = b.Set(identKey(id), r.encode(), nil)
	s.inBatch[id] = struct{}{}
	_ = b.Set(expiryKey(r.expiry, id, r.kind), encodeExpiryVal(r.seq, r.charge, r.client), nil)
	s.curve.Add(r.expiry, r.charge)
	s.usage[r.client.Charged()] += r.charge // AC-4: the record keeps the quota for its copies
	s.items[r.client.Charged()]++
}

// uncommit removes an identity record's expiry entry and releases its
// charge; the caller overwrites or deletes the record itself.
func (s *Store) uncommit(b *pebble.Batch, id dht.ItemID, r ident) {
	_ = b.Delete(identKey(id), nil)
	s.inBatch[id] = struct{}{}
	_ = b.Delete(expiryKey(r.expiry, id, r.kind), nil)
	s.curve.Remove(r.expiry, r.charge)
	s.release(r.client, r.charge)
}

// reader is what a get reads from: the database, or a batch in a step.
type reader interface {
	NewIter(*pebble.IterOptions) (*pebble.Iterator, error)
}

// read answers a get at time now (GET-1..GET-5), or in item order
// (RD-9) when g.ItemOrder is set.
func (s *Store) read(r reader, g dht.Get, now dht.Time) (dht.GetReply, error) {
	if g.ItemOrder {
		return s.readItems(r, g, now)
	}
	var start uint64
	if len(g.Placemark) > 0 {
		var err error
		if start, err = dht.DecodePlacemark(g.Placemark); err != nil {
			return dht.GetReply{}, err
		}
	}
	lower := valueKey(g.Key, start)
	upper := append([]byte{tagValue}, g.Key[:]...)
	upper = binary.BigEndian.AppendUint64(upper, ^uint64(0))
	upper = append(upper, 0)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return dht.GetReply{}, err
	}
	defer it.Close()
	var rep dht.GetReply
	size := 0
	var last uint64
	for it.SeekPrefixGE(lower); it.Valid(); it.Next() {
		sh, e, v, err := decodeValue(it.Value())
		if err != nil {
			return dht.GetReply{}, err
		}
		if e <= now { // TTL-3: not yet reclaimed
			continue
		}
		if len(rep.Values) == g.MaxVals || (len(rep.Values) > 0 && size+len(v) > s.cfg.ReplyCap && s.mut() != mutNoReplyCap) {
			rep.Placemark = dht.EncodePlacemark(last + 1) // GET-4
			break
		}
		rep.Values = append(rep.Values, dht.Value{Value: slices.Clone(v), TTLRemaining: int64(e - now), SecretHash: sh})
		size += len(v)
		last = binary.BigEndian.Uint64(it.Key()[21:])
	}
	return rep, it.Error()
}

// readItems answers a get in item order (RD-9). The identity index holds
// a key's items and tombstones sorted by (secret hash, value hash); it
// names the next live items, their storage sequences and, through their
// charge (FST-1: the value's length plus ItemOverhead), how many fit the
// reply cap. Their values are then read in one pass over the key's value
// records between the smallest and the largest of those sequences: one
// seek, not one per value.
func (s *Store) readItems(r reader, g dht.Get, now dht.Time) (dht.GetReply, error) {
	prefix := append([]byte{tagIdent}, g.Key[:]...)
	start := prefix
	if len(g.Placemark) > 0 {
		after, err := dht.DecodeItemPlacemark(g.Placemark)
		if err != nil {
			return dht.GetReply{}, err
		}
		// Just past the placemark's item: its key with one more byte.
		start = append(identKey(dht.ItemID{Key: g.Key, SecretHash: after.SecretHash, ValueHash: after.ValueHash}), 0)
	}
	// One iterator serves both passes: its bounds span the key's identity
	// records and its value records, and each pass seeks to its own part
	// and stops at the end of it.
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: valueKey(g.Key, ^uint64(0))})
	if err != nil {
		return dht.GetReply{}, err
	}
	defer it.Close()
	type next struct {
		pos dht.ItemPos
		seq uint64
		n   int // the value's length
	}
	var items []next
	more := false
	size := 0
	for it.SeekGE(start); it.Valid() && bytes.HasPrefix(it.Key(), prefix); it.Next() {
		rec, err := decodeIdent(it.Value())
		if err != nil {
			return dht.GetReply{}, err
		}
		if rec.kind != kindItem || rec.expiry <= now { // TTL-3: not yet reclaimed
			continue
		}
		n := int(rec.charge - dht.ItemOverhead)
		if len(items) == g.MaxVals || (len(items) > 0 && size+n > s.cfg.ReplyCap && s.mut() != mutNoReplyCap) { // GET-2, GET-3
			more = true
			break
		}
		size += n
		id := decodeID(it.Key()[1:])
		items = append(items, next{dht.ItemPos{SecretHash: id.SecretHash, ValueHash: id.ValueHash}, rec.seq, n})
	}
	if err := it.Error(); err != nil || len(items) == 0 {
		return dht.GetReply{}, err
	}
	lo, hi := items[0].seq, items[0].seq
	for _, x := range items {
		lo, hi = min(lo, x.seq), max(hi, x.seq)
	}
	type value struct {
		sh dht.Hash
		e  dht.Time
		v  []byte
	}
	want := make(map[uint64]*value, len(items))
	for _, x := range items {
		want[x.seq] = nil
	}
	for it.SeekGE(valueKey(g.Key, lo)); it.Valid(); it.Next() {
		k := it.Key()
		if len(k) != 1+dht.KeyLen+8 || k[0] != tagValue {
			break
		}
		seq := binary.BigEndian.Uint64(k[1+dht.KeyLen:])
		if seq > hi {
			break
		}
		if _, ok := want[seq]; !ok {
			continue
		}
		sh, e, v, err := decodeValue(it.Value())
		if err != nil {
			return dht.GetReply{}, err
		}
		want[seq] = &value{sh, e, slices.Clone(v)}
	}
	if err := it.Error(); err != nil {
		return dht.GetReply{}, err
	}
	var rep dht.GetReply
	for _, x := range items {
		v := want[x.seq]
		if v == nil || len(v.v) != x.n {
			return dht.GetReply{}, fmt.Errorf("%w: item without its value record, or charged for another length (sequence %d)", errCorruptRecord, x.seq)
		}
		rep.Values = append(rep.Values, dht.Value{Value: v.v, TTLRemaining: int64(v.e - now), SecretHash: v.sh})
	}
	if more {
		rep.Placemark = dht.EncodeItemPlacemark(items[len(rep.Values)-1].pos) // RD-9
	}
	return rep, nil
}

// ReplyCap is the value bytes one get reply holds at most (GET-3).
func (s *Store) ReplyCap() int { return s.cfg.ReplyCap }

// Get answers a get at time now without taking the store mutex: gets run
// in parallel with each other and with writes. Keys read recently are
// answered from the read cache, whose memory the reply's values share:
// callers must not modify them.
func (s *Store) Get(g dht.Get, now dht.Time) (dht.GetReply, error) {
	if err := g.Validate(); err != nil {
		return dht.GetReply{}, err
	}
	now = max(now, dht.Time(s.lastNow.Load()))
	if s.rc == nil {
		return s.read(s.db, g, now)
	}
	e, gen := s.rc.lookup(g.Key)
	if e == nil {
		var ok bool
		var err error
		if e, ok, err = loadItems(s.db, g.Key, s.rc.budget/4); err != nil {
			return dht.GetReply{}, err
		}
		if !ok { // too large to cache
			return s.read(s.db, g, now)
		}
		s.rc.insert(g.Key, e, gen)
	}
	return s.answer(e, g, now)
}

// Tick lets time pass: expiry, queue timeouts and admission at now.
func (s *Store) Tick(now dht.Time) error {
	_, err := s.Step(dht.Op{Kind: dht.OpTick}, now)
	return err
}

// comparer orders keys bytewise, like Pebble's default, and tells Pebble
// that the values of one DHT key ("i" | key) share a prefix, so that a get
// uses the bloom filters to skip the tables that do not hold that key.
var comparer = func() *pebble.Comparer {
	c := *pebble.DefaultComparer
	c.Name = "opendht.store.v1"
	c.Split = func(k []byte) int {
		if len(k) >= 1+dht.KeyLen && k[0] == tagValue {
			return 1 + dht.KeyLen
		}
		return len(k)
	}
	return &c
}()

// quietLogger sends Pebble's messages to slog at debug level; fatal ones
// panic as Pebble expects.
type quietLogger struct{ l *slog.Logger }

func (q quietLogger) Infof(format string, args ...any) {
	q.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}
func (q quietLogger) Errorf(format string, args ...any) {
	q.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}
func (q quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
