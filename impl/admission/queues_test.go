package admission

import (
	"container/heap"
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/opendht-go/opendht/impl/dht"
)

// write returns a write whose cost b*t is charge*ttl.
func write(id uint64, c dht.ClientID, charge, ttl int64) *Write {
	return &Write{ID: id, Client: c, Charge: charge, TTL: ttl}
}

func mustEnqueue(t *testing.T, qs *Queues, w *Write, now dht.Time) {
	t.Helper()
	if !qs.Enqueue(w, now) {
		t.Fatalf("write %d of %s refused", w.ID, w.Client)
	}
}

// drain pops every head and returns the IDs in admission order.
func drain(qs *Queues) []uint64 {
	var ids []uint64
	for qs.Head() != nil {
		ids = append(ids, qs.PopHead().ID)
	}
	return ids
}

func ids(ws []*Write) []uint64 {
	out := make([]uint64, 0, len(ws))
	for _, w := range ws {
		out = append(out, w.ID)
	}
	return out
}

// TestQueuesFIFOPerClient checks FST-4 and FST-5 for one client: its writes
// leave in arrival order, whatever their costs, and each write's start tag
// is the previous write's finish tag (S = max(lastF, V), F = S + b*t).
func TestQueuesFIFOPerClient(t *testing.T) {
	qs := NewQueues(64, 5)
	costs := [][2]int64{{1088, 600}, {64, 1}, {500, 30}, {64, 1}, {1088, 604800}}
	var wantS uint64
	for i, c := range costs {
		w := write(uint64(i+1), "10.0.0.1", c[0], c[1])
		mustEnqueue(t, qs, w, 100)
		if w.S() != wantS {
			t.Errorf("write %d: S = %d, want %d", w.ID, w.S(), wantS)
		}
		wantS += uint64(c[0] * c[1])
	}
	if got := drain(qs); !slices.Equal(got, []uint64{1, 2, 3, 4, 5}) {
		t.Fatalf("admission order %v, want arrival order", got)
	}
}

// TestQueuesLowestStartTagFirst checks FST-4 and FST-5 across clients: the
// head with the lowest start tag goes first, equal start tags go in
// arrival order, each client stays FIFO, and V advances to the start tag
// of every completed head, so that a client arriving later starts at V,
// not at zero.
func TestQueuesLowestStartTagFirst(t *testing.T) {
	qs := NewQueues(64, 5)
	// A: three writes of cost 100 (S = 0, 100, 200). B arrives after them:
	// two writes of cost 50 (S = 0, 50).
	for i := range 3 {
		mustEnqueue(t, qs, write(uint64(1+i), "A", 100, 1), 10)
	}
	for i := range 2 {
		mustEnqueue(t, qs, write(uint64(11+i), "B", 50, 1), 10)
	}
	var got []string
	for range 3 {
		w := qs.PopHead()
		got = append(got, fmt.Sprintf("%d@%d", w.ID, w.S()))
	}
	// A1 and B11 tie at S=0: A1 arrived first. Then B12 (50) before A2 (100).
	if want := []string{"1@0", "11@0", "12@50"}; !slices.Equal(got, want) {
		t.Fatalf("admission order %v, want %v", got, want)
	}
	// V is 50 now. C arrives: S = max(lastF(C) = 0, V) = 50, below A2's 100.
	c := write(21, "C", 10, 1)
	mustEnqueue(t, qs, c, 11)
	if c.S() != 50 {
		t.Fatalf("newcomer's S = %d, want V = 50", c.S())
	}
	// B comes back: lastF(B) = 100 > V, so S = 100; it ties with A2 (100)
	// which arrived earlier.
	b := write(13, "B", 50, 1)
	mustEnqueue(t, qs, b, 11)
	if b.S() != 100 {
		t.Fatalf("B's S = %d, want lastF(B) = 100", b.S())
	}
	if got, want := drain(qs), []uint64{21, 2, 13, 3}; !slices.Equal(got, want) {
		t.Fatalf("admission order %v, want %v", got, want)
	}
}

