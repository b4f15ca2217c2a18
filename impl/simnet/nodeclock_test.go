package simnet

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

func TestNodeClockArithmetic(t *testing.T) {
	for _, tc := range []struct {
		name    string
		offset  time.Duration
		drift   float64
		elapsed time.Duration
		want    time.Duration // Now - Epoch
	}{
		{"perfect", 0, 0, 100 * time.Second, 100 * time.Second},
		{"offset only", 5 * time.Second, 0, 100 * time.Second, 105 * time.Second},
		{"behind", -time.Hour, 0, time.Second, time.Second - time.Hour},
		{"1% fast", 5 * time.Second, 0.01, 100 * time.Second, 106 * time.Second},
		{"100 ppm slow", 0, -1e-4, time.Hour, time.Hour - 360*time.Millisecond},
		{"half speed", 0, -0.5, 10 * time.Second, 5 * time.Second},
		{"double speed", time.Millisecond, 1, 10 * time.Second, 20*time.Second + time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNet(t, 1, DefaultConfig())
			c, err := n.Clock(addr(0), tc.offset, tc.drift)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Now().Sub(n.Now()); got != tc.offset {
				t.Fatalf("at creation Now - sim = %v, want the offset %v", got, tc.offset)
			}
			n.RunFor(tc.elapsed)
			if got := c.Now().Sub(DefaultConfig().Epoch); got != tc.want {
				t.Fatalf("after %v: Now = epoch%+v, want epoch%+v", tc.elapsed, got, tc.want)
			}
		})
	}
}

// A clock created later starts from the current simulated time, not from
// the epoch scaled by its drift.
func TestNodeClockCreatedLateDoesNotJump(t *testing.T) {
	n := newNet(t, 1, DefaultConfig())
	n.RunFor(time.Hour)
	c, _ := n.Clock(addr(0), 0, 0.5)
	if !c.Now().Equal(n.Now()) {
		t.Fatalf("new clock reads %v at sim time %v", c.Now(), n.Now())
	}
	n.RunFor(2 * time.Second)
	if got := c.Now().Sub(n.Now()); got != time.Second {
		t.Fatalf("after 2s at drift 0.5 the clock is %v ahead, want 1s", got)
	}
}

// AfterFunc(d) fires at the first simulated instant at which the clock has
// advanced by at least d: never early in the node's own time, never later
// than needed.
func TestNodeClockTimersFireAtTheFirstInstantTheirDurationElapsed(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 0))
	n := newNet(t, seed, DefaultConfig())
	for range 2000 {
		drift := r.Float64()*1.9 - 0.9
		if r.IntN(3) == 0 {
			drift = float64(r.IntN(2001)-1000) * 1e-7 // realistic, +-100 ppm
		}
		c, err := n.Clock(netip.AddrPort{}, time.Duration(r.Int64N(int64(time.Hour)))-30*time.Minute, drift)
		if err != nil {
			t.Fatal(err)
		}
		n.RunFor(time.Duration(r.Int64N(int64(time.Minute))))
		d := time.Duration(r.Int64N(int64(10 * time.Second)))
		if r.IntN(4) == 0 {
			d = time.Duration(r.IntN(5))
		}
		start, startSim := c.Now(), n.now
		fired := false
		c.AfterFunc(d, func() {
			fired = true
			if got := c.Now().Sub(start); got < d {
				t.Fatalf("drift %v: timer of %v fired after %v of local time", drift, d, got)
			}
			if n.now > startSim && c.local(n.now-1)-c.local(startSim) >= int64(d) {
				t.Fatalf("drift %v: timer of %v fired late: %v had already elapsed 1 ns earlier",
					drift, d, time.Duration(c.local(n.now-1)-c.local(startSim)))
			}
		})
		if !n.RunUntil(func() bool { return fired }, n.Now().Add(time.Hour)) {
			t.Fatalf("drift %v: timer of %v did not fire within an hour", drift, d)
		}
	}
}

func TestNodeClockSetDriftAndOffset(t *testing.T) {
	n := newNet(t, 1, DefaultConfig())
	c, _ := n.Clock(addr(0), 0, 0)
	n.RunFor(10 * time.Second)
	before := c.Now()
	if err := c.SetDrift(1); err != nil {
		t.Fatal(err)
	}
	if !c.Now().Equal(before) {
		t.Fatalf("SetDrift made Now jump from %v to %v", before, c.Now())
	}
	n.RunFor(10 * time.Second)
	if got := c.Now().Sub(before); got != 20*time.Second {
		t.Fatalf("10s at double speed advanced the clock by %v", got)
	}
	if c.Drift() != 1 || c.SetDrift(-1) == nil {
		t.Fatal("Drift/SetDrift validation")
	}
	// An offset step moves Now but not the timers, which run on elapsed
	// (monotonic) time.
	c.SetDrift(0)
	fireAt := n.Elapsed() + 5*time.Second
	var firedAt time.Duration
	c.AfterFunc(5*time.Second, func() { firedAt = n.Elapsed() })
	now := c.Now()
	c.SetOffset(time.Hour)
	if c.Offset() != time.Hour || c.Now().Sub(now) != time.Hour {
		t.Fatalf("SetOffset: Now moved by %v", c.Now().Sub(now))
	}
	n.RunFor(time.Minute)
	if firedAt != fireAt {
		t.Fatalf("timer fired at %v after an offset step, want %v", firedAt, fireAt)
	}
}

func TestNetworkIsAClock(t *testing.T) {
	n := newNet(t, 1, DefaultConfig())
	var at time.Time
	tm := n.AfterFunc(3*time.Second, func() { at = n.Now() })
	n.RunFor(time.Minute)
	if at.Sub(DefaultConfig().Epoch) != 3*time.Second || tm.Stop() {
		t.Fatalf("network timer fired at %v", at)
	}
	if !n.Now().Equal(DefaultConfig().Epoch.Add(time.Minute)) {
		t.Fatalf("Now = %v", n.Now())
	}
}
