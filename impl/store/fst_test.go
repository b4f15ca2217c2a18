package store

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/model"
)

// fstPayload backs every value of the scenario runs: items differ by key,
// so their values may share bytes (neither side mutates a value).
var fstPayload = make([]byte, dht.MaxValueLen)

// fstPair is a model and a store driven with the same steps; every result
// must be identical.
type fstPair struct {
	t *testing.T
	m *model.State
	s *Store
}

func newFSTPair(t *testing.T, mc model.Config) *fstPair {
	t.Helper()
	s, err := Open(storeConfig(mc, vfs.NewMem(), "db"))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return &fstPair{t: t, m: model.New(mc), s: s}
}

// step applies op at now to both sides and fails on any difference.
func (p *fstPair) step(op dht.Op, now dht.Time) dht.Result {
	p.t.Helper()
	want := p.m.Step(op, now)
	got, err := p.s.Step(op, now)
	if err != nil {
		p.t.Fatalf("store step %v id %d at %d: %v", op.Kind, op.ID, now, err)
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty(), cmpopts.EquateErrors()); diff != "" {
		p.t.Fatalf("%v id %d at %d: store differs from model (-model +store):\n%s", op.Kind, op.ID, now, diff)
	}
	return got
}

func (p *fstPair) checkUsage(now dht.Time) {
	p.t.Helper()
	if diff := cmp.Diff(p.m.Usage(), p.s.Usage(), cmpopts.EquateEmpty()); diff != "" {
		p.t.Fatalf("at %d: per-client usage differs (FST-10) (-model +store):\n%s", now, diff)
	}
}

func fstKey(id uint64) dht.Key {
	var k dht.Key
	k[0] = 0xf5
	binary.BigEndian.PutUint64(k[12:], id)
	return k
}

func fstPut(id uint64, c dht.ClientID, valueLen int, ttl int64) dht.Op {
	return dht.Op{Kind: dht.OpPut, ID: id, Put: dht.Put{Client: c, Key: fstKey(id), Value: fstPayload[:valueLen], TTL: ttl}}
}

// fstClient is one client of a scenario: a Poisson stream of puts of one
// value size and TTL, at Factor times the fair rate while it is active.
type fstClient struct {
	ID       dht.ClientID
	Factor   float64 // demand in units of the fair share C/n (space-time per second)
	ValueLen int
	TTL      int64 // seconds, at most T
	From, To int64 // active seconds [From, To) after the start; To 0 means the end
}

type fstScenario struct {
	name    string
	cfg     model.Config
	clients []fstClient
	// fairN is n in the fair share C/n that Factor is relative to.
	fairN    int
	duration int64 // seconds of arrivals
	// measureFrom is the start of the measured window, in seconds after
	// the start: one horizon after the last change of the client set.
	measureFrom int64
	// tolerance bounds |admitted/fair - 1| for every client (FST-9).
	tolerance float64
	// slow must get at least slowMin of what it asks for.
	slow    dht.ClientID
	slowMin float64
	// deviation, if set, says why this scenario is held to a looser
	// bound than FST-9 asks: the ratios it logs are marked with it.
	deviation string
}

// fstArrival is one put of the run, with what became of it.
type fstArrival struct {
	at       float64 // seconds after the start, continuous
	client   int
	id       uint64
	cost     int64 // b*t, t clamped (FST-5)
	status   dht.Status
	complete bool
}

// fstStats is one client's totals over the measured window.
type fstStats struct {
	demand, admitted, fair float64 // space-time, byte*seconds
	puts, ok, over, again  int
}

// arrivals draws every client's Poisson stream from one fixed seed and
// merges them by time.
func (sc fstScenario) arrivals(seed uint64) []*fstArrival {
	var all []*fstArrival
	c, T := float64(sc.cfg.Capacity), sc.cfg.MaxTTL
	for i, cl := range sc.clients {
		r := rand.New(rand.NewPCG(seed, uint64(i)))
		ttl := min(cl.TTL, T)
		cost := dht.ChargedBytes(cl.ValueLen) * ttl
		rate := cl.Factor * c / float64(sc.fairN) / float64(cost) // puts per second
		to := cl.To
		if to == 0 {
			to = sc.duration
		}
		for at := float64(cl.From) + r.ExpFloat64()/rate; at < float64(to); at += r.ExpFloat64() / rate {
			all = append(all, &fstArrival{at: at, client: i, cost: cost})
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].at < all[j].at })
	for i, a := range all {
		a.id = uint64(i + 1)
	}
	return all
}

