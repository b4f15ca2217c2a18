// Command dhtsim runs the real overlay code (impl/overlay) of up to
// 100,000 nodes inside the deterministic simulator (impl/simnet), all on
// one goroutine, and reports routing hops, lookup success under churn,
// lookup latency and maintenance traffic:
//
//	dhtsim -n 1000 -churn 1.4m -warmup 3m -measure 3m -seed 1
//	nodes=1000 hops_mean=2.74 hops_p99=5 lookup_success=0.9979 lookups=17947 origin_died=53
//	latency_ms_mean=336 latency_ms_p99=3348 maint_bytes_per_node_s=491 maint_packets_per_node_s=7.8
//
// (the result is one line). A lookup succeeds when the node that answers it is the true root of its
// key (the live, joined node closest to it) at the moment the lookup
// reaches it; a lookup answered by any other node, or not answered (the
// origin gives up after its retries), fails. A lookup whose origin dies
// before the answer arrives has no one to count it and is left out
// (reported as origin_died). Maintenance traffic is every byte the nodes
// send during the measurement except the measured lookups' routed
// messages and answers, per node per simulated second. Maintenance
// datagrams per node and second are reported too: the bytes count UDP payloads, and each datagram adds 28
// bytes of IPv4 and UDP header on a real network.
//
// With -dht it runs the whole DHT layer instead: every node the real node
// core (impl/node) on a simulated host (impl/simhost) with its store in
// memory; it loads -items values per node through random gateways and
// reports the maintenance traffic per node before and after the load.
//
// Every run is deterministic for its -seed.
package main

import (
	"crypto/sha1"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/google/btree"

	"github.com/opendht-go/opendht/impl/clock"
	"github.com/opendht-go/opendht/impl/overlay"
	"github.com/opendht-go/opendht/impl/simnet"
	"github.com/opendht-go/opendht/impl/wire"
)

func main() {
	n := flag.Int("n", 1000, "number of nodes (kept constant under churn)")
	churn := flag.Duration("churn", 0, "median session time (0: no churn); sessions are exponential, as in the Bamboo evaluation")
	settle := flag.Duration("settle", time.Minute, "simulated time after the last wave of joins, before the warmup")
	warm := flag.Duration("warmup", 5*time.Minute, "simulated time after the joins before measuring")
	measure := flag.Duration("measure", 5*time.Minute, "simulated time of the measurement")
	lookupEvery := flag.Duration("lookup-every", 0, "interval between lookups (default: 100 lookups per simulated second, at most one per node per 10 s)")
	seed := flag.Uint64("seed", 1, "simulation seed")
	verbose := flag.Bool("v", false, "print progress")
	dhtMode := flag.Bool("dht", false, "simulate the whole DHT layer (node cores with in-memory stores, replication, anti-entropy, gateways) and report maintenance traffic without and with data")
	items := flag.Int("items", 100, "with -dht: items (1000-byte values) loaded per node")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	flag.Parse()
	if *dhtMode {
		if *n < 2 || *n > 5000 {
			fmt.Fprintln(os.Stderr, "dhtsim: with -dht, -n must be in [2, 5000]")
			os.Exit(2)
		}
		if *items < 0 || *items > 10000 {
			fmt.Fprintln(os.Stderr, "dhtsim: -items must be in [0, 10000]")
			os.Exit(2)
		}
		r, err := runDHT(*seed, *n, *items, *warm, *measure, *verbose)
		if err != nil {
			fmt.Fprintln(os.Stderr, "dhtsim:", err)
			os.Exit(1)
		}
		fmt.Printf("nodes=%d items=%d acked=%d maint_bytes_per_node_s_idle=%.0f maint_bytes_per_node_s_loaded=%.0f dgrams_per_node_s_idle=%.1f dgrams_per_node_s_loaded=%.1f wall_s=%.0f heap_mib=%.0f peak_rss_mib=%.0f\n",
			r.nodes, r.items, r.acked, r.idleBytes, r.loadedBytes, r.idleDgrams, r.loadedDgram, r.wall.Seconds(), r.heapMiB, r.rssMiB)
		return
	}
	if *n < 2 || *n > 100000 {
		fmt.Fprintln(os.Stderr, "dhtsim: -n must be in [2, 100000]")
		os.Exit(2)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "dhtsim:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	every := *lookupEvery
	if every == 0 {
		every = max(time.Second/100, 10*time.Second/time.Duration(*n))
	}
	start := time.Now()
	s, err := newSim(*seed, *n, *churn)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dhtsim:", err)
		os.Exit(1)
	}
	s.verbose = *verbose
	s.joinAll(*settle)
	s.logf("joined %d nodes at %v (wall %v)", *n, s.net.Elapsed(), time.Since(start).Round(time.Millisecond))
	s.net.RunFor(*warm)
	s.logf("warm at %v (wall %v)", s.net.Elapsed(), time.Since(start).Round(time.Millisecond))
	if s.verbose {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		s.logf("live heap %d MiB, %d bytes per node; %d events queued", ms.HeapAlloc>>20, ms.HeapAlloc/uint64(*n), s.net.Pending())
	}
	before := s.net.TotalStats()
	t0 := s.net.Now()
	s.lookups(every, *measure)
	s.net.RunFor(10 * time.Second) // let the last lookups finish
	after := s.net.TotalStats()
	secs := s.net.Now().Sub(t0).Seconds()
	maint := float64(after.Sent.Bytes-before.Sent.Bytes-s.lookupBytes) / float64(*n) / secs
	// Datagrams of maintenance per node and second: with 28 bytes of IPv4
	// and UDP header each, the traffic on the wire is maint + 28*pkts.
	pkts := float64(after.Sent.Packets-before.Sent.Packets-s.lookupPackets) / float64(*n) / secs
	mean, p99 := meanP99(s.hops)
	latMean, latP99 := meanP99(s.latency)
	counted := s.issued - s.originDied
	success := float64(s.correct) / float64(max(counted, 1))
	s.logf("lookups issued=%d origin_died=%d correct=%d wrong_root=%d gave_up=%d unanswered=%d deaths=%d wall=%v", s.issued, s.originDied, s.correct, s.wrong, s.gaveUp, counted-s.correct-s.wrong, s.deaths, time.Since(start).Round(time.Millisecond))
	fmt.Printf("nodes=%d hops_mean=%.2f hops_p99=%d lookup_success=%.4f lookups=%d origin_died=%d latency_ms_mean=%.0f latency_ms_p99=%d maint_bytes_per_node_s=%.0f maint_packets_per_node_s=%.1f\n",
		*n, mean, p99, success, counted, s.originDied, latMean, latP99, maint, pkts)
}

