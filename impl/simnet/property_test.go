package simnet

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/opendht-go/opendht/impl/transport"
)

// checker drives a network and keeps its own model of which endpoints are
// attached and which partitions are in force, written independently of the
// simulator's code; every delivery is checked against the model.
type checker struct {
	n           *Network
	eps         []*Endpoint        // attached endpoint per address index, or nil
	live        map[*Endpoint]bool // endpoints whose handler may still be called
	group       map[netip.AddrPort]int
	partitioned bool
	oneWay      [][2]map[netip.AddrPort]bool
	violations  []string
	// coverage
	delivered, deliveredWhilePartitioned int
}

func newChecker(n *Network, size int) *checker {
	return &checker{n: n, eps: make([]*Endpoint, size), live: map[*Endpoint]bool{}, group: map[netip.AddrPort]int{}}
}

func (c *checker) blocked(from, to netip.AddrPort) bool {
	if c.partitioned && c.group[from] != c.group[to] {
		return true
	}
	for _, r := range c.oneWay {
		if r[0][from] && r[1][to] {
			return true
		}
	}
	return false
}

func (c *checker) attach(i int) {
	if c.eps[i] != nil {
		return
	}
	var self *Endpoint
	ep, err := c.n.Attach(addr(i), func(from netip.AddrPort, p []byte) {
		c.delivered++
		if c.partitioned || len(c.oneWay) > 0 {
			c.deliveredWhilePartitioned++
		}
		if !c.live[self] {
			c.violations = append(c.violations, fmt.Sprintf("%v: delivered %x from %v to a detached endpoint", c.n.Elapsed(), p, from))
		}
		if c.blocked(from, addr(i)) {
			c.violations = append(c.violations, fmt.Sprintf("%v: delivered %x across a partition, %v -> %v", c.n.Elapsed(), p, from, addr(i)))
		}
	})
	if err != nil {
		c.violations = append(c.violations, fmt.Sprintf("Attach(%v): %v", addr(i), err))
		return
	}
	self = ep
	c.eps[i] = ep
	c.live[ep] = true
}

func (c *checker) detach(i int, viaClose bool) {
	ep := c.eps[i]
	if ep == nil {
		return
	}
	if viaClose {
		ep.Close()
	} else {
		c.n.Detach(addr(i))
	}
	c.live[ep] = false
	c.eps[i] = nil
}

func (c *checker) partition(groups [][]netip.AddrPort) {
	if err := c.n.Partition(groups...); err != nil {
		c.violations = append(c.violations, fmt.Sprintf("Partition(%v): %v", groups, err))
		return
	}
	c.group = map[netip.AddrPort]int{}
	for g, members := range groups {
		for _, a := range members {
			c.group[a] = g + 1
		}
	}
	c.partitioned = len(groups) > 0
}

func (c *checker) partitionOneWay(from, to []netip.AddrPort) {
	if err := c.n.PartitionOneWay(from, to); err != nil {
		c.violations = append(c.violations, fmt.Sprintf("PartitionOneWay(%v, %v): %v", from, to, err))
		return
	}
	r := [2]map[netip.AddrPort]bool{{}, {}}
	for _, a := range from {
		r[0][a] = true
	}
	for _, a := range to {
		r[1][a] = true
	}
	c.oneWay = append(c.oneWay, r)
}

func (c *checker) heal() {
	c.n.Heal()
	c.partitioned, c.group, c.oneWay = false, map[netip.AddrPort]int{}, nil
}

// conservation checks the accounting identity of Stats for the network.
func (c *checker) conservation() error {
	s := c.n.TotalStats()
	var out, in Counter
	for cause := range NumCauses {
		out.Packets += s.DroppedOut[cause].Packets
		out.Bytes += s.DroppedOut[cause].Bytes
		in.Packets += s.DroppedIn[cause].Packets
		in.Bytes += s.DroppedIn[cause].Bytes
	}
	dropped := out.sub(s.DroppedOut[DropOversize])
	if out != in {
		return fmt.Errorf("dropped out %+v != dropped in %+v", out, in)
	}
	if lhs, rhs := s.Sent.Packets+s.Duplicated.Packets, s.Received.Packets+dropped.Packets+uint64(c.n.InFlight()); lhs != rhs {
		return fmt.Errorf("sent+duplicated %d != received+dropped+in flight %d (%+v, in flight %d)", lhs, rhs, s, c.n.InFlight())
	}
	if s.Received.Packets != uint64(c.delivered) {
		return fmt.Errorf("stats count %d deliveries, handlers ran %d times", s.Received.Packets, c.delivered)
	}
	return nil
}

