package simnet

import (
	"bytes"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/opendht-go/opendht/impl/clock"
	"github.com/opendht-go/opendht/impl/transport"
)

// Network is a simulated network and its event loop. See the package
// documentation for what it promises; it is not safe for concurrent use.
type Network struct {
	cfg   Config
	seed  uint64
	rng   *rand.Rand
	epoch time.Time

	now     int64  // simulated nanoseconds since the epoch
	seq     uint64 // next sequence number
	q       queue
	slots   []event
	free    []int32
	live    int // events in q that will still do something
	running bool

	nodes    map[netip.AddrPort]*node
	inFlight int // deliveries in q

	global      Faults
	links       map[link]Faults
	partitioned bool
	oneWay      []oneWayRule

	total Stats
	trace func(Trace)
	bufs  [numBufClass][][]byte // recycled payload buffers by size class
}

// node is everything the network knows about one address, attached or
// not; it lives as long as the network, so statistics survive crashes.
type node struct {
	addr  netip.AddrPort
	hash  uint64
	ep    *Endpoint // nil while detached
	group int       // side of the symmetric partition; 0 = not named
	stats Stats
	// badAddr counts Sends refused with transport.ErrBadAddr.
	badAddr uint64
	clocks  []*NodeClock // clocks stopped when the address is detached
}

type link struct{ from, to *node }

type oneWayRule struct{ from, to map[*node]bool }

type eventKind uint8

const (
	evFree eventKind = iota
	evDeliver
	evTimer
	evCancelled
)

// event is the body of a queued event, kept in a slot so that the heap
// moves only small entries.
type event struct {
	kind     eventKind
	seq      uint64 // matches the entry; lets a Timer recognise its slot
	from, to *node
	buf      []byte
	f        func()
	clk      *NodeClock // the timer's clock, or nil for network timers
}

// New returns a network whose every random choice derives from seed.
func New(seed uint64, cfg Config) (*Network, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Network{
		cfg:    cfg,
		seed:   seed,
		rng:    rand.New(rand.NewPCG(seed, 0x73696d6e6574)), // "simnet"
		epoch:  cfg.Epoch,
		nodes:  make(map[netip.AddrPort]*node),
		links:  make(map[link]Faults),
		global: cfg.Faults,
	}, nil
}

// Seed returns the seed the network was created with.
func (n *Network) Seed() uint64 { return n.seed }

// Now returns the simulated time.
func (n *Network) Now() time.Time { return n.epoch.Add(time.Duration(n.now)) }

// Elapsed returns the simulated time since the epoch.
func (n *Network) Elapsed() time.Duration { return time.Duration(n.now) }

// Schedule calls f at simulated time at, or now if at is in the past,
// after the events already scheduled for that instant.
func (n *Network) Schedule(at time.Time, f func()) *Timer {
	return n.scheduleTimer(n.toSim(at), f, nil)
}

// After calls f once d of simulated time has passed (d <= 0: now, after
// the events already due).
func (n *Network) After(d time.Duration, f func()) *Timer {
	return n.scheduleTimer(n.later(d), f, nil)
}

// later returns now+d in simulated nanoseconds, saturating instead of
// overflowing.
func (n *Network) later(d time.Duration) int64 {
	if d <= 0 {
		return n.now
	}
	if int64(d) > maxTime-n.now {
		return maxTime
	}
	return n.now + int64(d)
}

// AfterFunc is After as a clock.Clock: the network itself is a clock
// without offset or drift, for harness code.
func (n *Network) AfterFunc(d time.Duration, f func()) clock.Timer { return n.After(d, f) }

var _ clock.Clock = (*Network)(nil)

// Pending returns the number of events that will still do something:
// deliveries in flight and timers neither fired, stopped nor belonging to
// a stopped clock.
func (n *Network) Pending() int { return n.live }

// InFlight returns the number of datagrams sent and not yet delivered or
// dropped.
func (n *Network) InFlight() int { return n.inFlight }

// Step runs the next event, moving simulated time to it, and reports
// whether there was one.
func (n *Network) Step() bool { return n.next(maxTime) }

// Run runs every event due at or before until, then sets the simulated
// time to until (if that is later than now).
func (n *Network) Run(until time.Time) {
	limit := n.toSim(until)
	for n.next(limit) {
	}
	n.now = max(n.now, limit)
}

// RunFor runs the network for d of simulated time.
func (n *Network) RunFor(d time.Duration) { n.Run(n.Now().Add(d)) }

// RunUntil runs events until cond returns true (checked before the first
// event and after each) or the next event is after deadline, when it sets
// the time to deadline. It reports whether cond became true.
func (n *Network) RunUntil(cond func() bool, deadline time.Time) bool {
	limit := n.toSim(deadline)
	for !cond() {
		if !n.next(limit) {
			n.now = max(n.now, limit)
			return cond()
		}
	}
	return true
}

const maxTime = int64(^uint64(0) >> 1)

// next runs the first live event due at or before limit.
func (n *Network) next(limit int64) bool {
	if n.running {
		panic("simnet: Run, RunFor, RunUntil or Step called from inside an event")
	}
	for len(n.q) > 0 && n.q[0].at <= limit {
		e := n.q.pop()
		ev := n.slots[e.slot]
		n.release(e.slot)
		if ev.dead() {
			continue
		}
		n.live--
		n.now = e.at
		n.run(ev)
		return true
	}
	return false
}

