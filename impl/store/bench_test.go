package store

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
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

var value1k = func() []byte {
	v := make([]byte, 1024)
	for i := range v {
		v[i] = byte(i * 7)
	}
	return v
}()

func putOp(i uint64) dht.Op {
	v := append([]byte(nil), value1k...)
	binary.BigEndian.PutUint64(v, i)
	// 8 clients, so admission does real fair queuing.
	return dht.Op{Kind: dht.OpPut, Put: dht.Put{Client: dht.ClientID([]byte{'c', byte('0' + i%8)}), Key: benchKey(i), Value: v, TTL: 3600}}
}

func BenchmarkPutDurableSequential(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	b.SetBytes(1024)
	b.ResetTimer()
	for i := range uint64(b.N) {
		if st, err := s.Write(ctx, putOp(i), wallNow()); err != nil || st != dht.StatusOK {
			b.Fatal(st, err)
		}
	}
}

func BenchmarkPutDurable64Way(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	var n atomic.Uint64
	b.SetBytes(1024)
	b.SetParallelism(32) // 2 cores x 32 = 64 concurrent writers
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if st, err := s.Write(ctx, putOp(i), wallNow()); err != nil || st != dht.StatusOK {
				b.Error(st, err)
				return
			}
		}
	})
}

const benchItems = 100_000

func loadedStore(b *testing.B) *Store {
	s := benchStore(b)
	ctx := context.Background()
	for i := range uint64(benchItems) {
		if _, err := s.Write(ctx, putOp(i), wallNow()); err != nil {
			b.Fatal(err)
		}
		if i%10000 == 0 {
			_ = s.db.Flush()
		}
	}
	return s
}

func BenchmarkGetSequential(b *testing.B) {
	s := loadedStore(b)
	b.SetBytes(1024)
	b.ResetTimer()
	for i := range uint64(b.N) {
		r, err := s.Get(dht.Get{Key: benchKey(i % benchItems), MaxVals: 10}, wallNow())
		if err != nil || len(r.Values) != 1 {
			b.Fatal(err, len(r.Values))
		}
	}
}

func BenchmarkGet64Way(b *testing.B) {
	s := loadedStore(b)
	var n atomic.Uint64
	b.SetBytes(1024)
	b.SetParallelism(32)
	b.ResetTimer()
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
		for i := range uint64(benchItems) {
			if _, err := s.Write(ctx, putOp(i), wallNow()); err != nil {
				b.Fatal(err)
			}
		}
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
