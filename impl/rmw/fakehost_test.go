package rmw

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/wire"
)

// fakeNet is a deterministic in-memory network of hosts, each running one
// protocol instance: one goroutine, a manual clock, messages that stay
// queued until the test delivers, drops or duplicates them, and disks
// that keep a save apart until the test says "fsync now". Nothing here
// reads the real clock or an unseeded random source.
type fakeNet struct {
	t        tb
	now      time.Time
	hosts    []*fakeHost
	replicas int
	timeout  time.Duration
	syncEach time.Duration // the hosts' SyncPeriod
	queue    []packet      // in flight, oldest first
	sent     []packet      // every message ever sent, lost or not
	// cut, if set, loses the packets it returns true for as they are sent.
	cut func(p packet) bool
	// root, if set, receives every routed message; otherwise the host
	// closest to the key does.
	root   *fakeHost
	nextOp uint64
	// epoch is every host's MembershipEpoch: a test that changes
	// replicas, a host's set or the hosts bumps it.
	epoch uint64
}

// tb is what both *testing.T and *rapid.T offer.
type tb interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
}

type packet struct {
	from, to *fakeHost
	msg      []byte
}

func (p packet) String() string {
	m, err := decodeCP(p.msg)
	if err != nil {
		return fmt.Sprintf("%d->%d undecodable (%v)", p.from.i, p.to.i, err)
	}
	return fmt.Sprintf("%d->%d kind %d op %d ballot %d nack %d", p.from.i, p.to.i, m.Kind, m.Op, m.Ballot.N, m.Nack)
}

type fakeHost struct {
	net   *fakeNet
	i     int
	self  wire.Peer
	proto Protocol
	// state is what LoadState reads back (every save, at once); disk is
	// what a restart keeps (the saves fsynced).
	state, disk map[dht.Key][]byte
	unsynced    []pendingSave
	// set, if set, is this host's own view of replica sets.
	set     func(key dht.Key) []wire.Peer
	results map[uint64]Result
	rng     *rand.Rand
}

type pendingSave struct {
	key  dht.Key
	val  []byte
	then func(time.Time, error)
}

// newFakeNet builds n hosts running protocol name, with replica sets of r
// and operations that time out after timeout. seed seeds every host's
// Rand. Half the hosts have IPv4 addresses, half IPv6.
func newFakeNet(t tb, name string, n, r int, timeout time.Duration, seed uint64) *fakeNet {
	net := &fakeNet{t: t, now: time.Unix(1_700_000_000, 0), replicas: r, timeout: timeout, syncEach: time.Hour}
	for i := range n {
		h := &fakeHost{net: net, i: i, state: map[dht.Key][]byte{}, disk: map[dht.Key][]byte{}, results: map[uint64]Result{}}
		h.self.ID = dht.Key(dht.SHA1(fmt.Appendf(nil, "node %d", i)))
		if i%2 == 0 {
			h.self.Addr = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), 4222)
		} else {
			h.self.Addr = netip.AddrPortFrom(netip.MustParseAddr(fmt.Sprintf("fd00::%x", i+1)), 4222)
		}
		h.rng = rand.New(rand.NewPCG(seed, uint64(i)))
		p, err := New(name, h)
		if err != nil {
			t.Fatalf("%v", err)
		}
		h.proto = p
		net.hosts = append(net.hosts, h)
	}
	return net
}

// members is key's replica set as every host sees it: the r hosts whose
// IDs are closest to key (XOR), closest first.
func (n *fakeNet) members(key dht.Key) []*fakeHost {
	hs := slices.Clone(n.hosts)
	slices.SortFunc(hs, func(a, b *fakeHost) int { return bytes.Compare(xor(a.self.ID, key), xor(b.self.ID, key)) })
	return hs[:min(n.replicas, len(hs))]
}

// outsider is a host outside key's replica set (nil if there is none).
func (n *fakeNet) outsider(key dht.Key) *fakeHost {
	in := n.members(key)
	for _, h := range n.hosts {
		if !slices.Contains(in, h) {
			return h
		}
	}
	return nil
}

func xor(a, b dht.Key) []byte {
	out := make([]byte, len(a))
	for i := range a {
		out[i] = a[i] ^ b[i]
	}
	return out
}

func (n *fakeNet) host(id dht.Key) *fakeHost {
	for _, h := range n.hosts {
		if h.self.ID == id {
			return h
		}
	}
	n.t.Fatalf("fakenet: no host %x", id[:4])
	return nil
}

