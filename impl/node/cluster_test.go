package node

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/opendht-go/opendht/impl/clock"
	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/overlay"
	"github.com/opendht-go/opendht/impl/simnet"
	"github.com/opendht-go/opendht/impl/store"
	"github.com/opendht-go/opendht/impl/wire"
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
	cfg   Config
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
	variant Variant
}

type simNode struct {
	c       *cluster
	i       int
	addr    netip.AddrPort
	n       *Node
	ep      *simnet.Endpoint
	clk     *simnet.NodeClock
	fs      *vfs.MemFS
	st      *store.Store
	timer   clock.Timer
	alive   bool
	pending map[uint64]int // request id -> index in the history
	// waiting are requests whose caller takes the completion itself.
	waiting map[uint64]func(Completion)
	// holdSyncs keeps this node's fsync notifications in held instead of
	// delivering them: a disk that does not finish its fsyncs.
	holdSyncs bool
	held      []func()
}

func newCluster(t fataler, seed uint64, n int, cfg Config) *cluster {
	return newClusterOn(t, seed, 5850, n, cfg)
}

// newClusterOn is newCluster with the nodes on UDP port port: another port
// gives other node IDs, so another shape of the ring.
func newClusterOn(t fataler, seed uint64, port uint16, n int, cfg Config) *cluster {
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
	sn := &simNode{c: c, i: i, addr: c.addr(i), fs: vfs.NewCrashableMem(), pending: map[uint64]int{}, waiting: map[uint64]func(Completion){}}
	c.nodes = append(c.nodes, sn)
	sn.start()
	return sn
}

func (sn *simNode) start() {
	c := sn.c
	scfg := store.DefaultConfig("db")
	scfg.FS = sn.fs
	scfg.Capacity = 64 << 20
	scfg.CacheSize = 1 << 20
	st, err := store.Open(scfg)
	if err != nil {
		c.t.Fatalf("node %d: open store: %v", sn.i, err)
	}
	sn.st = st
	sn.ep, err = c.net.Attach(sn.addr, sn.receive)
	if err != nil {
		c.t.Fatal(err)
	}
	// Clocks are a little off and drift (the skew bound of the checker).
	sn.clk, err = c.net.Clock(sn.addr, time.Duration(c.rng.IntN(400)-200)*time.Millisecond, (c.rng.Float64()-0.5)*1e-4)
	if err != nil {
		c.t.Fatal(err)
	}
	cfg := c.cfg
	cfg.Overlay.Seed = c.rng.Uint64()
	sn.n = New(cfg, wire.Peer{ID: IDFor(sn.addr), Addr: sn.addr}, diskOf(c.t, st, cfg), nil)
	plant(c.t, sn.n, c.variant)
	sn.alive = true
	var boot []netip.AddrPort
	if sn.i != 0 || c.boot.IsValid() {
		boot = []netip.AddrPort{c.boot}
		if !c.boot.IsValid() || c.boot == sn.addr {
			boot = []netip.AddrPort{c.addr(0)}
		}
	} else {
		c.boot = sn.addr
	}
	sn.n.Join(sn.clk.Now(), boot)
	sn.flush()
}

func (sn *simNode) receive(from netip.AddrPort, payload []byte) {
	if !sn.alive {
		return
	}
	sn.n.Receive(sn.clk.Now(), from, payload)
	sn.flush()
}

func (sn *simNode) tick() {
	if !sn.alive {
		return
	}
	sn.timer = nil
	sn.n.Tick(sn.clk.Now())
	sn.flush()
}

func (sn *simNode) flush() {
	syncs := RunInline(sn.n, sn.st, sn.clk.Now, func(s overlay.Send) {
		b, err := wire.Encode(nil, s.Env)
		if err != nil {
			sn.c.t.Fatalf("encode: %v", err)
		}
		_ = sn.ep.Send(s.To, b)
	}, func(d Completion) {
		if f, ok := sn.waiting[d.ReqID]; ok {
			delete(sn.waiting, d.ReqID)
			f(d)
			return
		}
		if k, ok := sn.pending[d.ReqID]; ok {
			delete(sn.pending, d.ReqID)
			e := &sn.c.hist[k]
			e.Return = sn.c.net.Now()
			if d.Err != nil {
				e.Unknown = true
				return
			}
			e.Status, e.Values = d.Status, d.Values
		}
	})
	if len(syncs) > 0 {
		// Writes, replication and acknowledgements interleave with the
		// fsyncs, which take up to 3 ms.
		n := sn.n
		tell := func() {
			if !sn.alive || sn.n != n {
				return // crashed meanwhile: nobody is told
			}
			now := sn.clk.Now()
			for _, s := range syncs {
				sn.n.Synced(now, s.Seq, s.Err)
			}
			sn.flush()
		}
		if sn.holdSyncs {
			sn.held = append(sn.held, tell)
		} else {
			sn.clk.AfterFunc(time.Duration(sn.c.rng.IntN(3000))*time.Microsecond, tell)
		}
	}
	if sn.timer != nil {
		sn.timer.Stop()
	}
	if w := sn.n.NextWake(); !w.IsZero() {
		sn.timer = sn.clk.AfterFunc(max(w.Sub(sn.clk.Now()), time.Millisecond), sn.tick)
	}
}

