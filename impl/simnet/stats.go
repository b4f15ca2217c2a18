package simnet

import (
	"fmt"
	"net/netip"
	"time"
)

// Cause is why the network dropped a datagram.
type Cause uint8

const (
	// DropLoss: random loss (Faults.Loss).
	DropLoss Cause = iota
	// DropPartition: a partition separated sender and receiver when the
	// datagram was sent or when it arrived.
	DropPartition
	// DropDetached: nothing was attached at the destination when the
	// datagram arrived.
	DropDetached
	// DropOversize: larger than transport.MaxDatagram; Send refused it
	// with transport.ErrTooLarge and it never entered the network.
	DropOversize
	// NumCauses is the number of causes, the length of the drop arrays.
	NumCauses
)

func (c Cause) String() string {
	switch c {
	case DropLoss:
		return "loss"
	case DropPartition:
		return "partition"
	case DropDetached:
		return "detached"
	case DropOversize:
		return "oversize"
	}
	return fmt.Sprintf("Cause(%d)", uint8(c))
}

// Counter counts datagrams and their payload bytes (headers excluded).
type Counter struct {
	Packets, Bytes uint64
}

func (c *Counter) add(bytes uint64) {
	c.Packets++
	c.Bytes += bytes
}

func (c Counter) sub(d Counter) Counter {
	return Counter{c.Packets - d.Packets, c.Bytes - d.Bytes}
}

// Stats counts the traffic of one address, or of the whole network.
//
// For the whole network, at every moment:
//
//	Sent + Duplicated = Received + (sum of DroppedOut except DropOversize) + in flight
//
// and the DroppedOut and DroppedIn sums are equal.
type Stats struct {
	// Sent: datagrams Send accepted into the network.
	Sent Counter
	// Received: datagrams handed to the handler, duplicates included.
	Received Counter
	// Duplicated: extra copies the network made of datagrams sent.
	Duplicated Counter
	// DroppedOut: datagrams sent from this address that were dropped, by
	// cause.
	DroppedOut [NumCauses]Counter
	// DroppedIn: datagrams addressed to this address that were dropped,
	// by cause.
	DroppedIn [NumCauses]Counter
}

// Sub returns s - t, the traffic of a window between two snapshots.
func (s Stats) Sub(t Stats) Stats {
	d := Stats{
		Sent:       s.Sent.sub(t.Sent),
		Received:   s.Received.sub(t.Received),
		Duplicated: s.Duplicated.sub(t.Duplicated),
	}
	for c := range NumCauses {
		d.DroppedOut[c] = s.DroppedOut[c].sub(t.DroppedOut[c])
		d.DroppedIn[c] = s.DroppedIn[c].sub(t.DroppedIn[c])
	}
	return d
}

// Stats returns the counters of addr since the network started, across
// detaches and re-attaches; zero for an address never seen.
func (n *Network) Stats(addr netip.AddrPort) Stats {
	if nd := n.nodes[unmap(addr)]; nd != nil {
		return nd.stats
	}
	return Stats{}
}

// TotalStats returns the counters of the whole network.
func (n *Network) TotalStats() Stats { return n.total }

// TraceKind is what happened to a datagram.
type TraceKind uint8

const (
	// TraceSend: Send accepted a datagram.
	TraceSend TraceKind = iota
	// TraceDuplicate: the network made an extra copy (after TraceSend).
	TraceDuplicate
	// TraceDeliver: a datagram is being handed to the handler.
	TraceDeliver
	// TraceDrop: a datagram was dropped; Trace.Cause says why.
	TraceDrop
)

func (k TraceKind) String() string {
	switch k {
	case TraceSend:
		return "send"
	case TraceDuplicate:
		return "dup"
	case TraceDeliver:
		return "deliver"
	case TraceDrop:
		return "drop"
	}
	return fmt.Sprintf("TraceKind(%d)", uint8(k))
}

// Trace is one step in the life of a datagram, reported to the function
// given to SetTrace.
type Trace struct {
	At       time.Time
	Kind     TraceKind
	From, To netip.AddrPort
	Size     int
	Cause    Cause // for TraceDrop
	// Payload is valid only during the call.
	Payload []byte
}

func (t Trace) String() string {
	s := fmt.Sprintf("%s %s %v->%v %dB", t.At.Format("15:04:05.000000000"), t.Kind, t.From, t.To, t.Size)
	if t.Kind == TraceDrop {
		s += " " + t.Cause.String()
	}
	return s
}

// SetTrace makes the network report every send, duplication, delivery and
// drop to f, in the order they happen (nil stops it). Deliveries are
// reported before the handler runs.
func (n *Network) SetTrace(f func(Trace)) { n.trace = f }