// run drives the model and the store through the scenario: every second a
// tick, then the puts that arrive during that second in arrival order. It
// returns the per-client totals over the measured window.
func (sc fstScenario) run(t *testing.T, seed uint64) []fstStats {
	p := newFSTPair(t, sc.cfg)
	const t0 = dht.Time(1_700_000_000)
	all := sc.arrivals(seed)
	byID := make(map[uint64]*fstArrival, len(all))
	for _, a := range all {
		byID[a.id] = a
	}
	record := func(res dht.Result) {
		for _, c := range res.Completed {
			a := byID[c.ID]
			if a == nil || a.complete { // ST-2
				t.Fatalf("completion %+v for a write that is unknown or already complete", c)
			}
			a.complete, a.status = true, c.Status
		}
	}
	next := 0
	for sec := int64(0); ; sec++ {
		now := t0 + dht.Time(sec)
		record(p.step(dht.Op{Kind: dht.OpTick}, now))
		for ; next < len(all) && all[next].at < float64(sec+1); next++ {
			a := all[next]
			cl := sc.clients[a.client]
			record(p.step(fstPut(a.id, cl.ID, cl.ValueLen, cl.TTL), now))
		}
		if sec%10 == 0 {
			p.checkUsage(now)
		}
		if sec%60 == 0 && !p.m.CurveHolds() { // INV-3
			t.Fatalf("at %d: commitment curve exceeds capacity", now)
		}
		if sec >= sc.duration && len(p.m.Queues) == 0 {
			if n := p.s.Queued(); n != 0 {
				t.Fatalf("model's queues are empty, store has %d writes queued", n)
			}
			break
		}
		if sec > sc.duration+sc.cfg.QueueTimeout+1 {
			t.Fatalf("writes still queued %d s after the last arrival", sec-sc.duration)
		}
	}
	if p.m.Overtaken { // INV-4
		t.Fatalf("a write overtook a queue head with a smaller start tag")
	}
	stats := make([]fstStats, len(sc.clients))
	for _, a := range all {
		if !a.complete {
			t.Fatalf("write %d never completed (ST-2)", a.id)
		}
		if a.at < float64(sc.measureFrom) {
			continue
		}
		st := &stats[a.client]
		st.puts++
		st.demand += float64(a.cost)
		switch a.status {
		case dht.StatusOK:
			st.ok++
			st.admitted += float64(a.cost)
		case dht.StatusOverCapacity:
			st.over++
		case dht.StatusTryAgain:
			st.again++
		}
	}
	var total float64
	demands := make([]float64, len(stats))
	for i, st := range stats {
		total += st.admitted
		demands[i] = st.demand
	}
	for i, f := range maxMinShares(demands, total) {
		stats[i].fair = f
	}
	return stats
}

// maxMinShares splits capacity among demands max-min fairly (water
// filling): a demand below an equal share of what is left is met in full,
// and the rest is split equally among the others.
func maxMinShares(demands []float64, capacity float64) []float64 {
	idx := make([]int, len(demands))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmpFloat(demands[a], demands[b]) })
	out := make([]float64, len(demands))
	left := capacity
	for k, i := range idx {
		share := left / float64(len(idx)-k)
		out[i] = min(demands[i], share)
		left -= out[i]
	}
	return out
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestMaxMinShares(t *testing.T) {
	for _, tc := range []struct {
		demands []float64
		c       float64
		want    []float64
	}{
		{[]float64{1, 2, 4}, 7, []float64{1, 2, 4}},
		{[]float64{1, 2, 4}, 6, []float64{1, 2, 3}},
		{[]float64{4, 1, 4}, 6, []float64{2.5, 1, 2.5}},
		{[]float64{10, 10, 10}, 6, []float64{2, 2, 2}},
		{[]float64{0.5, 1, 2}, 3, []float64{0.5, 1, 1.5}},
	} {
		if got := maxMinShares(tc.demands, tc.c); !slices.Equal(got, tc.want) {
			t.Errorf("maxMinShares(%v, %v) = %v, want %v", tc.demands, tc.c, got, tc.want)
		}
	}
}