func (n *fakeNet) post(p packet) {
	n.sent = append(n.sent, p)
	if n.cut != nil && n.cut(p) {
		return
	}
	n.queue = append(n.queue, p)
}

// deliver hands queue[i] to its destination.
func (n *fakeNet) deliver(i int) {
	p := n.queue[i]
	n.queue = slices.Delete(n.queue, i, i+1)
	p.to.proto.Receive(n.now, p.from.self, p.msg)
}

func (n *fakeNet) drop(i int) { n.queue = slices.Delete(n.queue, i, i+1) }

func (n *fakeNet) duplicate(i int) {
	p := n.queue[i]
	p.msg = slices.Clone(p.msg)
	n.queue = append(n.queue, p)
}

// inject queues msg as if from had sent it to to.
func (n *fakeNet) inject(from, to *fakeHost, m cpMsg) {
	n.queue = append(n.queue, packet{from: from, to: to, msg: m.encode()})
}

// fsyncAll puts every host's saves on disk.
func (n *fakeNet) fsyncAll() {
	for _, h := range n.hosts {
		h.fsync()
	}
}

// advance moves the clock on by d and ticks every host.
func (n *fakeNet) advance(d time.Duration) {
	n.now = n.now.Add(d)
	for _, h := range n.hosts {
		h.proto.Tick(n.now)
	}
}

// nextWake is the earliest time a host has work (zero: none).
func (n *fakeNet) nextWake() time.Time {
	var t time.Time
	for _, h := range n.hosts {
		if w := h.proto.NextWake(); !w.IsZero() && (t.IsZero() || w.Before(t)) {
			t = w
		}
	}
	return t
}

// runUntil delivers messages first in, first out, fsyncing every disk
// after each, and when nothing is in flight advances the clock to the
// next wake-up, until done reports true. It fails the test if that takes
// more than a minute of the fake clock.
func (n *fakeNet) runUntil(done func() bool) {
	n.t.Helper()
	limit := n.now.Add(time.Minute)
	for !done() {
		switch {
		case len(n.queue) > 0:
			n.deliver(0)
			n.fsyncAll()
		case n.now.After(limit):
			n.t.Fatalf("fakenet: not done after a minute (queue empty)")
		default:
			w := n.nextWake()
			if w.IsZero() {
				n.t.Fatalf("fakenet: not done and nothing to wait for")
			}
			n.advance(max(w.Sub(n.now), 0))
		}
	}
}

// settle advances the clock by d in steps of 100 ms, delivering every
// message and fsyncing every disk after each step.
func (n *fakeNet) settle(d time.Duration) {
	for end := n.now.Add(d); n.now.Before(end); {
		n.advance(100 * time.Millisecond)
		n.fsyncAll()
		for len(n.queue) > 0 {
			n.deliver(0)
			n.fsyncAll()
		}
	}
}

// start begins op at gateway h and returns its id.
func (n *fakeNet) start(h *fakeHost, op Op) uint64 {
	n.nextOp++
	h.proto.Start(n.now, n.nextOp, op)
	return n.nextOp
}

// call runs op at gateway h to its answer.
func (n *fakeNet) call(h *fakeHost, op Op) Result {
	n.t.Helper()
	id := n.start(h, op)
	n.runUntil(func() bool { _, ok := h.results[id]; return ok })
	return h.results[id]
}

// count reports how many messages of kind were sent (lost ones included).
func (n *fakeNet) count(kind uint8) int {
	c := 0
	for _, p := range n.sent {
		if m, err := decodeCP(p.msg); err == nil && m.Kind == kind {
			c++
		}
	}
	return c
}

// queued returns the decoded messages in flight to h.
func (n *fakeNet) queued(to *fakeHost) []cpMsg {
	var out []cpMsg
	for _, p := range n.queue {
		if p.to != to {
			continue
		}
		m, err := decodeCP(p.msg)
		if err != nil {
			n.t.Fatalf("fakenet: undecodable message in flight: %v", err)
		}
		out = append(out, m)
	}
	return out
}

// fsync puts h's saves on disk, in order, then runs their callbacks.
func (h *fakeHost) fsync() {
	saves := h.unsynced
	h.unsynced = nil
	for _, s := range saves {
		if s.val == nil {
			delete(h.disk, s.key)
		} else {
			h.disk[s.key] = s.val
		}
	}
	for _, s := range saves {
		s.then(h.net.now, nil)
	}
}

