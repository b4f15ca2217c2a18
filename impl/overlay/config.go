package overlay

import (
	"fmt"
	"time"
)

// Bounds of the hardening knobs (spec/SPEC.md section 19). Beyond them a
// knob no longer bounds anything a host could do, or asks for more state
// than a node should keep for strangers: a configuration that asks for
// that is a mistake.
const (
	// MaxPeersPerHost: a whole row of the widest routing table (b = 8).
	MaxPeersPerHost = 256
	// MaxMaxChallenges: pings in flight to unverified addresses.
	MaxMaxChallenges = 1 << 16
	// MaxStrangerRate is in datagrams per second from one address: more
	// than a gigabit link carries in small datagrams.
	MaxStrangerRate = 1e6
	// MaxStrangerBurst is in datagrams.
	MaxStrangerBurst = 1 << 20
	// MaxTries bounds RouteTries and LookupTries.
	MaxTries = 100
)

// Config holds the overlay's parameters.
type Config struct {
	// DigitBits is b: routing-table digits are base 2^b (1, 2, 4 or 8).
	DigitBits int
	// LeafSetSize is the number of leaves on each side of the node.
	LeafSetSize int
	// LeafSetPeriod is the mean period of leaf-set exchange with a random leaf.
	LeafSetPeriod time.Duration
	// NearPeriod is the mean period of near routing-table tuning.
	NearPeriod time.Duration
	// FarPeriod is the mean period of far routing-table tuning.
	FarPeriod time.Duration
	// PingPeriod is the mean period of liveness probes of table entries.
	PingPeriod time.Duration
	// InitialRTO is the retransmission timeout toward a peer without RTT samples.
	InitialRTO time.Duration
	// MinRTO is the least timeout toward a measured peer (FD-1): an
	// answer waits behind the peer's queue of work and its host's
	// scheduler, which a few quiet round trips do not measure.
	MinRTO time.Duration
	// MaxRTO caps the timeout with backoff.
	MaxRTO time.Duration
	// DeadAfter is the number of consecutive timeouts after which a peer is
	// removed from the leaf set and the routing table.
	DeadAfter int
	// RouteTries is how many next hops a routed message tries before it is
	// dropped (the origin retries end to end).
	RouteTries int
	// LookupTimeout is how long the origin of a lookup waits for the
	// answer before it sends the lookup again.
	LookupTimeout time.Duration
	// LookupTries is how many times the origin sends a lookup before it
	// gives up.
	LookupTries int
	// RevivePeriod is the mean period of probing one peer declared dead
	// (how partitioned halves of the ring find each other again).
	RevivePeriod time.Duration
	// JoinRetry is how long a joining node waits for its leaf set before it
	// sends its join again.
	JoinRetry time.Duration
	// JoinRetryMax caps the wait between joins: each join in a row that
	// goes unanswered doubles it, from JoinRetry up to JoinRetryMax.
	JoinRetryMax time.Duration
	// PeersPerHost is how many peers with one IP address each side of the
	// leaf set, and the routing table, may hold (OH-5). Loopback
	// addresses are exempt: every node of a one-machine testbed has one.
	PeersPerHost int
	// MaxChallenges bounds the address challenges outstanding at once
	// (OH-1), and HostChallenges those to one IP address: gossip naming
	// many strangers does not make the node ping the world.
	MaxChallenges, HostChallenges int
	// StrangerRate is how many datagrams per second the node takes from
	// one IP address while the sender's ID is not bound to it, and
	// StrangerBurst how many at once (OH-4). Loopback is exempt.
	StrangerRate  float64
	StrangerBurst int
	// ProximityRouting is delay-aware routing (PR-1): the next hop is the
	// peer, among those closer to the key than this node, with the least
	// expected delay to the destination (its measured RTT plus the hops
	// expected after it). False: Pastry's hop, the routing-table entry for
	// the key's next digit (the most progress in ID space).
	ProximityRouting bool
	// NearSize is k for near-routed messages (RouteNear): they are
	// delivered at the first node on their path that knows the k nodes
	// closest to the key (a node sets it to its replica set's size). 0:
	// they go to the root like any other.
	NearSize int
	// Seed seeds the node's random choices (peer picks, jitter, tuning
	// IDs, and the nonces that challenges and replies must echo: a
	// production node seeds it from a cryptographic source).
	Seed uint64
}