// TestQueuesLimit checks FST-6: a client with Q queued writes is refused
// at once, other clients are not, and a refused write changes no tag.
func TestQueuesLimit(t *testing.T) {
	qs := NewQueues(2, 5)
	mustEnqueue(t, qs, write(1, "A", 100, 1), 0)
	mustEnqueue(t, qs, write(2, "A", 100, 1), 0)
	if qs.Enqueue(write(3, "A", 100, 1), 0) {
		t.Fatalf("third write of a client with queue limit 2 accepted")
	}
	if qs.IsPending(3) || qs.Len() != 2 || qs.QueueLen("A") != 2 {
		t.Fatalf("refused write left a trace: pending=%v len=%d queueLen=%d", qs.IsPending(3), qs.Len(), qs.QueueLen("A"))
	}
	mustEnqueue(t, qs, write(4, "B", 100, 1), 0) // the limit is per client
	if qs.PopHead().ID != 1 {
		t.Fatalf("wrong head")
	}
	w := write(5, "A", 100, 1)
	mustEnqueue(t, qs, w, 1) // room again
	if w.S() != 200 {        // after writes 1 and 2 only: the refused write 3 did not move lastF
		t.Fatalf("S after a refused write = %d, want 200", w.S())
	}
	// A refused write may reuse its ID later (it was never queued).
	if qs.Enqueue(write(3, "A", 100, 1), 1) {
		t.Fatalf("queue of A is full again, write accepted")
	}
}

// TestQueuesTimeoutsInArrivalOrder checks FST-8: the writes that have
// waited W seconds or more leave, across clients, in arrival order; a write
// that has waited W-1 seconds stays; the heads behind them move up.
func TestQueuesTimeoutsInArrivalOrder(t *testing.T) {
	qs := NewQueues(64, 5)
	// Arrivals: t=100 A1 B1, t=101 A2 C1, t=102 B2, t=103 A3.
	arrivals := []struct {
		at dht.Time
		w  *Write
	}{
		{100, write(1, "A", 1000, 10)}, {100, write(2, "B", 10, 1)},
		{101, write(3, "A", 1000, 10)}, {101, write(4, "C", 10, 1)},
		{102, write(5, "B", 10, 1)}, {103, write(6, "A", 10, 1)},
	}
	for _, a := range arrivals {
		mustEnqueue(t, qs, a.w, a.at)
	}
	if got := ids(qs.Timeouts(104)); len(got) != 0 {
		t.Fatalf("Timeouts(104) = %v, nothing has waited 5 s", got)
	}
	if got, want := ids(qs.Timeouts(106)), []uint64{1, 2, 3, 4}; !slices.Equal(got, want) {
		t.Fatalf("Timeouts(106) = %v, want %v (arrival order)", got, want)
	}
	for _, id := range []uint64{1, 2, 3, 4} {
		if qs.IsPending(id) {
			t.Fatalf("timed out write %d still pending", id)
		}
	}
	if qs.Len() != 2 || qs.QueueLen("C") != 0 || qs.QueueLen("A") != 1 {
		t.Fatalf("after timeouts: len=%d A=%d C=%d", qs.Len(), qs.QueueLen("A"), qs.QueueLen("C"))
	}
	// The timed-out writes gave their cost back (FST-8): A3's start tag
	// drops from 20000 to 0 and B2's from 10 to 0; the tie goes to the
	// earlier arrival, B2.
	if h := qs.Head(); h == nil || h.ID != 5 || h.S() != 0 {
		t.Fatalf("head after timeouts = %+v, want write 5 with S = 0", h)
	}
	if qs.lastF["A"] != 10 || qs.lastF["B"] != 10 {
		t.Fatalf("lastF(A) = %d, lastF(B) = %d, want 10 and 10 after the give-back", qs.lastF["A"], qs.lastF["B"])
	}
	if w := qs.PopHead(); w.ID != 5 {
		t.Fatalf("popped %d", w.ID)
	}
	if h := qs.Head(); h == nil || h.ID != 6 || h.S() != 0 {
		t.Fatalf("next head = %+v, want write 6 with S = 0", h)
	}
	if got := ids(qs.Timeouts(108)); !slices.Equal(got, []uint64{6}) {
		t.Fatalf("Timeouts(108) = %v, want [6]", got)
	}
	if qs.Head() != nil || qs.Len() != 0 {
		t.Fatalf("queues not empty")
	}
}

