package simnet

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/transport"
)

// scenario runs a small faulty network and returns its delivery log: 20
// nodes on drifting clocks ping random peers every 100 ms of their own
// time and answer pings; loss, duplication and jitter are on; a partition
// comes and goes and one node crashes and restarts. The nodes' own
// choices come from a fixed source, so only the network's seed varies.
func scenario(t *testing.T, seed uint64) []byte {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Faults = Faults{Loss: 0.1, Duplicate: 0.05, Jitter: 30 * time.Millisecond}
	n := newNet(t, seed, cfg)
	var log bytes.Buffer
	n.SetTrace(func(tr Trace) {
		if tr.Kind == TraceDrop {
			fmt.Fprintln(&log, tr)
		}
	})
	app := rand.New(rand.NewPCG(1, 2))
	const nodes = 20
	start := func(i int) {
		a := addr(i)
		var ep *Endpoint
		answer := func(from netip.AddrPort, p []byte) {
			fmt.Fprintf(&log, "%d %v->%v %x\n", n.Elapsed(), from, a, p)
			if p[0] == 'p' {
				ep.Send(from, append([]byte("r"), p[1:]...))
			}
		}
		ep = attach(t, n, a, answer)
		clk, err := n.Clock(a, time.Duration(app.IntN(1000))*time.Millisecond, float64(app.IntN(200)-100)*1e-4)
		if err != nil {
			t.Fatal(err)
		}
		k := 0
		var tick func()
		tick = func() {
			k++
			ep.Send(addr(app.IntN(nodes)), fmt.Appendf(nil, "p%d.%d@%d", i, k, clk.Now().UnixNano()))
			clk.AfterFunc(100*time.Millisecond, tick)
		}
		clk.AfterFunc(time.Duration(app.IntN(100))*time.Millisecond, tick)
	}
	for i := range nodes {
		start(i)
	}
	var left, right []netip.AddrPort
	for i := range nodes {
		if i < nodes/2 {
			left = append(left, addr(i))
		} else {
			right = append(right, addr(i))
		}
	}
	n.After(2*time.Second, func() { n.Partition(left, right) })
	n.After(4*time.Second, func() { n.Heal() })
	n.After(5*time.Second, func() { n.Detach(addr(3)) })
	n.After(6*time.Second, func() { start(3) })
	n.RunFor(8 * time.Second)
	fmt.Fprintf(&log, "%+v\n", n.TotalStats())
	return log.Bytes()
}

func TestSameSeedSameRunDifferentSeedDifferentRun(t *testing.T) {
	seed := testSeed(t)
	a, b := scenario(t, seed), scenario(t, seed)
	if !bytes.Equal(a, b) {
		i := 0
		for i < min(len(a), len(b)) && a[i] == b[i] {
			i++
		}
		t.Fatalf("two runs with seed %d differ at byte %d of %d:\n%s\nvs\n%s", seed, i, len(a),
			a[max(0, i-200):min(len(a), i+200)], b[max(0, i-200):min(len(b), i+200)])
	}
	if c := scenario(t, seed+1); bytes.Equal(a, c) {
		t.Fatalf("seeds %d and %d gave the same %d-byte log", seed, seed+1, len(a))
	}
	if bytes.Count(a, []byte("\n")) < 1000 {
		t.Fatalf("the scenario logged only %d lines; it does not exercise the network", bytes.Count(a, []byte("\n")))
	}
}

func TestEventsRunInTimeOrderWithTiesInSchedulingOrder(t *testing.T) {
	n := newNet(t, 1, DefaultConfig())
	var got []string
	at := func(ms int, name string) {
		n.Schedule(n.Now().Add(time.Duration(ms)*time.Millisecond), func() {
			got = append(got, fmt.Sprintf("%s@%d", name, n.Elapsed().Milliseconds()))
		})
	}
	at(30, "c")
	at(10, "a1")
	at(20, "b")
	at(10, "a2")
	at(10, "a3")
	at(0, "zero")
	n.Run(n.Now().Add(time.Second))
	want := []string{"zero@0", "a1@10", "a2@10", "a3@10", "b@20", "c@30"}
	if !slices.Equal(got, want) {
		t.Fatalf("ran %v, want %v", got, want)
	}
}

