package model_test

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/model"
)

// The model of the replicated DHT (spec/SPEC.md section 13): what one get
// must and may return from the logical state (RD-3) that a history's
// writes leave, one rule at a time, and the properties of the join
// (RD-3, RD-4) on random writes.

var rcfg = model.DefaultReplicatedConfig()

var rkey = dht.Key{19: 7}

// sec is an instant of the history's clock, in seconds.
func sec(s float64) int64 { return int64(s * float64(time.Second)) }

// item names an item of rkey: a plain put's value, or a removable one's
// with its secret.
func item(value string, secret ...string) dht.ItemID {
	id := dht.ItemID{Key: rkey, ValueHash: dht.SHA1([]byte(value))}
	if len(secret) > 0 {
		id.SecretHash = dht.SHA1([]byte(secret[0]))
	}
	return id
}

func putW(id dht.ItemID, call, ret float64, ttl int64) model.Write {
	return model.Write{Kind: model.WritePut, ID: id, TTL: ttl, Call: sec(call), Return: sec(ret), Acked: true}
}

func rmW(id dht.ItemID, call, ret float64, ttl int64) model.Write {
	return model.Write{Kind: model.WriteRemove, ID: id, TTL: ttl, Call: sec(call), Return: sec(ret), Acked: true}
}

// unknown makes a write's outcome unknown (no answer).
func unknown(w model.Write) model.Write { w.Acked, w.Return = false, 0; return w }

// apply applies writes in order; each must leave exactly one state.
func apply(t *testing.T, ws ...model.Write) model.Logical {
	t.Helper()
	var s model.Logical
	for _, w := range ws {
		next := rcfg.Apply(s, w)
		if len(next) != 1 {
			t.Fatalf("%v of %x at %s leaves %d states, want 1", w.Kind, w.ID.ValueHash[:2], model.Seconds(w.Call), len(next))
		}
		s = next[0]
	}
	return s
}

// view is a get of rkey with the annotations of the faults given as
// (from, to) pairs in seconds; a negative from marks a change of the
// replica sets (a join, departure, crash or restart) at -from.
func view(call, ret float64, faults ...float64) model.GetView {
	var spans []model.Span
	for i := 0; i+1 < len(faults); i += 2 {
		f := model.Span{From: sec(faults[i]), To: sec(faults[i+1])}
		if faults[i] < 0 {
			f.From, f.Change = -f.From, true
		}
		spans = append(spans, f)
	}
	return model.GetView{Key: rkey, Call: sec(call), Return: sec(ret), Annotations: model.Annotate(spans, sec(call), sec(ret), rcfg)}
}

// fast makes g a fast get (RD-14).
func fast(g model.GetView) model.GetView { g.Fast = true; return g }

func mustRules(s model.Logical, g model.GetView) map[dht.ItemID]string {
	out := map[dht.ItemID]string{}
	for _, r := range rcfg.Must(s, g) {
		out[r.ID] = r.Rule
	}
	return out
}

