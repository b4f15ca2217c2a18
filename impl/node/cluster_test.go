package node_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/overlay"
	"github.com/opendht-go/opendht/impl/simhost"
	"github.com/opendht-go/opendht/impl/simnet"
	"github.com/opendht-go/opendht/impl/store"
	"github.com/opendht-go/opendht/linearizability"
)

// cluster runs real nodes (overlay, replication, Pebble stores on
// in-memory filesystems) inside the deterministic simulator.
// fataler is what the harness needs of a test: *testing.T or *rapid.T.
type fataler interface {
	Fatalf(format string, args ...any)
	Fatal(args ...any)
}

type cluster struct {
	t     fataler
	net   *simnet.Network
	cfg   node.Config
	nodes []*simNode
	rng   *rand.Rand
	boot  netip.AddrPort
	port  uint16 // every node's UDP port: node IDs hash the address
	hist  linearizability.History
	// faults are the intervals the cluster was not whole.
	faults []linearizability.Interval
	// changes are single changes of the replica sets (one join, departure,
	// crash or restart), which RD-7 tolerates W+R-n of; a change is
	// either here or in faults.
	changes []linearizability.Interval
	// variant is planted in every node the cluster starts (variants.go).
	variant node.Variant
}

// simNode is one node of the cluster: a simulated host (impl/simhost)
// and the handles the tests use, refreshed at every start.
type simNode struct {
	c    *cluster
	i    int
	addr netip.AddrPort
	h    *simhost.Host
	n    *node.Node
	clk  *simnet.NodeClock
	st   *store.Store
}

func newCluster(t fataler, seed uint64, n int, cfg node.Config) *cluster {
	return newClusterOn(t, seed, 5850, n, cfg)
}

// newClusterOn is newCluster with the nodes on UDP port port: another port
// gives other node IDs, so another shape of the ring.
func newClusterOn(t fataler, seed uint64, port uint16, n int, cfg node.Config) *cluster {
	nc := simnet.DefaultConfig()
	net, err := simnet.New(seed, nc)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, net: net, cfg: cfg, port: port, rng: rand.New(rand.NewPCG(seed, 99))}
	for i := range n {
		c.addNode(i)
		c.net.RunFor(200 * time.Millisecond)
	}
	return c
}

func (c *cluster) addr(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), c.port)
}

func (c *cluster) addNode(i int) *simNode {
	sn := &simNode{c: c, i: i, addr: c.addr(i)}
	sn.h = simhost.New(c.net, sn.addr, simhost.Config{
		Node: c.cfg,
		// Writes, replication and acknowledgements interleave with the
		// fsyncs, which take up to 3 ms.
		FsyncLatency: func() time.Duration { return time.Duration(c.rng.IntN(3000)) * time.Microsecond },
		Started:      func(n *node.Node) { plant(c.t, n, sn.h.Store(), c.variant) },
		Fail:         func(err error) { c.t.Fatalf("node %d: %v", i, err) },
	})
	c.nodes = append(c.nodes, sn)
	sn.start()
	return sn
}

func (sn *simNode) start() {
	c := sn.c
	var boot []netip.AddrPort
	if sn.i != 0 || c.boot.IsValid() {
		boot = []netip.AddrPort{c.boot}
		if !c.boot.IsValid() || c.boot == sn.addr {
			boot = []netip.AddrPort{c.addr(0)}
		}
	} else {
		c.boot = sn.addr
	}
	// Clocks are a little off and drift (the skew bound of the checker).
	offset, drift := time.Duration(c.rng.IntN(400)-200)*time.Millisecond, (c.rng.Float64()-0.5)*1e-4
	if err := sn.h.Start(simhost.Start{Boot: boot, Seed: c.rng.Uint64(), ClockOffset: offset, ClockDrift: drift}); err != nil {
		c.t.Fatalf("node %d: %v", sn.i, err)
	}
	sn.n, sn.clk, sn.st = sn.h.Node(), sn.h.Clock(), sn.h.Store()
}

// call starts a request at sn as its gateway; done gets its completion
// (simhost.ErrCrashed if the node crashes first).
func (sn *simNode) call(start func(now time.Time) uint64, done func(node.Completion)) {
	sn.h.Call(start, done)
}

// record starts a request at sn and records its outcome in the history
// entry k: a crash of the gateway leaves it unknown, without a return.
func (sn *simNode) record(k int, start func(now time.Time) uint64) {
	c := sn.c
	sn.call(start, func(d node.Completion) {
		e := &c.hist[k]
		if errors.Is(d.Err, simhost.ErrCrashed) {
			e.Unknown = true
			return
		}
		e.Return = c.net.Now()
		if d.Err != nil {
			e.Unknown = true
			return
		}
		e.Status, e.Values = d.Status, d.Values
	})
}