// Deliveries and timers share one order: with zero latency a datagram
// sent at t is delivered at t, after the events already due at t.
func TestDeliveriesAndTimersShareTheOrder(t *testing.T) {
	n := newNet(t, 1, fixedLatency(0))
	var got []string
	var b inbox
	attach(t, n, addr(1), b.handler)
	a := attach(t, n, addr(0), nil)
	n.After(0, func() {
		a.Send(addr(1), []byte("m1"))
		n.After(0, func() { got = append(got, "timer") })
		a.Send(addr(1), []byte("m2"))
	})
	n.After(0, func() { got = append(got, "second") })
	n.SetTrace(func(tr Trace) {
		if tr.Kind == TraceDeliver {
			got = append(got, string(tr.Payload))
		}
	})
	n.RunFor(0)
	want := []string{"second", "m1", "timer", "m2"}
	if !slices.Equal(got, want) {
		t.Fatalf("ran %v, want %v", got, want)
	}
	if n.Elapsed() != 0 {
		t.Fatalf("zero-latency events moved time to %v", n.Elapsed())
	}
}

func TestScheduleInThePastRunsNow(t *testing.T) {
	n := newNet(t, 1, DefaultConfig())
	n.RunFor(time.Minute)
	ran := time.Duration(-1)
	n.Schedule(n.Now().Add(-time.Hour), func() { ran = n.Elapsed() })
	if !n.Step() {
		t.Fatal("no event to step")
	}
	if ran != time.Minute {
		t.Fatalf("past event ran at %v, want now (1m)", ran)
	}
	if n.Step() {
		t.Fatal("Step found an event in an empty queue")
	}
}

func TestRunStopsAtUntilAndSetsTheTime(t *testing.T) {
	n := newNet(t, 1, DefaultConfig())
	ran := 0
	n.After(time.Second, func() { ran++ })
	n.After(3*time.Second, func() { ran++ })
	n.RunFor(2 * time.Second)
	if ran != 1 || n.Elapsed() != 2*time.Second || n.Pending() != 1 {
		t.Fatalf("after RunFor(2s): ran %d, time %v, pending %d; want 1, 2s, 1", ran, n.Elapsed(), n.Pending())
	}
	n.Run(n.Now().Add(-time.Hour))
	if n.Elapsed() != 2*time.Second {
		t.Fatalf("Run to the past moved time to %v", n.Elapsed())
	}
	n.RunFor(time.Second) // an event exactly at until runs
	if ran != 2 || n.Pending() != 0 {
		t.Fatalf("event due exactly at until did not run (ran %d, pending %d)", ran, n.Pending())
	}
}

func TestRunUntil(t *testing.T) {
	n := newNet(t, 1, DefaultConfig())
	count := 0
	var tick func()
	tick = func() { count++; n.After(time.Second, tick) }
	n.After(time.Second, tick)
	if !n.RunUntil(func() bool { return count == 5 }, n.Now().Add(time.Hour)) {
		t.Fatal("RunUntil gave up before its condition held")
	}
	if n.Elapsed() != 5*time.Second {
		t.Fatalf("RunUntil stopped at %v, want 5s (the event that made it true)", n.Elapsed())
	}
	deadline := n.Now().Add(10500 * time.Millisecond)
	if n.RunUntil(func() bool { return count == 100 }, deadline) {
		t.Fatal("RunUntil reported an impossible condition as met")
	}
	if !n.Now().Equal(deadline) || count != 15 {
		t.Fatalf("RunUntil past its deadline: time %v count %d, want 15.5s and 15", n.Elapsed(), count)
	}
}