// meanP99 returns the mean and the 99th percentile of xs, which it sorts.
func meanP99(xs []int) (float64, int) {
	if len(xs) == 0 {
		return 0, 0
	}
	slices.Sort(xs)
	mean := 0.0
	for _, x := range xs {
		mean += float64(x)
	}
	return mean / float64(len(xs)), xs[int(math.Ceil(0.99*float64(len(xs))))-1]
}

type simNode struct {
	ov    *overlay.Node
	id    overlay.ID
	addr  netip.AddrPort
	ep    *simnet.Endpoint
	clk   *simnet.NodeClock
	timer clock.Timer
	alive bool
	index int // position in sim.live while alive
	// pending holds the node's measured lookups awaiting their answer.
	pending map[uint64]*lookup
}

// lookup is a measured lookup. Verdicts records, for each node that
// answered it as root, whether that node was the true root of the key when
// the lookup reached it; the origin's first answer decides.
type lookup struct {
	key      overlay.ID
	at       time.Time
	verdicts map[overlay.ID]bool
}

type sim struct {
	net       *simnet.Network
	rng       *rand.Rand
	n         int
	churn     time.Duration
	live      []*simNode                  // live nodes, in no order
	ring      *btree.BTreeG[*simNode]     // live nodes by ID
	byAddr    map[netip.AddrPort]*simNode // live nodes by address
	next      int
	measuring bool
	verbose   bool

	issued, correct, wrong, gaveUp, deaths, originDied int
	hops, latency                                      []int // latency in ms
	lookupBytes, lookupPackets                         uint64
}