// fstBase is the client mix of each scenario of the paper's evaluation,
// for a node whose horizon is T seconds.
func fstBase(T int64) []fstScenario {
	return []fstScenario{
		{
			name: "rates 0.5x 1x 2x",
			clients: []fstClient{
				{ID: "10.0.0.1", Factor: 0.5, ValueLen: 1000, TTL: T},
				{ID: "10.0.0.2", Factor: 1, ValueLen: 1000, TTL: T},
				{ID: "10.0.0.3", Factor: 2, ValueLen: 1000, TTL: T},
			},
			fairN: 3, duration: 8 * T, measureFrom: T, slow: "10.0.0.1",
		},
		{
			name: "sizes 100 500 1000 at 2x",
			clients: []fstClient{
				{ID: "10.0.1.1", Factor: 2, ValueLen: 100, TTL: T},
				{ID: "10.0.1.2", Factor: 2, ValueLen: 500, TTL: T},
				{ID: "10.0.1.3", Factor: 2, ValueLen: 1000, TTL: T},
			},
			fairN: 3, duration: 8 * T, measureFrom: T,
		},
		{
			name: "TTLs T/4 T/2 T at 2x, T/3 at 0.5x",
			clients: []fstClient{
				{ID: "10.0.2.1", Factor: 2, ValueLen: 1000, TTL: T / 4},
				{ID: "10.0.2.2", Factor: 2, ValueLen: 1000, TTL: T / 2},
				{ID: "10.0.2.3", Factor: 2, ValueLen: 1000, TTL: 10 * T}, // clamped to T (TTL-1)
				{ID: "10.0.2.4", Factor: 0.5, ValueLen: 1000, TTL: T / 3},
			},
			fairN: 4, duration: 8 * T, measureFrom: T, slow: "10.0.2.4",
		},
		{
			name: "one alone, then two join",
			clients: []fstClient{
				{ID: "10.0.3.1", Factor: 3, ValueLen: 1000, TTL: T},
				{ID: "10.0.3.2", Factor: 2, ValueLen: 1000, TTL: T, From: 2 * T},
				{ID: "10.0.3.3", Factor: 2, ValueLen: 1000, TTL: T, From: 2 * T},
			},
			fairN: 3, duration: 9 * T, measureFrom: 3 * T,
		},
	}
}

