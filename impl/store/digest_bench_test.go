package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/opendht-go/opendht/impl/dht"
)

// Benchmarks of the digest index: a range digest and a short listing at
// 10,000 and 1,000,000 entries (the cost must not grow with the store
// beyond log N), the memory per entry, what the index adds to a put, and
// the rebuild at open. `make bench` runs them with the store's others.

var digestSizes = []int{10_000, 1_000_000}

// randomID is entry i of a benchmark index: keys spread evenly at random.
func randomID(i uint64) dht.ItemID {
	r := rand.New(rand.NewPCG(i, 7))
	var id dht.ItemID
	for j := 0; j < dht.KeyLen; j += 4 {
		binary.BigEndian.PutUint32(id.Key[j:], r.Uint32())
	}
	binary.BigEndian.PutUint64(id.ValueHash[:], r.Uint64())
	return id
}

// benchIndex builds an index of n random entries, one in eight a
// tombstone, through the builder (as Open does), and returns it with the
// heap bytes it takes per entry.
func benchIndex(b *testing.B, n int) (*digestIndex, float64) {
	ids := make([]dht.ItemID, n)
	for i := range ids {
		ids[i] = randomID(uint64(i))
	}
	slices.SortFunc(ids, func(a, b dht.ItemID) int { return cmpID(&a, &b) })
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	d := &digestIndex{tree: newDigestTree(1)}
	bl := d.tree.newBuilder()
	for i, id := range ids {
		if err := bl.add(id, i%8 == 0); err != nil {
			b.Fatal(err)
		}
	}
	bl.finish()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(ids)
	return d, float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

// spanKey returns lo + frac of the key space, saturating at the top.
func spanKey(lo dht.Key, frac float64) dht.Key {
	x := new(big.Int).SetBytes(lo[:])
	span, _ := new(big.Float).Mul(big.NewFloat(frac), new(big.Float).SetInt(new(big.Int).Lsh(big.NewInt(1), 160))).Int(nil)
	x.Add(x, span)
	var k dht.Key
	if x.BitLen() > 160 {
		return dht.Key{} // the end of the key space
	}
	x.FillBytes(k[:])
	return k
}

// BenchmarkDigestRange: the digest of one of the 32 buckets anti-entropy
// compares today (1/32 of the key space), from a random start.
func BenchmarkDigestRange(b *testing.B) {
	for _, n := range digestSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			d, perEntry := benchIndex(b, n)
			los := make([]dht.Key, 1024)
			his := make([]dht.Key, len(los))
			for i := range los {
				los[i] = randomID(uint64(n + i)).Key
				his[i] = spanKey(los[i], 1.0/32)
			}
			total := 0
			b.ResetTimer()
			for i := range b.N {
				_, c := d.rangeDigest(los[i%len(los)], his[i%len(his)])
				total += c
			}
			b.ReportMetric(float64(total)/float64(b.N), "entries/range")
			b.ReportMetric(perEntry, "heap_B/entry")
		})
	}
}

// BenchmarkListRange lists a range of about 8 entries, as a neighbour's
// repair of a few differences does.
func BenchmarkListRange(b *testing.B) {
	for _, n := range digestSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			d, perEntry := benchIndex(b, n)
			los := make([]dht.Key, 1024)
			his := make([]dht.Key, len(los))
			for i := range los {
				los[i] = randomID(uint64(n + i)).Key
				his[i] = spanKey(los[i], 8/float64(n))
			}
			total := 0
			var x uint64
			b.ResetTimer()
			for i := range b.N {
				d.list(los[i%len(los)], his[i%len(his)], func(_ dht.ItemID, _ bool, sum uint64) bool {
					x ^= sum
					total++
					return true
				})
			}
			b.ReportMetric(float64(total)/float64(b.N), "entries/list")
			b.ReportMetric(perEntry, "heap_B/entry")
		})
	}
}