// crash kills the node: memory lost, disk kept (what was synced).
func (sn *simNode) crash() {
	sn.alive = false
	if sn.timer != nil {
		sn.timer.Stop()
	}
	sn.c.net.Detach(sn.addr)
	clone := sn.fs.CrashClone(vfs.CrashCloneCfg{})
	_ = sn.st.Close()
	sn.fs = clone
	for _, k := range sn.pending { // the client's gateway died: outcome unknown
		sn.c.hist[k].Unknown = true
	}
	sn.pending = map[uint64]int{}
	sn.waiting = map[uint64]func(Completion){}
}

func (c *cluster) live() []*simNode {
	var out []*simNode
	for _, sn := range c.nodes {
		if sn.alive {
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
// unknown (without a return), and the checkers pass it by.
func (c *cluster) startPagedGet(first *simNode, key dht.Key, maxvals int) {
	idx := len(c.hist)
	c.hist = append(c.hist, linearizability.Event{Client: first.i, Kind: linearizability.OpGet, Key: key, Call: c.net.Now(), Unknown: true})
	var page func(gw *simNode, pm []byte, tries int)
	page = func(gw *simNode, pm []byte, tries int) {
		id := gw.n.Get(gw.clk.Now(), dht.Get{Key: key, MaxVals: maxvals, Placemark: pm})
		gw.waiting[id] = func(d Completion) {
			e := &c.hist[idx]
			if d.Err != nil {
				if tries < 5 {
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
		}
		gw.flush()
	}
	page(first, nil, 0)
}

// opAt issues one client operation at gateway sn.
func (c *cluster) opAt(sn *simNode, kind linearizability.OpKind, key dht.Key, value []byte, secret []byte, ttl int64) {
	now := sn.clk.Now()
	e := linearizability.Event{Client: sn.i, Kind: kind, Key: key, Value: value, TTL: ttl, Call: c.net.Now()}
	var id uint64
	switch kind {
	case linearizability.OpPut:
		p := dht.Put{Client: dht.ClientID(fmt.Sprintf("192.0.2.%d", c.rng.IntN(8))), Key: key, Value: value, TTL: ttl}
		if secret != nil {
			p.SecretHash = dht.SHA1(secret)
		}
		e.SecretHash = p.SecretHash
		id = sn.n.Put(now, p)
	case linearizability.OpRemove:
		e.SecretHash = dht.SHA1(secret)
		id = sn.n.Remove(now, dht.Remove{Client: "192.0.2.200", Key: key, ValueHash: dht.SHA1(value), Secret: secret, TTL: ttl})
	case linearizability.OpGet:
		id = sn.n.Get(now, dht.Get{Key: key, MaxVals: 100})
	}
	c.hist = append(c.hist, e)
	sn.pending[id] = len(c.hist) - 1
	sn.flush()
}

func testKeyN(i int) dht.Key {
	return dht.Key(IDFor(netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), 1)))
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
			id := sn.n.Get(sn.clk.Now(), dht.Get{Key: testKeyN(k), MaxVals: 100})
			c.hist = append(c.hist, e)
			sn.pending[id] = len(c.hist) - 1
			sn.flush()
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
	c := newCluster(t, 1, 16, DefaultConfig())
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
		if overlay.Closer(key, a.n.self.ID, b.n.self.ID) {
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

// diskOf reads what a node needs of its store at start, as a driver does.
func diskOf(t fataler, st *store.Store, cfg Config) Disk {
	d := Disk{ReplyCap: st.ReplyCap(), Registers: map[dht.Key][]byte{}}
	if err := st.ScanState(cfg.RMW, func(k dht.Key, v []byte) bool { d.Registers[k] = v; return true }); err != nil {
		t.Fatalf("read the registers' states: %v", err)
	}
	return d
}

// plant gives a node a variant. A test that needs one in a build without
// them is skipped with the reason (make test builds with -tags variants).
func plant(t fataler, n *Node, v Variant) {
	if v == (Variant{}) {
		return
	}
	if err := Plant(n, v); err != nil {
		if s, ok := t.(interface{ Skipf(string, ...any) }); ok {
			s.Skipf("%v", err)
		}
		t.Fatalf("%v", err)
	}
}