// refQueues is start-time fair queuing written from FST-4..FST-8 with
// unbounded integers and linear scans, as the reference model does it.
type refQueues struct {
	limit   int
	timeout int64
	q       map[dht.ClientID][]*refWrite
	lastF   map[dht.ClientID]*big.Int
	v       *big.Int
	order   uint64
}

type refWrite struct {
	id      uint64
	client  dht.ClientID
	cost    uint64
	s       *big.Int
	order   uint64
	arrival dht.Time
}

func newRef(limit int, timeout int64, v *big.Int) *refQueues {
	return &refQueues{limit: limit, timeout: timeout, q: map[dht.ClientID][]*refWrite{}, lastF: map[dht.ClientID]*big.Int{}, v: v}
}

func (r *refQueues) enqueue(id uint64, c dht.ClientID, cost uint64, now dht.Time) bool {
	if len(r.q[c]) >= r.limit {
		return false
	}
	s := new(big.Int).Set(r.v)
	if f := r.lastF[c]; f != nil && f.Cmp(s) > 0 {
		s.Set(f)
	}
	r.lastF[c] = new(big.Int).Add(s, new(big.Int).SetUint64(cost))
	r.q[c] = append(r.q[c], &refWrite{id, c, cost, s, r.order, now})
	r.order++
	return true
}

func (r *refQueues) head() *refWrite {
	var h *refWrite
	for _, q := range r.q {
		if w := q[0]; h == nil || w.s.Cmp(h.s) < 0 || (w.s.Cmp(h.s) == 0 && w.order < h.order) {
			h = w
		}
	}
	return h
}

func (r *refQueues) popHead() *refWrite {
	h := r.head()
	if h.s.Cmp(r.v) > 0 {
		r.v = new(big.Int).Set(h.s)
	}
	if r.q[h.client] = r.q[h.client][1:]; len(r.q[h.client]) == 0 {
		delete(r.q, h.client)
	}
	return h
}

func (r *refQueues) timeouts(now dht.Time) []uint64 {
	var out []*refWrite
	for c, q := range r.q {
		giveBack := new(big.Int) // FST-8: the costs of the dropped writes
		var kept []*refWrite
		for _, w := range q {
			if int64(now-w.arrival) >= r.timeout {
				out = append(out, w)
				giveBack.Add(giveBack, new(big.Int).SetUint64(w.cost))
				continue
			}
			w.s = new(big.Int).Sub(w.s, giveBack)
			kept = append(kept, w)
		}
		r.lastF[c] = new(big.Int).Sub(r.lastF[c], giveBack)
		if len(kept) == 0 {
			delete(r.q, c)
		} else {
			r.q[c] = kept
		}
	}
	slices.SortFunc(out, func(a, b *refWrite) int { return int(a.order) - int(b.order) })
	var got []uint64
	for _, w := range out {
		got = append(got, w.id)
	}
	return got
}

