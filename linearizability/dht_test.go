package linearizability

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/model"
)

// Tests of CheckDHT (spec/SPEC.md section 13): hand-written histories
// that keep the rules and must pass; negative controls, histories that
// embody a planted bug and must be caught every time; histories drawn from
// an ideal replicated DHT (the model itself) that must pass, and must be
// caught once one get is changed; and the agreement of CheckEventual, the
// set checker, with CheckDHT on the hand-written histories.

var dkey = dht.Key{19: 1}

// dat is an instant of the history's clock, in seconds since t0.
func dat(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// dput is an acknowledged put_removable of value v with secret "s".
func dput(v string, call, ret float64, ttl int64) Event {
	return Event{Client: 1, Kind: OpPut, Key: dkey, Value: []byte(v), SecretHash: dht.SHA1([]byte("s")), TTL: ttl, Call: dat(call), Return: dat(ret)}
}

// drm is an acknowledged rm of value v with secret "s", ttl one hour.
func drm(v string, call, ret float64) Event {
	return Event{Client: 2, Kind: OpRemove, Key: dkey, Value: []byte(v), SecretHash: dht.SHA1([]byte("s")), TTL: 3600, Call: dat(call), Return: dat(ret)}
}

// dget is a get (paged or not) that returned vals.
func dget(call, ret float64, vals ...string) Event {
	e := Event{Client: 3, Kind: OpGet, Key: dkey, Call: dat(call), Return: dat(ret)}
	for _, v := range vals {
		e.Values = append(e.Values, dht.Value{Value: []byte(v), SecretHash: dht.SHA1([]byte("s"))})
	}
	return e
}

// dfast is a fast get (RD-14) that returned vals.
func dfast(call, ret float64, vals ...string) Event {
	e := dget(call, ret, vals...)
	e.Fast = true
	return e
}

// noAnswer makes a write's outcome unknown: the client gave up.
func noAnswer(e Event) Event { e.Unknown, e.Return = true, time.Time{}; return e }

func withStatus(e Event, s dht.Status) Event { e.Status = s; return e }

func withTTL(e Event, ttl int64) Event { e.TTL = ttl; return e }

func faultsAt(pairs ...float64) []Interval {
	var out []Interval
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, Interval{From: dat(pairs[i]), To: dat(pairs[i+1])})
	}
	return out
}

var dcfg = DHTConfig{Model: model.DefaultReplicatedConfig(), Timeout: 20 * time.Second}

// dhtCase is a hand-written history with its faults and changes of the
// replica sets. want is the rule of the violation
// CheckDHT must report ("" for none). final is the start of the final read
// phase CheckEventual judges lost puts in (0: none). eventualMisses, when
// set, says why CheckEventual does not judge what CheckDHT judges here; it
// must then find nothing.
type dhtCase struct {
	name           string
	h              History
	faults         []Interval
	changes        []Interval // DHTConfig.Changes
	final          float64
	want           string
	eventualMisses string
}