const propNodes = 6

var (
	propLinger   = rapid.SampledFrom([]time.Duration{0, time.Millisecond, 50 * time.Millisecond, 300 * time.Millisecond, 2 * time.Second})
	propProb     = rapid.SampledFrom([]float64{0, 0, 0.1, 0.5, 1})
	propDelay    = rapid.SampledFrom([]time.Duration{0, 0, 10 * time.Millisecond, 200 * time.Millisecond})
	propIndex    = rapid.IntRange(0, propNodes-1)
	propSideOf   = rapid.SliceOfN(rapid.IntRange(0, 3), propNodes, propNodes) // 0: unnamed
	propOneWayOf = rapid.SliceOfN(rapid.IntRange(0, 2), propNodes, propNodes) // 0: none, 1: from, 2: to
)

// Rapid draws a random schedule of attaches, crashes, sends, partitions
// (symmetric and one-way), heals, fault changes and time steps. Whatever
// the schedule, no datagram is delivered across a partition in force at
// its arrival, none to a detached endpoint, and the counters balance.
// Replay a failure with the -rapid.seed or -rapid.failfile it prints.
func TestFaultSchedulesNeverCrossPartitionsOrReachDetachedNodes(t *testing.T) {
	var delivered, underPartition, partitionDrops, detachedDrops int
	rapid.Check(t, func(rt *rapid.T) {
		cfg := DefaultConfig()
		cfg.Jitter = rapid.SampledFrom([]time.Duration{0, 2 * time.Millisecond, 300 * time.Millisecond}).Draw(rt, "jitter")
		n, err := New(rapid.Uint64().Draw(rt, "seed"), cfg)
		if err != nil {
			rt.Fatal(err)
		}
		c := newChecker(n, propNodes)
		for i := range propNodes {
			c.attach(i)
		}
		sendSeq := 0
		rt.Repeat(map[string]func(*rapid.T){
			"attach": func(rt *rapid.T) { c.attach(propIndex.Draw(rt, "node")) },
			"detach": func(rt *rapid.T) { c.detach(propIndex.Draw(rt, "node"), rapid.Bool().Draw(rt, "viaClose")) },
			"send": func(rt *rapid.T) {
				from, to := propIndex.Draw(rt, "from"), propIndex.Draw(rt, "to")
				ep := c.eps[from]
				if ep == nil {
					c.attach(from)
					ep = c.eps[from]
				}
				size := rapid.SampledFrom([]int{0, 1, 100, transport.MaxDatagram, transport.MaxDatagram + 1}).Draw(rt, "size")
				p := make([]byte, size)
				sendSeq++
				copy(p, fmt.Sprint(sendSeq))
				// A burst: the datagram to the drawn peer and to every other.
				for k := range rapid.IntRange(1, 3).Draw(rt, "burst") * propNodes {
					err := ep.Send(addr((to+k)%propNodes), p)
					if want := size > transport.MaxDatagram; errors.Is(err, transport.ErrTooLarge) != want || (!want && err != nil) {
						rt.Fatalf("Send of %d bytes: %v", size, err)
					}
				}
			},
			"partition": func(rt *rapid.T) {
				side := propSideOf.Draw(rt, "side")
				groups := make([][]netip.AddrPort, 3)
				for i, s := range side {
					if s > 0 {
						groups[s-1] = append(groups[s-1], addr(i))
					}
				}
				c.partition(groups)
			},
			"oneWay": func(rt *rapid.T) {
				var from, to []netip.AddrPort
				for i, s := range propOneWayOf.Draw(rt, "role") {
					switch s {
					case 1:
						from = append(from, addr(i))
					case 2:
						to = append(to, addr(i))
					}
				}
				c.partitionOneWay(from, to)
			},
			"heal": func(rt *rapid.T) { c.heal() },
			"faults": func(rt *rapid.T) {
				f := Faults{Loss: propProb.Draw(rt, "loss"), Duplicate: propProb.Draw(rt, "dup"), Delay: propDelay.Draw(rt, "delay"), Jitter: propDelay.Draw(rt, "jitter")}
				if err := n.SetFaults(f); err != nil {
					rt.Fatal(err)
				}
			},
			"linkFaults": func(rt *rapid.T) {
				f := Faults{Loss: propProb.Draw(rt, "loss"), Duplicate: propProb.Draw(rt, "dup"), Delay: propDelay.Draw(rt, "delay"), Jitter: propDelay.Draw(rt, "jitter")}
				if err := n.SetLinkFaults(addr(propIndex.Draw(rt, "from")), addr(propIndex.Draw(rt, "to")), f); err != nil {
					rt.Fatal(err)
				}
			},
			"run":  func(rt *rapid.T) { n.RunFor(propLinger.Draw(rt, "for")) },
			"step": func(rt *rapid.T) { n.Step() },
			"": func(rt *rapid.T) {
				if len(c.violations) > 0 {
					rt.Fatalf("%d violations, first: %s", len(c.violations), c.violations[0])
				}
				if err := c.conservation(); err != nil {
					rt.Fatal(err)
				}
			},
		})
		n.RunFor(time.Hour) // drain: in-flight datagrams are checked too
		if len(c.violations) > 0 {
			rt.Fatalf("%d violations, first: %s", len(c.violations), c.violations[0])
		}
		if err := c.conservation(); err != nil {
			rt.Fatal(err)
		}
		s := n.TotalStats()
		delivered += c.delivered
		underPartition += c.deliveredWhilePartitioned
		partitionDrops += int(s.DroppedOut[DropPartition].Packets)
		detachedDrops += int(s.DroppedOut[DropDetached].Packets)
	})
	// The property is only as good as the cases it saw.
	t.Logf("checked %d deliveries (%d under a partition); %d partition drops, %d detached drops",
		delivered, underPartition, partitionDrops, detachedDrops)
	if delivered == 0 || underPartition == 0 || partitionDrops == 0 || detachedDrops == 0 {
		t.Fatal("the random schedules never exercised partitions or crashes; the property checked nothing")
	}
}