func (n *Network) run(ev event) {
	n.running = true
	defer func() { n.running = false }()
	switch ev.kind {
	case evDeliver:
		n.inFlight--
		n.deliver(ev.from, ev.to, ev.buf)
	case evTimer:
		if ev.clk != nil {
			ev.clk.pending--
		}
		ev.f()
	default:
		panic(fmt.Sprintf("simnet: running an event of kind %d at %v", ev.kind, n.Now()))
	}
}

// dead reports whether a queued event will do nothing when popped.
func (ev *event) dead() bool {
	return ev.kind == evCancelled || (ev.kind == evTimer && ev.clk != nil && ev.clk.stopped)
}

func (n *Network) toSim(t time.Time) int64 {
	return max(int64(t.Sub(n.epoch)), n.now)
}

// push queues an event at simulated time at (never before now).
func (n *Network) push(at int64, ev event) (slot int32, seq uint64) {
	if at < n.now {
		at = n.now
	}
	seq = n.seq
	n.seq++
	ev.seq = seq
	if k := len(n.free); k > 0 {
		slot = n.free[k-1]
		n.free = n.free[:k-1]
		n.slots[slot] = ev
	} else {
		slot = int32(len(n.slots))
		n.slots = append(n.slots, ev)
	}
	n.q.push(entry{at: at, seq: seq, slot: slot})
	n.live++
	return slot, seq
}

func (n *Network) release(slot int32) {
	n.slots[slot] = event{}
	n.free = append(n.free, slot)
}

// forgotten is called when queued events became dead; when they outnumber
// the live ones, the queue is rebuilt without them so that cancelled
// timeouts do not pile up.
func (n *Network) forgotten() {
	dead := len(n.q) - n.live
	if dead < 1024 || dead < n.live {
		return
	}
	kept := n.q[:0]
	for _, e := range n.q {
		if n.slots[e.slot].dead() {
			n.release(e.slot)
			continue
		}
		kept = append(kept, e)
	}
	clear(n.q[len(kept):])
	n.q = kept
	n.q.init()
}

// Timer is a scheduled call on the network's queue; it implements
// clock.Timer.
type Timer struct {
	n    *Network
	slot int32
	seq  uint64
}

func (n *Network) scheduleTimer(at int64, f func(), clk *NodeClock) *Timer {
	if f == nil {
		panic("simnet: timer scheduled with a nil function")
	}
	slot, seq := n.push(at, event{kind: evTimer, f: f, clk: clk})
	if clk != nil {
		clk.pending++
	}
	return &Timer{n: n, slot: slot, seq: seq}
}

// Stop cancels the call if it has not run yet and reports whether it did.
// It returns false for a timer of a clock stopped by Detach.
func (t *Timer) Stop() bool {
	ev := &t.n.slots[t.slot]
	if ev.kind != evTimer || ev.seq != t.seq || ev.dead() {
		return false
	}
	if ev.clk != nil {
		ev.clk.pending--
	}
	ev.kind = evCancelled
	ev.f = nil
	ev.clk = nil
	t.n.live--
	t.n.forgotten()
	return true
}

// nodeFor returns the record of addr, creating it on first use.
func (n *Network) nodeFor(addr netip.AddrPort) *node {
	if nd := n.nodes[addr]; nd != nil {
		return nd
	}
	nd := &node{addr: addr, hash: addrHash(n.seed, addr)}
	n.nodes[addr] = nd
	return nd
}

// Addrs returns every address the network has seen (attached, detached,
// sent to or named in a partition), in ascending order.
func (n *Network) Addrs() []netip.AddrPort {
	out := make([]netip.AddrPort, 0, len(n.nodes))
	for a := range n.nodes {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b netip.AddrPort) int { return a.Compare(b) })
	return out
}

// Attached reports whether an endpoint is attached at addr.
func (n *Network) Attached(addr netip.AddrPort) bool {
	nd := n.nodes[addr]
	return nd != nil && nd.ep != nil
}

// latency returns the base one-way latency from a to b.
func (n *Network) latency(a, b *node) int64 {
	if n.cfg.Latency != nil {
		return max(int64(n.cfg.Latency(a.addr, b.addr)), 0)
	}
	if a == b {
		return 0
	}
	return int64(uniformLatency(n.seed, a.hash, b.hash, n.cfg.MinLatency, n.cfg.MaxLatency))
}

// Payload buffers are recycled in size classes of 64, 128, ..., 1024
// bytes and MaxDatagram, so that a simulation of small messages keeps its
// working set small (and in cache) however many datagrams are in flight.
const (
	minBufClass = 6 // 64 bytes
	numBufClass = 6 // 64..1024, then MaxDatagram
)

func bufClass(size int) int {
	if size <= 1<<minBufClass {
		return 0
	}
	return min(bits.Len(uint(size-1))-minBufClass, numBufClass-1)
}

// getBuf returns an empty buffer able to hold size bytes.
func (n *Network) getBuf(size int) []byte {
	c := bufClass(size)
	if k := len(n.bufs[c]); k > 0 {
		b := n.bufs[c][k-1]
		n.bufs[c] = n.bufs[c][:k-1]
		return b
	}
	capacity := transport.MaxDatagram
	if c < numBufClass-1 {
		capacity = 1 << (c + minBufClass)
	}
	return make([]byte, 0, capacity)
}

// scribble is what a delivered payload is overwritten with.
var scribble = bytes.Repeat([]byte{0xa5}, transport.MaxDatagram)

func (n *Network) putBuf(b []byte) {
	if !n.cfg.KeepPayloads {
		// Overwrite what the handler was given, so that a handler that
		// kept the slice sees garbage at once.
		copy(b, scribble)
	}
	c := bufClass(cap(b))
	n.bufs[c] = append(n.bufs[c], b[:0])
}
