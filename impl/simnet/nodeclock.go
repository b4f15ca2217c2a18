package simnet

import (
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/opendht-go/opendht/impl/clock"
)

// NodeClock is one node's clock in the simulation: a clock.Clock whose
// Now is the simulated time with an offset and a drift,
//
//	Now = Epoch + elapsed*(1+drift) + offset
//
// (elapsed is the simulated time since the epoch, or since the last
// SetDrift), and whose timers measure their durations in this drifting
// time: AfterFunc(d) fires at the first simulated instant at which the
// clock has advanced by at least d. Timers ignore offset jumps, like the
// monotonic clock timers of a real operating system.
type NodeClock struct {
	n       *Network
	offset  time.Duration
	rate    float64 // 1 + drift
	anchor  int64   // simulated ns at which local was anchorL
	anchorL int64   // local elapsed ns (without offset) at anchor
	stopped bool
	pending int // timers of this clock in the queue that will fire
}

var _ clock.Clock = (*NodeClock)(nil)

// Clock returns a clock for the node at addr, offset from true simulated
// time by offset and running fast by the fraction drift (1e-4 is 100 ppm,
// a poor quartz crystal; -0.5 runs at half speed). Drift must be greater
// than -1. The clock stops when addr is detached: its pending timers never
// fire and new ones are never scheduled; a restarted node gets a new clock.
// The zero AddrPort gives a clock bound to no node.
func (n *Network) Clock(addr netip.AddrPort, offset time.Duration, drift float64) (*NodeClock, error) {
	if err := checkDrift(drift); err != nil {
		return nil, err
	}
	c := &NodeClock{n: n, offset: offset, rate: 1 + drift, anchor: n.now, anchorL: n.now}
	if addr.IsValid() {
		nd := n.nodeFor(unmap(addr))
		nd.clocks = append(nd.clocks, c)
	}
	return c, nil
}

func checkDrift(drift float64) error {
	if !(drift > -1) || math.IsInf(drift, 0) {
		return fmt.Errorf("simnet: clock drift must be a finite number above -1, got %v", drift)
	}
	return nil
}

// local returns the clock's elapsed local nanoseconds (without offset) at
// simulated time sim.
func (c *NodeClock) local(sim int64) int64 {
	// float64() around the product forbids fusing it into an FMA, which
	// some architectures would do: the result stays bit-identical
	// everywhere.
	return c.anchorL + int64(float64(float64(sim-c.anchor)*c.rate))
}

// Now returns the node's current time.
func (c *NodeClock) Now() time.Time {
	return c.n.epoch.Add(time.Duration(c.local(c.n.now)) + c.offset)
}

// AfterFunc calls f once this clock has advanced by d (d <= 0: now, after
// the events already due). A stopped clock returns a timer that never
// fires.
func (c *NodeClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	if c.stopped {
		return stoppedTimer{}
	}
	return c.n.scheduleTimer(c.n.later(time.Duration(c.simDelay(d))), f, c)
}

// simDelay returns the fewest simulated nanoseconds after now at which the
// local clock has advanced by at least d.
func (c *NodeClock) simDelay(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	now := c.n.now
	start := c.local(now)
	s := int64(math.Ceil(float64(d) / c.rate))
	// The division rounds; settle on the exact first instant as local()
	// computes it.
	for s > 0 && c.local(now+s-1)-start >= int64(d) {
		s--
	}
	for c.local(now+s)-start < int64(d) {
		s++
	}
	return s
}

// Offset returns the clock's offset.
func (c *NodeClock) Offset() time.Duration { return c.offset }

// SetOffset makes Now jump to a new offset (a clock step, as when NTP
// corrects a clock); timers are not affected.
func (c *NodeClock) SetOffset(offset time.Duration) { c.offset = offset }

// Drift returns the clock's drift.
func (c *NodeClock) Drift() float64 { return c.rate - 1 }

// SetDrift changes the rate from now on, without a jump in Now. Timers
// already scheduled keep their simulated deadline.
func (c *NodeClock) SetDrift(drift float64) error {
	if err := checkDrift(drift); err != nil {
		return err
	}
	c.anchorL = c.local(c.n.now)
	c.anchor = c.n.now
	c.rate = 1 + drift
	return nil
}

// Stopped reports whether the clock was stopped by a Detach of its node.
func (c *NodeClock) Stopped() bool { return c.stopped }

func (c *NodeClock) stop() {
	if c.stopped {
		return
	}
	c.stopped = true
	c.n.live -= c.pending
	c.pending = 0
}

type stoppedTimer struct{}

func (stoppedTimer) Stop() bool { return false }