// crash kills the node: memory lost, disk kept (what was synced).
func (sn *simNode) crash() {
	sn.h.Crash()
}

func (c *cluster) live() []*simNode {
	var out []*simNode
	for _, sn := range c.nodes {
		if sn.h.Alive() {
			out = append(out, sn)
		}
	}
	return out
}

// op issues one client operation at a random live gateway.
func (c *cluster) op(kind linearizability.OpKind, key dht.Key, value []byte, secret []byte, ttl int64) {
	live := c.live()
	c.opAt(live[c.rng.IntN(len(live))], kind, key, value, secret, ttl)
}

// startPagedGet starts a get that follows placemarks in pages of maxvals,
// each page at a live gateway drawn afresh (a client that spreads its
// calls over gateways), and records the whole iteration as one get whose
// values are its pages' values, repeats included. A page that fails is
// tried again, up to five times; a get that never finishes is left
// unknown (without a return), and the checkers pass it by. With fast,
// every page is a fast read (RD-14).
func (c *cluster) startPagedGet(first *simNode, key dht.Key, maxvals int, fast bool) {
	idx := len(c.hist)
	c.hist = append(c.hist, linearizability.Event{Client: first.i, Kind: linearizability.OpGet, Key: key, Call: c.net.Now(), Unknown: true, Fast: fast})
	var page func(gw *simNode, pm []byte, tries int)
	page = func(gw *simNode, pm []byte, tries int) {
		gw.call(func(now time.Time) uint64 {
			return gw.n.Get(now, dht.Get{Key: key, MaxVals: maxvals, Placemark: pm, Fast: fast})
		}, func(d node.Completion) {
			e := &c.hist[idx]
			if d.Err != nil {
				if tries < 5 && gw.h.Alive() {
					page(gw, pm, tries+1)
				}
				return
			}
			e.Values = append(e.Values, d.Values...)
			if len(d.Placemark) == 0 {
				e.Return, e.Unknown = c.net.Now(), false
				return
			}
			live := c.live()
			page(live[c.rng.IntN(len(live))], d.Placemark, 0)
		})
	}
	page(first, nil, 0)
}

// opAt issues one client operation at gateway sn.
func (c *cluster) opAt(sn *simNode, kind linearizability.OpKind, key dht.Key, value []byte, secret []byte, ttl int64) {
	e := linearizability.Event{Client: sn.i, Kind: kind, Key: key, Value: value, TTL: ttl, Call: c.net.Now()}
	var start func(now time.Time) uint64
	switch kind {
	case linearizability.OpPut:
		p := dht.Put{Client: dht.ClientID(fmt.Sprintf("192.0.2.%d", c.rng.IntN(8))), Key: key, Value: value, TTL: ttl}
		if secret != nil {
			p.SecretHash = dht.SHA1(secret)
		}
		e.SecretHash = p.SecretHash
		start = func(now time.Time) uint64 { return sn.n.Put(now, p) }
	case linearizability.OpRemove:
		e.SecretHash = dht.SHA1(secret)
		r := dht.Remove{Client: "192.0.2.200", Key: key, ValueHash: dht.SHA1(value), Secret: secret, TTL: ttl}
		start = func(now time.Time) uint64 { return sn.n.Remove(now, r) }
	case linearizability.OpGet:
		start = func(now time.Time) uint64 { return sn.n.Get(now, dht.Get{Key: key, MaxVals: 100}) }
	}
	c.hist = append(c.hist, e)
	sn.record(len(c.hist)-1, start)
}

// fastGetAt issues one fast get (RD-14) at gateway sn.
func (c *cluster) fastGetAt(sn *simNode, key dht.Key) {
	c.hist = append(c.hist, linearizability.Event{Client: sn.i, Kind: linearizability.OpGet, Key: key, Call: c.net.Now(), Fast: true})
	sn.record(len(c.hist)-1, func(now time.Time) uint64 { return sn.n.Get(now, dht.Get{Key: key, MaxVals: 100, Fast: true}) })
}

func testKeyN(i int) dht.Key {
	return dht.Key(node.IDFor(netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), 1)))
}

// settleAndRead heals everything, waits, and reads every key from every
// live node: the final read phase of the eventual-consistency check.
func (c *cluster) settleAndRead(keys int, settle time.Duration) time.Time {
	c.net.Heal()
	_ = c.net.SetFaults(simnet.Faults{})
	c.net.RunFor(settle)
	final := c.net.Now()
	for k := range keys {
		for _, sn := range c.live() {
			e := linearizability.Event{Client: sn.i, Kind: linearizability.OpGet, Key: testKeyN(k), Call: c.net.Now()}
			c.hist = append(c.hist, e)
			sn.record(len(c.hist)-1, func(now time.Time) uint64 { return sn.n.Get(now, dht.Get{Key: testKeyN(k), MaxVals: 100}) })
		}
		c.net.RunFor(2 * time.Second)
	}
	c.net.RunFor(20 * time.Second)
	return final
}