func TestRunInsideAnEventPanics(t *testing.T) {
	n := newNet(t, 1, DefaultConfig())
	n.After(0, func() { n.Step() })
	defer func() {
		if recover() == nil {
			t.Fatal("Step inside an event did not panic")
		}
	}()
	n.Step()
}

func TestTimerStop(t *testing.T) {
	n := newNet(t, 1, DefaultConfig())
	fired := false
	tm := n.After(time.Second, func() { fired = true })
	other := n.After(2*time.Second, func() {})
	if n.Pending() != 2 {
		t.Fatalf("Pending = %d, want 2", n.Pending())
	}
	if !tm.Stop() || tm.Stop() {
		t.Fatal("Stop: want true then false")
	}
	if n.Pending() != 1 {
		t.Fatalf("Pending after Stop = %d, want 1", n.Pending())
	}
	n.RunFor(time.Hour)
	if fired {
		t.Fatal("stopped timer fired")
	}
	if other.Stop() {
		t.Fatal("Stop after firing returned true")
	}
	// A fired timer's slot is reused; the old handle must not cancel the
	// new occupant.
	fresh := false
	n.After(time.Second, func() { fresh = true })
	if tm.Stop() || other.Stop() {
		t.Fatal("an old timer handle stopped a new timer")
	}
	n.RunFor(time.Hour)
	if !fresh {
		t.Fatal("new timer in a reused slot did not fire")
	}
}

// Cancelled timeouts are swept out of the queue once they outnumber live
// events, so that a node resetting timers does not grow it without bound.
func TestCancelledTimersAreSwept(t *testing.T) {
	n := newNet(t, 1, DefaultConfig())
	keep := n.After(time.Hour, func() {})
	for range 100_000 {
		n.After(time.Minute, func() {}).Stop()
	}
	if len(n.q) > 2048 {
		t.Fatalf("queue holds %d entries for 1 live timer", len(n.q))
	}
	if n.Pending() != 1 || !keep.Stop() {
		t.Fatal("the live timer was lost in the sweep")
	}
}

func TestLatencyModel(t *testing.T) {
	cfg := DefaultConfig()
	n := newNet(t, 7, cfg)
	seen := map[time.Duration]bool{}
	for i := range 50 {
		for j := range 50 {
			a, b := n.nodeFor(addr(i)), n.nodeFor(addr(j))
			l := time.Duration(n.latency(a, b))
			if i == j {
				if l != 0 {
					t.Fatalf("latency to self = %v, want 0", l)
				}
				continue
			}
			if l < cfg.MinLatency || l > cfg.MaxLatency {
				t.Fatalf("latency %v->%v = %v, outside [%v, %v]", addr(i), addr(j), l, cfg.MinLatency, cfg.MaxLatency)
			}
			if back := time.Duration(n.latency(b, a)); back != l {
				t.Fatalf("latency %v each way: %v and %v", addr(i), l, back)
			}
			seen[l] = true
		}
	}
	if len(seen) < 1000 {
		t.Fatalf("only %d distinct latencies among 1225 links", len(seen))
	}
	if m := newNet(t, 8, cfg); m.latency(m.nodeFor(addr(0)), m.nodeFor(addr(1))) == n.latency(n.nodeFor(addr(0)), n.nodeFor(addr(1))) &&
		m.latency(m.nodeFor(addr(2)), m.nodeFor(addr(3))) == n.latency(n.nodeFor(addr(2)), n.nodeFor(addr(3))) {
		t.Fatal("latencies do not depend on the seed")
	}
}

