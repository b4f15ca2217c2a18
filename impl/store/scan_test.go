package store

import (
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/opendht-go/opendht/impl/dht"
)

// TestScanAndFetch: Scan lists exactly the live items and tombstones in ID
// order (TTL-3: not the expired ones), Fetch returns their contents (RM-5
// holds for gets, but replication must see tombstones).
func TestScanAndFetch(t *testing.T) {
	cfg := DefaultConfig("db")
	cfg.FS = vfs.NewMem()
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const now = 1_000_000
	step := func(op dht.Op) {
		if r, err := s.Step(op, now); err != nil || r.Err != nil {
			t.Fatal(err, r.Err)
		}
	}
	step(dht.Op{Kind: dht.OpPut, ID: 1, Put: dht.Put{Client: "a", Key: dht.Key{2}, Value: []byte("x"), TTL: 100}})
	step(dht.Op{Kind: dht.OpPut, ID: 2, Put: dht.Put{Client: "a", Key: dht.Key{1}, Value: []byte("short"), TTL: 5}})
	step(dht.Op{Kind: dht.OpRemove, ID: 3, Remove: dht.Remove{Client: "b", Key: dht.Key{3}, ValueHash: dht.SHA1([]byte("y")), Secret: []byte("k"), TTL: 50}})
	var recs []Record
	if err := s.Scan(now+10, func(r Record) bool { recs = append(recs, r); return true }); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].ID.Key != (dht.Key{2}) || recs[1].ID.Key != (dht.Key{3}) || !recs[1].Tombstone {
		t.Fatalf("scan: %+v", recs)
	}
	full, err := s.Fetch(recs[0].ID, now+10)
	if err != nil || string(full.Value) != "x" || full.Expiry != now+100 || full.Client != "a" {
		t.Fatalf("fetch item: %+v %v", full, err)
	}
	tomb, err := s.Fetch(recs[1].ID, now+10)
	if err != nil || string(tomb.Secret) != "k" || !tomb.Tombstone {
		t.Fatalf("fetch tombstone: %+v %v", tomb, err)
	}
	if _, err := s.Fetch(dht.ItemID{Key: dht.Key{1}, ValueHash: dht.SHA1([]byte("short"))}, now+10); err != ErrNotStored {
		t.Fatalf("expired item fetched: %v", err)
	}
}
