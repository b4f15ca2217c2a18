// Command dhtsim runs the real overlay code (impl/overlay) of thousands of
// nodes inside the deterministic simulator (impl/simnet) and reports
// routing hops, lookup success under churn and maintenance traffic:
//
//	dhtsim -n 1000 -churn 1.4m
//	nodes=1000 hops_mean=2.31 hops_p99=4 lookup_success=0.9950 maint_bytes_per_node_s=412
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
	"slices"
	"time"

	"github.com/opendht-go/opendht/impl/clock"
	"github.com/opendht-go/opendht/impl/overlay"
	"github.com/opendht-go/opendht/impl/simnet"
	"github.com/opendht-go/opendht/impl/wire"
)

func main() {
	n := flag.Int("n", 1000, "number of nodes (kept constant under churn)")
	churn := flag.Duration("churn", 0, "median session time (0: no churn); sessions are exponential, as in the Bamboo evaluation")
	warm := flag.Duration("warmup", 5*time.Minute, "simulated time after the joins before measuring")
	measure := flag.Duration("measure", 5*time.Minute, "simulated time of the measurement")
	lookupEvery := flag.Duration("lookup-every", 0, "interval between lookups (default: 100 lookups per simulated second, at most one per node per 10 s)")
	seed := flag.Uint64("seed", 1, "simulation seed")
	verbose := flag.Bool("v", false, "print progress")
	dhtMode := flag.Bool("dht", false, "simulate the whole DHT layer (node cores with in-memory stores, replication, anti-entropy, gateways) and report maintenance traffic without and with data")
	items := flag.Int("items", 100, "with -dht: items (1000-byte values) loaded per node")
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
	s.joinAll()
	s.logf("joined %d nodes at %v (wall %v)", *n, s.net.Elapsed(), time.Since(start).Round(time.Millisecond))
	s.net.RunFor(*warm)
	s.logf("warm at %v (wall %v)", s.net.Elapsed(), time.Since(start).Round(time.Millisecond))
	before := s.net.TotalStats()
	t0 := s.net.Now()
	s.lookups(every, *measure)
	s.net.RunFor(10 * time.Second) // let the last lookups finish
	after := s.net.TotalStats()
	secs := s.net.Now().Sub(t0).Seconds()
	maint := float64(after.Sent.Bytes-before.Sent.Bytes-s.lookupBytes) / float64(*n) / secs
	hops := s.hops
	slices.Sort(hops)
	mean, p99 := 0.0, 0
	if len(hops) > 0 {
		for _, h := range hops {
			mean += float64(h)
		}
		mean /= float64(len(hops))
		p99 = hops[int(math.Ceil(0.99*float64(len(hops))))-1]
	}
	success := float64(s.correct) / float64(max(s.issued, 1))
	s.logf("lookups issued=%d correct=%d wrong_root=%d unanswered=%d deaths=%d wall=%v young=%d mid=%d old=%d", s.issued, s.correct, s.wrong, s.issued-s.correct-s.wrong, s.deaths, time.Since(start).Round(time.Millisecond), s.young, s.mid, s.old)
	fmt.Printf("nodes=%d hops_mean=%.2f hops_p99=%d lookup_success=%.4f maint_bytes_per_node_s=%.0f\n", *n, mean, p99, success, maint)
}

type simNode struct {
	ov    *overlay.Node
	addr  netip.AddrPort
	ep    *simnet.Endpoint
	clk   *simnet.NodeClock
	timer clock.Timer
	alive bool
	born  time.Time
}

type lookup struct {
	key  overlay.ID
	at   time.Time
	from *simNode
}