// restart replaces h's protocol with a new instance over what is on its
// disk: unsynced saves are lost, as in a crash.
func (h *fakeHost) restart(name string) {
	h.unsynced = nil
	h.state = map[dht.Key][]byte{}
	for k, v := range h.disk {
		h.state[k] = slices.Clone(v)
	}
	p, err := New(name, h)
	if err != nil {
		h.net.t.Fatalf("%v", err)
	}
	h.proto = p
}

// acceptor decodes what h holds for key (read back, not only durable).
func (h *fakeHost) acceptor(key dht.Key) acceptor {
	h.net.t.Helper()
	a, err := decodeAcceptor(h.state[key])
	if err != nil {
		h.net.t.Fatalf("host %d: state of %x: %v", h.i, key[:4], err)
	}
	return a
}

// ---- rmw.Host ----

func (h *fakeHost) Self() wire.Peer { return h.self }

func (h *fakeHost) Send(now time.Time, to wire.Peer, msg []byte) {
	if len(msg) > wire.MaxProtoPayload {
		h.net.t.Errorf("host %d sent %d bytes, more than wire.MaxProtoPayload", h.i, len(msg))
	}
	h.checkDurable(msg)
	h.net.post(packet{from: h, to: h.net.host(to.ID), msg: slices.Clone(msg)})
}

// checkDurable fails the test if h answers a prepare or an accept before
// its disk holds what the answer promises (DUR-1).
func (h *fakeHost) checkDurable(msg []byte) {
	m, err := decodeCP(msg)
	if err != nil || m.Nack != 0 || (m.Kind != cpPromise && m.Kind != cpAccepted) {
		return
	}
	a, err := decodeAcceptor(h.disk[m.Key])
	if err != nil {
		h.net.t.Errorf("host %d: disk state of %x: %v", h.i, m.Key[:4], err)
		return
	}
	if a.Promise.cmp(m.Ballot) < 0 || (m.Kind == cpAccepted && a.Accepted.cmp(m.Ballot) < 0) {
		h.net.t.Errorf("host %d answered kind %d for ballot %d before it was on disk (disk: promise %d, accepted %d)",
			h.i, m.Kind, m.Ballot.N, a.Promise.N, a.Accepted.N)
	}
}

func (h *fakeHost) Route(now time.Time, key dht.Key, msg []byte) {
	root := h.net.root
	if root == nil {
		root = h.net.members(key)[0]
	}
	h.net.post(packet{from: h, to: root, msg: slices.Clone(msg)})
}

func (h *fakeHost) ReplicaSet(key dht.Key) []wire.Peer {
	if h.set != nil {
		return h.set(key)
	}
	var out []wire.Peer
	for _, m := range h.net.members(key) {
		out = append(out, m.self)
	}
	return out
}

func (h *fakeHost) Replicas() int { return h.net.replicas }

func (h *fakeHost) MembershipEpoch() uint64 { return h.net.epoch }

// The put/get namespace is not used by the protocols tested here.
func (h *fakeHost) Put(time.Time, dht.Put) uint64       { h.net.nextOp++; return h.net.nextOp }
func (h *fakeHost) Remove(time.Time, dht.Remove) uint64 { h.net.nextOp++; return h.net.nextOp }
func (h *fakeHost) Get(time.Time, dht.Get) uint64       { h.net.nextOp++; return h.net.nextOp }

func (h *fakeHost) LoadState(key dht.Key) ([]byte, error) { return slices.Clone(h.state[key]), nil }

func (h *fakeHost) SaveState(now time.Time, key dht.Key, val []byte, then func(time.Time, error)) {
	val = slices.Clone(val)
	if val == nil {
		delete(h.state, key)
	} else {
		h.state[key] = val
	}
	h.unsynced = append(h.unsynced, pendingSave{key: key, val: val, then: then})
}

func (h *fakeHost) ScanState(fn func(dht.Key, []byte) bool) error {
	keys := make([]dht.Key, 0, len(h.state))
	for k := range h.state {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b dht.Key) int { return bytes.Compare(a[:], b[:]) })
	for _, k := range keys {
		if !fn(k, slices.Clone(h.state[k])) {
			break
		}
	}
	return nil
}

func (h *fakeHost) Done(id uint64, r Result) {
	if _, twice := h.results[id]; twice {
		h.net.t.Errorf("host %d answered operation %d twice: %v", h.i, id, r)
	}
	h.results[id] = r
}

func (h *fakeHost) Timeout() time.Duration    { return h.net.timeout }
func (h *fakeHost) SyncPeriod() time.Duration { return h.net.syncEach }
func (h *fakeHost) Rand() *rand.Rand          { return h.rng }
func (h *fakeHost) Log() *slog.Logger         { return slog.New(slog.DiscardHandler) }