// TestReplicatedMustMay judges one get against a hand-built state, one
// rule each: the items it must return (with the rule that requires them)
// and whether it may return one item (or the rule that forbids it).
func TestReplicatedMustMay(t *testing.T) {
	a, b := item("a"), item("b", "s")
	for _, c := range []struct {
		name    string
		writes  []model.Write
		get     model.GetView
		must    map[dht.ItemID]string
		may     dht.ItemID
		mayRule string // "" when it may be returned
	}{
		{"RD-7: an acknowledged put is read by a later stable get",
			[]model.Write{putW(a, 0, 1, 3600)}, view(2, 3), map[dht.ItemID]string{a: "RD-7"}, a, ""},
		{"RD-7: a put acknowledged at the instant the get is called is required",
			[]model.Write{putW(a, 0, 2, 3600)}, view(2, 3), map[dht.ItemID]string{a: "RD-7"}, a, ""},
		{"RD-7: a put acknowledged after the get was called is not required",
			[]model.Write{putW(a, 0, 2.5, 3600)}, view(2, 3), nil, a, ""},
		{"RD-7: a put called before a fault is not required during or after it",
			[]model.Write{putW(a, 0, 1, 3600)}, view(12, 13, 5, 10), nil, a, ""},
		{"RD-7: a put called after the last fault is required",
			[]model.Write{putW(a, 11, 11.5, 3600)}, view(12, 13, 5, 10), map[dht.ItemID]string{a: "RD-7"}, a, ""},
		{"RD-7: a put called before one join (W+R−n = 1 change) is required",
			[]model.Write{putW(a, 0, 1, 3600)}, view(12, 13, -5, 10), map[dht.ItemID]string{a: "RD-7"}, a, ""},
		{"RD-7: even while the change goes on",
			[]model.Write{putW(a, 0, 1, 3600)}, view(12, 13, -5, 100), map[dht.ItemID]string{a: "RD-7"}, a, ""},
		{"RD-7: not across two changes",
			[]model.Write{putW(a, 0, 1, 3600)}, view(12, 13, -5, 6, -8, 9), nil, a, ""},
		{"RD-7: but across one when the other came before the put",
			[]model.Write{putW(a, 7, 7.5, 3600)}, view(12, 13, -5, 6, -8, 9), map[dht.ItemID]string{a: "RD-7"}, a, ""},
		{"RD-7: not during a fault",
			[]model.Write{putW(a, 11, 11.5, 3600)}, view(12, 13, 12.5, 20), nil, a, ""},
		{"RD-7: an item that may expire during the get is not required (2Δ)",
			[]model.Write{putW(a, 0, 1, 4)}, view(1.5, 2.1), nil, a, ""},
		{"RD-7: one that lives past the return plus 2Δ is",
			[]model.Write{putW(a, 0, 1, 5)}, view(1.5, 2.9), map[dht.ItemID]string{a: "RD-7"}, a, ""},
		{"RD-7: an unknown outcome is never required by RD-7",
			[]model.Write{unknown(putW(a, 0, 1, 3600))}, view(5, 6), nil, a, ""},
		{"RD-8: a quiet get returns a put that took effect S before it, even an unknown one",
			[]model.Write{unknown(putW(a, 0, 1, 3600))}, view(60, 61), map[dht.ItemID]string{a: "RD-8"}, a, ""},
		{"RD-8: not before the unknown outcome's deadline plus S",
			[]model.Write{unknown(putW(a, 0, 1, 3600))}, view(45, 46), nil, a, ""},
		{"RD-8: a put made before a fault is required once the cluster was quiet for S",
			[]model.Write{putW(a, 0, 1, 3600)}, view(50, 51, 5, 15), map[dht.ItemID]string{a: "RD-8"}, a, ""},
		{"RD-8: not before S of quiet",
			[]model.Write{putW(a, 0, 1, 3600)}, view(40, 41, 5, 15), nil, a, ""},
		{"RD-8: not when a fault starts during the get",
			[]model.Write{putW(a, 0, 1, 3600)}, view(50, 52, 5, 15, 51, 60), nil, a, ""},
		{"RD-5: an item no put took effect on is a phantom",
			nil, view(2, 3), nil, a, "RD-5"},
		{"RD-5, RM-5, RM-7: a tombstone alone is never returned",
			[]model.Write{rmW(b, 0, 1, 3600)}, view(2, 3), nil, b, "RD-5"},
		{"RD-5: another key's item is not this get's",
			[]model.Write{putW(dht.ItemID{Key: dht.Key{1}, ValueHash: a.ValueHash}, 0, 1, 3600)}, view(2, 3), nil, a, "RD-5"},
		{"RD-6: a value may be returned up to 2Δ after its call plus TTL",
			[]model.Write{putW(a, 0, 1, 3)}, view(5, 6), nil, a, ""},
		{"RD-6: not later, whatever its return",
			[]model.Write{putW(a, 0, 4, 3)}, view(5.5, 6), nil, a, "RD-6"},
		{"RD-6, TTL-1: the TTL is clamped",
			[]model.Write{putW(a, 0, 1, 1<<40)}, view(float64(dht.MaxTTL)+3, float64(dht.MaxTTL)+4), nil, a, "RD-6"},
		{"RD-6, PUT-6: a later put extends the expiry",
			[]model.Write{putW(a, 0, 1, 3), putW(a, 2, 3, 3)}, view(6.5, 7), nil, a, ""},
		{"RD-8: a removed item may still come back before its tombstone settled",
			[]model.Write{putW(b, 0, 1, 3600), rmW(b, 2, 3, 3600)}, view(20, 21), nil, b, ""},
		{"RD-8, RM-2: and is not required",
			[]model.Write{putW(b, 0, 1, 3600), rmW(b, 2, 3, 3600)}, view(4, 5), nil, b, ""},
		{"RD-8: never once it settled",
			[]model.Write{putW(b, 0, 1, 3600), rmW(b, 2, 3, 3600)}, view(40, 41), nil, b, "RD-8"},
		{"RD-8: settling needs S of quiet after the rm",
			[]model.Write{putW(b, 0, 1, 3600), rmW(b, 2, 3, 3600)}, view(40, 41, 10, 20), nil, b, ""},
		{"RD-8: a settled tombstone holds through a later fault",
			[]model.Write{putW(b, 0, 1, 3600), rmW(b, 2, 3, 3600)}, view(60, 61, 40, 70), nil, b, "RD-8"},
		{"RD-8: an rm of unknown outcome settles once S passed after its deadline",
			[]model.Write{putW(b, 0, 1, 3600), unknown(rmW(b, 2, 3, 3600))}, view(60, 61), nil, b, "RD-8"},
		{"RD-8, TTL-3: an expired tombstone blocks nothing",
			[]model.Write{putW(b, 0, 1, 3600), rmW(b, 2, 3, 10)}, view(60, 61), nil, b, ""},
		{"PUT-4: a put that meets a live tombstone is covered by it",
			[]model.Write{rmW(b, 0, 1, 3600), putW(b, 2, 3, 3600)}, view(4, 5), nil, b, ""},
		{"PUT-4, RD-8: and stays removed once the tombstone settled",
			[]model.Write{rmW(b, 0, 1, 3600), putW(b, 2, 3, 3600)}, view(40, 41), nil, b, "RD-8"},
		{"TTL-3: a put after the tombstone expired stores the item again",
			[]model.Write{rmW(b, 0, 1, 10), putW(b, 100, 101, 3600)}, view(102, 103), map[dht.ItemID]string{b: "RD-7"}, b, ""},
		{"PUT-1: the same value under another secret is another item",
			[]model.Write{putW(item("b"), 0, 1, 3600), rmW(b, 2, 3, 3600)}, view(40, 41), map[dht.ItemID]string{item("b"): "RD-7"}, item("b"), ""},
		{"RD-14: a fast get need not return an acknowledged put (no RD-7)",
			[]model.Write{putW(a, 0, 1, 3600)}, fast(view(2, 3)), nil, a, ""},
		{"RD-14, RD-8: a quiet fast get returns a put that took effect S before it",
			[]model.Write{putW(a, 0, 1, 3600)}, fast(view(40, 41)), map[dht.ItemID]string{a: "RD-8"}, a, ""},
		{"RD-14, RD-8: a fast get may return a removed item before its tombstone settled",
			[]model.Write{putW(b, 0, 1, 3600), rmW(b, 2, 3, 3600)}, fast(view(20, 21)), nil, b, ""},
		{"RD-14, RD-8: never once it settled",
			[]model.Write{putW(b, 0, 1, 3600), rmW(b, 2, 3, 3600)}, fast(view(40, 41)), nil, b, "RD-8"},
		{"RD-14, RD-5: a fast get returns no phantom",
			nil, fast(view(2, 3)), nil, a, "RD-5"},
		{"RD-14, RD-6: nor an expired value",
			[]model.Write{putW(a, 0, 4, 3)}, fast(view(5.5, 6)), nil, a, "RD-6"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := apply(t, c.writes...)
			got := mustRules(s, c.get)
			if len(got) != len(c.must) {
				t.Errorf("must: %v, want %v (state: %s)", got, c.must, s.Describe(func(id dht.ItemID) string { return fmt.Sprintf("%x", id.ValueHash[:2]) }))
			}
			for id, rule := range c.must {
				if got[id] != rule {
					t.Errorf("must %x: rule %q, want %q", id.ValueHash[:2], got[id], rule)
				}
			}
			ok, rule := rcfg.May(s, c.get, c.may)
			if ok != (c.mayRule == "") || rule != c.mayRule {
				t.Errorf("may: %v %q, want forbidden by %q", ok, rule, c.mayRule)
			}
			for id := range got {
				if ok, rule := rcfg.May(s, c.get, id); !ok {
					t.Errorf("%x must be returned but may not (%s)", id.ValueHash[:2], rule)
				}
			}
		})
	}
}

