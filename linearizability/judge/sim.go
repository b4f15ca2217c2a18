package judge

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/opendht-go/opendht/impl/clock"
	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/overlay"
	"github.com/opendht-go/opendht/impl/simnet"
	"github.com/opendht-go/opendht/impl/store"
	"github.com/opendht-go/opendht/impl/wire"
)

// simCluster runs real nodes (overlay, replication, the protocol, Pebble
// stores on in-memory filesystems that survive crashes with what was
// synced) inside the deterministic simulator.
type simCluster struct {
	net   *simnet.Network
	cfg   node.Config
	rng   *rand.Rand
	nodes []*simNode
	boot  netip.AddrPort
	err   error // the first harness failure (not a protocol failure)
}

type simNode struct {
	c     *simCluster
	i     int
	addr  netip.AddrPort
	n     *node.Node
	ep    *simnet.Endpoint
	clk   *simnet.NodeClock
	fs    *vfs.MemFS
	st    *store.Store
	timer clock.Timer
	alive bool
	// done receives the node's completions for its gateway clients; a
	// crash calls them with errGatewayCrashed.
	done map[uint64]func(node.Completion)
}

func newSimCluster(seed uint64, n int, cfg node.Config) (*simCluster, error) {
	net, err := simnet.New(seed, simnet.DefaultConfig())
	if err != nil {
		return nil, err
	}
	c := &simCluster{net: net, cfg: cfg, rng: rand.New(rand.NewPCG(seed, 0x6a))}
	for i := range n {
		c.addNode(i)
		c.net.RunFor(200 * time.Millisecond)
	}
	return c, c.err
}

func (c *simCluster) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

func (c *simCluster) addr(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 7, byte(i >> 8), byte(i)}), 5850)
}

func (c *simCluster) addNode(i int) *simNode {
	sn := &simNode{c: c, i: i, addr: c.addr(i), fs: vfs.NewCrashableMem()}
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
		c.fail(fmt.Errorf("node %d: open store: %w", sn.i, err))
		return
	}
	sn.st = st
	sn.ep, err = c.net.Attach(sn.addr, sn.receive)
	if err != nil {
		c.fail(err)
		return
	}
	// Clocks are a little off and drift: the skew bound of the checker.
	sn.clk, err = c.net.Clock(sn.addr, time.Duration(c.rng.IntN(400)-200)*time.Millisecond, (c.rng.Float64()-0.5)*1e-4)
	if err != nil {
		c.fail(err)
		return
	}
	cfg := c.cfg
	cfg.Overlay.Seed = c.rng.Uint64()
	disk := node.Disk{ReplyCap: st.ReplyCap(), Registers: map[dht.Key][]byte{}}
	if err := st.ScanState(cfg.RMW, func(k dht.Key, v []byte) bool { disk.Registers[k] = v; return true }); err != nil {
		c.fail(err)
		return
	}
	sn.n = node.New(cfg, wire.Peer{ID: node.IDFor(sn.addr), Addr: sn.addr}, disk, nil)
	sn.alive = true
	sn.done = map[uint64]func(node.Completion){}
	var boot []netip.AddrPort
	if c.boot.IsValid() {
		boot = []netip.AddrPort{c.boot}
		if c.boot == sn.addr {
			boot = []netip.AddrPort{c.addr(0)}
			if sn.i == 0 {
				boot = []netip.AddrPort{c.addr(1)}
			}
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

// call starts a gateway request at this node; done gets its completion.
func (sn *simNode) call(start func(now time.Time) uint64, done func(node.Completion)) {
	id := start(sn.clk.Now())
	sn.done[id] = done
	sn.flush()
}

func (sn *simNode) flush() {
	syncs := node.RunInline(sn.n, sn.st, sn.clk.Now, func(s overlay.Send) {
		b, err := wire.Encode(nil, s.Env)
		if err != nil {
			sn.c.fail(fmt.Errorf("encode: %w", err))
			return
		}
		_ = sn.ep.Send(s.To, b)
	}, func(d node.Completion) {
		if f, ok := sn.done[d.ReqID]; ok {
			delete(sn.done, d.ReqID)
			f(d)
		}
	})
	if len(syncs) > 0 {
		// The node hears of its fsyncs after up to 3 ms, as from its
		// syncer goroutine.
		n := sn.n
		sn.clk.AfterFunc(time.Duration(sn.c.rng.IntN(3000))*time.Microsecond, func() {
			if !sn.alive || sn.n != n {
				return
			}
			now := sn.clk.Now()
			for _, s := range syncs {
				sn.n.Synced(now, s.Seq, s.Err)
			}
			sn.flush()
		})
	}
	if sn.timer != nil {
		sn.timer.Stop()
	}
	if w := sn.n.NextWake(); !w.IsZero() {
		sn.timer = sn.clk.AfterFunc(max(w.Sub(sn.clk.Now()), time.Millisecond), sn.tick)
	}
}

// crash kills the node: memory lost, disk kept as far as it was synced.
// The gateway's clients in flight never hear back (their outcome is
// unknown): they are told through their lost callbacks.
func (sn *simNode) crash() {
	sn.alive = false
	if sn.timer != nil {
		sn.timer.Stop()
	}
	sn.c.net.Detach(sn.addr)
	clone := sn.fs.CrashClone(vfs.CrashCloneCfg{})
	_ = sn.st.Close()
	sn.fs = clone
	done := sn.done
	sn.done = map[uint64]func(node.Completion){}
	for _, id := range slices.Sorted(maps.Keys(done)) { // in a replayable order
		done[id](node.Completion{Err: errGatewayCrashed})
	}
}

var errGatewayCrashed = crashError{}

type crashError struct{}

func (crashError) Error() string { return "gateway crashed" }
func (crashError) Timeout() bool { return true }

func (c *simCluster) live() []*simNode {
	var out []*simNode
	for _, sn := range c.nodes {
		if sn.alive {
			out = append(out, sn)
		}
	}
	return out
}

func (c *simCluster) close() {
	for _, sn := range c.nodes {
		if sn.alive {
			sn.alive = false
			_ = sn.st.Close()
		}
	}
}