// dhtCorrect keep the rules of section 13.
var dhtCorrect = []dhtCase{
	{name: "RD-7: an acknowledged put is read by a later get",
		h: History{dput("a", 0, 1, 3600), dget(2, 3, "a")}},
	{name: "RD-7: a put called before the get was called and acknowledged at its call is read",
		h: History{dput("a", 0, 2, 3600), dget(2, 3, "a")}},
	{name: "RD-5: a put that overlaps the get may be seen",
		h: History{dput("a", 2, 9, 3600), dget(3, 4, "a")}},
	{name: "RD-7: and may be missed",
		h: History{dput("a", 2, 9, 3600), dget(3, 4)}},
	{name: "RD-6: a value may be returned up to 2Δ after its call plus TTL",
		h: History{dput("a", 0, 1, 10), dget(11.5, 12, "a")}},
	{name: "RD-7: an item that may expire during the get may be missed",
		h: History{dput("a", 0, 1, 10), dget(8.5, 9)}},
	{name: "RD-8: a removed item may come back until its tombstone settled",
		h: History{dput("a", 0, 1, 3600), drm("a", 2, 3), dget(10, 11, "a")}},
	{name: "RD-8, RM-2: a quiet get after the rm settled returns nothing",
		h: History{dput("a", 0, 1, 3600), drm("a", 2, 3), dget(40, 41)}},
	{name: "RD-3: a put of unknown outcome may have taken effect",
		h: History{noAnswer(dput("a", 0, 1, 3600)), dget(5, 6, "a"), dget(7, 8)}},
	{name: "RD-3, RD-8: or never",
		h: History{noAnswer(dput("a", 0, 1, 3600)), dget(60, 61), dget(70, 71)}},
	{name: "RD-3: a put answered 2 may have taken effect",
		h: History{withStatus(dput("a", 0, 1, 3600), dht.StatusTryAgain), dget(3, 4, "a")}},
	{name: "RD-7: a get during a fault may miss a put acknowledged before it",
		h: History{dput("a", 0, 1, 3600), dget(10, 11)}, faults: faultsAt(1.5, 20)},
	{name: "RD-7: a get right after one join (W+R−n = 1) reads a put acknowledged before it",
		h: History{dput("a", 0, 1, 3600), dget(6.5, 7, "a")}, changes: faultsAt(5, 6)},
	{name: "RD-7: after two changes it may miss it",
		h: History{dput("a", 0, 1, 3600), dget(9, 10)}, changes: faultsAt(5, 6, 7, 8)},
	{name: "RD-9: a paged get is one get from its first call to its last return",
		h: History{dput("a", 0, 1, 3600), dput("b", 1, 2, 3600), dput("c", 2, 3, 3600), dget(5, 9, "a", "b", "c")}},
	{name: "RD-4, PUT-6: a retried put extends the expiry",
		h: History{dput("a", 0, 1, 10), dput("a", 5, 6, 10), dget(16, 17, "a")}},
	{name: "RD-8, RD-11: an item put before a churn period is read once the cluster was quiet for S",
		h: History{dput("a", 0, 1, 3600), dget(60, 61, "a")}, faults: faultsAt(5, 20), final: 55},
	{name: "TTL-3: an expired tombstone blocks nothing (RM-7: the rm came first)",
		h: History{withTTL(drm("a", 0, 1), 10), dput("a", 100, 101, 3600), dget(140, 141, "a")}},
	{name: "PUT-1: the same value under another secret is another item",
		h: History{dput("a", 0, 1, 3600), drm("a", 2, 3), {Client: 1, Kind: OpPut, Key: dkey, Value: []byte("a"), TTL: 3600, Call: dat(4), Return: dat(5)},
			{Client: 3, Kind: OpGet, Key: dkey, Call: dat(40), Return: dat(41), Values: []dht.Value{{Value: []byte("a")}}}}},
	{name: "RD-14: a fast get may miss a put acknowledged before it (the get of the RD-7 negative control, fast)",
		h: History{dput("a", 0, 1, 3600), dfast(2, 3)}},
	{name: "RD-14: and a later default get reads it all the same",
		h: History{dput("a", 0, 1, 3600), dfast(2, 3), dget(3, 4, "a")}},
	{name: "RD-14: a fast get may return an item whose rm was acknowledged, until it settled",
		h: History{dput("a", 0, 1, 3600), drm("a", 2, 3), dfast(4, 5, "a")}},
	{name: "RD-14, RD-8: a quiet fast get after the put settled reads it",
		h: History{dput("a", 0, 1, 3600), dfast(40, 41, "a")}, final: 40},
	{name: "RD-14, RD-9: a paged fast get is one get from its first call to its last return",
		h: History{dput("a", 0, 1, 3600), dput("b", 1, 2, 3600), dfast(2.5, 4, "b"), dfast(40, 42, "a", "b")}},
}

