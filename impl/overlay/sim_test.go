package overlay

import (
	"container/heap"
	"crypto/sha1"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/wire"
)

var seedFlag = flag.Uint64("seed", 0, "seed of the overlay simulation tests (0: the fixed default)")

// ring is a small deterministic harness for the overlay core alone: nodes
// exchange encoded datagrams through an event queue with per-pair
// latencies; every datagram goes through the wire codec.
type ring struct {
	t     *testing.T
	now   time.Time
	q     evq
	seq   int
	rng   *rand.Rand
	nodes map[netip.AddrPort]*Node
	alive map[netip.AddrPort]bool
	found map[uint64]Found
	wake  map[netip.AddrPort]time.Time
	bytes int
	loss  float64
	// attacker, when set, receives the datagrams sent to addresses where
	// no node runs (the attack tests' hosts), and tap sees every datagram
	// a node sends.
	attacker func(now time.Time, to, from netip.AddrPort, data []byte)
	tap      func(from, to netip.AddrPort, data []byte)
	// delay, when set, replaces the fixed per-pair latency model; foundAt
	// records when each lookup's answer arrived (keys as in found).
	delay   func(a, b netip.AddrPort) time.Duration
	foundAt map[uint64]time.Time
	// deliveredAt records when and where each application message
	// arrived, by its origin's address and request id.
	deliveredAt map[delivery]arrival
	// stalled holds nodes whose loop does not run until the time given
	// (a busy or descheduled process): what reaches them waits in their
	// socket and is handled, in order, when they resume.
	stalled map[netip.AddrPort]time.Time
}

type delivery struct {
	origin netip.AddrPort
	req    uint64
}

type arrival struct {
	at   time.Time
	node ID
}

type ev struct {
	at   time.Time
	seq  int
	to   netip.AddrPort
	from netip.AddrPort
	data []byte // nil: a wake-up
}

type evq []ev

func (q evq) Len() int { return len(q) }
func (q evq) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q evq) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *evq) Push(x any)   { *q = append(*q, x.(ev)) }
func (q *evq) Pop() any {
	o := *q
	e := o[len(o)-1]
	*q = o[:len(o)-1]
	return e
}

func newRing(t *testing.T, seed uint64) *ring {
	return &ring{t: t, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), rng: rand.New(rand.NewPCG(seed, 7)),
		nodes: map[netip.AddrPort]*Node{}, alive: map[netip.AddrPort]bool{}, found: map[uint64]Found{}, wake: map[netip.AddrPort]time.Time{},
		foundAt: map[uint64]time.Time{}, deliveredAt: map[delivery]arrival{}, stalled: map[netip.AddrPort]time.Time{}}
}

func nodeID(i int) ID {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	return ID(sha1.Sum(b[:]))
}

func (r *ring) addr(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 5850)
}

func (r *ring) latency(a, b netip.AddrPort) time.Duration {
	if r.delay != nil {
		return r.delay(a, b)
	}
	// A fixed latency per pair, 10-100 ms, from the pair's addresses.
	h := sha1.Sum([]byte(a.String() + b.String()))
	return 10*time.Millisecond + time.Duration(binary.BigEndian.Uint32(h[:])%90)*time.Millisecond
}

func (r *ring) push(e ev) {
	r.seq++
	e.seq = r.seq
	heap.Push(&r.q, e)
}

func (r *ring) add(i int, cfg Config, bootstrap ...netip.AddrPort) *Node {
	a := r.addr(i)
	cfg.Seed = uint64(i) + 1
	n := New(cfg, wire.Peer{ID: nodeID(i), Addr: a})
	r.nodes[a] = n
	r.alive[a] = true
	n.Join(r.now, bootstrap)
	r.flush(n)
	return n
}

func (r *ring) flush(n *Node) {
	rd := n.Ready()
	for _, s := range rd.Sends {
		b, err := wire.Encode(nil, s.Env)
		if err != nil {
			r.t.Fatalf("encode: %v", err)
		}
		r.bytes += len(b)
		if r.tap != nil {
			r.tap(n.self.Addr, s.To, b)
		}
		if r.loss > 0 && r.rng.Float64() < r.loss {
			continue
		}
		r.push(ev{at: r.now.Add(r.latency(n.self.Addr, s.To)), to: s.To, from: n.self.Addr, data: b})
	}
	for _, d := range rd.Delivered {
		r.deliveredAt[delivery{d.Route.Origin.Addr, d.Route.ReqID}] = arrival{at: r.now, node: n.self.ID}
	}
	for _, f := range rd.Found {
		r.found[f.ReqID<<16|uint64(binary.BigEndian.Uint16(n.self.ID[:]))] = f
		r.foundAt[f.ReqID<<16|uint64(binary.BigEndian.Uint16(n.self.ID[:]))] = r.now
	}
	if w := n.NextWake(); !w.IsZero() && (r.wake[n.self.Addr].IsZero() || w.Before(r.wake[n.self.Addr]) || !r.wake[n.self.Addr].After(r.now)) {
		r.wake[n.self.Addr] = w
		r.push(ev{at: w, to: n.self.Addr})
	}
}

