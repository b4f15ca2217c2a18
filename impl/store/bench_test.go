package store

import (
	"context"
	"encoding/binary"
	"github.com/cockroachdb/pebble/v2/vfs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/opendht-go/opendht/impl/dht"
)

// Benchmarks of the store on the real disk with fsync: durable put and get
// of 1 kB values, sequential and 64-way concurrent. `make bench` runs them.

func benchStore(b *testing.B) *Store {
	cfg := DefaultConfig(b.TempDir())
	cfg.Capacity = 1 << 40 // measure the engine, not admission refusals
	s, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

func benchKey(i uint64) dht.Key {
	var k dht.Key
	binary.BigEndian.PutUint64(k[12:], i*0x9e3779b97f4a7c15)
	return k
}

// randomValue is 1 kB that does not compress, so disk figures are honest.
func randomValue(i uint64) []byte {
	r := rand.New(rand.NewPCG(i, 42))
	v := make([]byte, 1024)
	for j := 0; j < len(v); j += 8 {
		binary.LittleEndian.PutUint64(v[j:], r.Uint64())
	}
	return v
}

func putOp(i uint64) dht.Op {
	v := randomValue(i)
	// 8 clients, so admission does real fair queuing.
	return dht.Op{Kind: dht.OpPut, Put: dht.Put{Client: dht.ClientID([]byte{'c', byte('0' + i%8)}), Key: benchKey(i), Value: v, TTL: 3600}}
}

// The put benchmarks write through the node's path (driver): one
// goroutine submitting steps, one syncer waiting for them in order.

func BenchmarkPutDurableSequential(b *testing.B) {
	s := benchStore(b)
	d := newDriver(s)
	defer d.close()
	b.SetBytes(1024)
	b.ResetTimer()
	for i := range uint64(b.N) {
		if st, err := d.write(putOp(i), wallNow()); err != nil || st != dht.StatusOK {
			b.Fatal(st, err)
		}
	}
}

// BenchmarkPutDurable64Way: 64 writers with one outstanding put each.
// "batched" submits what accumulated as one StepsAsync, "single" one
// StepAsync per put.
func BenchmarkPutDurable64Way(b *testing.B) {
	for _, c := range []struct {
		name  string
		batch int
	}{{"batched", maxBatch}, {"single", 1}} {
		b.Run(c.name, func(b *testing.B) {
			s := benchStore(b)
			d := newDriverBatch(s, c.batch)
			var n atomic.Uint64
			b.SetBytes(1024)
			b.SetParallelism(32) // 2 cores x 32 = 64 concurrent writers
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					if st, err := d.write(putOp(i), wallNow()); err != nil || st != dht.StatusOK {
						b.Error(st, err)
						return
					}
				}
			})
			d.close()
			b.ReportMetric(float64(d.steps)/float64(max(d.batches, 1)), "steps/batch")
		})
	}
}

const benchItems = 100_000

// loadedStore holds benchItems 1 kB items, loaded without fsync by 64
// writers (the load is not what is measured) and compacted, as a node that
// has been running for a while.
// It is built once per process and shared by the get benchmarks; its block
// cache and its read cache (256 MiB each) hold the whole working set, as a
// node sized for its data would.
func loadedStore(b *testing.B) *Store {
	loaded.once.Do(func() {
		dir, err := os.MkdirTemp("", "opendht-bench-")
		if err != nil {
			b.Fatal(err)
		}
		cfg := DefaultConfig(dir)
		cfg.Capacity = 1 << 40
		cfg.NoSync = true
		cfg.CacheSize = 256 << 20
		cfg.ReadCacheSize = 256 << 20
		s, err := Open(cfg)
		if err != nil {
			b.Fatal(err)
		}
		fill(b, s, benchItems)
		if err := s.db.Compact(context.Background(), []byte{0}, []byte{0xff}, true); err != nil {
			b.Fatal(err)
		}
		loaded.s, loaded.dir = s, dir
	})
	return loaded.s
}

var loaded struct {
	once sync.Once
	s    *Store
	dir  string
}