func TestPlaneLatencyObeysTheTriangleInequality(t *testing.T) {
	lat := PlaneLatency(testSeed(t), 5*time.Millisecond, 150*time.Millisecond)
	for i := range 30 {
		for j := range 30 {
			if i != j && lat(addr(i), addr(j)) != lat(addr(j), addr(i)) {
				t.Fatalf("plane latency not symmetric between %v and %v", addr(i), addr(j))
			}
			for k := range 30 {
				if i == j || j == k || i == k {
					continue
				}
				if d := lat(addr(i), addr(k)); d > lat(addr(i), addr(j))+lat(addr(j), addr(k)) {
					t.Fatalf("%v->%v = %v exceeds the path through %v", addr(i), addr(k), d, addr(j))
				}
			}
		}
	}
}

func TestPartition(t *testing.T) {
	n := newNet(t, 1, fixedLatency(10*time.Millisecond))
	boxes := make([]*inbox, 4)
	eps := make([]*Endpoint, 4)
	for i := range eps {
		boxes[i] = &inbox{}
		eps[i] = attach(t, n, addr(i), boxes[i].handler)
	}
	all := func(tag string) {
		for i, e := range eps {
			for j := range eps {
				if i != j {
					e.Send(addr(j), []byte(tag))
				}
			}
		}
		n.RunFor(time.Second)
	}
	received := func() (got [4][4]int) {
		for j, b := range boxes {
			for _, src := range b.src {
				for i := range eps {
					if src == addr(i) {
						got[i][j]++
					}
				}
			}
			b.got, b.src = nil, nil
		}
		return got
	}
	// {0,1} | {2} | 3 unnamed.
	if err := n.Partition([]netip.AddrPort{addr(0), addr(1)}, []netip.AddrPort{addr(2)}); err != nil {
		t.Fatal(err)
	}
	all("p")
	got := received()
	for i := range 4 {
		for j := range 4 {
			same := (i < 2 && j < 2) || i == j
			if want := map[bool]int{true: 1, false: 0}[same && i != j]; got[i][j] != want {
				t.Errorf("partitioned: %v->%v delivered %d, want %d", addr(i), addr(j), got[i][j], want)
			}
			if n.Blocked(addr(i), addr(j)) == same {
				t.Errorf("Blocked(%v, %v) = %v", addr(i), addr(j), !same)
			}
		}
	}
	if d := n.TotalStats().DroppedOut[DropPartition].Packets; d != 10 {
		t.Errorf("partition drops = %d, want 10", d)
	}
	n.Heal()
	all("h")
	got = received()
	for i := range 4 {
		for j := range 4 {
			if i != j && got[i][j] != 1 {
				t.Errorf("healed: %v->%v delivered %d, want 1", addr(i), addr(j), got[i][j])
			}
		}
	}
	if err := n.Partition([]netip.AddrPort{addr(0)}, []netip.AddrPort{addr(1), addr(0)}); !errors.Is(err, ErrBadPartition) {
		t.Errorf("address in two groups: %v, want ErrBadPartition", err)
	}
}

func TestOneWayPartition(t *testing.T) {
	n := newNet(t, 1, fixedLatency(10*time.Millisecond))
	var ba, bb, bc inbox
	a, b := attach(t, n, addr(0), ba.handler), attach(t, n, addr(1), bb.handler)
	c := attach(t, n, addr(2), bc.handler)
	if err := n.PartitionOneWay([]netip.AddrPort{addr(0)}, []netip.AddrPort{addr(1)}); err != nil {
		t.Fatal(err)
	}
	a.Send(addr(1), []byte("a->b"))
	b.Send(addr(0), []byte("b->a"))
	a.Send(addr(2), []byte("a->c"))
	c.Send(addr(1), []byte("c->b"))
	n.RunFor(time.Second)
	if len(bb.got) != 1 || string(bb.got[0]) != "c->b" || len(ba.got) != 1 || len(bc.got) != 1 {
		t.Fatalf("one-way partition a->b: a got %v, b got %v, c got %v", ba.strings(), bb.strings(), bc.strings())
	}
	// One-way rules add up; a symmetric partition leaves them alone.
	n.PartitionOneWay([]netip.AddrPort{addr(2)}, []netip.AddrPort{addr(0)})
	n.Partition([]netip.AddrPort{addr(0), addr(1), addr(2)})
	if !n.Blocked(addr(0), addr(1)) || !n.Blocked(addr(2), addr(0)) || n.Blocked(addr(1), addr(0)) {
		t.Fatal("one-way rules lost when another was added or a partition set")
	}
	n.Heal()
	if n.Blocked(addr(0), addr(1)) || n.Blocked(addr(2), addr(0)) {
		t.Fatal("Heal left a one-way partition")
	}
	if err := n.PartitionOneWay([]netip.AddrPort{addr(0)}, []netip.AddrPort{addr(0)}); !errors.Is(err, ErrBadPartition) {
		t.Fatalf("address on both sides: %v, want ErrBadPartition", err)
	}
}

