package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/model"
)

// diffConfig is small enough that every rule is exercised within a few
// dozen steps: capacity fills, queues fill and time out, max-size puts with
// long TTLs never fit (FST-7), replies are capped.
func diffConfig() model.Config {
	return model.Config{Capacity: 6000, MaxTTL: 30, QueueLimit: 2, QueueTimeout: 3, ReplyCap: dht.MaxValueLen}
}

func storeConfig(mc model.Config, fs vfs.FS, dir string) Config {
	c := DefaultConfig(dir)
	c.FS = fs
	c.Capacity, c.MaxTTL, c.QueueLimit, c.QueueTimeout, c.ReplyCap = mc.Capacity, mc.MaxTTL, mc.QueueLimit, mc.QueueTimeout, mc.ReplyCap
	c.CacheSize = 1 << 20
	return c
}

// Deterministic payloads: the generators draw indexes into these tables so
// that identical items (PUT-1) happen often.
var (
	valueLens  = []int{0, 1, 10, 300, 700, 1024, 1025}
	secretLens = []int{0, 4, 40, 41}
	// Two accounts with quotas (AC-4): the same name at two providers is
	// two identities; 1500 bytes is two 700-byte values' worth, less 28.
	clients = []dht.ClientID{"10.0.0.1", "10.0.0.2", "192.168.1.7",
		dht.AccountClient("alpha", "alice").WithQuota(1500), dht.AccountClient("beta", "alice").WithQuota(2500)}
)

func testValue(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i*31 + j)
	}
	return b
}

func testKey(k int) dht.Key { return dht.Key{19: byte(k)} }

// differential drives the model and a store with the same operations and
// compares every result.
type differential struct {
	m      *model.State
	s      *Store
	fs     *vfs.MemFS
	bug    mutation
	now    dht.Time
	nextID uint64
	// placemarks seen in replies, to resume from (GET-4).
	placemarks [][]byte
	// pending writes of each side, to check ST-2 (exactly one completion).
	pending map[uint64]bool
	stats   map[string]int
	// recent writes, so that re-puts, extensions and removes of stored
	// items (PUT-4..6, RM-2..4) are frequent, not chance events.
	recent []recentPut
}

type recentPut struct {
	put    dht.Put
	secret []byte
}

func newDifferential(t interface{ Fatalf(string, ...any) }, bug mutation) *differential {
	mc := diffConfig()
	fs := vfs.NewCrashableMem()
	s, err := Open(storeConfig(mc, fs, "db"))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	setBug(s, bug)
	return &differential{m: model.New(mc), s: s, fs: fs, bug: bug, now: 1_700_000_000, nextID: 1, pending: map[uint64]bool{}, stats: map[string]int{}}
}

func setBug(s *Store, bug mutation) {
	plantMutation(s, bug)
	if bug == mutNoSync {
		s.wopts = pebble.NoSync
	}
}

// crash simulates a crash of the machine: the store reopens on a copy of
// the filesystem that holds what was synced plus a random part of what was
// not (DUR-1, DUR-3). Queued writes are lost on both sides.
func (d *differential) crash(t *rapid.T) {
	pct := rapid.IntRange(0, 100).Draw(t, "unsyncedPercent")
	seed := rapid.Int64().Draw(t, "crashSeed")
	clone := d.fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rand.New(rand.NewPCG(uint64(seed), 1))})
	_ = d.s.Close()
	s, err := Open(storeConfig(d.m.Cfg, clone, "db"))
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	setBug(s, d.bug)
	d.s, d.fs = s, clone
	d.m.Restart()
	clear(d.pending)
	d.stats["crash"]++
	// The restarted node's clock starts where the model's is (TTL-6).
	want := d.m.Step(dht.Op{Kind: dht.OpTick}, d.m.Now)
	got, err := d.s.Step(dht.Op{Kind: dht.OpTick}, d.m.Now)
	if err != nil || len(want.Completed)+len(got.Completed) != 0 {
		t.Fatalf("tick after restart: %v %v %v", err, want, got)
	}
}