// BenchmarkDigestFollowPut is what the index adds to a put and a removal
// together: reading a put's batch (counter, identity, value, expiry
// records, 1 kB value) and inserting the entry into an index of 10,000 or
// 1,000,000 entries, then reading a batch that deletes the identity record
// and removing the entry again.
func BenchmarkDigestFollowPut(b *testing.B) {
	for _, n := range digestSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			d, _ := benchIndex(b, n)
			s := &Store{digest: d}
			db := memStore(b)
			batches := make([]*batchForBench, 256)
			for i := range batches {
				batches[i] = putBatch(db, uint64(n+i))
			}
			b.ResetTimer()
			for i := range b.N {
				bb := batches[i%len(batches)]
				s.followBatch(bb.put)
				s.followBatch(bb.undo) // back to n entries
			}
		})
	}
}

// BenchmarkPutDurableStepAsync is a durable put on the real disk through
// StepAsync and Pending.Wait, index included; compare with
// BenchmarkDigestFollowPut for the index's share.
func BenchmarkPutDurableStepAsync(b *testing.B) {
	s := benchStore(b)
	b.SetBytes(1024)
	b.ResetTimer()
	for i := range uint64(b.N) {
		op := putOp(i)
		op.ID = i + 1
		res, p, err := s.StepAsync(op, wallNow())
		if err != nil || res.Err != nil || p == nil {
			b.Fatal(err, res.Err)
		}
		if err := p.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDigestRebuild opens a store of 1,000,000 items (small values)
// and reports the time of the index rebuild alone and of the whole Open.
func BenchmarkDigestRebuild(b *testing.B) {
	const n = 1_000_000
	dir, err := os.MkdirTemp("", "opendht-digest-bench-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cfg := DefaultConfig(dir)
	cfg.Capacity = 1 << 40
	cfg.NoSync = true
	s, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	fillSmall(b, s, n)
	if err := s.db.Compact(context.Background(), []byte{0}, []byte{0xff}, true); err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.Run("rebuild", func(b *testing.B) {
		s, err := Open(cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		b.ResetTimer()
		for range b.N {
			if err := s.rebuildDigest(); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if got := s.LenDigest(); got != n {
			b.Fatalf("%d entries rebuilt, want %d", got, n)
		}
	})
	b.Run("open", func(b *testing.B) {
		for range b.N {
			s, err := Open(cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			_ = s.Close()
			b.StartTimer()
		}
	})
}

// fillSmall stores n items of 16 bytes without fsync, from 64 writers.
func fillSmall(b *testing.B, s *Store, n uint64) {
	var next atomic.Uint64
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < n; i = next.Add(1) - 1 {
				op := putOp(i)
				op.Put.Value = op.Put.Value[:16]
				if res, err := s.Step(op, wallNow()); err != nil || res.Err != nil {
					b.Error(res.Err, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// batchForBench is the batch of a put of a new item and the batch that
// deletes its identity record again. They are only read, never applied.
type batchForBench struct{ put, undo *pebble.Batch }

func memStore(b *testing.B) *Store {
	cfg := DefaultConfig("db")
	cfg.FS = vfs.NewMem()
	s, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// putBatch writes into a batch what a put of a new 1 kB item writes.
func putBatch(s *Store, i uint64) *batchForBench {
	id := randomID(i)
	r := ident{kind: kindItem, expiry: 2_000_000_000, seq: i, charge: 1024 + dht.ItemOverhead, client: "c0"}
	put := s.db.NewBatch()
	_ = put.Set([]byte{tagCounter}, binary.BigEndian.AppendUint64(nil, i+1), nil)
	_ = put.Set(identKey(id), r.encode(), nil)
	_ = put.Set(expiryKey(r.expiry, id, r.kind), encodeExpiryVal(r.seq, r.charge, r.client), nil)
	_ = put.Set(valueKey(id.Key, i), encodeValue(id.SecretHash, r.expiry, randomValue(i)), nil)
	undo := s.db.NewBatch()
	_ = undo.Delete(identKey(id), nil)
	return &batchForBench{put, undo}
}