// A partition that starts while a datagram is in flight drops it on
// arrival; one that heals before a datagram sent earlier arrives does not
// matter.
func TestPartitionCutsDatagramsInFlight(t *testing.T) {
	n := newNet(t, 1, fixedLatency(100*time.Millisecond))
	var bb inbox
	a := attach(t, n, addr(0), nil)
	attach(t, n, addr(1), bb.handler)
	a.Send(addr(1), []byte("cut"))
	n.RunFor(50 * time.Millisecond)
	n.Partition([]netip.AddrPort{addr(0)})
	n.RunFor(time.Second)
	if len(bb.got) != 0 || n.Stats(addr(0)).DroppedOut[DropPartition].Packets != 1 {
		t.Fatalf("in-flight datagram crossed a new partition (got %v)", bb.strings())
	}
	n.Heal()
	a.Send(addr(1), []byte("ok"))
	n.RunFor(time.Second)
	if len(bb.got) != 1 {
		t.Fatalf("after Heal got %v", bb.strings())
	}
}

func TestDetachAndRestart(t *testing.T) {
	n := newNet(t, 1, fixedLatency(100*time.Millisecond))
	var first, second inbox
	a := attach(t, n, addr(0), nil)
	b := attach(t, n, addr(1), first.handler)
	clk, _ := n.Clock(addr(1), 0, 0)
	fired := 0
	clk.AfterFunc(time.Second, func() { fired++ })
	if _, err := n.Attach(addr(1), first.handler); !errors.Is(err, ErrAddrInUse) {
		t.Fatalf("attaching twice: %v, want ErrAddrInUse", err)
	}
	a.Send(addr(1), []byte("lost"))
	n.RunFor(50 * time.Millisecond)
	if !n.Detach(addr(1)) || n.Detach(addr(1)) {
		t.Fatal("Detach: want true then false")
	}
	if err := b.Send(addr(0), []byte("x")); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("Send from a detached endpoint: %v, want ErrClosed", err)
	}
	n.RunFor(2 * time.Second)
	if len(first.got) != 0 || fired != 0 {
		t.Fatalf("detached node received %v, fired %d timers", first.strings(), fired)
	}
	if !clk.Stopped() || clk.AfterFunc(0, func() { fired++ }).Stop() {
		t.Fatal("the detached node's clock still runs")
	}
	if s := n.Stats(addr(1)); s.DroppedIn[DropDetached].Packets != 1 || n.Stats(addr(0)).DroppedOut[DropDetached].Bytes != 4 {
		t.Fatalf("detached drop not counted: %+v", s)
	}
	// Restart: a datagram in flight reaches whoever is attached when it
	// arrives.
	a.Send(addr(1), []byte("in flight"))
	n.RunFor(50 * time.Millisecond)
	b2 := attach(t, n, addr(1), second.handler)
	n.RunFor(time.Second)
	if len(second.got) != 1 || !n.Attached(addr(1)) {
		t.Fatalf("restarted node got %v", second.strings())
	}
	b.Close() // the old endpoint's Close must not detach the new one
	if !n.Attached(addr(1)) {
		t.Fatal("closing a stale endpoint detached its successor")
	}
	b2.Close()
	b2.Close()
	if n.Attached(addr(1)) {
		t.Fatal("Close did not detach")
	}
	if n.Pending() != 0 {
		t.Fatalf("Pending = %d after everything ran or stopped", n.Pending())
	}
}

