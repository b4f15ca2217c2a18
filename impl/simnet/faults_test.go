package simnet

import (
	"encoding/binary"
	"math"
	"net/netip"
	"testing"
	"time"
)

// The fault rates are checked against their binomial distributions with a
// tolerance of 5 standard deviations: with 20,000 datagrams a correct
// simulator fails about once in 1.7 million runs, while a rate off by one
// percentage point (4-5 sigma at these sizes) or a wrongly combined rate is
// caught. Each test prints its seed and replay command on failure.

const samples = 20_000

// blast sends samples numbered datagrams from addr(0) to addr(1), one per
// millisecond, runs the network until all arrived or were dropped, and
// returns the arrival delays and sequence numbers in arrival order.
func blast(t *testing.T, n *Network) (delays []time.Duration, order []uint32) {
	t.Helper()
	a := attach(t, n, addr(0), nil)
	attach(t, n, addr(1), func(_ netip.AddrPort, p []byte) {
		order = append(order, binary.BigEndian.Uint32(p[:4]))
		delays = append(delays, n.Elapsed()-time.Duration(binary.BigEndian.Uint64(p[4:])))
	})
	for i := range samples {
		n.After(time.Duration(i)*time.Millisecond, func() {
			var p [12]byte
			binary.BigEndian.PutUint32(p[:4], uint32(i))
			binary.BigEndian.PutUint64(p[4:], uint64(n.Elapsed()))
			a.Send(addr(1), p[:])
		})
	}
	n.RunFor(time.Hour)
	if n.InFlight() != 0 || n.Pending() != 0 {
		t.Fatalf("%d datagrams still in flight after an hour", n.InFlight())
	}
	return delays, order
}

func within(t *testing.T, what string, got, mean, sigma float64) {
	t.Helper()
	if math.Abs(got-mean) > 5*sigma {
		t.Errorf("%s: got %.1f, want %.1f +- %.1f (5 sigma)", what, got, mean, 5*sigma)
	} else {
		t.Logf("%s: got %.1f, expected %.1f (sigma %.1f)", what, got, mean, sigma)
	}
}

func binomial(p float64) (mean, sigma float64) {
	return samples * p, math.Sqrt(samples * p * (1 - p))
}

func TestLossRate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Faults.Loss = 0.2
	n := newNet(t, testSeed(t), cfg)
	delays, _ := blast(t, n)
	mean, sigma := binomial(0.8)
	within(t, "delivered with loss 0.2", float64(len(delays)), mean, sigma)
	s := n.TotalStats()
	if s.Sent.Packets != samples || s.Received.Packets+s.DroppedOut[DropLoss].Packets != samples {
		t.Fatalf("accounting: %+v", s)
	}
}

func TestDuplicateRate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Faults.Duplicate = 0.1
	n := newNet(t, testSeed(t), cfg)
	delays, order := blast(t, n)
	mean, sigma := binomial(0.1)
	within(t, "extra copies with duplicate 0.1", float64(len(delays)-samples), mean, sigma)
	copies := map[uint32]int{}
	for _, o := range order {
		copies[o]++
	}
	if len(copies) != samples {
		t.Fatalf("%d distinct datagrams arrived, want all %d", len(copies), samples)
	}
	for o, c := range copies {
		if c > 2 {
			t.Fatalf("datagram %d arrived %d times", o, c)
		}
	}
	if s := n.TotalStats(); s.Duplicated.Packets != uint64(len(delays)-samples) {
		t.Fatalf("Duplicated = %d, but %d extra copies arrived", s.Duplicated.Packets, len(delays)-samples)
	}
}

// Global and link faults combine as independent events: loss 0.2 globally
// and 0.25 on the link lose 1-0.8*0.75 = 0.4.
func TestGlobalAndLinkLossCombine(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Faults.Loss = 0.2
	n := newNet(t, testSeed(t), cfg)
	if err := n.SetLinkFaults(addr(0), addr(1), Faults{Loss: 0.25}); err != nil {
		t.Fatal(err)
	}
	delays, _ := blast(t, n)
	mean, sigma := binomial(0.6)
	within(t, "delivered with loss 0.2 global and 0.25 link", float64(len(delays)), mean, sigma)
}

// Every datagram takes base latency + Delay + a jitter in [0, Config.Jitter
// + Faults.Jitter); the jitter is uniform (mean checked, standard error
// width/sqrt(12 N)) and reorders datagrams sent closer than its width.
func TestDelayAndJitter(t *testing.T) {
	cfg := fixedLatency(30 * time.Millisecond)
	cfg.Jitter = 10 * time.Millisecond
	cfg.Faults = Faults{Delay: 20 * time.Millisecond, Jitter: 40 * time.Millisecond}
	n := newNet(t, testSeed(t), cfg)
	delays, order := blast(t, n)
	if len(delays) != samples {
		t.Fatalf("%d of %d delivered without loss", len(delays), samples)
	}
	lo, width := 50*time.Millisecond, 50*time.Millisecond
	var sum float64
	for _, d := range delays {
		if d < lo || d >= lo+width {
			t.Fatalf("delay %v outside [%v, %v)", d, lo, lo+width)
		}
		sum += float64(d - lo)
	}
	within(t, "mean jitter (ms)", sum/samples/1e6, float64(width)/2/1e6, float64(width)/math.Sqrt(12*samples)/1e6)
	inversions := 0
	for i := 1; i < len(order); i++ {
		if order[i] < order[i-1] {
			inversions++
		}
	}
	// Datagrams 1 ms apart with 50 ms of jitter: most neighbours swap.
	if inversions < samples/10 {
		t.Fatalf("only %d reorderings among %d datagrams", inversions, samples)
	}
	t.Logf("%d adjacent reorderings", inversions)
}