// TestFairSpaceTimeScenarios checks FST-9 on scenarios of the paper's
// evaluation (Rhea et al., SIGCOMM 2005, fair storage allocation): clients
// put at different rates, value sizes and TTLs, and one client is alone
// before others join. Time is simulated; every client's puts are a Poisson
// stream from one fixed seed. The model and the store run the same steps
// and must return identical results at every step (STEP-1, FST-3..FST-8),
// the same per-client usage (FST-10), and the model's curve and ordering
// invariants hold (INV-3, INV-4). Over the measured window (one horizon
// after the client set last changed), each client's admitted space-time
// (b*t summed over its puts that completed with status 0) must be within
// 10% of its max-min fair share of the total admitted space-time, and the
// slow client gets essentially all it asks for.
//
// The node: C = 64 KiB, T = 60 s, so r_min = C/T = 1092 B/s and a 1000-byte
// put of full TTL (b*t = 63840 B*s) just passes FST-7; eight horizons hold
// a few thousand puts. C is small because the model rescans every item at
// each admission test (quadratic in the items stored): at C = 128 KiB the
// 100-byte scenario alone takes about 17 s. The same mixes at 128 KiB
// (Q = 8, W = 30) gave ratios within 0.965..1.025.
//
// The queues: Q = 8 writes, W = 30 s. Fast clients fill their queues and
// see status 1 (FST-6). W is about as long as Q writes of the costliest
// client take to drain at its fair rate (8 * 63840 / (C/4) = 31 s in the
// TTL mix, 23 s in the others), so writes rarely time out (none did in
// these runs).
//
// With the spec's default queue parameters (Q = 64, W = 5 s) these runs
// found a starvation bug in the rules: a timed-out write kept its cost in
// its client's tags, so a client alone and over capacity before others
// joined ran its tags far ahead of V and got 0.166 of its fair share
// afterwards. FST-8 now gives the cost back; the "spec defaults" subtests
// hold that fixed. FST-6 counts writes, not cost: with Q = 1 the 100-byte
// client got 0.763 and the 1000-byte client 1.284 (Q = 8 is fair).
func TestFairSpaceTimeScenarios(t *testing.T) {
	const seed = 20050822 // SIGCOMM 2005; every arrival stream derives from it
	const T = 60
	fair := model.Config{Capacity: 64 << 10, MaxTTL: T, QueueLimit: 8, QueueTimeout: 30, ReplyCap: dht.MaxValueLen}
	defaults := fair
	defaults.QueueLimit, defaults.QueueTimeout = 64, 5 // model.DefaultConfig's queue
	var scenarios []fstScenario
	for _, sc := range fstBase(T) {
		sc.cfg, sc.tolerance, sc.slowMin = fair, 0.10, 0.97
		scenarios = append(scenarios, sc)
	}
	// The spec's default queue (Q = 64, W = 5 s) on the same node. Before
	// FST-8 gave a timed-out write's cost back, the late-joiner scenario
	// starved the incumbent (0.166 of its share); it must stay fair. The
	// rate and TTL mixes are left out here: on this scaled-down node one
	// put takes about a second of the node's r_min, so W = 5 s is only a
	// few service times and Poisson bursts of a client below its share time
	// out (FST-8 as specified, not unfairness); on a default node (1 GiB,
	// one week) W is thousands of service times.
	for i, sc := range fstBase(T) {
		if i != 1 && i != 3 {
			continue
		}
		sc.cfg, sc.tolerance, sc.slowMin = defaults, 0.10, 0.97
		sc.name = "spec defaults Q=64 W=5/" + sc.name
		scenarios = append(scenarios, sc)
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			stats := sc.run(t, seed)
			var tab strings.Builder
			fmt.Fprintf(&tab, "%s (C=%d B, T=%d s, Q=%d, W=%d s; window [%d s, %d s)):\n", sc.name,
				sc.cfg.Capacity, sc.cfg.MaxTTL, sc.cfg.QueueLimit, sc.cfg.QueueTimeout, sc.measureFrom, sc.duration)
			fmt.Fprintf(&tab, "  %-9s %6s %5s %4s %5s %5s %5s %9s %9s %9s %6s\n",
				"client", "factor", "size", "ttl", "puts", "st1", "st2", "demand", "admitted", "fair", "ratio")
			var total float64
			window := float64(sc.duration - sc.measureFrom)
			for i, st := range stats {
				cl := sc.clients[i]
				total += st.admitted
				fmt.Fprintf(&tab, "  %-9s %6.2f %5d %4d %5d %5d %5d %9.0f %9.0f %9.0f %6.3f\n", cl.ID, cl.Factor, cl.ValueLen,
					min(cl.TTL, sc.cfg.MaxTTL), st.puts, st.over, st.again, st.demand/window, st.admitted/window, st.fair/window, st.admitted/st.fair)
			}
			fmt.Fprintf(&tab, "  (demand, admitted, fair in B*s per second; the node admitted %.3f C)", total/window/float64(sc.cfg.Capacity))
			t.Log(tab.String())
			for i, st := range stats {
				cl := sc.clients[i]
				r := st.admitted / st.fair
				if sc.deviation != "" && math.Abs(r-1) > 0.10 {
					t.Logf("%s: client %s got %.3f of its max-min fair share (FST-9 asks for 1 +- 0.10)", sc.deviation, cl.ID, r)
				}
				if math.Abs(r-1) > sc.tolerance {
					t.Errorf("FST-9: client %s got %.3f of its max-min fair share, outside 1 +- %.2f", cl.ID, r, sc.tolerance)
				}
				if cl.ID == sc.slow {
					r := st.admitted / st.demand
					if sc.deviation != "" && r < 0.97 {
						t.Logf("%s: slow client %s got %.3f of what it asked for", sc.deviation, cl.ID, r)
					}
					if r < sc.slowMin {
						t.Errorf("FST-9: slow client %s got %.3f of what it asked for, want at least %.2f", cl.ID, r, sc.slowMin)
					}
				} else if cl.Factor > 1 && st.over+st.again == 0 {
					t.Errorf("fast client %s was never refused: the scenario does not backlog it", cl.ID)
				}
			}
		})
	}
}

