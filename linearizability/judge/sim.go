package judge

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/simhost"
	"github.com/opendht-go/opendht/impl/simnet"
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

// simNode is one node: a simulated host (impl/simhost) and the handle
// of its running node.
type simNode struct {
	c    *simCluster
	i    int
	addr netip.AddrPort
	h    *simhost.Host
	n    *node.Node
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
	sn := &simNode{c: c, i: i, addr: c.addr(i)}
	sn.h = simhost.New(c.net, sn.addr, simhost.Config{
		Node: c.cfg,
		// The node hears of its fsyncs after up to 3 ms, as from its
		// syncer goroutine.
		FsyncLatency: func() time.Duration { return time.Duration(c.rng.IntN(3000)) * time.Microsecond },
		Fail:         c.fail,
	})
	c.nodes = append(c.nodes, sn)
	sn.start()
	return sn
}

func (sn *simNode) start() {
	c := sn.c
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
	// Clocks are a little off and drift: the skew bound of the checker.
	offset, drift := time.Duration(c.rng.IntN(400)-200)*time.Millisecond, (c.rng.Float64()-0.5)*1e-4
	if err := sn.h.Start(simhost.Start{Boot: boot, Seed: c.rng.Uint64(), ClockOffset: offset, ClockDrift: drift}); err != nil {
		c.fail(fmt.Errorf("node %d: %w", sn.i, err))
		return
	}
	sn.n = sn.h.Node()
}

// call starts a gateway request at this node; done gets its completion
// (simhost.ErrCrashed, a timeout, if the node crashes first: the outcome
// is unknown).
func (sn *simNode) call(start func(now time.Time) uint64, done func(node.Completion)) {
	sn.h.Call(start, done)
}

// crash kills the node: memory lost, disk kept as far as it was synced.
func (sn *simNode) crash() {
	sn.h.Crash()
}

func (c *simCluster) live() []*simNode {
	var out []*simNode
	for _, sn := range c.nodes {
		if sn.h.Alive() {
			out = append(out, sn)
		}
	}
	return out
}

func (c *simCluster) close() {
	for _, sn := range c.nodes {
		sn.h.Close()
	}
}