func (c *cluster) checkEventual(final time.Time) []linearizability.Violation {
	return linearizability.CheckEventual(c.hist, linearizability.EventualConfig{
		MaxTTL: dht.MaxTTL, Skew: 2 * time.Second, Settle: 30 * time.Second, FinalReads: final, Faults: c.faults,
	})
}

// TestClusterPutGetNoFaults: 16 nodes in the simulator, a workload of
// puts, removes and gets; the history is eventually consistent.
func TestClusterPutGetNoFaults(t *testing.T) {
	c := newCluster(t, 1, 16, node.DefaultConfig())
	c.net.RunFor(time.Minute)
	for i := range 200 {
		k := testKeyN(i % 5)
		v := []byte(fmt.Sprintf("v%d", i))
		c.op(linearizability.OpPut, k, v, []byte("s"), 3600)
		c.net.RunFor(100 * time.Millisecond)
		if i%7 == 3 {
			c.op(linearizability.OpRemove, k, []byte(fmt.Sprintf("v%d", i-3)), []byte("s"), 3600)
		}
		if i%3 == 0 {
			c.op(linearizability.OpGet, k, nil, nil, 0)
		}
	}
	final := c.settleAndRead(5, 30*time.Second)
	done, unknown, ok := 0, 0, 0
	for _, e := range c.hist {
		switch {
		case e.Unknown:
			unknown++
		case !e.Return.IsZero():
			done++
			if e.Kind != linearizability.OpGet && e.Status == dht.StatusOK {
				ok++
			}
		}
	}
	t.Logf("ops=%d done=%d unknown=%d writes ok=%d", len(c.hist), done, unknown, ok)
	if v := c.checkEventual(final); len(v) > 0 {
		t.Fatalf("%d violations, first: %v", len(v), v[0])
	}
	if ok < 200 {
		t.Fatalf("only %d writes succeeded without faults", ok)
	}
	if bad := c.converged(5); len(bad) > 0 {
		t.Fatalf("replicas did not converge: %v", bad)
	}
}

// converged checks that, for every key, the live replica set (the
// Replicas live nodes closest to the key) holds the same live items and
// tombstones: anti-entropy has repaired every replica. It returns the
// keys that differ.
// closestTo returns the nodes ordered by closeness to key, closest (the
// root) first.
func closestTo(key dht.Key, nodes []*simNode) []*simNode {
	set := slices.Clone(nodes)
	slices.SortFunc(set, func(a, b *simNode) int {
		if overlay.Closer(key, a.n.Self().ID, b.n.Self().ID) {
			return -1
		}
		return 1
	})
	return set
}

func (c *cluster) converged(keys int) []string {
	var bad []string
	live := c.live()
	for k := range keys {
		key := testKeyN(k)
		set := closestTo(key, live)
		set = set[:min(len(set), c.cfg.Replicas)]
		var want []string
		// One reference time for every replica: entries expiring within
		// seconds of it may be gone on one replica and not yet on another,
		// and each node's own clock is a little off (up to 200 ms here), so
		// a window taken from each node's clock would disagree at its edge.
		ref := dht.Time(c.net.Now().Unix())
		for i, sn := range set {
			var got []string
			_ = sn.st.Scan(ref-10, func(r store.Record) bool {
				if r.ID.Key == key && r.Expiry > ref+5 {
					got = append(got, fmt.Sprintf("%x/%v", r.ID.ValueHash[:4], r.Tombstone))
				}
				return true
			})
			if i == 0 {
				want = got
			} else if !slices.Equal(want, got) {
				bad = append(bad, fmt.Sprintf("key %d: node %d holds %v, node %d holds %v", k, set[0].i, want, sn.i, got))
			}
		}
	}
	return bad
}

// plant gives node n, which runs on store st, the variant v (and the
// store its part of v, node.PlantStore). A test that needs one in a build
// without them is skipped with the reason (make test builds with -tags
// variants).
func plant(t fataler, n *node.Node, st *store.Store, v node.Variant) {
	if v == (node.Variant{}) {
		return
	}
	err := node.Plant(n, v)
	if err == nil {
		err = node.PlantStore(st, v)
	}
	if err != nil {
		if s, ok := t.(interface{ Skipf(string, ...any) }); ok {
			s.Skipf("%v", err)
		}
		t.Fatalf("%v", err)
	}
}