type sim struct {
	net       *simnet.Network
	rng       *rand.Rand
	n         int
	churn     time.Duration
	nodes     []*simNode
	byAddr    map[netip.AddrPort]*simNode
	next      int
	pending   map[*simNode]map[uint64]lookup
	measuring bool
	verbose   bool

	issued, correct, wrong, deaths int
	young, mid, old                int
	hops                           []int
	lookupBytes                    uint64
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
	return &sim{net: net, rng: rand.New(rand.NewPCG(seed, 3)), n: n, churn: churn, byAddr: map[netip.AddrPort]*simNode{}, pending: map[*simNode]map[uint64]lookup{}}, nil
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

// spawn starts a new node joining through a random live node.
func (s *sim) spawn() *simNode {
	a := addrOf(s.next)
	s.next++
	cfg := overlay.DefaultConfig()
	cfg.Seed = s.rng.Uint64()
	sn := &simNode{addr: a, ov: overlay.New(cfg, wire.Peer{ID: idOf(a), Addr: a}), alive: true, born: s.net.Now()}
	var err error
	if sn.ep, err = s.net.Attach(a, func(from netip.AddrPort, p []byte) { s.receive(sn, from, p) }); err != nil {
		panic(err)
	}
	if sn.clk, err = s.net.Clock(a, 0, 0); err != nil {
		panic(err)
	}
	// Three bootstrap nodes, as a deployment lists several: one may die
	// before the join completes.
	var boot []netip.AddrPort
	if live := s.live(); len(live) > 0 {
		for range 3 {
			boot = append(boot, live[s.rng.IntN(len(live))].addr)
		}
	}
	s.nodes = append(s.nodes, sn)
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
	delete(s.pending, sn) // its lookups are lost with it: not counted
	s.spawn()             // a new node takes its place: N stays constant
}

func (s *sim) live() []*simNode {
	var out []*simNode
	for _, sn := range s.nodes {
		if sn.alive {
			out = append(out, sn)
		}
	}
	return out
}

func (s *sim) joinAll() {
	// Join in waves: each new node needs a live bootstrap, and a ring
	// grows fastest when joins overlap.
	for s.next < s.n {
		for range min(s.n-s.next, max(1, s.next/4)) {
			s.spawn()
		}
		s.net.RunFor(2 * time.Second)
	}
	s.net.RunFor(time.Minute)
	s.compact()
}

// compact drops dead nodes from the list so that live() stays cheap.
func (s *sim) compact() {
	s.nodes = slices.DeleteFunc(s.nodes, func(sn *simNode) bool { return !sn.alive })
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
		if s.measuring && s.isLookupTraffic(out) {
			s.lookupBytes += uint64(len(b))
		}
		_ = sn.ep.Send(out.To, b)
	}
	for _, f := range r.Found {
		l, ok := s.pending[sn][f.ReqID]
		if !ok {
			continue
		}
		delete(s.pending[sn], f.ReqID)
		if f.Root.ID == s.trueRoot(l.key) {
			s.correct++
			s.hops = append(s.hops, f.Hops)
		} else {
			s.wrong++
			tr := s.trueRoot(l.key)
			for _, x := range s.nodes {
				if x.alive && x.ov.Self().ID == tr {
					age := s.net.Now().Sub(x.born)
					switch {
					case age < 10*time.Second:
						s.young++
					case age < 60*time.Second:
						s.mid++
					default:
						s.old++
					}
				}
			}
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
// which overstates it slightly.
func (s *sim) isLookupTraffic(out overlay.Send) bool {
	switch m := out.Env.Msg.(type) {
	case *wire.Route:
		if m.Kind != wire.RouteFindRoot {
			return false
		}
		_, ok := s.pending[s.byAddr[m.Origin.Addr]][m.ReqID]
		return ok
	case *wire.RootIs:
		_, ok := s.pending[s.byAddr[out.To]][m.ReqID]
		return ok
	}
	return false
}

// trueRoot is the live, joined node closest to key (a node still joining
// is not yet part of the DHT).
func (s *sim) trueRoot(key overlay.ID) overlay.ID {
	var best *overlay.ID
	for _, sn := range s.nodes {
		if !sn.alive || !sn.ov.Joined() {
			continue
		}
		id := sn.ov.Self().ID
		if best == nil || overlay.Closer(key, id, *best) {
			best = &id
		}
	}
	return *best
}

// lookups issues one lookup every interval from a random live node for a
// random key, for d of simulated time.
func (s *sim) lookups(every, d time.Duration) {
	s.measuring = true
	end := s.net.Now().Add(d)
	for s.net.Now().Before(end) {
		live := s.live()
		sn := live[s.rng.IntN(len(live))]
		var key overlay.ID
		binary.BigEndian.PutUint64(key[:], s.rng.Uint64())
		binary.BigEndian.PutUint64(key[8:], s.rng.Uint64())
		id := sn.ov.Lookup(sn.clk.Now(), key)
		if s.pending[sn] == nil {
			s.pending[sn] = map[uint64]lookup{}
		}
		s.pending[sn][id] = lookup{key: key, at: s.net.Now(), from: sn}
		s.issued++
		s.flush(sn)
		s.net.RunFor(every)
		if s.issued%1000 == 0 {
			s.compact()
		}
	}
	s.measuring = false
}