// TestReplicatedPutMeetsTombstone: PUT-4 and TTL-3 under skew: a put that
// may have met the tombstone alive or expired leaves both states, one put
// that certainly met it alive or certainly after it expired leaves one.
func TestReplicatedPutMeetsTombstone(t *testing.T) {
	b := item("b", "s")
	rm := rmW(b, 0, 1, 10) // tombstone lives past 9 s, gone by 11 s
	for _, c := range []struct {
		name          string
		put           model.Write
		covered, back bool
	}{
		{"PUT-4: certainly while it lives", putW(b, 2, 3, 3600), true, false},
		{"TTL-3: certainly after it expired", putW(b, 12.5, 13, 3600), false, true},
		{"PUT-4, TTL-3: either", putW(b, 9, 10, 3600), true, true},
		{"PUT-4, TTL-3: an unknown outcome may take effect up to L later", unknown(putW(b, 2, 3, 3600)), true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var covered, back bool
			for _, s := range rcfg.Apply(apply(t, rm), c.put) {
				e, _ := s.Lookup(b)
				if !e.Put {
					t.Fatalf("the put is not in the state")
				}
				if e.Removed() {
					covered = true
				} else {
					back = true
				}
			}
			if covered != c.covered || back != c.back {
				t.Fatalf("covered=%v back=%v, want %v %v", covered, back, c.covered, c.back)
			}
		})
	}
	// RM-3: a tombstone that covers a longer-lived put may live as long.
	s := apply(t, putW(b, 0, 1, 3600), rmW(b, 2, 3, 10))
	if e, _ := s.Lookup(b); e.TombHi < sec(3600) {
		t.Fatalf("RM-3: the tombstone may live until %s, want at least the item's expiry", model.Seconds(e.TombHi))
	}
	if got := rcfg.Apply(s, putW(b, 100, 101, 3600)); len(got) != 2 {
		t.Fatalf("RM-3: a put at 100 s may meet the extended tombstone or not: %d states, want 2", len(got))
	}
}