func TestSendRefusesWhatNeverEntersTheNetwork(t *testing.T) {
	n := newNet(t, 1, DefaultConfig())
	a := attach(t, n, addr(0), nil)
	if err := a.Send(addr(1), make([]byte, transport.MaxDatagram+1)); !errors.Is(err, transport.ErrTooLarge) {
		t.Fatalf("oversize Send: %v", err)
	}
	if err := a.Send(addr(1), make([]byte, transport.MaxDatagram)); err != nil {
		t.Fatalf("MaxDatagram Send: %v", err)
	}
	for _, bad := range []netip.AddrPort{{}, netip.MustParseAddrPort("10.0.0.1:0"), netip.MustParseAddrPort("[::]:1")} {
		if err := a.Send(bad, []byte("x")); !errors.Is(err, transport.ErrBadAddr) {
			t.Fatalf("Send to %v: %v, want ErrBadAddr", bad, err)
		}
		if _, err := n.Attach(bad, func(netip.AddrPort, []byte) {}); !errors.Is(err, transport.ErrBadAddr) {
			t.Fatalf("Attach(%v): %v, want ErrBadAddr", bad, err)
		}
	}
	if _, err := n.Attach(netip.MustParseAddrPort("[::ffff:10.0.0.9]:1"), func(netip.AddrPort, []byte) {}); err == nil {
		t.Fatal("Attach accepted an IPv4-mapped address")
	}
	s := n.Stats(addr(0))
	if s.DroppedOut[DropOversize].Packets != 1 || s.Sent.Packets != 1 || s.Sent.Bytes != transport.MaxDatagram {
		t.Fatalf("stats %+v: want 1 oversize drop and 1 sent datagram", s)
	}
}

// Sending to an IPv4-mapped address reaches the IPv4 node, and the sender
// appears unmapped, as the UDP transport reports it.
func TestMappedAddressesReachIPv4Nodes(t *testing.T) {
	n := newNet(t, 1, DefaultConfig())
	var b inbox
	a := attach(t, n, addr(0), nil)
	attach(t, n, addr(2), b.handler)
	mapped := netip.AddrPortFrom(netip.AddrFrom16(addr(2).Addr().As16()), addr(2).Port())
	a.Send(mapped, []byte("x"))
	n.RunFor(time.Second)
	if len(b.got) != 1 || b.src[0] != addr(0) {
		t.Fatalf("got %v", b.strings())
	}
}

func TestHandlerPayloadIsOverwrittenAfterTheCall(t *testing.T) {
	n := newNet(t, 1, DefaultConfig())
	var kept []byte
	a := attach(t, n, addr(0), nil)
	attach(t, n, addr(1), func(_ netip.AddrPort, p []byte) { kept = p })
	a.Send(addr(1), []byte("hello"))
	n.RunFor(time.Second)
	if string(kept) == "hello" {
		t.Fatal("a payload kept past its handler still reads as sent; retention bugs would go unnoticed")
	}
}

