package store

import (
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/opendht-go/opendht/impl/dht"
)

// TestStepAsyncDurable: writes made with StepAsync are visible to reads
// at once, report their completions through Pending, and every write whose
// Wait returned survives a crash that keeps no unsynced data (DUR-1).
func TestStepAsyncDurable(t *testing.T) {
	mc := diffConfig()
	mc.Capacity, mc.MaxTTL, mc.QueueLimit = 1<<30, 3600, 64
	fs := vfs.NewCrashableMem()
	s, err := Open(storeConfig(mc, fs, "db"))
	if err != nil {
		t.Fatal(err)
	}
	now := dht.Time(1_700_000_000)
	var pend []*Pending
	var ids []uint64
	for i := range 200 {
		op := dht.Op{Kind: dht.OpPut, ID: uint64(i + 1), Put: dht.Put{Client: "c", Key: testKey(i % 3), Value: testValue(i, 8), TTL: 1000}}
		res, p, err := s.StepAsync(op, now)
		if err != nil || res.Err != nil {
			t.Fatalf("put %d: %v %v", i, err, res.Err)
		}
		if p == nil {
			t.Fatalf("put %d wrote nothing", i)
		}
		if len(p.Completed) != 1 || p.Completed[0].ID != op.ID || p.Completed[0].Status != dht.StatusOK {
			t.Fatalf("put %d: completions %+v", i, p.Completed)
		}
		// Reads see an applied write before it is durable.
		rep, err := s.Get(dht.Get{Key: testKey(i % 3), MaxVals: 1000}, now)
		if err != nil || len(rep.Values) != i/3+1 {
			t.Fatalf("get after put %d: %d values, %v", i, len(rep.Values), err)
		}
		pend = append(pend, p)
		ids = append(ids, op.ID)
	}
	for i, p := range pend {
		if err := p.Wait(); err != nil {
			t.Fatalf("wait %d: %v", i, err)
		}
	}
	// A step that writes nothing has nothing to wait for.
	if _, p, err := s.StepAsync(dht.Op{Kind: dht.OpTick}, now); err != nil || p != nil {
		t.Fatalf("tick: pending %v, %v", p, err)
	}
	clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0, RNG: rand.New(rand.NewPCG(1, 2))})
	_ = s.Close()
	s2, err := Open(storeConfig(mc, clone, "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	total := 0
	for k := range 3 {
		rep, err := s2.Get(dht.Get{Key: testKey(k), MaxVals: 1000}, now)
		if err != nil {
			t.Fatal(err)
		}
		total += len(rep.Values)
	}
	if total != len(ids) {
		t.Fatalf("after the crash %d of %d synced writes are stored", total, len(ids))
	}
}