// TestAnnotate: the annotations of a get from the faults of its history
// (RD-7's StableSince, RD-8's Quiet and SettledBefore).
func TestAnnotate(t *testing.T) {
	for _, c := range []struct {
		name          string
		call, ret     float64
		faults        []float64
		stable        int64
		quiet         bool
		settledBefore int64
	}{
		{"no faults", 100, 101, nil, math.MinInt64, true, sec(100)},
		{"an old fault", 100, 101, []float64{10, 20}, sec(20), true, sec(100)},
		{"a fault within S before the call", 100, 101, []float64{60, 80}, sec(80), false, sec(60)},
		{"a fault ending S before the call", 100, 101, []float64{60, 70}, sec(70), true, sec(100)},
		{"a fault during the get", 100, 101, []float64{100.5, 200}, sec(200), false, sec(100)},
		{"a fault that started after the get", 100, 101, []float64{101, 200}, math.MinInt64, true, sec(100)},
		{"on at the call", 100, 101, []float64{90, 150}, sec(150), false, sec(90)},
		{"two faults", 100, 101, []float64{10, 50, 60, 95}, sec(95), false, sec(10)},
		{"two faults with a settled gap", 100, 101, []float64{10, 20, 60, 95}, sec(95), false, sec(60)},
		{"RD-7 tolerates one change", 100, 101, []float64{-60, 95}, math.MinInt64, false, sec(60)},
		{"but not two", 100, 101, []float64{-60, 95, -10, 20}, sec(20), false, sec(60)},
		{"nor a change and another fault", 100, 101, []float64{-60, 95, 10, 20}, sec(20), false, sec(60)},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := view(c.call, c.ret, c.faults...)
			if g.StableSince != c.stable || g.Quiet != c.quiet || g.SettledBefore != c.settledBefore {
				t.Fatalf("got stable %s quiet %v settled %s, want %s %v %s", model.Seconds(g.StableSince), g.Quiet, model.Seconds(g.SettledBefore),
					model.Seconds(c.stable), c.quiet, model.Seconds(c.settledBefore))
			}
		})
	}
}