func TestLinkFaultsAreDirected(t *testing.T) {
	n := newNet(t, 1, DefaultConfig())
	var ba, bb inbox
	a, b := attach(t, n, addr(0), ba.handler), attach(t, n, addr(1), bb.handler)
	if err := n.SetLinkFaults(addr(0), addr(1), Faults{Loss: 1}); err != nil {
		t.Fatal(err)
	}
	if n.LinkFaults(addr(0), addr(1)).Loss != 1 || n.LinkFaults(addr(1), addr(0)).Loss != 0 {
		t.Fatal("LinkFaults does not report what was set")
	}
	for range 10 {
		a.Send(addr(1), []byte("x"))
		b.Send(addr(0), []byte("y"))
	}
	n.RunFor(time.Second)
	if len(bb.got) != 0 || len(ba.got) != 10 {
		t.Fatalf("loss 1 on a->b: b got %d, a got %d; want 0 and 10", len(bb.got), len(ba.got))
	}
	n.SetLinkFaults(addr(0), addr(1), Faults{})
	a.Send(addr(1), []byte("x"))
	n.RunFor(time.Second)
	if len(bb.got) != 1 {
		t.Fatal("clearing link faults did not restore the link")
	}
	if err := n.SetLinkFaults(addr(0), addr(1), Faults{Loss: 2}); err == nil {
		t.Fatal("loss 2 accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	bad := map[string]func(*Config){
		"zero epoch":        func(c *Config) { c.Epoch = time.Time{} },
		"negative latency":  func(c *Config) { c.MinLatency = -1 },
		"max below min":     func(c *Config) { c.MaxLatency = c.MinLatency - 1 },
		"negative jitter":   func(c *Config) { c.Jitter = -1 },
		"loss above 1":      func(c *Config) { c.Faults.Loss = 1.5 },
		"NaN duplicate":     func(c *Config) { c.Faults.Duplicate = nanFloat() },
		"negative delay":    func(c *Config) { c.Faults.Delay = -time.Second },
		"negative f jitter": func(c *Config) { c.Faults.Jitter = -time.Second },
	}
	for name, mutate := range bad {
		c := DefaultConfig()
		mutate(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := New(1, c); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	n := newNet(t, 1, DefaultConfig())
	if n.SetFaults(Faults{Loss: -0.1}) == nil {
		t.Error("SetFaults accepted a negative loss")
	}
	if _, err := n.Attach(addr(0), nil); err == nil {
		t.Error("Attach accepted a nil handler")
	}
	for _, d := range []float64{-1, -2, nanFloat(), posInf()} {
		if _, err := n.Clock(addr(0), 0, d); err == nil {
			t.Errorf("Clock accepted drift %v", d)
		}
	}
}

func TestBufferClasses(t *testing.T) {
	for _, tc := range []struct{ size, class int }{
		{0, 0}, {1, 0}, {64, 0}, {65, 1}, {128, 1}, {129, 2}, {512, 3}, {1024, 4}, {1025, 5}, {transport.MaxDatagram, 5},
	} {
		if got := bufClass(tc.size); got != tc.class {
			t.Errorf("bufClass(%d) = %d, want %d", tc.size, got, tc.class)
		}
	}
	n := newNet(t, 1, DefaultConfig())
	for size := range transport.MaxDatagram + 1 {
		b := n.getBuf(size)
		if cap(b) < size || len(b) != 0 {
			t.Fatalf("getBuf(%d): len %d cap %d", size, len(b), cap(b))
		}
		n.putBuf(append(b, make([]byte, size)...))
		if again := n.getBuf(size); cap(again) != cap(b) {
			t.Fatalf("getBuf(%d) did not recycle its class", size)
		}
	}
}

// An endpoint reports its traffic in the UDP transport's terms.
func TestEndpointStatsMatchTransportStats(t *testing.T) {
	n := newNet(t, 1, DefaultConfig())
	a := attach(t, n, addr(0), nil)
	b := attach(t, n, addr(1), nil)
	a.Send(addr(1), []byte("abc"))
	a.Send(addr(1), make([]byte, transport.MaxDatagram+1))
	a.Send(netip.AddrPort{}, []byte("x"))
	n.RunFor(time.Second)
	want := transport.Stats{PacketsSent: 1, BytesSent: 3, SendErrors: 1, OversizeSent: 1}
	if got := a.Stats(); got != want {
		t.Fatalf("sender stats %+v, want %+v", got, want)
	}
	if got := b.Stats(); got != (transport.Stats{PacketsReceived: 1, BytesReceived: 3}) {
		t.Fatalf("receiver stats %+v", got)
	}
}