// Negative control: a simulator that forgot a partition, or delivered to a
// crashed node, must be caught by the checker of the property above. The
// faults are injected by corrupting the network's state behind its back.
func TestCheckerCatchesABrokenSimulator(t *testing.T) {
	t.Run("partition not enforced", func(t *testing.T) {
		n := newNet(t, 1, DefaultConfig())
		c := newChecker(n, 2)
		c.attach(0)
		c.attach(1)
		c.partition([][]netip.AddrPort{{addr(0)}, {addr(1)}})
		n.partitioned = false // the bug
		c.eps[0].Send(addr(1), []byte("x"))
		n.RunFor(time.Second)
		if len(c.violations) == 0 {
			t.Fatal("a delivery across a partition went unnoticed")
		}
	})
	t.Run("detached node still receives", func(t *testing.T) {
		n := newNet(t, 1, DefaultConfig())
		c := newChecker(n, 2)
		c.attach(0)
		c.attach(1)
		ep := c.eps[1]
		c.detach(1, false)
		n.nodes[addr(1)].ep = ep // the bug
		c.eps[0].Send(addr(1), []byte("x"))
		n.RunFor(time.Second)
		if len(c.violations) == 0 {
			t.Fatal("a delivery to a detached endpoint went unnoticed")
		}
	})
	t.Run("lost datagram not counted", func(t *testing.T) {
		n := newNet(t, 1, DefaultConfig())
		c := newChecker(n, 2)
		c.attach(0)
		c.attach(1)
		c.eps[0].Send(addr(1), []byte("x"))
		n.inFlight-- // the bug
		if c.conservation() == nil {
			t.Fatal("unbalanced counters went unnoticed")
		}
	})
}