// writeGen draws writes on two keys and six items.
type writeGen struct {
	longRemoves bool // every rm's tombstone outlives every write's deadline
}

func (g writeGen) draw(t *rapid.T, label string) model.Write {
	keys := []dht.Key{rkey, {19: 8}}
	w := model.Write{ID: dht.ItemID{
		Key:       keys[rapid.IntRange(0, 1).Draw(t, label+"_key")],
		ValueHash: dht.SHA1([]byte{byte(rapid.IntRange(0, 2).Draw(t, label+"_value"))}),
	}}
	if rapid.Bool().Draw(t, label+"_removable") {
		w.ID.SecretHash = dht.SHA1([]byte("s"))
	}
	w.Kind = model.WritePut
	if rapid.IntRange(0, 2).Draw(t, label+"_kind") == 0 {
		w.Kind = model.WriteRemove
	}
	w.TTL = rapid.SampledFrom([]int64{1, 5, 30, 3600}).Draw(t, label+"_ttl")
	if g.longRemoves && w.Kind == model.WriteRemove {
		w.TTL = 3600
	}
	w.Call = int64(rapid.IntRange(0, 100_000).Draw(t, label+"_call_ms")) * int64(time.Millisecond)
	w.Return = w.Call + int64(rapid.IntRange(0, 3000).Draw(t, label+"_duration_ms"))*int64(time.Millisecond)
	w.Acked = rapid.IntRange(0, 3).Draw(t, label+"_unknown") != 0
	return w
}

func (g writeGen) drawAll(t *rapid.T) []model.Write {
	ws := make([]model.Write, rapid.IntRange(0, 12).Draw(t, "writes"))
	for i := range ws {
		ws[i] = g.draw(t, fmt.Sprintf("w%d", i))
	}
	return ws
}

// applyPicking applies writes in order, picking one state where a write
// leaves several.
func applyPicking(t *rapid.T, ws []model.Write) model.Logical {
	var s model.Logical
	for i, w := range ws {
		next := rcfg.Apply(s, w)
		if len(next) == 0 {
			t.Fatalf("write %d leaves no state", i)
		}
		s = next[rapid.IntRange(0, len(next)-1).Draw(t, fmt.Sprintf("branch%d", i))]
	}
	return s
}

func drawView(t *rapid.T) model.GetView {
	call := int64(rapid.IntRange(0, 200_000).Draw(t, "get_call_ms")) * int64(time.Millisecond)
	ret := call + int64(rapid.IntRange(0, 5000).Draw(t, "get_duration_ms"))*int64(time.Millisecond)
	var faults []model.Span
	for i := range rapid.IntRange(0, 2).Draw(t, "faults") {
		from := int64(rapid.IntRange(0, 200_000).Draw(t, fmt.Sprintf("fault%d_ms", i))) * int64(time.Millisecond)
		faults = append(faults, model.Span{From: from, To: from + int64(rapid.IntRange(1, 60_000).Draw(t, fmt.Sprintf("fault%d_len_ms", i)))*int64(time.Millisecond),
			Change: rapid.Bool().Draw(t, fmt.Sprintf("fault%d_change", i))})
	}
	return model.GetView{Key: rkey, Call: call, Return: ret, Annotations: model.Annotate(faults, call, ret, rcfg)}
}

