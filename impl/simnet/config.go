package simnet

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"
)

// Errors of the simulator.
var (
	ErrAddrInUse    = errors.New("simnet: address already attached")
	ErrBadPartition = errors.New("simnet: address in more than one side of a partition")
)

// Config configures a simulated network.
type Config struct {
	// Epoch is the simulated time at which the network starts.
	Epoch time.Time
	// MinLatency and MaxLatency bound the base one-way latency of a link,
	// drawn once per pair of addresses (the same in both directions).
	// Ignored when Latency is set.
	MinLatency, MaxLatency time.Duration
	// Latency, if not nil, gives the base one-way latency of every link
	// instead. It must be a pure function of its arguments, or the run is
	// not reproducible. PlaneLatency returns one.
	Latency func(from, to netip.AddrPort) time.Duration
	// Jitter is the width of the uniform random delay, in [0, Jitter), added
	// to every datagram on top of its link's base latency.
	Jitter time.Duration
	// Faults are the global faults in force at the start; SetFaults changes
	// them later.
	Faults Faults
	// KeepPayloads disables overwriting a delivered payload after its
	// handler returns. Only for benchmarks that say so.
	KeepPayloads bool
}

// DefaultConfig returns a benign wide-area network: latencies like the
// PlanetLab testbed on which OpenDHT ran, no loss, no duplication, no
// partition. Tests add the faults they study.
func DefaultConfig() Config {
	return Config{
		// A fixed date, so that logs and traces of a run never change.
		Epoch: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		// 10-130 ms one way: a uniform spread with a median of 70 ms, i.e.
		// a 140 ms round trip, PlanetLab's median inter-host RTT (the
		// figure OpenDHT's latency results are measured against).
		MinLatency: 10 * time.Millisecond,
		MaxLatency: 130 * time.Millisecond,
		// 2 ms: queueing noise on an uncongested path. It keeps the overlay
		// from ever seeing a perfectly regular network and reorders only
		// datagrams sent within 2 ms of each other on the same link.
		Jitter: 2 * time.Millisecond,
	}
}

// Validate rejects a configuration that cannot describe a network.
func (c Config) Validate() error {
	switch {
	case c.Epoch.IsZero():
		return errors.New("simnet: epoch must be set (DefaultConfig uses 2026-01-01 UTC)")
	case c.Latency == nil && c.MinLatency < 0:
		return fmt.Errorf("simnet: min latency must not be negative, got %v", c.MinLatency)
	case c.Latency == nil && c.MaxLatency < c.MinLatency:
		return fmt.Errorf("simnet: max latency %v is below min latency %v", c.MaxLatency, c.MinLatency)
	case c.Jitter < 0:
		return fmt.Errorf("simnet: jitter must not be negative, got %v", c.Jitter)
	}
	return c.Faults.Validate()
}

// Faults are the misbehaviours of a link, or of every link. Global and
// per-link faults combine: loss and duplication as independent events,
// delays and jitter widths by adding up.
type Faults struct {
	// Loss is the probability, in [0, 1], that a datagram is dropped.
	Loss float64
	// Duplicate is the probability, in [0, 1], that a datagram that is not
	// lost is delivered twice; the copy has its own jitter, so it may
	// arrive first.
	Duplicate float64
	// Delay is added to the one-way latency of every datagram.
	Delay time.Duration
	// Jitter is the width of an extra uniform random delay in [0, Jitter);
	// a jitter larger than the spacing of datagrams reorders them.
	Jitter time.Duration
}

// Validate rejects impossible probabilities and negative delays.
func (f Faults) Validate() error {
	switch {
	case !(f.Loss >= 0 && f.Loss <= 1):
		return fmt.Errorf("simnet: loss must be a probability in [0, 1], got %v", f.Loss)
	case !(f.Duplicate >= 0 && f.Duplicate <= 1):
		return fmt.Errorf("simnet: duplicate must be a probability in [0, 1], got %v", f.Duplicate)
	case f.Delay < 0:
		return fmt.Errorf("simnet: delay must not be negative, got %v", f.Delay)
	case f.Jitter < 0:
		return fmt.Errorf("simnet: jitter must not be negative, got %v", f.Jitter)
	}
	return nil
}

// combine returns the faults of a link on which both f and g are in force.
func (f Faults) combine(g Faults) Faults {
	return Faults{
		Loss:      1 - float64((1-f.Loss)*(1-g.Loss)),
		Duplicate: 1 - float64((1-f.Duplicate)*(1-g.Duplicate)),
		Delay:     f.Delay + g.Delay,
		Jitter:    f.Jitter + g.Jitter,
	}
}

// PlaneLatency returns a latency model with geometry: every address is a
// point in the unit square, placed by hashing it with seed, and the
// one-way latency between two addresses is min plus (max-min) times their
// distance divided by the square's diagonal; 0 from an address to itself.
// Latencies obey the triangle inequality, as Internet latencies mostly do,
// which proximity neighbour selection and Vivaldi coordinates rely on.
func PlaneLatency(seed uint64, min, max time.Duration) func(from, to netip.AddrPort) time.Duration {
	return func(from, to netip.AddrPort) time.Duration {
		if from == to {
			return 0
		}
		ha, hb := addrHash(seed, from), addrHash(seed, to)
		dx := unitFloat(ha) - unitFloat(hb)
		dy := unitFloat(mix64(ha)) - unitFloat(mix64(hb))
		dist := math.Sqrt(float64(dx*dx)+float64(dy*dy)) / math.Sqrt2
		return min + time.Duration(float64(float64(max-min)*dist))
	}
}

// uniformLatency is the default model: a per-pair uniform draw in
// [min, max], symmetric, from a hash of the seed and the pair.
func uniformLatency(seed uint64, a, b uint64, min, max time.Duration) time.Duration {
	if a > b {
		a, b = b, a
	}
	h := mix64(mix64(seed^a) ^ b)
	return min + time.Duration(h%uint64(max-min+1))
}

// addrHash is a deterministic hash of an address (unlike maphash, which is
// seeded per process).
func addrHash(seed uint64, ap netip.AddrPort) uint64 {
	b := ap.Addr().Unmap().As16()
	var hi, lo uint64
	for i := range 8 {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return mix64(mix64(mix64(mix64(seed^0x9e3779b97f4a7c15)^hi)^lo) ^ uint64(ap.Port()))
}

// mix64 is the SplitMix64 finalizer: a fast bijective scrambler.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// unitFloat maps a hash to [0, 1).
func unitFloat(h uint64) float64 { return float64(h>>11) / (1 << 53) }