// dhtBugs are the negative controls: each embodies a planted bug.
var dhtBugs = []dhtCase{
	{name: "RD-7: a stable get misses an acknowledged put (acknowledged before W replicas, or a get answered by one replica)",
		h: History{dput("a", 0, 1, 3600), dget(2, 3)}, want: "RD-7",
		eventualMisses: "it judges lost puts in the final reads only"},
	{name: "RD-7: a get right after one join misses a put acknowledged before it (the newcomer answered alone)",
		h: History{dput("a", 0, 1, 3600), dget(6.5, 7)}, changes: faultsAt(5, 6), final: 6.5, want: "RD-7"},
	{name: "RD-7: the same get as a final read",
		h: History{dput("a", 0, 1, 3600), dget(2, 3)}, final: 2, want: "RD-7"},
	{name: "RD-8: a quiet get returns an item whose rm was acknowledged and settled (tombstones not copied, no anti-entropy)",
		h: History{dput("a", 0, 1, 3600), drm("a", 2, 3), dget(40, 41, "a")}, want: "RD-8"},
	{name: "RD-8: an item whose tombstone settled comes back during a later fault",
		h: History{dput("a", 0, 1, 3600), drm("a", 2, 3), dget(60, 61, "a")}, faults: faultsAt(40, 70), want: "RD-8",
		eventualMisses: "it judges resurrection only when no fault is on at the get"},
	{name: "PUT-4, RD-8: a put that meets a live tombstone brings the item back",
		h: History{dput("a", 0, 1, 3600), drm("a", 2, 3), dput("a", 5, 6, 3600), dget(50, 51, "a")}, want: "RD-8",
		eventualMisses: "it excuses an item put again after its rm, whatever the tombstone"},
	{name: "RD-6: a value returned long after its expiry plus 2Δ (expiry by a skewed clock)",
		h: History{dput("a", 0, 1, 10), dget(20, 21, "a")}, want: "RD-6"},
	{name: "RD-6: the expiry is fixed at the call, not at the acknowledgement",
		h: History{dput("a", 0, 5, 10), dget(13.5, 14, "a")}, want: "RD-6",
		eventualMisses: "it bounds an expiry by the put's return plus its TTL, the rule before RD-6 fixed it at the call"},
	{name: "RD-7, RD-9: a paged get skips an acknowledged live item (a broken placemark)",
		h: History{dput("a", 0, 1, 3600), dput("b", 1, 2, 3600), dput("c", 2, 3, 3600), dget(5, 9, "a", "c")}, final: 5, want: "RD-7"},
	{name: "RD-9: a paged get returns an item twice",
		h: History{dput("a", 0, 1, 3600), dput("b", 1, 2, 3600), dput("c", 2, 3, 3600), dget(5, 9, "a", "b", "b", "c")}, want: "RD-9",
		eventualMisses: "it has no rule against repeats (the harness's checkNoRepeats has)"},
	{name: "RD-5: a phantom value",
		h: History{dput("a", 0, 1, 3600), dget(2, 3, "a", "zzz")}, want: "RD-5"},
	{name: "RD-5: a value read before its put was called",
		h: History{dget(2, 3, "a"), dput("a", 3, 4, 3600)}, want: "RD-5"},
	{name: "RD-8, RD-11: a quiet get misses an item put before a churn period (no hand-off)",
		h: History{dput("a", 0, 1, 3600), dget(60, 61)}, faults: faultsAt(5, 20), final: 55, want: "RD-8"},
	{name: "RD-8: a put of unknown outcome one get saw is missed by a quiet get S after its deadline",
		h: History{noAnswer(dput("a", 0, 1, 3600)), dget(5, 6, "a"), dget(60, 61)}, want: "RD-3",
		eventualMisses: "it never requires a put of unknown outcome"},
	{name: "RD-14, RD-8: a fast get returns an item whose rm was acknowledged and settled (a gateway's read cache)",
		h: History{dput("a", 0, 1, 3600), dfast(1.5, 2, "a"), drm("a", 2, 3), dfast(40, 41, "a")}, want: "RD-8"},
	{name: "RD-14, RD-8: it does so during a later fault",
		h: History{dput("a", 0, 1, 3600), drm("a", 2, 3), dfast(60, 61, "a")}, faults: faultsAt(40, 70), want: "RD-8",
		eventualMisses: "it judges resurrection only when no fault is on at the get"},
	{name: "RD-14, RD-5: a fast get returns a value never put",
		h: History{dput("a", 0, 1, 3600), dfast(2, 3, "a", "zzz")}, want: "RD-5"},
	{name: "RD-14, RD-6: a fast get returns an expired value",
		h: History{dput("a", 0, 1, 10), dfast(20, 21, "a")}, want: "RD-6"},
	{name: "RD-14, RD-8: a quiet fast get misses an item put S before it",
		h: History{dput("a", 0, 1, 3600), dfast(40, 41)}, final: 40, want: "RD-8"},
	{name: "RD-14, RD-9: a paged fast get returns an item twice",
		h: History{dput("a", 0, 1, 3600), dput("b", 1, 2, 3600), dfast(40, 42, "a", "b", "b")}, want: "RD-9",
		eventualMisses: "it has no rule against repeats (the harness's checkNoRepeats has)"},
}