func newSim(seed uint64, n int, churn time.Duration) (*sim, error) {
	cfg := simnet.DefaultConfig()
	// Latencies from points on a plane: they obey the triangle inequality,
	// so proximity neighbour selection has something to find.
	cfg.Latency = simnet.PlaneLatency(seed, 10*time.Millisecond, 130*time.Millisecond)
	net, err := simnet.New(seed, cfg)
	if err != nil {
		return nil, err
	}
	ring := btree.NewG(32, func(a, b *simNode) bool { return overlay.Compare(a.id, b.id) < 0 })
	return &sim{net: net, rng: rand.New(rand.NewPCG(seed, 3)), n: n, churn: churn, ring: ring, byAddr: map[netip.AddrPort]*simNode{}}, nil
}

func (s *sim) logf(format string, args ...any) {
	if s.verbose {
		fmt.Fprintf(os.Stderr, "dhtsim: "+format+"\n", args...)
	}
}

func addrOf(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 5850)
}

func idOf(a netip.AddrPort) overlay.ID { return overlay.ID(sha1.Sum([]byte(a.String()))) }

// randomJoined returns a random live node that has joined, or nil. Nodes
// still joining are a small minority, so a few draws find one.
func (s *sim) randomJoined() *simNode {
	for range 64 {
		if len(s.live) == 0 {
			return nil
		}
		if sn := s.live[s.rng.IntN(len(s.live))]; sn.ov.Joined() {
			return sn
		}
	}
	return nil
}

// spawn starts a new node joining through random live nodes.
func (s *sim) spawn() *simNode {
	a := addrOf(s.next)
	s.next++
	cfg := overlay.DefaultConfig()
	cfg.Seed = s.rng.Uint64()
	id := idOf(a)
	sn := &simNode{addr: a, id: id, ov: overlay.New(cfg, wire.Peer{ID: id, Addr: a}), alive: true}
	var err error
	if sn.ep, err = s.net.Attach(a, func(from netip.AddrPort, p []byte) { s.receive(sn, from, p) }); err != nil {
		panic(err)
	}
	if sn.clk, err = s.net.Clock(a, 0, 0); err != nil {
		panic(err)
	}
	// Three bootstrap nodes, as a deployment lists several: one may die
	// before the join completes. They are nodes of the ring, as a
	// deployment's well-known gateways are: a node that is still joining
	// knows no ring, and a join through it founds a ring of its own that
	// nobody outside knows (and whoever bootstraps through its members
	// later joins that ring too).
	var boot []netip.AddrPort
	for range 3 {
		if b := s.randomJoined(); b != nil {
			boot = append(boot, b.addr)
		}
	}
	sn.index = len(s.live)
	s.live = append(s.live, sn)
	s.ring.ReplaceOrInsert(sn)
	s.byAddr[a] = sn
	sn.ov.Join(sn.clk.Now(), boot)
	s.flush(sn)
	if s.churn > 0 {
		// Exponential sessions with the given median: mean = median / ln 2.
		life := time.Duration(s.rng.ExpFloat64() * float64(s.churn) / math.Ln2)
		s.net.After(life, func() { s.kill(sn) })
	}
	return sn
}

func (s *sim) kill(sn *simNode) {
	if !sn.alive {
		return
	}
	sn.alive = false
	s.deaths++
	if sn.timer != nil {
		sn.timer.Stop()
	}
	s.net.Detach(sn.addr)
	delete(s.byAddr, sn.addr)
	last := s.live[len(s.live)-1]
	s.live[sn.index], last.index = last, sn.index
	s.live = s.live[:len(s.live)-1]
	s.ring.Delete(sn)
	// Its lookups die with it: no one is left to receive the answer.
	s.originDied += len(sn.pending)
	sn.pending = nil
	sn.ov = nil // let the collector have the dead node's state
	s.spawn()   // a new node takes its place: N stays constant
}

func (s *sim) joinAll(settle time.Duration) {
	// Join in waves: each new node needs a live bootstrap, and a ring
	// grows fastest when joins overlap.
	for s.next < s.n {
		for range min(s.n-s.next, max(1, s.next/4)) {
			s.spawn()
		}
		s.net.RunFor(2 * time.Second)
	}
	s.net.RunFor(settle)
}

func (s *sim) receive(sn *simNode, from netip.AddrPort, p []byte) {
	if !sn.alive {
		return
	}
	env, err := wire.Decode(p)
	if err != nil {
		return
	}
	sn.ov.Receive(sn.clk.Now(), from, env)
	s.flush(sn)
}

func (s *sim) tick(sn *simNode) {
	if !sn.alive {
		return
	}
	sn.timer = nil
	sn.ov.Tick(sn.clk.Now())
	s.flush(sn)
}

