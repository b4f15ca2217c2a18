package simnet

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/opendht-go/opendht/impl/transport"
)

// Endpoint is a node's attachment to the simulated network: a
// transport.Transport whose handler runs on the simulator's goroutine.
type Endpoint struct {
	n       *Network
	node    *node
	handler transport.Handler
	closed  bool
}

var _ transport.Transport = (*Endpoint)(nil)

// Attach connects a node at addr; h receives its datagrams. The address
// must be a usable unicast address with a port, not attached already. An
// address that was detached may be attached again (a restart): datagrams
// still in flight to it then reach the new endpoint, as on a real network.
func (n *Network) Attach(addr netip.AddrPort, h transport.Handler) (*Endpoint, error) {
	if h == nil {
		return nil, errors.New("simnet: handler must not be nil")
	}
	if err := transport.CheckSend(addr, nil); err != nil {
		return nil, fmt.Errorf("simnet: attach %v: %w", addr, err)
	}
	if addr.Addr().Is4In6() {
		return nil, fmt.Errorf("simnet: attach %v: %w (use the unmapped IPv4 address)", addr, transport.ErrBadAddr)
	}
	nd := n.nodeFor(addr)
	if nd.ep != nil {
		return nil, fmt.Errorf("%w: %v", ErrAddrInUse, addr)
	}
	nd.ep = &Endpoint{n: n, node: nd, handler: h}
	return nd.ep, nil
}

// Detach crashes the node at addr: its endpoint is closed, datagrams that
// arrive for it are dropped (cause DropDetached), and the clocks created
// for addr stop firing their timers. It reports whether an endpoint was
// attached.
func (n *Network) Detach(addr netip.AddrPort) bool {
	nd := n.nodes[addr]
	if nd == nil || nd.ep == nil {
		return false
	}
	nd.ep.closed = true
	nd.ep = nil
	for _, c := range nd.clocks {
		c.stop()
	}
	nd.clocks = nil
	n.forgotten()
	return true
}

// LocalAddr returns the address the endpoint is attached at.
func (e *Endpoint) LocalAddr() netip.AddrPort { return e.node.addr }

// Close detaches the endpoint (see Detach). Closing twice is harmless.
func (e *Endpoint) Close() error {
	if !e.closed {
		e.n.Detach(e.node.addr)
	}
	return nil
}

// Stats returns the endpoint's address's counters in the form of the UDP
// transport's, so that a node can report its traffic the same way on
// either: Send errors are sends to bad addresses; the network's own drops
// are not visible to a real node and are left out (see Network.Stats).
func (e *Endpoint) Stats() transport.Stats {
	s := e.node.stats
	return transport.Stats{
		PacketsSent:     s.Sent.Packets,
		BytesSent:       s.Sent.Bytes,
		PacketsReceived: s.Received.Packets,
		BytesReceived:   s.Received.Bytes,
		SendErrors:      e.node.badAddr,
		OversizeSent:    s.DroppedOut[DropOversize].Packets,
	}
}

// Send queues one datagram for delivery after its link's latency. It
// returns transport.ErrTooLarge, transport.ErrBadAddr or
// transport.ErrClosed for a datagram that never enters the network, and
// nil for every other one, even if the network then loses it.
func (e *Endpoint) Send(to netip.AddrPort, payload []byte) error {
	if e.closed {
		return transport.ErrClosed
	}
	return e.n.send(e.node, to, payload)
}

func (n *Network) send(from *node, toAddr netip.AddrPort, payload []byte) error {
	if err := transport.CheckSend(toAddr, payload); err != nil {
		if errors.Is(err, transport.ErrTooLarge) && toAddr.IsValid() {
			n.drop(from, n.nodeFor(unmap(toAddr)), len(payload), DropOversize, payload)
		} else {
			from.badAddr++
		}
		return err
	}
	to := n.nodeFor(unmap(toAddr))
	size := uint64(len(payload))
	from.stats.Sent.add(size)
	n.total.Sent.add(size)
	if n.trace != nil {
		n.trace(Trace{At: n.Now(), Kind: TraceSend, From: from.addr, To: to.addr, Size: len(payload), Payload: payload})
	}
	if n.blocked(from, to) {
		n.drop(from, to, len(payload), DropPartition, payload)
		return nil
	}
	f := n.faults(from, to)
	if f.Loss > 0 && n.rng.Float64() < f.Loss {
		n.drop(from, to, len(payload), DropLoss, payload)
		return nil
	}
	base := n.latency(from, to) + int64(f.Delay)
	jitter := int64(n.cfg.Jitter + f.Jitter)
	n.enqueue(from, to, payload, base, jitter)
	if f.Duplicate > 0 && n.rng.Float64() < f.Duplicate {
		from.stats.Duplicated.add(size)
		n.total.Duplicated.add(size)
		if n.trace != nil {
			n.trace(Trace{At: n.Now(), Kind: TraceDuplicate, From: from.addr, To: to.addr, Size: len(payload), Payload: payload})
		}
		n.enqueue(from, to, payload, base, jitter)
	}
	return nil
}

func (n *Network) enqueue(from, to *node, payload []byte, base, jitter int64) {
	delay := base
	if jitter > 0 {
		delay += n.rng.Int64N(jitter)
	}
	buf := append(n.getBuf(len(payload)), payload...)
	n.push(n.now+delay, event{kind: evDeliver, from: from, to: to, buf: buf})
	n.inFlight++
}

func (n *Network) deliver(from, to *node, buf []byte) {
	switch {
	case to.ep == nil:
		n.drop(from, to, len(buf), DropDetached, buf)
	case n.blocked(from, to):
		n.drop(from, to, len(buf), DropPartition, buf)
	default:
		size := uint64(len(buf))
		to.stats.Received.add(size)
		n.total.Received.add(size)
		if n.trace != nil {
			n.trace(Trace{At: n.Now(), Kind: TraceDeliver, From: from.addr, To: to.addr, Size: len(buf), Payload: buf})
		}
		to.ep.handler(from.addr, buf)
	}
	n.putBuf(buf)
}

func (n *Network) drop(from, to *node, size int, cause Cause, payload []byte) {
	from.stats.DroppedOut[cause].add(uint64(size))
	to.stats.DroppedIn[cause].add(uint64(size))
	n.total.DroppedOut[cause].add(uint64(size))
	n.total.DroppedIn[cause].add(uint64(size))
	if n.trace != nil {
		n.trace(Trace{At: n.Now(), Kind: TraceDrop, From: from.addr, To: to.addr, Size: size, Cause: cause, Payload: payload})
	}
}

// unmap returns ap with an IPv4-mapped IPv6 address replaced by the IPv4
// address, the form transports report senders in.
func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
