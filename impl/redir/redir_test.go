package redir

import (
	"context"
	"errors"
	"flag"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/opendht-go/opendht/impl/clock"
	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/rapidtest"
	"github.com/opendht-go/opendht/model"
)

var epoch = time.Date(2005, 8, 22, 0, 0, 0, 0, time.UTC)

func key(hexPrefix ...byte) dht.Key {
	var k dht.Key
	copy(k[:], hexPrefix)
	return k
}

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig()
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		edit func(*Config)
	}{
		{"branching 3", func(c *Config) { c.Branching = 3 }},
		{"branching 1", func(c *Config) { c.Branching = 1 }},
		{"branching 512", func(c *Config) { c.Branching = 512 }},
		{"no levels", func(c *Config) { c.Levels = 0 }},
		{"65 bits", func(c *Config) { c.Branching, c.Levels = 2, 65 }},
		{"start below", func(c *Config) { c.StartLevel = -1 }},
		{"start beyond", func(c *Config) { c.StartLevel = c.Levels }},
		{"ttl", func(c *Config) { c.TTL = time.Millisecond }},
	} {
		cfg := good
		c.edit(&cfg)
		if err := cfg.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: Validate = %v, want ErrConfig", c.name, err)
		}
	}
}

// TestTreeArithmetic: the interval of each level (RZ-1), the depth two IDs
// share, and distances on the circle (RZ-5).
func TestTreeArithmetic(t *testing.T) {
	c := DefaultConfig()
	k := key(0b1011_0000, 0xff)
	for l, want := range []uint64{0, 1, 2, 5, 11, 22} {
		if got := c.index(k, l); got != want {
			t.Errorf("index(level %d) = %d, want %d", l, got, want)
		}
	}
	c4 := c
	c4.Branching, c4.Levels = 4, 8
	if got := c4.index(k, 2); got != 0b1011 {
		t.Errorf("b=4 index(level 2) = %b", got)
	}
	if d := c.sharedDepth(key(0b1010_0000), key(0b1011_0000)); d != 3 {
		t.Errorf("sharedDepth = %d, want 3", d)
	}
	if d := c.sharedDepth(k, k); d != c.Levels-1 {
		t.Errorf("sharedDepth of equal IDs = %d, want %d", d, c.Levels-1)
	}
	one := dht.Key{19: 1}
	if d := succ.distance(one, dht.Key{}); d != sub(dht.Key{}, one) || d[0] != 0xff {
		t.Errorf("succ distance wraps: %x", d)
	}
	if d := pred.distance(one, dht.Key{}); d != (dht.Key{}) {
		t.Errorf("pred distance of the ID just before = %x, want 0", d)
	}
	if dhtKey("a", node{1, 0}) == dhtKey("a", node{0, 1}) || dhtKey("ab", node{0, 0}) == dhtKey("a", node{0, 0}) {
		t.Error("tree node keys collide")
	}
}

