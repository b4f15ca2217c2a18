package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/opendht-go/opendht/impl/dht"
)

// Version is the wire version this binary speaks.
const Version = 1

// MaxDatagram is the largest datagram a node sends or accepts.
const MaxDatagram = 1400

// Limits checked before allocation.
const (
	MaxPeers   = 64   // peers in one list (leaf sets, table rows)
	MaxPayload = 1300 // bytes of an opaque payload
	MaxRows    = 40   // routing-table rows carried by a join
)

// Errors of decoding.
var (
	ErrMalformed   = errors.New("wire: malformed message")
	ErrVersion     = errors.New("wire: unsupported version")
	ErrUnknownType = errors.New("wire: unknown message type")
	ErrTooLarge    = errors.New("wire: message larger than a datagram")
)

var magic = [2]byte{'O', 'D'}

type encoder struct{ b []byte }

func (e *encoder) u8(v uint8)   { e.b = append(e.b, v) }
func (e *encoder) uv(v uint64)  { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) id(v dht.Key) { e.b = append(e.b, v[:]...) }
func (e *encoder) bytes(v []byte) {
	e.uv(uint64(len(v)))
	e.b = append(e.b, v...)
}
func (e *encoder) str(v string) {
	e.uv(uint64(len(v)))
	e.b = append(e.b, v...)
}
func (e *encoder) addr(a netip.AddrPort) {
	ip := a.Addr()
	switch {
	case !a.IsValid():
		e.u8(0)
		return
	case ip.Is4() || ip.Is4In6():
		e.u8(4)
		v := ip.Unmap().As4()
		e.b = append(e.b, v[:]...)
	default:
		e.u8(6)
		v := ip.As16()
		e.b = append(e.b, v[:]...)
	}
	e.b = binary.BigEndian.AppendUint16(e.b, a.Port())
}
func (e *encoder) peer(p Peer) {
	e.id(p.ID)
	e.addr(p.Addr)
}
func (e *encoder) peers(ps []Peer) {
	e.uv(uint64(len(ps)))
	for _, p := range ps {
		e.peer(p)
	}
}

type decoder struct {
	b   []byte
	err error
	// share makes bytes return slices of b instead of copies
	// (DecodeShared).
	share bool
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMalformed, what)
	}
}

func (d *decoder) u8() uint8 {
	if d.err != nil || len(d.b) < 1 {
		d.fail("short")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uv() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// uvMax reads a varint and fails if it exceeds max.
func (d *decoder) uvMax(max uint64, what string) uint64 {
	v := d.uv()
	if v > max {
		d.fail(what + " over its limit")
		return 0
	}
	return v
}

func (d *decoder) id() dht.Key {
	var k dht.Key
	if d.err != nil || len(d.b) < len(k) {
		d.fail("short id")
		return k
	}
	copy(k[:], d.b)
	d.b = d.b[len(k):]
	return k
}

func (d *decoder) bytes(max int) []byte {
	n := d.uvMax(uint64(max), "byte string")
	if d.err != nil {
		return nil
	}
	if uint64(len(d.b)) < n {
		d.fail("short byte string")
		return nil
	}
	var v []byte
	switch {
	case n == 0:
		// nil, as a copy of nothing is, so both decoders agree
	case d.share:
		v = d.b[:n:n]
	default:
		v = append([]byte(nil), d.b[:n]...)
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) addr() netip.AddrPort {
	switch d.u8() {
	case 0:
		return netip.AddrPort{}
	case 4:
		if len(d.b) < 6 {
			d.fail("short ipv4 address")
			return netip.AddrPort{}
		}
		ip := netip.AddrFrom4([4]byte(d.b[:4]))
		port := binary.BigEndian.Uint16(d.b[4:])
		d.b = d.b[6:]
		return netip.AddrPortFrom(ip, port)
	case 6:
		if len(d.b) < 18 {
			d.fail("short ipv6 address")
			return netip.AddrPort{}
		}
		ip := netip.AddrFrom16([16]byte(d.b[:16]))
		port := binary.BigEndian.Uint16(d.b[16:])
		d.b = d.b[18:]
		if ip.Is4In6() {
			d.fail("ipv4-mapped address in an ipv6 field")
		}
		return netip.AddrPortFrom(ip, port)
	default:
		d.fail("address family")
		return netip.AddrPort{}
	}
}

func (d *decoder) peer() Peer { return Peer{ID: d.id(), Addr: d.addr()} }

func (d *decoder) peers() []Peer {
	n := d.uvMax(MaxPeers, "peer list")
	if d.err != nil || n == 0 {
		return nil
	}
	// Each peer takes at least 21 bytes: refuse counts the packet cannot hold.
	if uint64(len(d.b)) < n*21 {
		d.fail("short peer list")
		return nil
	}
	ps := make([]Peer, 0, n)
	for range n {
		ps = append(ps, d.peer())
	}
	return ps
}

// str reads a byte string as a string: one copy, never shared.
func (d *decoder) str(max int) string {
	n := d.uvMax(uint64(max), "byte string")
	if d.err != nil {
		return ""
	}
	if uint64(len(d.b)) < n {
		d.fail("short byte string")
		return ""
	}
	v := string(d.b[:n])
	d.b = d.b[n:]
	return v
}
