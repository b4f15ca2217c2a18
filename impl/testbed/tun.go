package testbed

import (
	"container/heap"
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The user-space link emulator: every namespace gets a TUN device instead
// of a veth, and this process is the switch between them. It reads each
// IP packet a node sends, looks up the link to its destination (delay,
// loss, blocked) and writes it into the destination's TUN device when its
// delay has passed. It needs no queueing discipline from the kernel, so it
// runs where tc netem does not (kernels built without sch_netem), at the
// cost of one process carrying every packet.

// openTUN creates a TUN device named name in this process's namespace. It
// is not persistent: the kernel removes it when the file closes, also when
// this process dies.
func openTUN(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("testbed: open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("testbed: tun name %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("testbed: create tun %s: %w", name, err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

// tunSwitch carries packets between the TUN devices of the endpoints
// (nodes 0..n-1 and the host, n).
type tunSwitch struct {
	addrOf func(int) netip.Addr
	index  map[netip.Addr]int
	ports  []*os.File
	links  atomic.Pointer[[][]link]

	mu    sync.Mutex
	rng   *rand.Rand
	q     packetQueue
	seq   uint64
	wake  chan struct{}
	stats SwitchStats
	wg    sync.WaitGroup
}

// SwitchStats counts what the user-space switch did with packets.
type SwitchStats struct {
	Delivered, Lost, Blocked, Unroutable, Overflow uint64
}

// maxQueued bounds the packets in flight through the switch: at 140 ms a
// packet, 64k packets is more than 400k packets a second.
const maxQueued = 1 << 16

type packet struct {
	at   time.Time
	seq  uint64
	to   int
	data []byte
}

type packetQueue []*packet

func (q packetQueue) Len() int { return len(q) }
func (q packetQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q packetQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *packetQueue) Push(x any)   { *q = append(*q, x.(*packet)) }
func (q *packetQueue) Pop() any {
	old := *q
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return p
}

func newTunSwitch(ports []*os.File, addrOf func(int) netip.Addr, seed uint64) *tunSwitch {
	s := &tunSwitch{addrOf: addrOf, index: map[netip.Addr]int{}, ports: ports,
		rng: rand.New(rand.NewPCG(seed, 0x5717c4)), wake: make(chan struct{}, 1)}
	for i := range ports {
		s.index[addrOf(i)] = i
	}
	return s
}

// setLinks replaces the link table; packets already in flight keep the
// delay they were given, as on a real path.
func (s *tunSwitch) setLinks(t [][]link) { s.links.Store(&t) }

func (s *tunSwitch) run(ctx context.Context) {
	for i, f := range s.ports {
		s.wg.Go(func() { s.readPort(i, f) })
	}
	s.wg.Go(func() { s.deliver(ctx) })
}

// close stops the switch: the TUN devices go away with their files.
func (s *tunSwitch) close() {
	for _, f := range s.ports {
		_ = f.Close()
	}
	s.wg.Wait()
}

func (s *tunSwitch) Stats() SwitchStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

func (s *tunSwitch) readPort(from int, f *os.File) {
	buf := make([]byte, 1<<16)
	for {
		n, err := f.Read(buf)
		if err != nil {
			return // closed
		}
		p := buf[:n]
		if n < 20 || p[0]>>4 != 4 {
			continue // not IPv4 (the kernel's IPv6 chatter on a new link)
		}
		dst := netip.AddrFrom4([4]byte(p[16:20]))
		s.forward(from, dst, p)
	}
}

func (s *tunSwitch) forward(from int, dst netip.Addr, p []byte) {
	to, ok := s.index[dst]
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ok || to == from {
		s.stats.Unroutable++
		return
	}
	l := (*s.links.Load())[from][to]
	switch {
	case l.blocked:
		s.stats.Blocked++
		return
	case l.loss > 0 && s.rng.Float64() < l.loss:
		s.stats.Lost++
		return
	case len(s.q) >= maxQueued:
		s.stats.Overflow++
		return
	}
	s.seq++
	heap.Push(&s.q, &packet{at: time.Now().Add(l.delay), seq: s.seq, to: to, data: append([]byte(nil), p...)})
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// deliver writes each packet into its destination's TUN device when its
// time comes, earliest first (packets on one path keep their order while
// its delay stays the same, as with netem).
func (s *tunSwitch) deliver(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		var due []*packet
		now := time.Now()
		for len(s.q) > 0 && !s.q[0].at.After(now) {
			due = append(due, heap.Pop(&s.q).(*packet))
		}
		wait := time.Hour
		if len(s.q) > 0 {
			wait = s.q[0].at.Sub(now)
		}
		s.stats.Delivered += uint64(len(due))
		s.mu.Unlock()
		for _, p := range due {
			_, _ = s.ports[p.to].Write(p.data) // a full queue in the kernel loses it, as a link would
		}
		if len(due) > 0 {
			continue
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-timer.C:
		}
	}
}