// TestReplicatedMustWithinMay: on any state and any get, every item the
// get must return it may return (RD-7 and RD-8 never ask for what RD-5,
// RD-6 or RD-8 forbid).
func TestReplicatedMustWithinMay(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := applyPicking(t, writeGen{}.drawAll(t))
		g := drawView(t)
		for _, r := range rcfg.Must(s, g) {
			if ok, rule := rcfg.May(s, g, r.ID); !ok {
				t.Fatalf("%s requires %x, which %s forbids", r.Rule, r.ID.ValueHash[:2], rule)
			}
		}
	})
}

// TestReplicatedJoinOrderIndependent: RD-3: while every tombstone outlives
// every write (so no put can find one expired, TTL-3), a write has one
// effect and the same writes in any order join to the same state.
func TestReplicatedJoinOrderIndependent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ws := writeGen{longRemoves: true}.drawAll(t)
		perm := rapid.Permutation(ws).Draw(t, "order")
		a, b := applyOne(t, ws), applyOne(t, perm)
		if !a.Equal(b) {
			t.Fatalf("RD-3: two orders of the same writes join to different states:\n%s\n%s", describe(a), describe(b))
		}
	})
}

func applyOne(t *rapid.T, ws []model.Write) model.Logical {
	var s model.Logical
	for i, w := range ws {
		next := rcfg.Apply(s, w)
		if len(next) != 1 {
			t.Fatalf("write %d leaves %d states, want 1", i, len(next))
		}
		s = next[0]
	}
	return s
}

func describe(s model.Logical) string {
	return s.Describe(func(id dht.ItemID) string {
		return fmt.Sprintf("%x/%x/%x", id.Key[19], id.SecretHash[:1], id.ValueHash[:2])
	})
}

// TestReplicatedWriteTwice: RD-4: a write applied again leaves the state
// it left (whichever state it left), and a retry of it (the same item,
// called later) changes which items are stored or removed in no way, only
// their expiry bounds, which it can only push later.
func TestReplicatedWriteTwice(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		g := writeGen{longRemoves: true}
		s := applyPicking(t, g.drawAll(t))
		w := g.draw(t, "again")
		for _, s1 := range rcfg.Apply(s, w) {
			if !slices.ContainsFunc(rcfg.Apply(s1, w), s1.Equal) {
				t.Fatalf("RD-4: applying %v twice is not applying it once", w.Kind)
			}
		}
		if len(rcfg.Apply(s, w)) != 1 {
			t.Fatalf("a write leaves several states while tombstones outlive every write")
		}
		once := rcfg.Apply(s, w)[0]
		retry := w
		later := int64(rapid.IntRange(0, 20_000).Draw(t, "retry_after_ms")) * int64(time.Millisecond)
		retry.Call, retry.Return = w.Call+later, w.Return+later
		next := rcfg.Apply(once, retry)
		if len(next) != 1 {
			t.Fatalf("a retry leaves %d states", len(next))
		}
		a, b := once.Entries(), next[0].Entries()
		if len(a) != len(b) {
			t.Fatalf("RD-4: a retry changed the items: %d entries, then %d", len(a), len(b))
		}
		for i := range a {
			if a[i].ID != b[i].ID || a[i].Put != b[i].Put || a[i].Removed() != b[i].Removed() {
				t.Fatalf("RD-4: a retry changed item %x: %+v, then %+v", a[i].ID.ValueHash[:2], a[i], b[i])
			}
			if b[i].Hi < a[i].Hi || b[i].TombHi < a[i].TombHi {
				t.Fatalf("RD-4: a retry moved an expiry bound earlier")
			}
		}
	})
}