// DefaultConfig returns Bamboo's parameters as used by OpenDHT.
func DefaultConfig() Config {
	return Config{
		// Base 16: log16(N) hops, 40 rows of 16 entries.
		DigitBits: 4,
		// 4 per side: the deployment's 8 replicas come from the leaf set.
		LeafSetSize: 4,
		// Bamboo's periodic (not reactive) recovery periods.
		LeafSetPeriod: 4 * time.Second,
		NearPeriod:    10 * time.Second,
		FarPeriod:     20 * time.Second,
		PingPeriod:    20 * time.Second,
		// Until a peer has RTT samples, assume a slow wide-area path.
		InitialRTO: time.Second,
		// TCP's floor on Linux. On a LAN or loopback the measured RTT is
		// well under a millisecond, and a node whose loop is busy for a
		// few tens of ms (a burst of client writes, a GC pause, a loaded
		// host) would otherwise miss three backed-off timeouts in 80 ms
		// and be declared dead; on the wide area the RTO is above it
		// anyway.
		MinRTO: 200 * time.Millisecond,
		// Bamboo's backoff cap.
		MaxRTO: 5 * time.Second,
		// Three misses in a row: a lost packet or two is not a failure.
		DeadAfter: 3,
		// Enough alternatives to route around a couple of dead entries.
		RouteTries: 4,
		// A lookup takes a few hops of at most a few hundred ms each; the
		// hop-by-hop retries fit in 2 s unless a hop died holding it.
		LookupTimeout: 2 * time.Second,
		LookupTries:   3,
		JoinRetry:     5 * time.Second,
		// 5, 10, 20, 40, 60, 60 ... s: a node whose bootstrap nodes are
		// down does not flood them, and joins within a minute of their
		// return.
		JoinRetryMax: time.Minute,
		// One ping every 10 s: negligible traffic, and a healed partition
		// merges within a minute or two.
		RevivePeriod: 10 * time.Second,
		// Two: a host may run a couple of nodes, and an attacker with one
		// address takes at most two leaves a side and two table entries.
		PeersPerHost: 2,
		// A join brings a few dozen strangers at most; a flood of gossip
		// is held to this many pings in flight.
		MaxChallenges:  64,
		HostChallenges: 8,
		// A joining neighbour sends a few dozen datagrams before it is
		// bound; a flood from one address is cut to this rate.
		StrangerRate:  100,
		StrangerBurst: 200,
		// On a wide-area network a near hop that leaves a hop to go can
		// beat one far hop; it costs a loop over the peers the node
		// knows, and every hop still goes closer to the key.
		ProximityRouting: true,
	}
}

// Validate rejects parameters the overlay cannot run with.
func (c Config) Validate() error {
	switch {
	case c.DigitBits != 1 && c.DigitBits != 2 && c.DigitBits != 4 && c.DigitBits != 8:
		return fmt.Errorf("overlay: digit bits must be 1, 2, 4 or 8, got %d", c.DigitBits)
	case c.LeafSetSize < 1 || c.LeafSetSize > 16:
		return fmt.Errorf("overlay: leaf set size per side must be in [1, 16], got %d", c.LeafSetSize)
	case c.LeafSetPeriod <= 0 || c.NearPeriod <= 0 || c.FarPeriod <= 0 || c.PingPeriod <= 0 || c.RevivePeriod <= 0:
		return fmt.Errorf("overlay: maintenance periods must be positive")
	case c.InitialRTO <= 0 || c.MaxRTO < c.InitialRTO:
		return fmt.Errorf("overlay: need 0 < initial RTO <= max RTO, got %v and %v", c.InitialRTO, c.MaxRTO)
	case c.MinRTO <= 0 || c.MinRTO > c.MaxRTO:
		return fmt.Errorf("overlay: need 0 < min RTO <= max RTO, got %v and %v", c.MinRTO, c.MaxRTO)
	case c.DeadAfter < 1 || c.RouteTries < 1 || c.LookupTries < 1:
		return fmt.Errorf("overlay: dead-after, route tries and lookup tries must be at least 1")
	case c.RouteTries > MaxTries || c.LookupTries > MaxTries:
		return fmt.Errorf("overlay: route tries and lookup tries must be at most %d, got %d and %d", MaxTries, c.RouteTries, c.LookupTries)
	case c.LookupTimeout <= 0:
		return fmt.Errorf("overlay: lookup timeout must be positive")
	case c.JoinRetry <= 0:
		return fmt.Errorf("overlay: join retry must be positive")
	case c.PeersPerHost < 1 || c.PeersPerHost > MaxPeersPerHost:
		return fmt.Errorf("overlay: peers per host must be in [1, %d], got %d", MaxPeersPerHost, c.PeersPerHost)
	case c.MaxChallenges < 1 || c.HostChallenges < 1 || c.HostChallenges > c.MaxChallenges || c.MaxChallenges > MaxMaxChallenges:
		return fmt.Errorf("overlay: need 1 <= host challenges <= max challenges <= %d, got %d and %d", MaxMaxChallenges, c.HostChallenges, c.MaxChallenges)
	case !(c.StrangerRate > 0 && c.StrangerRate <= MaxStrangerRate): // NaN fails both comparisons
		return fmt.Errorf("overlay: stranger rate must be in (0, %g] datagrams per second, got %v", float64(MaxStrangerRate), c.StrangerRate)
	case c.StrangerBurst < 1 || c.StrangerBurst > MaxStrangerBurst:
		return fmt.Errorf("overlay: stranger burst must be in [1, %d] datagrams, got %d", MaxStrangerBurst, c.StrangerBurst)
	case c.NearSize < 0 || c.NearSize > 2*c.LeafSetSize+1:
		return fmt.Errorf("overlay: near size must be in [0, %d] (the leaf set and the node), got %d", 2*c.LeafSetSize+1, c.NearSize)
	case c.JoinRetryMax < c.JoinRetry:
		return fmt.Errorf("overlay: join retry max (%v) must be at least join retry (%v)", c.JoinRetryMax, c.JoinRetry)
	}
	return nil
}