func checkDHTCase(t *testing.T, c dhtCase) DHTResult {
	t.Helper()
	cfg := dcfg
	cfg.Changes = c.changes
	res, err := CheckDHT(c.h, c.faults, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestCheckDHTCorrect: histories that keep the rules of section 13 pass.
func TestCheckDHTCorrect(t *testing.T) {
	for _, c := range dhtCorrect {
		t.Run(c.name, func(t *testing.T) {
			res := checkDHTCase(t, c)
			if res.Verdict != VerdictOK || len(res.Violations) > 0 {
				t.Fatalf("false alarm: %s %v", res.Verdict, res.Violations)
			}
		})
	}
}

// TestCheckDHTCatchesBugs: every negative control is caught, by the rule
// it breaks.
func TestCheckDHTCatchesBugs(t *testing.T) {
	for _, c := range dhtBugs {
		t.Run(c.name, func(t *testing.T) {
			res := checkDHTCase(t, c)
			if res.Verdict != VerdictIllegal || len(res.Violations) == 0 {
				t.Fatalf("missed: %s", res.Verdict)
			}
			if res.Violations[0].Rule != c.want {
				t.Fatalf("got %v, want a violation of %s", res.Violations, c.want)
			}
			t.Logf("caught: %v", res.Violations[0])
		})
	}
}

// TestCheckDHTAgreesWithEventual: CheckEventual, the second opinion, finds
// a violation in a hand-written history iff CheckDHT does, except where it
// does not judge the property (eventualMisses says which, and it must then
// find nothing). CheckEventual's Skew is 2Δ (its bound is a single skew
// added to the expiry); its final reads start where the case says, or
// never.
func TestCheckDHTAgreesWithEventual(t *testing.T) {
	for _, c := range slices.Concat(dhtCorrect, dhtBugs) {
		t.Run(c.name, func(t *testing.T) {
			ecfg := EventualConfig{MaxTTL: dht.MaxTTL, Skew: 2 * dcfg.Model.Delta, Settle: dcfg.Model.Settle, Faults: slices.Concat(c.faults, c.changes),
				// Not zero: with no final reads CheckEventual takes the
				// expiry of a put of unknown outcome to be a day after
				// the zero time, and calls every value of it expired.
				FinalReads: dat(1e6)}
			if c.final > 0 {
				ecfg.FinalReads = dat(c.final)
			}
			ev := CheckEventual(c.h, ecfg)
			res := checkDHTCase(t, c)
			switch {
			case c.eventualMisses != "":
				if len(ev) > 0 || len(res.Violations) == 0 {
					t.Fatalf("documented as judged by CheckDHT alone (%s), but CheckEventual finds %v and CheckDHT %v", c.eventualMisses, ev, res.Violations)
				}
			case (len(ev) > 0) != (len(res.Violations) > 0):
				t.Fatalf("disagreement: CheckEventual finds %v, CheckDHT %v", ev, res.Violations)
			}
		})
	}
}

// TestCheckDHTVisualization: the visualization is written when asked.
func TestCheckDHTVisualization(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dht.html")
	cfg := dcfg
	cfg.VisualizePath = path
	c := dhtBugs[slices.IndexFunc(dhtBugs, func(c dhtCase) bool { return c.want == "RD-8" })]
	res, err := CheckDHT(c.h, faultsAt(100, 101), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != VerdictIllegal {
		t.Fatalf("verdict %s", res.Verdict)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "RD-8") {
		t.Fatalf("the visualization does not show the violation")
	}
}

// TestCheckDHTUndecided: a search that runs out of time is reported as
// undecided, not as a verdict.
func TestCheckDHTUndecided(t *testing.T) {
	// Many writes of unknown outcome on one item, all overlapping, and a
	// get that no order explains but whose fault no single get shows:
	// porcupine must try every order.
	var h History
	for i := range 14 {
		h = append(h, noAnswer(dput(fmt.Sprintf("v%d", i), float64(i)*0.01, 0, 3600)))
	}
	for i := range 14 {
		h = append(h, dget(1+float64(i)*0.01, 30, fmt.Sprintf("v%d", i)))
	}
	h = append(h, dget(60, 61))
	cfg := dcfg
	cfg.Timeout = time.Millisecond
	res, err := CheckDHT(h, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != VerdictUnknown || len(res.Undecided) != 1 {
		t.Skipf("the search ended within a millisecond: %s", res.Verdict)
	}
}

// The ideal replicated DHT: the model itself, applied at random instants.
// Every write takes effect (or, with an unknown outcome, perhaps not) at an
// instant inside its interval; every get is answered at an instant inside
// its interval with what Must requires plus a random part of what May
// allows, from the logical state of that instant. CheckDHT must accept
// every such history.

type idealItem struct {
	key    dht.Key
	value  string
	secret string // "" for a plain put
}

func (it idealItem) id() dht.ItemID {
	id := dht.ItemID{Key: it.key, ValueHash: dht.SHA1([]byte(it.value))}
	if it.secret != "" {
		id.SecretHash = dht.SHA1([]byte(it.secret))
	}
	return id
}

var idealItems = func() []idealItem {
	var out []idealItem
	for _, k := range []dht.Key{{19: 1}, {19: 2}} {
		for _, v := range []string{"a", "b", "c"} {
			out = append(out, idealItem{k, v, ""}, idealItem{k, v, "s"})
		}
	}
	return out
}()

// idealHistory is a drawn history with the ideal system's answers, its
// faults, and its changes of replica sets (cfg.Changes), also as the
// model's spans.
type idealHistory struct {
	h       History
	faults  []Interval
	changes []Interval
	spans   []model.Span
}

// check judges the history with CheckDHT.
func (ih idealHistory) check() (DHTResult, error) {
	cfg := dcfg
	cfg.Changes = ih.changes
	return CheckDHT(ih.h, ih.faults, cfg)
}

func (ih idealHistory) dump() string { return dumpHistory(ih.h, slices.Concat(ih.faults, ih.changes)) }

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// drawIdeal draws a history of the ideal replicated DHT.
func drawIdeal(t *rapid.T, c model.ReplicatedConfig, maxOps int) idealHistory {
	var ih idealHistory
	ns := func(tm time.Time) int64 { return int64(tm.Sub(t0)) }
	for i := range rapid.IntRange(0, 3).Draw(t, "faults") {
		from := dat(0).Add(ms(rapid.IntRange(0, 150_000).Draw(t, fmt.Sprintf("fault%d_from_ms", i))))
		to := from.Add(ms(rapid.IntRange(1, 40_000).Draw(t, fmt.Sprintf("fault%d_ms", i))))
		change := rapid.Bool().Draw(t, fmt.Sprintf("fault%d_change", i))
		if change {
			ih.changes = append(ih.changes, Interval{From: from, To: to})
		} else {
			ih.faults = append(ih.faults, Interval{From: from, To: to})
		}
		ih.spans = append(ih.spans, model.Span{From: ns(from), To: ns(to), Change: change})
	}
	// An event happens at its point, an instant strictly inside its
	// interval; a write of unknown outcome that never took effect has none.
	type point struct {
		at    int64
		event int
	}
	var points []point
	var writes []model.Write // by event; zero for gets
	call := dat(0)
	for i := range rapid.IntRange(1, maxOps).Draw(t, "ops") {
		call = call.Add(ms(rapid.IntRange(1, 8000).Draw(t, fmt.Sprintf("op%d_gap_ms", i))))
		it := rapid.SampledFrom(idealItems).Draw(t, fmt.Sprintf("op%d_item", i))
		kind := rapid.IntRange(0, 9).Draw(t, fmt.Sprintf("op%d_kind", i))
		dur := ms(rapid.IntRange(1, 4000).Draw(t, fmt.Sprintf("op%d_ms", i)))
		e := Event{Client: i, Key: it.key, Call: call, Return: call.Add(dur)}
		inside := func(lo, hi int64) int64 { // strictly inside (lo, hi)
			return lo + 1 + rapid.Int64Range(0, max(hi-lo-2, 0)).Draw(t, fmt.Sprintf("op%d_point", i))
		}
		switch {
		case kind < 4 || (kind < 6 && it.secret == ""): // a put
			e.Kind, e.Value, e.TTL = OpPut, []byte(it.value), rapid.SampledFrom([]int64{2, 10, 30, 3600}).Draw(t, fmt.Sprintf("op%d_ttl", i))
			if it.secret != "" {
				e.SecretHash = dht.SHA1([]byte(it.secret))
			}
		case kind < 6: // an rm
			e.Kind, e.Value, e.SecretHash = OpRemove, []byte(it.value), dht.SHA1([]byte(it.secret))
			e.TTL = rapid.SampledFrom([]int64{10, 3600}).Draw(t, fmt.Sprintf("op%d_ttl", i))
		default:
			e.Kind = OpGet
			e.Return = call.Add(dur * 2) // a get may be paged
			points = append(points, point{inside(ns(e.Call), ns(e.Return)), len(ih.h)})
			ih.h = append(ih.h, e)
			writes = append(writes, model.Write{})
			continue
		}
		w := model.Write{Kind: model.WritePut, ID: dht.ItemID{Key: e.Key, SecretHash: e.SecretHash, ValueHash: dht.SHA1(e.Value)}, TTL: e.TTL, Call: ns(e.Call), Return: ns(e.Return), Acked: true}
		if e.Kind == OpRemove {
			w.Kind = model.WriteRemove
		}
		switch rapid.IntRange(0, 9).Draw(t, fmt.Sprintf("op%d_outcome", i)) {
		case 7:
			e.Status, w.Acked = dht.StatusTryAgain, false
		case 8:
			e.Unknown, w.Acked = true, false
		case 9:
			e.Unknown, e.Return, w.Acked, w.Return = true, time.Time{}, false, 0
		}
		switch {
		case w.Acked:
			points = append(points, point{inside(w.Call, w.Return), len(ih.h)})
		case rapid.Bool().Draw(t, fmt.Sprintf("op%d_took_effect", i)):
			points = append(points, point{inside(w.Call, c.Deadline(w)), len(ih.h)})
		}
		ih.h = append(ih.h, e)
		writes = append(writes, w)
	}
	slices.SortStableFunc(points, func(a, b point) int { return cmp.Compare(a.at, b.at) })
	var s model.Logical
	for _, p := range points {
		e := &ih.h[p.event]
		if e.Kind != OpGet {
			next := c.Apply(s, writes[p.event])
			s = next[rapid.IntRange(0, len(next)-1).Draw(t, fmt.Sprintf("op%d_branch", p.event))]
			continue
		}
		g := model.GetView{Key: e.Key, Call: ns(e.Call), Return: ns(e.Return)}
		g.Annotations = model.Annotate(ih.spans, g.Call, g.Return, c)
		must := map[dht.ItemID]bool{}
		for _, r := range c.Must(s, g) {
			must[r.ID] = true
			if ok, rule := c.May(s, g, r.ID); !ok {
				t.Fatalf("the model requires %x (%s) and forbids it (%s)", r.ID.ValueHash[:2], r.Rule, rule)
			}
		}
		for _, it := range idealItems {
			id := it.id()
			if ok, _ := c.May(s, g, id); !ok {
				continue
			}
			if must[id] || rapid.Bool().Draw(t, fmt.Sprintf("op%d_returns_%s%s", p.event, it.value, it.secret)) {
				e.Values = append(e.Values, dht.Value{Value: []byte(it.value), SecretHash: id.SecretHash})
			}
		}
	}
	return ih
}

func dumpHistory(h History, faults []Interval) string {
	var sb strings.Builder
	for _, f := range faults {
		fmt.Fprintf(&sb, "  fault %s..%s\n", seconds(int64(f.From.Sub(t0))), seconds(int64(f.To.Sub(t0))))
	}
	for i, e := range h {
		ret := "-"
		if !e.Return.IsZero() {
			ret = seconds(int64(e.Return.Sub(t0)))
		}
		var vals []string
		for _, v := range e.Values {
			vals = append(vals, string(v.Value)+map[bool]string{true: "", false: "·s"}[v.SecretHash.IsZero()])
		}
		fmt.Fprintf(&sb, "  #%d key %x kind %d %q sh %x ttl %d [%s, %s] unknown=%v status=%v values=%v\n",
			i, e.Key[19], e.Kind, e.Value, e.SecretHash[:1], e.TTL, seconds(int64(e.Call.Sub(t0))), ret, e.Unknown, e.Status, vals)
	}
	return sb.String()
}

// TestCheckDHTAcceptsIdealHistories: every history of the ideal
// replicated DHT is judged OK (RD-3..RD-9 as the model states them): no
// false alarm, and the second pass never rejects what porcupine accepts.
func TestCheckDHTAcceptsIdealHistories(t *testing.T) {
	fixRapidSeed(t, "20261201")
	rapid.Check(t, func(t *rapid.T) {
		ih := drawIdeal(t, dcfg.Model, 25)
		res, err := ih.check()
		if err != nil {
			t.Fatalf("%v\n%s", err, ih.dump())
		}
		if res.Verdict != VerdictOK {
			t.Fatalf("an ideal history judged %s: %v\n%s", res.Verdict, res.Violations, ih.dump())
		}
	})
}

// certainMisses returns the items the get at event i must return whatever
// the order of the writes (RD-7 and RD-8 on acknowledged puts that
// returned before the get, of items no rm was called for before the get
// returned), and certainPhantoms the values it may return in no order:
// ones never put before it returned (RD-5) and ones certainly expired
// (RD-6). They are the test's own statement of the rules, apart from the
// checker's.
func certainMisses(h History, spans []model.Span, c model.ReplicatedConfig, i int) []dht.Value {
	g := h[i]
	a := model.Annotate(spans, int64(g.Call.Sub(t0)), int64(g.Return.Sub(t0)), c)
	var out []dht.Value
	for _, p := range h {
		if p.Kind != OpPut || p.Key != g.Key || p.Unknown || p.Return.IsZero() || p.Status != dht.StatusOK {
			continue
		}
		ttl := time.Duration(min(p.TTL, c.MaxTTL)) * time.Second
		if !p.Call.Add(ttl - c.Delta).After(g.Return.Add(c.Delta)) {
			continue
		}
		removed := slices.ContainsFunc(h, func(m Event) bool {
			return m.Kind == OpRemove && m.Key == g.Key && m.SecretHash == p.SecretHash && string(m.Value) == string(p.Value) && m.Call.Before(g.Return)
		})
		stable := !p.Return.After(g.Call) && int64(p.Call.Sub(t0)) >= a.StableSince
		quiet := a.Quiet && !p.Return.After(g.Call.Add(-c.Settle))
		if !removed && (stable || quiet) {
			out = append(out, dht.Value{Value: p.Value, SecretHash: p.SecretHash})
		}
	}
	return out
}

func certainPhantoms(h History, c model.ReplicatedConfig, i int) []dht.Value {
	g := h[i]
	out := []dht.Value{{Value: []byte("never put")}}
	for _, it := range idealItems {
		if it.key != g.Key {
			continue
		}
		id := it.id()
		latest := time.Time{}
		for _, p := range h {
			if p.Kind == OpPut && p.Key == g.Key && p.SecretHash == id.SecretHash && string(p.Value) == it.value && p.Call.Before(g.Return) {
				if e := p.Call.Add(time.Duration(min(p.TTL, c.MaxTTL)) * time.Second); e.After(latest) {
					latest = e
				}
			}
		}
		if latest.IsZero() || g.Call.After(latest.Add(2*c.Delta)) {
			out = append(out, dht.Value{Value: []byte(it.value), SecretHash: id.SecretHash})
		}
	}
	return out
}

// TestCheckDHTCatchesChangedIdealHistories is the negative control of the
// above: one get of an ideal history changed so that no order of the
// writes explains it, by dropping an item it must return (RD-7, RD-8) or
// adding one it may not return (RD-5, RD-6), is caught.
func TestCheckDHTCatchesChangedIdealHistories(t *testing.T) {
	fixRapidSeed(t, "20261202")
	dropped, added := 0, 0
	rapid.Check(t, func(t *rapid.T) {
		ih := drawIdeal(t, dcfg.Model, 25)
		var gets []int
		for i, e := range ih.h {
			if e.Kind == OpGet {
				gets = append(gets, i)
			}
		}
		if len(gets) == 0 {
			return
		}
		i := rapid.SampledFrom(gets).Draw(t, "changed_get")
		g := &ih.h[i]
		what := ""
		if misses := certainMisses(ih.h, ih.spans, dcfg.Model, i); len(misses) > 0 && rapid.Bool().Draw(t, "drop") {
			v := rapid.SampledFrom(misses).Draw(t, "dropped")
			g.Values = slices.DeleteFunc(g.Values, func(x dht.Value) bool { return dht.PosOf(x) == dht.PosOf(v) })
			what = fmt.Sprintf("dropped %q", v.Value)
			dropped++
		} else {
			v := rapid.SampledFrom(certainPhantoms(ih.h, dcfg.Model, i)).Draw(t, "added")
			if slices.ContainsFunc(g.Values, func(x dht.Value) bool { return dht.PosOf(x) == dht.PosOf(v) }) {
				t.Fatalf("the ideal get returned %q, which it may not", v.Value)
			}
			g.Values = append(g.Values, v)
			what = fmt.Sprintf("added %q", v.Value)
			added++
		}
		res, err := ih.check()
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != VerdictIllegal || len(res.Violations) == 0 {
			t.Fatalf("get #%d %s: judged %s\n%s", i, what, res.Verdict, ih.dump())
		}
	})
	t.Logf("%d gets lost a required item, %d gained a forbidden one", dropped, added)
	if dropped == 0 || added == 0 {
		t.Errorf("one kind of change was never drawn (%d dropped, %d added)", dropped, added)
	}
}

// TestCheckDHTMatchesBruteForce: on small histories whose gets return
// anything at all, CheckDHT's verdict is that of a plain search through
// every order of the operations that respects their real-time order (an
// operation that returned no later than another was called precedes it)
// and every outcome of the writes: porcupine, the mapping of instants to
// its clock and the two passes are checked against the model alone.
func TestCheckDHTMatchesBruteForce(t *testing.T) {
	fixRapidSeed(t, "20261203")
	legal, illegal := 0, 0
	rapid.Check(t, func(t *rapid.T) {
		c := dcfg.Model
		ih := drawIdeal(t, c, 9)
		for i := range ih.h {
			e := &ih.h[i]
			if e.Kind != OpGet || rapid.Bool().Draw(t, fmt.Sprintf("keep%d", i)) {
				continue
			}
			e.Values = nil
			for _, it := range idealItems {
				if it.key == e.Key && rapid.IntRange(0, 3).Draw(t, fmt.Sprintf("get%d_returns_%s%s", i, it.value, it.secret)) == 0 {
					e.Values = append(e.Values, dht.Value{Value: []byte(it.value), SecretHash: it.id().SecretHash})
				}
			}
		}
		res, err := ih.check()
		if err != nil {
			t.Fatalf("%v\n%s", err, ih.dump())
		}
		want := bruteForce(c, ih.h, ih.spans)
		if got := res.Verdict == VerdictOK; got != want {
			t.Fatalf("CheckDHT says %s (%v), the plain search linearizable=%v\n%s", res.Verdict, res.Violations, want, ih.dump())
		}
		if want {
			legal++
		} else {
			illegal++
		}
	})
	t.Logf("%d linearizable, %d not", legal, illegal)
	if legal == 0 || illegal == 0 {
		t.Errorf("all drawn histories got one verdict (%d ok, %d not)", legal, illegal)
	}
}

// bruteForce reports whether some order of the history's operations, and
// some outcome of each write, explains every get by model.Must and
// model.May. It knows nothing of porcupine.
func bruteForce(c model.ReplicatedConfig, h History, spans []model.Span) bool {
	type op struct {
		start, end int64
		write      *model.Write
		get        model.GetView
		items      []dht.ItemID
	}
	var ops []op
	for _, e := range h {
		o := op{start: int64(e.Call.Sub(t0))}
		switch {
		case e.Kind == OpGet:
			o.end = int64(e.Return.Sub(t0))
			o.get = model.GetView{Key: e.Key, Call: o.start, Return: o.end}
			o.get.Annotations = model.Annotate(spans, o.start, o.end, c)
			for _, v := range e.Values {
				id := dht.ItemID{Key: e.Key, SecretHash: v.SecretHash, ValueHash: dht.SHA1(v.Value)}
				if !slices.Contains(o.items, id) {
					o.items = append(o.items, id)
				}
			}
			slices.SortFunc(o.items, dht.ItemID.Compare)
		default:
			w := model.Write{Kind: model.WritePut, ID: dht.ItemID{Key: e.Key, SecretHash: e.SecretHash, ValueHash: dht.SHA1(e.Value)},
				TTL: e.TTL, Call: o.start, Acked: !e.Unknown && !e.Return.IsZero() && e.Status == dht.StatusOK}
			if e.Kind == OpRemove {
				w.Kind = model.WriteRemove
			}
			if !e.Return.IsZero() {
				w.Return = int64(e.Return.Sub(t0))
			}
			o.write, o.end = &w, c.Deadline(w)
		}
		ops = append(ops, o)
	}
	seen := map[string]bool{}
	var search func(placed uint64, s model.Logical) bool
	search = func(placed uint64, s model.Logical) bool {
		if placed == 1<<len(ops)-1 {
			return true
		}
		memo := fmt.Sprintf("%x/%s", placed, s.Encode())
		if seen[memo] {
			return false
		}
		seen[memo] = true
		for i, o := range ops {
			if placed&(1<<i) != 0 {
				continue
			}
			first := true // no unplaced operation must come before it
			for j, p := range ops {
				if j != i && placed&(1<<j) == 0 && p.end <= o.start {
					first = false
				}
			}
			if !first {
				continue
			}
			next := placed | 1<<i
			if o.write == nil {
				if getAllowed(c, s, o.get, o.items) && search(next, s) {
					return true
				}
				continue
			}
			if !o.write.Acked && search(next, s) {
				return true
			}
			for _, s2 := range c.Apply(s, *o.write) {
				if search(next, s2) {
					return true
				}
			}
		}
		return false
	}
	return search(0, model.Logical{})
}
