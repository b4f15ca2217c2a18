package store

import (
	"fmt"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/opendht-go/opendht/impl/dht"
)

// TestConcurrentWritesAndGets runs writers through the node's path (driver:
// steps grouped into shared batches and fsyncs) and lock-free readers at
// once, then checks that every
// acknowledged put is stored exactly once (ST-2, DUR-1) and that the
// per-client charges add up (FST-10, INV-5). Run under -race by make check.
func TestConcurrentWritesAndGets(t *testing.T) {
	cfg := DefaultConfig("db")
	cfg.FS = vfs.NewMem()
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d := newDriver(s)
	defer d.close()
	const writers, perWriter = 16, 50
	now := dht.Time(1_700_000_000)
	var wg sync.WaitGroup
	errs := make(chan error, writers*2)
	for w := range writers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				p := dht.Put{Client: dht.ClientID(fmt.Sprintf("10.0.0.%d", w%4)), Key: dht.Key{0: byte(w)}, Value: []byte(fmt.Sprint(i)), TTL: 600}
				st, err := d.write(dht.Op{Kind: dht.OpPut, Put: p}, now)
				if err != nil || st != dht.StatusOK {
					errs <- fmt.Errorf("writer %d put %d: %v %v", w, i, st, err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range perWriter {
				if _, err := s.Get(dht.Get{Key: dht.Key{0: byte(w)}, MaxVals: 5}, now); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var total int64
	for w := range writers {
		seen := map[string]bool{}
		g := dht.Get{Key: dht.Key{0: byte(w)}, MaxVals: 100}
		for {
			r, err := s.Get(g, now)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range r.Values {
				if seen[string(v.Value)] {
					t.Fatalf("key %d: value %s twice (GET-6)", w, v.Value)
				}
				seen[string(v.Value)] = true
				total += dht.ChargedBytes(len(v.Value))
			}
			if len(r.Placemark) == 0 {
				break
			}
			g.Placemark = r.Placemark
		}
		if len(seen) != perWriter {
			t.Fatalf("key %d: %d values stored, %d acknowledged", w, len(seen), perWriter)
		}
	}
	var charged int64
	for _, b := range s.Usage() {
		charged += b
	}
	if charged != total || s.Committed() != total {
		t.Fatalf("charges %d, committed %d, stored %d (INV-5)", charged, s.Committed(), total)
	}
}