var buf = make([]byte, 0, wire.MaxDatagram)

func (s *sim) flush(sn *simNode) {
	r := sn.ov.Ready()
	for _, out := range r.Sends {
		b, err := wire.Encode(buf[:0], out.Env)
		if err != nil {
			panic(err)
		}
		if s.measuring && s.isLookupTraffic(sn, out) {
			s.lookupBytes += uint64(len(b))
			s.lookupPackets++
		}
		_ = sn.ep.Send(out.To, b)
	}
	for _, id := range r.GaveUp {
		if sn.pending[id] != nil {
			delete(sn.pending, id)
			s.gaveUp++
		}
	}
	for _, f := range r.Found {
		l := sn.pending[f.ReqID]
		if l == nil {
			continue
		}
		delete(sn.pending, f.ReqID)
		ok, seen := l.verdicts[f.Root.ID]
		if !seen { // the origin is the root: the lookup reached it now
			ok = f.Root.ID == s.trueRoot(l.key)
		}
		if ok {
			s.correct++
			s.hops = append(s.hops, f.Hops)
			s.latency = append(s.latency, int(s.net.Now().Sub(l.at)/time.Millisecond))
		} else {
			s.wrong++
		}
	}
	if sn.timer != nil {
		sn.timer.Stop()
	}
	if w := sn.ov.NextWake(); !w.IsZero() {
		sn.timer = sn.clk.AfterFunc(max(w.Sub(sn.clk.Now()), time.Millisecond), func() { s.tick(sn) })
	}
}

// isLookupTraffic tells the measured lookups' messages from maintenance:
// the routed FindRoot messages and answers of lookups the driver issued.
// Their per-hop acknowledgements (a few bytes each) count as maintenance,
// which overstates it slightly. An answer sent by a node that thinks it is
// the root also records whether it is: the lookup has reached it now.
func (s *sim) isLookupTraffic(from *simNode, out overlay.Send) bool {
	switch m := out.Env.Msg.(type) {
	case *wire.Route:
		if m.Kind != wire.RouteFindRoot {
			return false
		}
		o := s.byAddr[m.Origin.Addr]
		return o != nil && o.pending[m.ReqID] != nil
	case *wire.RootIs:
		o := s.byAddr[out.To]
		if o == nil || o.pending[m.ReqID] == nil {
			return false
		}
		l := o.pending[m.ReqID]
		if l.verdicts == nil {
			l.verdicts = map[overlay.ID]bool{}
		}
		l.verdicts[from.id] = from.id == s.trueRoot(m.Key)
		return true
	}
	return false
}

// trueRoot is the live, joined node closest to key (a node still joining
// is not yet part of the DHT): the nearest joined node on either side of
// key in the ring of live nodes, wrapping around the ends.
func (s *sim) trueRoot(key overlay.ID) overlay.ID {
	var up, down *simNode
	pivot := &simNode{id: key}
	find := func(n *simNode) bool {
		if n.ov.Joined() {
			up = n
			return false
		}
		return true
	}
	s.ring.AscendGreaterOrEqual(pivot, find)
	if up == nil {
		s.ring.Ascend(find)
	}
	found := up
	up = nil
	s.ring.DescendLessOrEqual(pivot, find)
	if up == nil {
		s.ring.Descend(find)
	}
	down = up
	if found == nil || down == nil {
		panic("dhtsim: no joined node")
	}
	if overlay.Closer(key, down.id, found.id) {
		return down.id
	}
	return found.id
}

// lookups issues one lookup every interval from a random live node for a
// random key, for d of simulated time.
func (s *sim) lookups(every, d time.Duration) {
	s.measuring = true
	end := s.net.Now().Add(d)
	for s.net.Now().Before(end) {
		sn := s.live[s.rng.IntN(len(s.live))]
		var key overlay.ID
		binary.BigEndian.PutUint64(key[:], s.rng.Uint64())
		binary.BigEndian.PutUint64(key[8:], s.rng.Uint64())
		id := sn.ov.Lookup(sn.clk.Now(), key)
		if sn.pending == nil {
			sn.pending = map[uint64]*lookup{}
		}
		sn.pending[id] = &lookup{key: key, at: s.net.Now()}
		s.issued++
		s.flush(sn)
		s.net.RunFor(every)
	}
	s.measuring = false
}