func (d *differential) drawOp(t *rapid.T) dht.Op {
	key := testKey(rapid.IntRange(0, 2).Draw(t, "key"))
	client := rapid.SampledFrom(clients).Draw(t, "client")
	ttl := rapid.SampledFrom([]int64{-1, 0, 1, 2, 5, 10, 20, 29, 30, 31, 1000}).Draw(t, "ttl")
	vi := rapid.IntRange(0, 3).Draw(t, "value")
	vlen := rapid.SampledFrom(valueLens).Draw(t, "valueLen")
	value := testValue(vi, vlen)
	si := rapid.IntRange(0, 2).Draw(t, "secret")
	secret := testValue(100+si, rapid.SampledFrom(secretLens).Draw(t, "secretLen"))
	op := dht.Op{ID: d.nextID}
	d.nextID++
	var again *recentPut
	if len(d.recent) > 0 && rapid.Bool().Draw(t, "again") {
		again = &d.recent[rapid.IntRange(0, len(d.recent)-1).Draw(t, "which")]
	}
	switch rapid.IntRange(0, 9).Draw(t, "kind") {
	case 0, 1, 2:
		op.Kind = dht.OpPut
		op.Put = dht.Put{Client: client, Key: key, Value: value, TTL: ttl}
		if again != nil {
			op.Put = again.put
			op.Put.Client, op.Put.TTL = client, ttl
		}
	case 3, 4:
		op.Kind = dht.OpPut
		op.Put = dht.Put{Client: client, Key: key, Value: value, TTL: ttl, SecretHash: dht.SHA1(secret)}
		if again == nil {
			d.recent = append(d.recent, recentPut{op.Put, secret})
		}
	case 5:
		op.Kind = dht.OpRemove
		op.Remove = dht.Remove{Client: client, Key: key, ValueHash: dht.SHA1(value), Secret: secret, TTL: ttl}
		if again != nil {
			op.Remove.Key, op.Remove.ValueHash = again.put.Key, dht.SHA1(again.put.Value)
			if rapid.IntRange(0, 4).Draw(t, "rightSecret") > 0 {
				op.Remove.Secret = again.secret
			}
		}
	case 6, 7, 8:
		op.Kind = dht.OpGet
		op.Get = dht.Get{Key: key, MaxVals: rapid.SampledFrom([]int{0, 1, 2, 3, 10}).Draw(t, "maxvals"),
			ItemOrder: rapid.Bool().Draw(t, "itemOrder")}
		switch rapid.IntRange(0, 3).Draw(t, "placemark") {
		case 1, 2:
			if len(d.placemarks) > 0 {
				op.Get.Placemark = rapid.SampledFrom(d.placemarks).Draw(t, "pm")
			}
		case 3:
			op.Get.Placemark = []byte{9, 9}
		}
	default:
		op.Kind = dht.OpTick
	}
	return op
}

func (d *differential) step(t *rapid.T, op dht.Op) {
	d.now += dht.Time(rapid.SampledFrom([]int{0, 0, 0, 1, 1, 2, 3, 7, 31}).Draw(t, "advance"))
	if rapid.IntRange(0, 20).Draw(t, "clockBack") == 0 {
		d.now -= 5 // TTL-6: the node's clock must not run backwards
	}
	want := d.m.Step(op, d.now)
	got, err := d.s.Step(op, d.now)
	if err != nil {
		t.Fatalf("store step %v: %v", op.Kind, err)
	}
	if !errors.Is(got.Err, want.Err) && (got.Err == nil || want.Err == nil || got.Err.Error() != want.Err.Error()) {
		t.Fatalf("op %s id %d at %d: error: store %v, model %v", op.Kind, op.ID, d.now, got.Err, want.Err)
	}
	if op.Kind == dht.OpGet {
		d.getMatches(t, op, want)
	}
	valid := want.Err == nil
	got.Err, want.Err = nil, nil
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("op %s id %d at %d: store differs from model (-model +store):\n%s", op.Kind, op.ID, d.now, diff)
	}
	if (op.Kind == dht.OpPut || op.Kind == dht.OpRemove) && valid {
		d.pending[op.ID] = true
	}
	for _, c := range got.Completed { // ST-2: one completion per write
		if !d.pending[c.ID] {
			t.Fatalf("write %d completed twice or never submitted", c.ID)
		}
		delete(d.pending, c.ID)
		d.stats[fmt.Sprintf("status %d", c.Status)]++
	}
	if len(got.Reply.Placemark) > 0 {
		d.placemarks = append(d.placemarks, got.Reply.Placemark)
		d.stats["placemark"]++
	}
	d.stats[op.Kind.String()]++
}

// getMatches asks the store's lock-free Get (the read cache's path) what
// the step just answered: after the step it must agree with the model's
// reply. Reads of the same key that follow writes, tombstones, expiry and
// admission find a cache entry that must have been invalidated.
func (d *differential) getMatches(t *rapid.T, op dht.Op, want dht.Result) {
	rep, err := d.s.Get(op.Get, d.now)
	if !errors.Is(err, want.Err) && (err == nil || want.Err == nil || err.Error() != want.Err.Error()) {
		t.Fatalf("get id %d at %d: error: store Get %v, model %v", op.ID, d.now, err, want.Err)
	}
	if err != nil {
		return
	}
	if diff := cmp.Diff(want.Reply, rep, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("get id %d at %d: store Get differs from model (-model +store):\n%s", op.ID, d.now, diff)
	}
}

