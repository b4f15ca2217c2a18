package node_test

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/wire"
)

// TestRegisterSetHeldThroughPartition (RR-3): a node cut off from the
// ring leaves its neighbours' leaf sets within seconds, but stays in the
// register replica sets they compute until MemberHold has passed; after
// that it is replaced, and once the partition heals it is back. The
// negative control, a hold of one second, shows that the hold is what
// keeps the sets still: without it the set changes during the partition.
func TestRegisterSetHeldThroughPartition(t *testing.T) {
	for _, hold := range []time.Duration{2 * time.Minute, time.Second} {
		cfg := node.DefaultConfig()
		cfg.MemberHold = hold
		c := newCluster(t, 7, 10, cfg)
		c.net.RunFor(time.Minute)
		key := testKeyN(3)
		set := closestTo(key, c.live())
		x, a := set[1], set[0] // x in the key's replica set; a, the root, watches
		ids := func(ps []wire.Peer) []dht.Key {
			var out []dht.Key
			for _, p := range ps {
				out = append(out, p.ID)
			}
			return out
		}
		if !slices.Contains(ids(a.n.RegisterSetOf(key)), x.n.Self().ID) {
			t.Fatalf("hold %v: node %d is not in the register set before the partition", hold, x.i)
		}
		var rest []netip.AddrPort
		for _, sn := range c.live() {
			if sn != x {
				rest = append(rest, sn.addr)
			}
		}
		_ = c.net.Partition([]netip.AddrPort{x.addr}, rest)
		c.net.RunFor(40 * time.Second)
		inLeaves := slices.Contains(ids(a.n.Overlay().Leaves()), x.n.Self().ID)
		inSet := slices.Contains(ids(a.n.RegisterSetOf(key)), x.n.Self().ID)
		if inLeaves {
			t.Fatalf("hold %v: node %d is still in node %d's leaf set 40 s into the partition: the test cannot tell the hold apart", hold, x.i, a.i)
		}
		if hold == time.Second {
			if inSet {
				t.Fatalf("negative control: with a hold of 1 s node %d is still in the register set 40 s into the partition", x.i)
			}
			continue
		}
		if !inSet {
			t.Fatalf("node %d left the register set 40 s into the partition, within the hold of %v", x.i, hold)
		}
		c.net.RunFor(hold)
		if slices.Contains(ids(a.n.RegisterSetOf(key)), x.n.Self().ID) {
			t.Fatalf("node %d is still in the register set after the hold of %v", x.i, hold)
		}
		if n := len(a.n.RegisterSetOf(key)); n != cfg.Replicas {
			t.Fatalf("the register set has %d members after the hold, want %d", n, cfg.Replicas)
		}
		c.net.Heal()
		c.net.RunFor(time.Minute)
		if !slices.Contains(ids(a.n.RegisterSetOf(key)), x.n.Self().ID) {
			t.Fatalf("node %d is not back in the register set a minute after the partition healed", x.i)
		}
	}
}