func fill(b *testing.B, s *Store, n uint64) {
	d := newDriver(s)
	defer d.close()
	var next atomic.Uint64
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < n; i = next.Add(1) - 1 {
				if st, err := d.write(putOp(i), wallNow()); err != nil || st != dht.StatusOK {
					b.Error(st, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// readPaths runs a get benchmark answered from the read cache (warmed by
// one read of every key first) and from Pebble alone.
func readPaths(b *testing.B, s *Store, run func(b *testing.B)) {
	b.Run("cache", func(b *testing.B) {
		warm.Do(func() {
			for i := range uint64(benchItems) {
				if _, err := s.Get(dht.Get{Key: benchKey(i), MaxVals: 10}, wallNow()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.ResetTimer()
		run(b)
	})
	b.Run("pebble", func(b *testing.B) {
		rc := s.rc
		s.rc = nil // no step runs meanwhile
		defer func() { s.rc = rc }()
		run(b)
	})
}

var warm sync.Once

func BenchmarkGetSequential(b *testing.B) {
	s := loadedStore(b)
	readPaths(b, s, func(b *testing.B) {
		b.SetBytes(1024)
		b.ReportAllocs()
		for i := range uint64(b.N) {
			r, err := s.Get(dht.Get{Key: benchKey(i % benchItems), MaxVals: 10}, wallNow())
			if err != nil || len(r.Values) != 1 {
				b.Fatal(err, len(r.Values))
			}
		}
	})
}

func BenchmarkGet64Way(b *testing.B) {
	s := loadedStore(b)
	readPaths(b, s, func(b *testing.B) {
		var n atomic.Uint64
		b.SetBytes(1024)
		b.ReportAllocs()
		b.SetParallelism(32)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := n.Add(1)
				r, err := s.Get(dht.Get{Key: benchKey(i % benchItems), MaxVals: 10}, wallNow())
				if err != nil || len(r.Values) != 1 {
					b.Error(err, len(r.Values))
					return
				}
			}
		})
	})
}

// BenchmarkGetItemOrder is BenchmarkGetSequential in item order (RD-9),
// the order a node's gateways read in.
func BenchmarkGetItemOrder(b *testing.B) {
	s := loadedStore(b)
	readPaths(b, s, func(b *testing.B) {
		b.SetBytes(1024)
		b.ReportAllocs()
		for i := range uint64(b.N) {
			r, err := s.Get(dht.Get{Key: benchKey(i % benchItems), MaxVals: 10, ItemOrder: true}, wallNow())
			if err != nil || len(r.Values) != 1 {
				b.Fatal(err, len(r.Values))
			}
		}
	})
}

// BenchmarkGetManyValues reads pages of 10 values from keys that hold 40
// values each, still in the memtable, as the keys of a busy node are: in
// storage order (GET-1) and in item order (RD-9).
func BenchmarkGetManyValues(b *testing.B) {
	cfg := DefaultConfig("db")
	cfg.FS = vfs.NewMem()
	cfg.Capacity = 1 << 40
	cfg.NoSync = true
	s, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const keys, perKey = 250, 40
	for i := range uint64(keys * perKey) {
		op := putOp(i)
		op.Put.Key = benchKey(i % keys)
		op.ID = i + 1
		if r, err := s.Step(op, wallNow()); err != nil || len(r.Completed) != 1 || r.Completed[0].Status != dht.StatusOK {
			b.Fatal(r, err)
		}
	}
	for _, order := range []struct {
		name string
		item bool
	}{{"storage", false}, {"item", true}} {
		b.Run(order.name, func(b *testing.B) {
			b.SetBytes(1024)
			for i := range uint64(b.N) {
				r, err := s.Get(dht.Get{Key: benchKey(i % keys), MaxVals: 10, ItemOrder: order.item}, wallNow())
				if err != nil || len(r.Values) != 1 { // the reply cap holds one 1 kB value (GET-3)
					b.Fatal(err, len(r.Values))
				}
			}
		})
	}
}

// BenchmarkDiskPerItem stores 1 kB items, compacts, and reports the bytes on
// disk per item (target <= 1.5 kB).
func BenchmarkDiskPerItem(b *testing.B) {
	for range b.N {
		cfg := DefaultConfig(b.TempDir())
		cfg.Capacity = 1 << 40
		cfg.NoSync = true // the size on disk does not depend on fsync
		s, err := Open(cfg)
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		fill(b, s, benchItems)
		if err := s.db.Flush(); err != nil {
			b.Fatal(err)
		}
		if err := s.db.Compact(ctx, []byte{0}, []byte{0xff}, true); err != nil {
			b.Fatal(err)
		}
		var sst int64
		_ = filepath.Walk(cfg.Dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && filepath.Ext(p) == ".sst" {
				sst += fi.Size()
			}
			return nil
		})
		b.ReportMetric(float64(sst)/benchItems, "disk_B/item")
		_ = s.Close()
	}
}