func (d *differential) check(t *rapid.T) {
	if diff := cmp.Diff(d.m.Usage(), d.s.Usage(), cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("per-client usage differs (FST-10) (-model +store):\n%s", diff)
	}
	if mb, sb := d.m.Commitment(d.now-1), d.s.Committed(); mb != sb {
		t.Fatalf("committed bytes: model %d, store %d", mb, sb)
	}
	if !d.m.CurveHolds() { // INV-3
		t.Fatalf("commitment curve exceeds capacity at %d", d.now)
	}
	if d.m.Overtaken { // INV-4
		t.Fatalf("a write overtook a head with a smaller start tag")
	}
	for _, c := range clients { // INV-9
		if id, q := c.Quota(); q > 0 && d.s.Usage()[id] > q {
			t.Fatalf("identity %s is charged %d bytes, over its quota %d (INV-9)", id, d.s.Usage()[id], q)
		}
	}
	// The whole stored contents, read by following placemarks (GET-6);
	// after a crash this is DUR-1: every acknowledged write is there.
	for k := range 3 {
		for _, itemOrder := range []bool{false, true} { // GET-1 and RD-9
			if diff := cmp.Diff(d.modelContents(k, itemOrder), d.storeContents(t, k, itemOrder), cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("contents of key %d (item order %v) differ (-model +store):\n%s", k, itemOrder, diff)
			}
		}
	}
	for id := range d.pending {
		if !d.m.IsPending(id) {
			t.Fatalf("write %d neither pending nor completed (ST-2)", id)
		}
	}
}

func (d *differential) modelContents(k int, itemOrder bool) []dht.Value {
	return d.modelContentsOf(testKey(k), itemOrder)
}

func (d *differential) modelContentsOf(key dht.Key, itemOrder bool) []dht.Value {
	m := d.m.Clone()
	var out []dht.Value
	g := dht.Get{Key: key, MaxVals: 1000, ItemOrder: itemOrder}
	for {
		r := m.Step(dht.Op{Kind: dht.OpGet, Get: g}, m.Now)
		out = append(out, r.Reply.Values...)
		if len(r.Reply.Placemark) == 0 {
			return out
		}
		g.Placemark = r.Reply.Placemark
	}
}

func (d *differential) storeContents(t *rapid.T, k int, itemOrder bool) []dht.Value {
	return d.storeContentsOf(t, testKey(k), itemOrder)
}

func (d *differential) storeContentsOf(t *rapid.T, key dht.Key, itemOrder bool) []dht.Value {
	var out []dht.Value
	g := dht.Get{Key: key, MaxVals: 1000, ItemOrder: itemOrder}
	for {
		r, err := d.s.Get(g, d.m.Now)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		out = append(out, r.Values...)
		if len(r.Placemark) == 0 {
			return out
		}
		g.Placemark = r.Placemark
	}
}

// modelVsStore is the rapid property shared by the test, the negative
// controls and the fuzz target.
func modelVsStore(bug mutation) func(*rapid.T) {
	return differentialCheck(bug, (*differential).drawOp, nil)
}

// differentialCheck runs a store with bug planted beside the model on the
// operations draw makes, crashing it now and then, and compares them
// after every step (d.check, the digest index, and check if not nil).
func differentialCheck(bug mutation, draw func(*differential, *rapid.T) dht.Op, check func(*differential, *rapid.T)) func(*rapid.T) {
	return func(t *rapid.T) {
		d := newDifferential(t, bug)
		defer d.s.Close()
		t.Repeat(map[string]func(*rapid.T){
			"op": func(t *rapid.T) {
				if rapid.IntRange(0, 40).Draw(t, "crash?") == 0 {
					d.crash(t)
				}
				d.step(t, draw(d, t))
			},
			"": func(t *rapid.T) {
				d.check(t)
				if check != nil {
					check(d, t)
				}
				checkDigest(t, d.s, digestBounds) // digest_test.go
			},
		})
	}
}

// TestStoreMatchesModel checks the store against the reference model on
// random operation sequences with clock jumps, clock steps backwards and
// several clients, and crashes with reopen (DUR-1, DUR-3): STEP-1, LIM-1..LIM-7, ST-1..ST-3, PUT-1..PUT-6,
// TTL-1..TTL-6, RM-1..RM-7, GET-1..GET-5, FST-1..FST-8, FST-10, INV-1..INV-5.
// After every operation it also checks the digest index against the
// identity records (checkDigest).
// Replay a failure with the -rapid.seed or -rapid.failfile it prints.
func TestStoreMatchesModel(t *testing.T) {
	rapid.Check(t, modelVsStore(noMutation))
}