func (r *ring) run(d time.Duration) {
	end := r.now.Add(d)
	for r.q.Len() > 0 && !r.q[0].at.After(end) {
		e := heap.Pop(&r.q).(ev)
		r.now = e.at
		n := r.nodes[e.to]
		if n == nil && e.data != nil && r.attacker != nil {
			r.attacker(r.now, e.to, e.from, e.data)
			continue
		}
		if n == nil || !r.alive[e.to] {
			continue
		}
		if until, ok := r.stalled[e.to]; ok && until.After(r.now) {
			e.at = until
			r.push(e)
			continue
		}
		if e.data == nil {
			if r.wake[e.to].After(r.now) {
				continue // superseded by an earlier or later wake-up
			}
			n.Tick(r.now)
		} else {
			env, err := wire.Decode(e.data)
			if err != nil {
				if r.attacker != nil {
					continue // a hostile datagram: the driver drops what does not decode
				}
				r.t.Fatalf("decode: %v", err)
			}
			n.Receive(r.now, e.from, env)
		}
		r.flush(n)
	}
	r.now = end
}

// trueRoot is the live node closest to key.
func (r *ring) trueRoot(key ID) ID {
	var best *ID
	for a, n := range r.nodes {
		if !r.alive[a] {
			continue
		}
		id := n.self.ID
		if best == nil || Closer(key, id, *best) {
			best = &id
		}
	}
	return *best
}

func (r *ring) liveIDs() []ID {
	var ids []ID
	for a, n := range r.nodes {
		if r.alive[a] {
			ids = append(ids, n.self.ID)
		}
	}
	slices.SortFunc(ids, Compare)
	return ids
}

func seed(t *testing.T) uint64 {
	s := *seedFlag
	if s == 0 {
		s = 20050822
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay: go test ./impl/overlay -run '^%s$' -count=1 -args -seed=%d", t.Name(), s)
		}
	})
	return s
}

// lookups routes n lookups of random keys from random live nodes and
// returns the fraction that reached the true root and the hop counts.
func (r *ring) lookups(count int) (float64, []int) {
	var addrs []netip.AddrPort
	for a := range r.nodes {
		if r.alive[a] {
			addrs = append(addrs, a)
		}
	}
	slices.SortFunc(addrs, func(a, b netip.AddrPort) int { return a.Compare(b) })
	type q struct {
		key  ID
		from *Node
		id   uint64
	}
	var qs []q
	for range count {
		var key ID
		for i := range key {
			key[i] = byte(r.rng.IntN(256))
		}
		n := r.nodes[addrs[r.rng.IntN(len(addrs))]]
		id := n.Lookup(r.now, key)
		r.flush(n)
		qs = append(qs, q{key, n, id})
	}
	r.run(10 * time.Second)
	ok := 0
	var hops []int
	for _, x := range qs {
		f, done := r.found[x.id<<16|uint64(binary.BigEndian.Uint16(x.from.self.ID[:]))]
		if done && f.Root.ID == r.trueRoot(x.key) {
			ok++
			hops = append(hops, f.Hops)
		}
	}
	return float64(ok) / float64(count), hops
}

func mean(xs []int) float64 {
	s := 0
	for _, x := range xs {
		s += x
	}
	return float64(s) / float64(max(len(xs), 1))
}

