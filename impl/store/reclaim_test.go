package store

import (
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/opendht-go/opendht/impl/dht"
)

func countKeys(t *testing.T, s *Store) int {
	t.Helper()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{tagIdent}})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for it.First(); it.Valid(); it.Next() {
		n++
	}
	return n
}

// TestExpiredDataIsReclaimed checks TTL-5: once items and tombstones
// expire, the next step deletes their records (identity, value, expiry
// index) from the database and releases their charge; nothing is only
// hidden. Also TTL-3: at expiry - 1 the item is returned, at expiry not.
func TestExpiredDataIsReclaimed(t *testing.T) {
	cfg := DefaultConfig("db")
	cfg.FS = vfs.NewMem()
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const t0 = 1_000_000
	var id uint64
	step := func(op dht.Op, now dht.Time) dht.Result {
		id++
		op.ID = id
		r, err := s.Step(op, now)
		if err != nil || r.Err != nil {
			t.Fatalf("step: %v %v", err, r.Err)
		}
		return r
	}
	for i := range 10 {
		step(dht.Op{Kind: dht.OpPut, Put: dht.Put{Client: "c", Key: dht.Key{1}, Value: []byte{byte(i)}, TTL: 10, SecretHash: dht.SHA1([]byte("s"))}}, t0)
	}
	step(dht.Op{Kind: dht.OpRemove, Remove: dht.Remove{Client: "c", Key: dht.Key{1}, ValueHash: dht.SHA1([]byte{0}), Secret: []byte("s"), TTL: 20}}, t0)
	if n := countKeys(t, s); n != 3*9+2 { // 9 items (d, i, x each), one tombstone (d, x)
		t.Fatalf("%d records before expiry", n)
	}
	if r := step(dht.Op{Kind: dht.OpGet, Get: dht.Get{Key: dht.Key{1}, MaxVals: 100}}, t0+9); len(r.Reply.Values) != 9 {
		t.Fatalf("at expiry-1: %d values, want 9 (TTL-3)", len(r.Reply.Values))
	}
	if r := step(dht.Op{Kind: dht.OpGet, Get: dht.Get{Key: dht.Key{1}, MaxVals: 100}}, t0+10); len(r.Reply.Values) != 0 {
		t.Fatalf("at expiry: %d values, want 0 (TTL-3)", len(r.Reply.Values))
	}
	if n := countKeys(t, s); n != 2 {
		t.Fatalf("%d records after the items expired, want the tombstone's 2 (TTL-5)", n)
	}
	step(dht.Op{Kind: dht.OpTick}, t0+20)
	if n := countKeys(t, s); n != 0 {
		t.Fatalf("%d records after everything expired (TTL-5)", n)
	}
	if u := s.Usage(); len(u) != 0 || s.Committed() != 0 {
		t.Fatalf("charges not released: %v %d", u, s.Committed())
	}
}