// TestMalformedRecordsSkipped: values under a tree node that are not
// records, or name an ID outside the node's interval, are skipped and
// counted, and change no answer (RZ-1).
func TestMalformedRecordsSkipped(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewManual(epoch)
	sim := NewSim(SimConfig{Nodes: 4, Replicas: 2}, clk)
	r := mustNew(t, sim, DefaultConfig(), clk)
	m := key(0x10)
	if _, _, err := r.Register(ctx, "ns", m, []byte("addr")); err != nil {
		t.Fatal(err)
	}
	start := DefaultConfig().covering(m, 2)
	for _, v := range [][]byte{nil, {1}, {2, 1, 2}, encodeRecord(Record{ID: key(0xf0)})} {
		if err := sim.PutRemovable(ctx, dhtKey("ns", start), v, []byte("x"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	res, err := r.Lookup(ctx, "ns", key(0x20))
	if err != nil || res.ID != m || string(res.Payload) != "addr" {
		t.Fatalf("lookup = %+v, %v", res, err)
	}
	ms, err := r.Members(ctx, "ns")
	if err != nil || len(ms) != 1 || ms[0].ID != m {
		t.Fatalf("members = %+v, %v", ms, err)
	}
	if r.Stats().Malformed == 0 {
		t.Error("malformed values not counted")
	}
	if _, err := decodeRecord(append([]byte{1}, make([]byte, 1100)...)); !errors.Is(err, ErrMalformed) {
		t.Errorf("long record: %v", err)
	}
	if _, _, err := r.Register(ctx, "ns", m, make([]byte, MaxPayload+1)); err == nil {
		t.Error("oversized payload accepted")
	}
}

// TestEmptyAndLeave: an empty namespace has no successor (RZ-5); a member
// that leaves is never answered again in a DHT that loses nothing (RZ-10);
// it cannot refresh after leaving; and it may join again (RZ-7).
func TestEmptyAndLeave(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewManual(epoch)
	sim := NewSim(SimConfig{Nodes: 8, Replicas: 3}, clk)
	r := mustNew(t, sim, DefaultConfig(), clk)
	if _, err := r.Lookup(ctx, "ns", key(1)); !errors.Is(err, ErrNoMembers) {
		t.Fatalf("lookup in an empty namespace: %v", err)
	}
	a, _, _ := r.Register(ctx, "ns", key(0x40), nil)
	b, _, _ := r.Register(ctx, "ns", key(0x41), nil)
	if _, err := b.Refresh(ctx); err != nil { // b now knows a: it walks down
		t.Fatal(err)
	}
	if res, _ := r.Lookup(ctx, "ns", key(0x40, 1)); res.ID != key(0x41) {
		t.Fatalf("successor before leave: %x", res.ID)
	}
	if err := b.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	for l := range DefaultConfig().Levels {
		r.setHint("ns", l)
		if res, _ := r.Lookup(ctx, "ns", key(0x40, 1)); res.ID != key(0x40) {
			t.Fatalf("RZ-10: from level %d the successor after leave is %x", l, res.ID)
		}
	}
	if _, err := b.Refresh(ctx); !errors.Is(err, ErrLeft) {
		t.Fatalf("refresh after leave: %v", err)
	}
	if _, _, err := r.Register(ctx, "ns", key(0x41), nil); err != nil {
		t.Fatal(err)
	}
	if res, _ := r.Lookup(ctx, "ns", key(0x40, 1)); res.ID != key(0x41) {
		t.Fatalf("RZ-7: rejoined member not found: %x", res.ID)
	}
	_ = a
}

func mustNew(t testing.TB, d DHT, cfg Config, clk clock.Clock) *Redir {
	t.Helper()
	r, err := New(d, cfg, clk)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// seeded fixes rapid's seed unless -rapid.seed is given, and logs how to
// replay.
func seeded(t *testing.T, def string) {
	f := flag.Lookup("rapid.seed")
	if f.Value.String() == f.DefValue {
		if err := flag.Set("rapid.seed", def); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = flag.Set("rapid.seed", f.DefValue) })
	}
	t.Logf("rapid seed %s; replay: go test ./impl/redir -run '^%s$' -count=1 -v -rapid.seed=%s", f.Value, t.Name(), f.Value)
}

// world is one rapid run: a simulated DHT, the namespace's members and the
// oracle of who is a member.
type world struct {
	ctx     context.Context
	cfg     Config
	clk     *clock.Manual
	sim     *Sim
	r       *Redir
	oracle  *model.RedirOracle
	live    map[dht.Key]*Member
	ever    map[dht.Key]bool
	ids     []dht.Key
	planted bool
}

func newWorld(t *rapid.T, planted bool) *world {
	cfg := DefaultConfig()
	cfg.Branching = rapid.SampledFrom([]int{2, 2, 4}).Draw(t, "branching")
	cfg.Levels = rapid.IntRange(2, 10).Draw(t, "levels")
	cfg.StartLevel = rapid.IntRange(0, min(3, cfg.Levels-1)).Draw(t, "start_level")
	cfg.TTL = time.Minute
	clk := clock.NewManual(epoch)
	sim := NewSim(SimConfig{
		Nodes:       rapid.IntRange(1, 12).Draw(t, "dht_nodes"),
		Replicas:    rapid.IntRange(1, 3).Draw(t, "replicas"),
		MaxPutDelay: time.Duration(rapid.IntRange(0, 5).Draw(t, "max_put_delay_s")) * time.Second,
		Seed:        rapid.Uint64().Draw(t, "sim_seed"),
	}, clk)
	r, err := New(sim, cfg, clk)
	if err != nil {
		t.Fatal(err)
	}
	r.noDescend = planted
	return &world{ctx: context.Background(), cfg: cfg, clk: clk, sim: sim, r: r, oracle: model.NewRedirOracle(),
		live: map[dht.Key]*Member{}, ever: map[dht.Key]bool{}, planted: planted}
}

// drawKey draws an ID, often close to a known one so that members share
// deep intervals (RZ-4) and keys fall between near neighbours.
func (w *world) drawKey(t *rapid.T, label string) dht.Key {
	var k dht.Key
	if len(w.ids) > 0 && rapid.Bool().Draw(t, label+"_near") {
		k = rapid.SampledFrom(w.ids).Draw(t, label+"_base")
		bit := rapid.IntRange(0, 40).Draw(t, label+"_bit")
		k[bit/8] ^= 1 << (7 - bit%8)
		if rapid.Bool().Draw(t, label+"_low") {
			k[19] ^= byte(rapid.IntRange(1, 255).Draw(t, label+"_lowbits"))
		}
		return k
	}
	copy(k[:], rapid.SliceOfN(rapid.Byte(), 20, 20).Draw(t, label))
	return k
}

func (w *world) join(t *rapid.T) {
	id := w.drawKey(t, "member")
	if w.oracle.Has(id) {
		return
	}
	m, _, err := w.r.Register(w.ctx, "ns", id, []byte(id.String()[:8]))
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	w.live[id], w.ever[id] = m, true
	w.ids = append(w.ids, id)
	w.oracle.Join(id, nil)
}

func (w *world) depart(t *rapid.T, clean bool) {
	if len(w.live) == 0 {
		return
	}
	id := rapid.SampledFrom(w.oracle.Members()).Draw(t, "departing")
	if clean {
		if err := w.live[id].Leave(w.ctx); err != nil {
			t.Fatalf("leave: %v", err)
		}
	}
	delete(w.live, id)
	w.oracle.Leave(id)
}

// lookupAnywhere checks RZ-9 on a lookup from a drawn start level.
func (w *world) lookupAnywhere(t *rapid.T) {
	k := w.drawKey(t, "key")
	w.r.setHint("ns", rapid.IntRange(0, w.cfg.Levels-1).Draw(t, "hint"))
	res, err := w.r.Lookup(w.ctx, "ns", k)
	if res.Gets > w.cfg.Levels {
		t.Fatalf("RZ-9: %d gets in a tree of %d levels", res.Gets, w.cfg.Levels)
	}
	if err == nil && !w.ever[res.ID] {
		t.Fatalf("RZ-9: lookup of %s returned %s, which never registered", k, res.ID)
	}
}

// settle runs refresh rounds, every live member in a drawn order, until
// every departed member's records have expired and two rounds have passed
// (RZ-8's condition), then demands exact answers.
func (w *world) settle(t *rapid.T) {
	period := w.cfg.RefreshPeriod()
	rounds := int(w.cfg.TTL/period) + 3
	for range rounds {
		w.clk.Advance(period)
		ms := w.oracle.Members()
		for _, i := range rapid.Permutation(indexes(len(ms))).Draw(t, "refresh_order") {
			if _, err := w.live[ms[i]].Refresh(w.ctx); err != nil {
				t.Fatalf("refresh: %v", err)
			}
		}
	}
	w.clk.Advance(period) // the last round's delayed puts are visible
	w.checkExact(t)
}

func indexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// checkExact: RZ-8, lookups from every start level against the oracle.
func (w *world) checkExact(t *rapid.T) {
	keys := []dht.Key{{}, {0: 0xff, 19: 0xff}}
	for _, id := range w.oracle.Members() {
		keys = append(keys, id, sub(id, dht.Key{19: 1}), sub(id, dht.Key{19: 0xff}))
	}
	for range 8 {
		keys = append(keys, w.drawKey(t, "probe"))
	}
	for _, k := range keys {
		for l := range w.cfg.Levels {
			w.r.setHint("ns", l)
			want, ok := w.oracle.Successor(k)
			res, err := w.r.Successor(w.ctx, "ns", k)
			check(t, "successor", k, l, want, ok, res, err)
			w.r.setHint("ns", l)
			want, ok = w.oracle.Predecessor(k)
			res, err = w.r.Predecessor(w.ctx, "ns", k)
			check(t, "predecessor", k, l, want, ok, res, err)
		}
	}
	ms, err := w.r.Members(w.ctx, "ns")
	if err != nil {
		t.Fatalf("members: %v", err)
	}
	want := w.oracle.Members()
	if len(ms) != len(want) {
		t.Fatalf("RZ-8: Members lists %d, oracle %d", len(ms), len(want))
	}
	for i := range ms {
		if ms[i].ID != want[i] {
			t.Fatalf("RZ-8: Members[%d] = %s, oracle %s", i, ms[i].ID, want[i])
		}
	}
}

func check(t *rapid.T, what string, k dht.Key, level int, want dht.Key, ok bool, res Result, err error) {
	if !ok {
		if !errors.Is(err, ErrNoMembers) {
			t.Fatalf("RZ-5: %s of %x in an empty namespace: %v, %s", what, k, err, res.ID)
		}
		return
	}
	if err != nil || res.ID != want {
		t.Fatalf("RZ-8: %s of %s from level %d = %s (%v, %d gets, ended at level %d), oracle %s", what, k, level, res.ID, err, res.Gets, res.Level, want)
	}
}

// run is the state machine of one rapid case: members join, leave cleanly
// or vanish, refresh; DHT nodes churn (losing values); time passes; lookups
// check RZ-9 at any time and RZ-8 after settling.
func (w *world) run(t *rapid.T) {
	t.Repeat(map[string]func(*rapid.T){
		"join":        w.join,
		"join2":       w.join,
		"leave":       func(t *rapid.T) { w.depart(t, true) },
		"vanish":      func(t *rapid.T) { w.depart(t, false) },
		"churn_node":  func(*rapid.T) { w.sim.ChurnNode() },
		"lookup":      w.lookupAnywhere,
		"settle":      w.settle,
		"wait":        func(t *rapid.T) { w.clk.Advance(time.Duration(rapid.IntRange(1, 30).Draw(t, "wait_s")) * time.Second) },
		"refresh_one": w.refreshOne,
		"": func(t *rapid.T) {
			if len(w.live) != w.oracle.Len() {
				t.Fatalf("harness: %d handles, %d members", len(w.live), w.oracle.Len())
			}
		},
	})
	w.settle(t)
}

func (w *world) refreshOne(t *rapid.T) {
	if len(w.live) == 0 {
		return
	}
	id := rapid.SampledFrom(w.oracle.Members()).Draw(t, "refreshing")
	if _, err := w.live[id].Refresh(w.ctx); err != nil {
		t.Fatalf("refresh: %v", err)
	}
}

// TestReDiRMatchesOracle: rapid draws the tree's shape, the simulated DHT
// (nodes, replicas, put delays) and a schedule of member joins, clean and
// unclean departures, refreshes, DHT node churn (values lost) and waits;
// lookups during churn return only registered members within L gets
// (RZ-9), and after the settling of RZ-8 every successor, predecessor
// (from every start level, RZ-6) and the member list (RZ-2) equal the
// oracle's: which holds only if registrations place records up (RZ-3) and
// down (RZ-4) the tree and refreshes restore what the DHT lost (RZ-7).
func TestReDiRMatchesOracle(t *testing.T) {
	seeded(t, "20050822")
	rapid.Check(t, func(t *rapid.T) { newWorld(t, false).run(t) })
}

// TestNegativeControlLookupNeverDescends: a lookup that never goes down a
// level (the planted bug) answers members its node lists instead of
// closer ones below; the oracle test must catch it.
func TestNegativeControlLookupNeverDescends(t *testing.T) {
	seeded(t, "20050822")
	f := flag.Lookup("rapid.nofailfile")
	old := f.Value.String()
	_ = flag.Set("rapid.nofailfile", "true")
	t.Cleanup(func() { _ = flag.Set("rapid.nofailfile", old) })
	rec := &rapidtest.Recorder{TB: t}
	rapid.Check(rec, func(t *rapid.T) { newWorld(t, true).run(t) })
	if !rec.Failed() {
		t.Fatal("the oracle test did not catch a lookup that never descends")
	}
	t.Logf("caught: %s", rec.FirstLine())
}