// TestRingFormsAndRoutesConsistently: 64 nodes join one by one through the
// first; after the maintenance settles every leaf set holds exactly the
// true nearest nodes, and every lookup reaches the true root in about
// log16(N) hops.
func TestRingFormsAndRoutesConsistently(t *testing.T) {
	const N = 64
	r := newRing(t, seed(t))
	cfg := DefaultConfig()
	r.add(0, cfg)
	for i := 1; i < N; i++ {
		r.add(i, cfg, r.addr(r.rng.IntN(i)))
		r.run(500 * time.Millisecond)
	}
	r.run(2 * time.Minute)
	ids := r.liveIDs()
	for _, n := range r.nodes {
		if !n.Joined() {
			t.Fatalf("%v did not join", n)
		}
		i, _ := slices.BinarySearchFunc(ids, n.self.ID, Compare)
		for k, s := range n.Successors() {
			if want := ids[(i+1+k)%len(ids)]; s.ID != want {
				t.Fatalf("%v: successor %d is %x, want %x", n, k, s.ID[:4], want[:4])
			}
		}
		for k, p := range n.Predecessors() {
			if want := ids[(i-1-k+2*len(ids))%len(ids)]; p.ID != want {
				t.Fatalf("%v: predecessor %d is %x, want %x", n, k, p.ID[:4], want[:4])
			}
		}
		if len(n.Successors()) != cfg.LeafSetSize {
			t.Fatalf("%v: leaf set not full", n)
		}
	}
	frac, hops := r.lookups(500)
	if frac != 1 {
		t.Fatalf("only %.3f of lookups reached the true root in a stable ring", frac)
	}
	bound := math.Log(N)/math.Log(16) + 1
	t.Logf("N=%d lookups=500 correct=%.3f hops_mean=%.2f (bound %.2f) maintenance=%.0f B/s/node", N, frac, mean(hops), bound,
		float64(r.bytes)/float64(N)/(2*time.Minute+N*500*time.Millisecond+10*time.Second).Seconds())
	if mean(hops) > bound {
		t.Fatalf("mean hops %.2f over log16(N)+1 = %.2f", mean(hops), bound)
	}
	_ = fmt.Sprint
}

// churn kills k random live nodes (crash: no goodbye) and joins k new ones
// through random live nodes.
func (r *ring) churn(k, next int, cfg Config) int {
	var live []netip.AddrPort
	for a := range r.nodes {
		if r.alive[a] {
			live = append(live, a)
		}
	}
	slices.SortFunc(live, func(a, b netip.AddrPort) int { return a.Compare(b) })
	r.rng.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
	for _, a := range live[:k] {
		r.alive[a] = false
	}
	for range k {
		r.add(next, cfg, live[k+r.rng.IntN(len(live)-k)])
		next++
	}
	return next
}

func (r *ring) leafSetsCorrect() (bad int) {
	ids := r.liveIDs()
	for a, n := range r.nodes {
		if !r.alive[a] {
			continue
		}
		i, _ := slices.BinarySearchFunc(ids, n.self.ID, Compare)
		for k, s := range n.Successors() {
			if s.ID != ids[(i+1+k)%len(ids)] {
				bad++
				break
			}
		}
	}
	return bad
}

// TestRingRecoversFromChurnAndLoss: with 5% packet loss, rounds of crashes
// and joins; after each round settles, leaf sets are exact again and
// lookups reach the true root. The negative control switches periodic
// recovery off (periods of a day) and must be caught.
func TestRingRecoversFromChurnAndLoss(t *testing.T) {
	run := func(t *testing.T, cfg Config) (float64, int) {
		const N = 48
		r := newRing(t, seed(t))
		r.add(0, cfg)
		for i := 1; i < N; i++ {
			r.add(i, cfg, r.addr(r.rng.IntN(i)))
			r.run(300 * time.Millisecond)
		}
		r.run(time.Minute)
		r.loss = 0.05
		next := N
		for range 4 {
			next = r.churn(6, next, cfg)
			r.run(90 * time.Second)
		}
		r.loss = 0
		r.run(30 * time.Second)
		frac, hops := r.lookups(300)
		t.Logf("after churn: lookups correct=%.3f hops_mean=%.2f bad leaf sets=%d", frac, mean(hops), r.leafSetsCorrect())
		return frac, r.leafSetsCorrect()
	}
	frac, bad := run(t, DefaultConfig())
	if frac < 1 || bad != 0 {
		t.Fatalf("after churn settled: %.3f of lookups correct, %d wrong leaf sets", frac, bad)
	}
	t.Run("negative control: no periodic recovery", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.LeafSetPeriod, cfg.PingPeriod, cfg.NearPeriod, cfg.FarPeriod = 24*time.Hour, 24*time.Hour, 24*time.Hour, 24*time.Hour
		frac, bad := run(t, cfg)
		if frac == 1 && bad == 0 {
			t.Fatal("the churn check did not notice that recovery was switched off")
		}
	})
}