// TestHeadOfLineStartTagOrder is FST-4 in a small deterministic scenario:
// with the node's capacity full and two clients queued, the write with the
// smaller start tag is admitted first when capacity frees up, even though
// it arrived later, and model and store agree on every completion and on
// the per-client usage at every step (FST-10).
func TestHeadOfLineStartTagOrder(t *testing.T) {
	// r_min = C/T = 1000 B/s: one 936-byte put (b = 1000) of full TTL fits
	// per second, exactly (FST-7 holds with equality).
	mc := model.Config{Capacity: 10_000, MaxTTL: 10, QueueLimit: 4, QueueTimeout: 5, ReplyCap: dht.MaxValueLen}
	p := newFSTPair(t, mc)
	const t0 = dht.Time(1_700_000_000)
	const a, b dht.ClientID = "192.0.2.1", "198.51.100.7"
	ok := func(id uint64) []dht.Completion { return []dht.Completion{{ID: id, Status: dht.StatusOK}} }
	steps := []struct {
		at   dht.Time
		op   dht.Op
		want []dht.Completion
		use  map[dht.ClientID]int64
	}{
		// a1: S=0, F=10000, admitted at once; the curve is now full at t0.
		{t0, fstPut(1, a, 936, 10), ok(1), map[dht.ClientID]int64{a: 1000}},
		// a2: S=lastF(a)=10000, waits.
		{t0, fstPut(2, a, 936, 10), nil, map[dht.ClientID]int64{a: 1000}},
		// b1: S=max(0, V=0)=0 < 10000, waits behind nothing but the curve.
		{t0, fstPut(3, b, 936, 10), nil, map[dht.ClientID]int64{a: 1000}},
		// One second frees room for one put: b1 (S=0) goes before a2
		// (S=10000), which arrived earlier.
		{t0 + 1, dht.Op{Kind: dht.OpTick}, ok(3), map[dht.ClientID]int64{a: 1000, b: 1000}},
		// b2: S=max(lastF(b)=10000, V=0)=10000, ties with a2, which
		// arrived first.
		{t0 + 1, fstPut(4, b, 936, 10), nil, map[dht.ClientID]int64{a: 1000, b: 1000}},
		{t0 + 2, dht.Op{Kind: dht.OpTick}, ok(2), map[dht.ClientID]int64{a: 2000, b: 1000}},
		{t0 + 3, dht.Op{Kind: dht.OpTick}, ok(4), map[dht.ClientID]int64{a: 2000, b: 2000}},
		// a1 expires at t0+10 and its charge is released (TTL-5, FST-10).
		{t0 + 10, dht.Op{Kind: dht.OpTick}, nil, map[dht.ClientID]int64{a: 1000, b: 2000}},
	}
	for i, st := range steps {
		res := p.step(st.op, st.at)
		if diff := cmp.Diff(st.want, res.Completed, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("step %d (%v at t0+%d): completions (-want +got):\n%s", i, st.op.Kind, st.at-t0, diff)
		}
		p.checkUsage(st.at)
		if diff := cmp.Diff(st.use, p.s.Usage()); diff != "" {
			t.Fatalf("step %d: usage (-want +got):\n%s", i, diff)
		}
	}
	if p.m.Overtaken {
		t.Fatalf("INV-4: a write overtook a head with a smaller start tag")
	}
}
