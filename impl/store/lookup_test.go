package store

import (
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/opendht-go/opendht/impl/dht"
)

// TestGroupedWritesOfOneItem: writes of one item grouped into one batch
// (StepsAsync, as the node's driver groups them) leave the store exactly
// as the same writes one step at a time do (STEP-1, PUT-6, RM-2, FST-10).
// Lookups of identities are answered from the digest index and what the
// batch being built wrote; a lookup that missed the batch would take the
// second write of an item for a new item.
func TestGroupedWritesOfOneItem(t *testing.T) {
	if msg := groupedWrites(t, noMutation); msg != "" {
		t.Fatal(msg)
	}
}

// TestGroupedWritesCatchLookupSkippingBatch is its negative control.
func TestGroupedWritesCatchLookupSkippingBatch(t *testing.T) {
	if !mutationsBuilt {
		t.Skip("the negative controls plant mutations: build with -tags variants")
	}
	msg := groupedWrites(t, mutLookupSkipsBatch)
	if msg == "" {
		t.Fatal("a lookup that misses the batch being built was not caught")
	}
	t.Logf("caught: %s", msg)
}

func groupedWrites(t *testing.T, bug mutation) string {
	open := func(bug mutation) *Store {
		cfg := DefaultConfig("db")
		cfg.FS = vfs.NewMem()
		s, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		plantMutation(s, bug)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	key := dht.Key{7}
	secret := []byte("s")
	ops := []dht.Op{
		{Kind: dht.OpPut, ID: 1, Put: dht.Put{Client: "a", Key: key, Value: []byte("v"), TTL: 60, SecretHash: dht.SHA1(secret)}},
		{Kind: dht.OpPut, ID: 2, Put: dht.Put{Client: "a", Key: key, Value: []byte("v"), TTL: 600, SecretHash: dht.SHA1(secret)}},
		{Kind: dht.OpPut, ID: 3, Put: dht.Put{Client: "b", Key: key, Value: []byte("w"), TTL: 60}},
		{Kind: dht.OpRemove, ID: 4, Remove: dht.Remove{Client: "a", Key: key, ValueHash: dht.SHA1([]byte("v")), Secret: secret, TTL: 600}},
		{Kind: dht.OpPut, ID: 5, Put: dht.Put{Client: "b", Key: key, Value: []byte("w"), TTL: 120}},
	}
	const now = 1_000_000
	one := open(noMutation)
	for _, op := range ops {
		if _, err := one.Step(op, now); err != nil {
			t.Fatal(err)
		}
	}
	grouped := open(bug)
	_, p, err := grouped.StepsAsync(ops, now)
	if err != nil {
		t.Fatal(err)
	}
	if p != nil {
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	describe := func(s *Store) string {
		rep, err := s.Get(dht.Get{Key: key, MaxVals: 10}, now)
		if err != nil {
			return "get: " + err.Error()
		}
		var recs []string
		if err := s.Scan(now, func(r Record) bool {
			recs = append(recs, fmt.Sprintf("%x tomb=%v exp=%d", r.ID.ValueHash[:2], r.Tombstone, r.Expiry))
			return true
		}); err != nil {
			return "scan: " + err.Error()
		}
		return fmt.Sprintf("values=%v records=%v usage=%v committed=%d", rep.Values, recs, s.Usage(), s.Committed())
	}
	if a, b := describe(one), describe(grouped); a != b {
		return fmt.Sprintf("grouped writes differ from one step each:\n one: %s\n grouped: %s", a, b)
	}
	return ""
}