// checkTags checks that the production tags are the reference tags minus
// one common offset (the sum of all renormalizations): every start tag of
// a queued write, V, and every client's effective start max(lastF, V).
func checkTags(t *testing.T, qs *Queues, ref *refQueues, ctx func() string) {
	t.Helper()
	shift := new(big.Int).Sub(ref.v, new(big.Int).SetUint64(qs.v))
	if shift.Sign() < 0 {
		t.Fatalf("V = %d above the reference V = %v; %s", qs.v, ref.v, ctx())
	}
	for c, q := range ref.q {
		for _, rw := range q {
			w := qs.pending[rw.id]
			if w == nil {
				t.Fatalf("write %d of %s queued in the reference only; %s", rw.id, c, ctx())
			}
			if d := new(big.Int).Sub(rw.s, new(big.Int).SetUint64(w.s)); d.Cmp(shift) != 0 {
				t.Fatalf("write %d: S = %d, reference S = %v, V offset %v; %s", rw.id, w.s, rw.s, shift, ctx())
			}
		}
	}
	for c, rf := range ref.lastF {
		want := new(big.Int).Set(ref.v)
		if rf.Cmp(want) > 0 {
			want.Set(rf)
		}
		got := new(big.Int).SetUint64(max(qs.lastF[c], qs.v))
		if got.Add(got, shift).Cmp(want) != 0 {
			t.Fatalf("client %s: next start tag %v, reference %v; %s", c, got, want, ctx())
		}
	}
}

// TestQueuesMatchReference checks FST-4..FST-8 (and INV-4's ordering) on
// random arrivals, admissions and timeouts against refQueues, which uses
// unbounded integers. The "huge" family has costs up to 2^54 and starts
// with V just below 2^62 or far above it (up to 2^63.6), so that the
// production queues must renormalize their 64-bit tags (maybeRenormalize)
// at the first Enqueue or in the middle of a round; a tag that wrapped
// around would reorder the heads.
func TestQueuesMatchReference(t *testing.T) {
	seed := testSeed(t)
	for fi, fam := range []struct {
		name string
		cost func(*rand.Rand) (int64, int64)
		v0   func(*rand.Rand) uint64
	}{
		{"spec costs", func(r *rand.Rand) (int64, int64) {
			return dht.ChargedBytes(r.IntN(dht.MaxValueLen + 1)), 1 + r.Int64N(dht.MaxTTL)
		}, func(*rand.Rand) uint64 { return 0 }},
		{"small costs", func(r *rand.Rand) (int64, int64) { return 1 + r.Int64N(3), 1 }, func(*rand.Rand) uint64 { return 0 }},
		{"huge", func(r *rand.Rand) (int64, int64) { return 1 + r.Int64N(1<<35), 1 + r.Int64N(1<<20) },
			func(r *rand.Rand) uint64 {
				if r.IntN(2) == 0 {
					return 1<<62 - r.Uint64N(1<<57) // crosses 2^62 during the round
				}
				return 1<<62 + r.Uint64N(1<<63) // renormalizes at the first Enqueue
			}},
	} {
		t.Run(fam.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, uint64(fi)))
			renorms, crossed := 0, 0
			for round := range 60 {
				limit := 1 + r.IntN(6)
				timeout := 1 + r.Int64N(6)
				qs := NewQueues(limit, timeout)
				v0 := fam.v0(r)
				qs.v = v0
				ref := newRef(limit, timeout, new(big.Int).SetUint64(v0))
				clientsN := 1 + r.IntN(5)
				now := dht.Time(1_700_000_000)
				var log []string
				ctx := func() string {
					return fmt.Sprintf("round %d (limit %d, timeout %d, V0 %d), last ops: %v", round, limit, timeout, v0, log[max(0, len(log)-8):])
				}
				var nextID uint64 = 1
				for range 400 {
					switch k := r.IntN(10); {
					case k < 5:
						c := dht.ClientID(fmt.Sprintf("10.0.0.%d", r.IntN(clientsN)))
						charge, ttl := fam.cost(r)
						w := write(nextID, c, charge, ttl)
						nextID++
						vBefore := qs.v
						got := qs.Enqueue(w, now)
						want := ref.enqueue(w.ID, c, uint64(charge)*uint64(ttl), now)
						log = append(log, fmt.Sprintf("enqueue %d %s cost %d -> %v", w.ID, c, charge*ttl, got))
						if got != want {
							t.Fatalf("Enqueue(%d) = %v, reference %v; %s", w.ID, got, want, ctx())
						}
						if qs.v < vBefore {
							renorms++
							if v0 < 1<<62 {
								crossed++
							}
						}
					case k < 8:
						h, rh := qs.Head(), ref.head()
						if (h == nil) != (rh == nil) {
							t.Fatalf("Head() = %v, reference %v; %s", h, rh, ctx())
						}
						if h == nil {
							continue
						}
						if h.ID != rh.id {
							t.Fatalf("Head() = %d, reference head %d; %s", h.ID, rh.id, ctx())
						}
						if w := qs.PopHead(); w.ID != ref.popHead().id {
							t.Fatalf("PopHead() = %d after Head() = %d; %s", w.ID, h.ID, ctx())
						}
						log = append(log, fmt.Sprintf("pop %d", h.ID))
					default:
						now += dht.Time(r.IntN(3))
						got, want := ids(qs.Timeouts(now)), ref.timeouts(now)
						log = append(log, fmt.Sprintf("timeouts(%d) -> %v", now, got))
						if !slices.Equal(got, want) {
							t.Fatalf("Timeouts(%d) = %v, reference %v; %s", now, got, want, ctx())
						}
					}
					n := 0
					for c, q := range ref.q {
						n += len(q)
						if qs.QueueLen(c) != len(q) {
							t.Fatalf("QueueLen(%s) = %d, reference %d; %s", c, qs.QueueLen(c), len(q), ctx())
						}
						for _, w := range q {
							if !qs.IsPending(w.id) {
								t.Fatalf("write %d not pending; %s", w.id, ctx())
							}
						}
					}
					if qs.Len() != n {
						t.Fatalf("Len() = %d, reference %d; %s", qs.Len(), n, ctx())
					}
					checkTags(t, qs, ref, ctx)
				}
			}
			t.Logf("%d renormalizations, %d of them after V crossed 2^62 during a round", renorms, crossed)
			if fam.name == "huge" && crossed == 0 {
				t.Fatalf("the huge family never renormalized in the middle of a round")
			}
		})
	}
}

