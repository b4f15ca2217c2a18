package store

import (
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/rapidtest"
)

// scanIdentities is the brute-force answer: every identity record on disk,
// expired ones not yet reclaimed included, as the digest index must hold
// them.
func scanIdentities(t rapid.TB, s *Store) []oracleEntry {
	t.Helper()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{tagIdent}, UpperBound: []byte{tagIdent + 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out []oracleEntry
	for it.First(); it.Valid(); it.Next() {
		r, err := decodeIdent(it.Value())
		if err != nil {
			t.Fatal(err)
		}
		id := decodeID(it.Key()[1:])
		tomb := r.kind == kindTombstone
		out = append(out, oracleEntry{id, tomb, nodeSummary(id, tomb)})
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkDigest compares the store's digest index with a scan of its
// identity records: the whole listing, the whole-store digest and the
// digest of each range between the given bounds.
func checkDigest(t rapid.TB, s *Store, bounds []dht.Key) {
	t.Helper()
	want := scanIdentities(t, s)
	var got []oracleEntry
	s.ListRange(dht.Key{}, dht.Key{}, func(id dht.ItemID, tomb bool, sum uint64) bool {
		got = append(got, oracleEntry{id, tomb, sum})
		return true
	})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("digest index differs from the identity records (-scan +index):\n%s", diff)
	}
	if n := s.LenDigest(); n != len(want) {
		t.Fatalf("digest index holds %d entries, the store %d", n, len(want))
	}
	o := oracle{}
	for _, e := range want {
		o[e.ID] = e.Tomb
	}
	for _, lo := range bounds {
		for _, hi := range bounds {
			gx, gc := s.DigestRange(lo, hi)
			if wx, wc := o.digest(lo, hi); gx != wx || gc != wc {
				t.Fatalf("DigestRange(%v, %v) = (%x, %d), the store holds (%x, %d)", lo, hi, gx, gc, wx, wc)
			}
		}
	}
}

// digestThroughStore runs puts, extensions, removes over items and over
// tombstones, reclamation and a reopen through a real store, and checks
// the digest index against the identity records after every step, and
// that each path was taken.
func digestThroughStore(t rapid.TB, bug mutation) {
	cfg := DefaultConfig("db")
	cfg.FS = vfs.NewMem()
	cfg.Capacity = 1 << 30
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	setBug(s, bug)
	defer func() { _ = s.Close() }()
	keys := []dht.Key{{0x10}, {0x10, 1}, {0x80}, {0xff, 0xff}}
	bounds := append([]dht.Key{{}, {0x10, 0, 1}, {0x7f}, {0x80}, {0x81}}, keys...)
	const t0 = 1_000_000
	now := dht.Time(t0)
	var opID uint64
	step := func(op dht.Op) {
		t.Helper()
		opID++
		op.ID = opID
		r, err := s.Step(op, now)
		if err != nil || r.Err != nil {
			t.Fatalf("step %v: %v %v", op.Kind, err, r.Err)
		}
		for _, c := range r.Completed {
			if c.Status != dht.StatusOK {
				t.Fatalf("write %d: status %d", c.ID, c.Status)
			}
		}
		checkDigest(t, s, bounds)
	}
	secret := []byte("secret")
	put := func(k dht.Key, v byte, ttl int64) {
		step(dht.Op{Kind: dht.OpPut, Put: dht.Put{Client: "c", Key: k, Value: []byte{v}, TTL: ttl, SecretHash: dht.SHA1(secret)}})
	}
	rm := func(k dht.Key, v byte, ttl int64) {
		step(dht.Op{Kind: dht.OpRemove, Remove: dht.Remove{Client: "c", Key: k, ValueHash: dht.SHA1([]byte{v}), Secret: secret, TTL: ttl}})
	}
	tombstones := func() int {
		n := 0
		for _, e := range scanIdentities(t, s) {
			if e.Tomb {
				n++
			}
		}
		return n
	}
	for i, k := range keys { // new items (PUT-3)
		put(k, 1, 100)
		put(k, 2, 10+int64(i))
	}
	put(keys[0], 1, 50)  // a shorter re-put changes nothing (PUT-5)
	put(keys[0], 1, 200) // extended in place (PUT-6)
	rm(keys[0], 1, 10)   // a tombstone replaces the item (RM-2, RM-3)
	rm(keys[2], 9, 10)   // a tombstone of a value never stored
	rm(keys[2], 9, 30)   // a longer tombstone replaces the shorter (RM-2)
	rm(keys[2], 9, 20)   // a shorter one changes nothing (RM-4)
	put(keys[0], 1, 300) // a put meets the tombstone and is dropped (PUT-4)
	if n := tombstones(); n != 2 {
		t.Fatalf("%d tombstones, want 2", n)
	}
	// Reclamation (TTL-5): the items of TTL 10..13 at t0+10..t0+13, the
	// tombstone of TTL 30 at t0+30, the rest at t0+100 and later.
	for _, dt := range []dht.Time{9, 10, 11, 13, 30, 99} {
		now = t0 + dt
		step(dht.Op{Kind: dht.OpTick})
	}
	if n := len(scanIdentities(t, s)); n != 4 { // keys[1..3] items of TTL 100, the tombstone of TTL 200
		t.Fatalf("%d entries left at t0+99, want 4", n)
	}
	// Reopen: the index is rebuilt from the records.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(cfg); err != nil {
		t.Fatal(err)
	}
	setBug(s, bug)
	checkDigest(t, s, bounds)
	put(keys[3], 7, 500)
	now = t0 + 1000
	step(dht.Op{Kind: dht.OpTick})
	if n := s.LenDigest(); n != 0 {
		t.Fatalf("%d entries after everything expired", n)
	}
}

// TestDigestFollowsEveryWritePath checks the digest index against the
// identity records through every path that writes them: new puts,
// in-place extension (PUT-6), a tombstone replacing an item or a shorter
// tombstone (RM-2..RM-4), reclamation after expiry (TTL-5), and the
// rebuild on reopen.
func TestDigestFollowsEveryWritePath(t *testing.T) {
	digestThroughStore(t, noMutation)
}

// digestBounds are the range bounds at which the model-versus-store test
// (harness_test.go) checks the digest index after every operation: around
// and between the keys it writes (testKey).
var digestBounds = []dht.Key{{}, testKey(0), testKey(1), testKey(2), testKey(3), {0x80}}

// TestDigestNegativeControl: an index that does not follow one write path
// (deleted identity records, hence reclamation after expiry) is caught by
// both store-level tests: TestStoreMatchesModel, which checks the index
// after every operation, and TestDigestFollowsEveryWritePath.
func TestDigestNegativeControl(t *testing.T) {
	if !mutationsBuilt {
		t.Skip("the negative controls plant mutations: build with -tags variants")
	}
	rapidtest.SetNegativeControlFlags(t, 2000)
	r := &rapidtest.Recorder{TB: t}
	rapid.Check(r, modelVsStore(mutDigestMissesDeletes))
	if !r.Failed() {
		t.Fatal("the rapid test did not catch a digest index that misses reclamation")
	}
	t.Logf("rapid caught it: %s", r.FirstLine())
	r = &rapidtest.Recorder{TB: t}
	func() {
		// The recorder's Fatal does not stop the test's goroutine: stop
		// at the first failure.
		defer func() { _ = recover() }()
		digestThroughStore(stopAtFirst{r}, mutDigestMissesDeletes)
	}()
	if !r.Failed() {
		t.Fatal("TestDigestFollowsEveryWritePath did not catch a digest index that misses reclamation")
	}
	t.Logf("the write-path test caught it: %s", r.FirstLine())
}

// stopAtFirst panics after recording a failure, as FailNow would stop the
// goroutine.
type stopAtFirst struct{ *rapidtest.Recorder }

func (s stopAtFirst) Fatalf(format string, args ...any) {
	s.Recorder.Fatalf(format, args...)
	panic("stop")
}
func (s stopAtFirst) Fatal(args ...any) { s.Recorder.Fatal(args...); panic("stop") }

// TestDigestConcurrentReaders reads the index from other goroutines while
// writers put and remove (run with -race): every listing is in order
// without repeats, and once the writers stop the index equals the records.
func TestDigestConcurrentReaders(t *testing.T) {
	cfg := DefaultConfig("db")
	cfg.FS = vfs.NewMem()
	cfg.Capacity = 1 << 30
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := 1000
	if testing.Short() {
		n = 300
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var prev *dht.ItemID
				s.ListRange(dht.Key{0x40}, dht.Key{}, func(id dht.ItemID, tomb bool, sum uint64) bool {
					if prev != nil && cmpID(prev, &id) >= 0 {
						t.Errorf("ListRange reported %v after %v", id, *prev)
					}
					if sum != Summary(id, tomb) {
						t.Errorf("ListRange reported summary %x for %v, want %x", sum, id, Summary(id, tomb))
					}
					prev = &id
					return true
				})
				if _, c := s.DigestRange(dht.Key{}, dht.Key{}); c < 0 || c > n {
					t.Errorf("DigestRange counts %d entries", c)
				}
			}
		}()
	}
	var writers sync.WaitGroup
	for w := range 4 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := w; i < n; i += 4 {
				op := putOp(uint64(i))
				op.Put.Value = op.Put.Value[:16]
				op.Put.SecretHash = dht.SHA1([]byte("s"))
				if res, err := s.Step(op, wallNow()); err != nil || res.Err != nil {
					t.Errorf("put %d: %v %v", i, res.Err, err)
					return
				}
				if i%3 == 0 {
					rm := dht.Op{Kind: dht.OpRemove, Remove: dht.Remove{Client: "c", Key: op.Put.Key, ValueHash: dht.SHA1(op.Put.Value), Secret: []byte("s"), TTL: 3600}}
					if res, err := s.Step(rm, wallNow()); err != nil || res.Err != nil {
						t.Errorf("rm %d: %v %v", i, res.Err, err)
						return
					}
				}
			}
		}()
	}
	writers.Wait()
	close(stop)
	readers.Wait()
	checkDigest(t, s, []dht.Key{{}, {0x40}, {0x80}, {0xc0}})
}