// TestQueuesRenormalizeKeepsOrder checks that maybeRenormalize (FST-4,
// FST-5 on a node that runs for years) changes no comparison: huge costs
// drive V past 2^62 through the public methods, and then a direct call on
// a hand-built state with tags near 2^64 keeps the admission order, the
// differences between tags, and each client's next start tag max(lastF, V)
// relative to V.
func TestQueuesRenormalizeKeepsOrder(t *testing.T) {
	t.Run("through Enqueue", func(t *testing.T) {
		qs := NewQueues(64, 5)
		const big62 = 1 << 31                              // charge and TTL of cost 2^62
		mustEnqueue(t, qs, write(1, "A", big62, big62), 0) // S 0, F 2^62
		mustEnqueue(t, qs, write(2, "A", big62, big62), 0) // S 2^62, F 2^63
		mustEnqueue(t, qs, write(3, "B", 1, 1), 0)         // S 0
		if got := []uint64{qs.PopHead().ID, qs.PopHead().ID, qs.PopHead().ID}; !slices.Equal(got, []uint64{1, 3, 2}) {
			t.Fatalf("order %v", got)
		}
		if qs.v != 1<<62 {
			t.Fatalf("V = %d, want 2^62", qs.v)
		}
		b := write(4, "B", 1, 1)
		mustEnqueue(t, qs, b, 1) // S = V = 2^62, then renormalizes by 2^62
		if qs.v != 0 || b.S() != 0 {
			t.Fatalf("after renormalization V = %d, S(B4) = %d, want 0 and 0", qs.v, b.S())
		}
		a := write(5, "A", 1, 1) // lastF(A) was 2^63: S = 2^62 after the shift
		mustEnqueue(t, qs, a, 1)
		c := write(6, "C", 1, 1) // newcomer: S = V = 0
		mustEnqueue(t, qs, c, 1)
		if a.S() != 1<<62 || c.S() != 0 {
			t.Fatalf("S(A5) = %d, S(C6) = %d, want 2^62 and 0", a.S(), c.S())
		}
		if got := drain(qs); !slices.Equal(got, []uint64{4, 6, 5}) {
			t.Fatalf("order %v, want [4 6 5]", got)
		}
	})
	t.Run("direct", func(t *testing.T) {
		qs := NewQueues(64, 5)
		qs.v = 1<<64 - 1<<40 // as if V had crept up without an Enqueue
		// lastF: X below V (acts as V), Y above V.
		qs.lastF["X"] = 5
		qs.lastF["Y"] = 1<<64 - 1<<39
		qs.lastF["Z"] = qs.v
		// Queued writes with tags at and above V, put in place by hand so
		// that Enqueue does not renormalize first.
		tags := map[uint64]uint64{1: qs.v, 2: qs.v + 100, 3: qs.v, 4: qs.v + 50, 5: 1<<64 - 1<<39}
		clientOf := map[uint64]dht.ClientID{1: "Z", 2: "Z", 3: "W", 4: "W", 5: "Y"}
		for id := uint64(1); id <= 5; id++ {
			w := write(id, clientOf[id], 1, 1)
			w.s, w.f, w.order, w.arrival = tags[id], tags[id]+1, id, 0
			cq := qs.clients[w.Client]
			if cq == nil {
				cq = &clientQueue{client: w.Client, idx: -1}
				qs.clients[w.Client] = cq
			}
			cq.q = append(cq.q, w)
			if len(cq.q) == 1 {
				heap.Push(&qs.heads, cq)
			}
			qs.byArrival = append(qs.byArrival, w)
			qs.pending[id] = w
		}
		v, before := qs.v, snapshot(qs)
		qs.maybeRenormalize()
		if qs.v >= v || qs.v != 0 {
			t.Fatalf("V = %d after renormalization, was %d", qs.v, v)
		}
		after := snapshot(qs)
		for id, s := range before.s {
			if after.s[id] != s-v {
				t.Fatalf("write %d: S %d -> %d, want S - %d", id, s, after.s[id], v)
			}
		}
		for c := range before.next {
			if after.next[c] != before.next[c]-v {
				t.Fatalf("client %s: next start %d -> %d, want shift by %d", c, before.next[c], after.next[c], v)
			}
		}
		if got := drain(qs); !slices.Equal(got, []uint64{1, 3, 4, 2, 5}) {
			t.Fatalf("order after renormalization %v, want [1 3 4 2 5]", got)
		}
		// X, whose lastF was below V, starts at V (now S(5) - v), not at
		// its old lastF.
		x := write(9, "X", 1, 1)
		mustEnqueue(t, qs, x, 0)
		if x.S() != qs.v {
			t.Fatalf("X starts at %d, want V = %d", x.S(), qs.v)
		}
	})
	t.Run("below threshold", func(t *testing.T) {
		qs := NewQueues(64, 5)
		qs.v = 1<<62 - 1
		qs.lastF["A"] = 7
		qs.maybeRenormalize()
		if qs.v != 1<<62-1 || qs.lastF["A"] != 7 {
			t.Fatalf("renormalized below 2^62: V = %d, lastF = %d", qs.v, qs.lastF["A"])
		}
	})
}

type tagSnapshot struct {
	s    map[uint64]uint64
	next map[dht.ClientID]uint64
}

func snapshot(qs *Queues) tagSnapshot {
	sn := tagSnapshot{s: map[uint64]uint64{}, next: map[dht.ClientID]uint64{}}
	for id, w := range qs.pending {
		sn.s[id] = w.s
	}
	for c, f := range qs.lastF {
		sn.next[c] = max(f, qs.v)
	}
	return sn
}
