package wire

import (
	"fmt"
	"net/netip"

	"github.com/opendht-go/opendht/impl/dht"
)

// Peer names a node: its ID and the UDP address it listens on.
type Peer struct {
	ID   dht.Key
	Addr netip.AddrPort
}

func (p Peer) String() string { return fmt.Sprintf("%x@%s", p.ID[:4], p.Addr) }

// Type tags a message.
type Type uint8

// Message types. Numbers are part of the wire format: never reuse one.
const (
	TPing     Type = 1 // liveness probe and RTT sample
	TPong     Type = 2
	TLeafReq  Type = 3 // leaf-set exchange (push-pull)
	TLeafResp Type = 4
	TRowReq   Type = 5 // routing-table tuning: ask a peer for one row
	TRowResp  Type = 6
	TRoute    Type = 7 // a message routed hop by hop toward the root of a key
	TRouteAck Type = 8 // per-hop acknowledgement of a Route
	TRootIs   Type = 9 // the root of a key answers a FindRoot route
)

// TypeLimit is above every message type: arrays indexed by type (counts
// per type) have this length.
const TypeLimit = 32

var typeNames = map[Type]string{
	TPing: "ping", TPong: "pong", TLeafReq: "leaf_req", TLeafResp: "leaf_resp", TRowReq: "row_req",
	TRowResp: "row_resp", TRoute: "route", TRouteAck: "route_ack", TRootIs: "root_is",
	TWrite: "write", TWriteAck: "write_ack", TRead: "read", TReadResp: "read_resp",
	TSyncDigest: "sync_digest", TSyncList: "sync_list", TSyncWant: "sync_want", TProto: "proto",
}

// String names the type as metrics label it ("type17" for a number that
// names none).
func (t Type) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("type%d", uint8(t))
}

// Message is one message body.
type Message interface {
	Type() Type
	encode(*encoder)
	decode(*decoder)
}

// Envelope is a datagram: the sender and one message.
type Envelope struct {
	From Peer
	Msg  Message
}

// Ping asks for a Pong with the same nonce.
type Ping struct{ Nonce uint64 }

// Pong answers a Ping.
type Pong struct{ Nonce uint64 }

// LeafReq pushes the sender's leaf set and asks for the receiver's.
type LeafReq struct {
	Nonce  uint64
	Leaves []Peer
}

// LeafResp answers a LeafReq, or tells a joining node its leaf set.
type LeafResp struct {
	Nonce  uint64
	Leaves []Peer
}

// RowReq asks for one row of the receiver's routing table.
type RowReq struct {
	Nonce uint64
	Row   uint8
}

// RowResp carries one row of a routing table (only the filled entries).
type RowResp struct {
	Nonce   uint64
	Row     uint8
	Entries []Peer
}

// RouteKind says what a routed message is for.
type RouteKind uint8

const (
	// RouteJoin: a joining node (Origin) looks for its place; every hop
	// sends it a routing-table row, the root sends it its leaf set.
	RouteJoin RouteKind = 1
	// RouteFindRoot: the origin wants to know the root of Key (far
	// routing-table tuning, lookups); the root answers with RootIs.
	RouteFindRoot RouteKind = 2
	// RouteApp: Payload is for the application on the root (the DHT).
	RouteApp RouteKind = 3
	// RouteAppNear: Payload is for the application on the first node of
	// the path that knows the replica set of Key (a get's coordinator),
	// which may be the origin itself or a node before the root.
	RouteAppNear RouteKind = 4
)

// Route travels hop by hop toward the root of Key. Each hop acknowledges it
// to the previous hop (RouteAck with the same Nonce) and picks a fresh
// nonce for the next hop.
type Route struct {
	Nonce   uint64
	Key     dht.Key
	Kind    RouteKind
	Origin  Peer
	ReqID   uint64 // the origin's request id, echoed in the answer
	Hops    uint8
	Payload []byte
}

// RouteAck acknowledges one hop of a Route.
type RouteAck struct{ Nonce uint64 }

// RootIs answers RouteFindRoot: the sender is the root of Key.
type RootIs struct {
	ReqID  uint64
	Key    dht.Key
	Hops   uint8
	Leaves []Peer
}

func (Ping) Type() Type     { return TPing }
func (Pong) Type() Type     { return TPong }
func (LeafReq) Type() Type  { return TLeafReq }
func (LeafResp) Type() Type { return TLeafResp }
func (RowReq) Type() Type   { return TRowReq }
func (RowResp) Type() Type  { return TRowResp }
func (Route) Type() Type    { return TRoute }
func (RouteAck) Type() Type { return TRouteAck }
func (RootIs) Type() Type   { return TRootIs }

func (m *Ping) encode(e *encoder)     { e.uv(m.Nonce) }
func (m *Ping) decode(d *decoder)     { m.Nonce = d.uv() }
func (m *Pong) encode(e *encoder)     { e.uv(m.Nonce) }
func (m *Pong) decode(d *decoder)     { m.Nonce = d.uv() }
func (m *RouteAck) encode(e *encoder) { e.uv(m.Nonce) }
func (m *RouteAck) decode(d *decoder) { m.Nonce = d.uv() }

func (m *LeafReq) encode(e *encoder)  { e.uv(m.Nonce); e.peers(m.Leaves) }
func (m *LeafReq) decode(d *decoder)  { m.Nonce = d.uv(); m.Leaves = d.peers() }
func (m *LeafResp) encode(e *encoder) { e.uv(m.Nonce); e.peers(m.Leaves) }
func (m *LeafResp) decode(d *decoder) { m.Nonce = d.uv(); m.Leaves = d.peers() }

func (m *RowReq) encode(e *encoder) { e.uv(m.Nonce); e.u8(m.Row) }
func (m *RowReq) decode(d *decoder) { m.Nonce = d.uv(); m.Row = d.u8() }

func (m *RowResp) encode(e *encoder) { e.uv(m.Nonce); e.u8(m.Row); e.peers(m.Entries) }
func (m *RowResp) decode(d *decoder) {
	m.Nonce = d.uv()
	m.Row = d.u8()
	m.Entries = d.peers()
}

func (m *Route) encode(e *encoder) {
	e.uv(m.Nonce)
	e.id(m.Key)
	e.u8(uint8(m.Kind))
	e.peer(m.Origin)
	e.uv(m.ReqID)
	e.u8(m.Hops)
	e.bytes(m.Payload)
}

func (m *Route) decode(d *decoder) {
	m.Nonce = d.uv()
	m.Key = d.id()
	m.Kind = RouteKind(d.u8())
	if m.Kind < RouteJoin || m.Kind > RouteAppNear {
		d.fail("route kind")
	}
	m.Origin = d.peer()
	m.ReqID = d.uv()
	m.Hops = d.u8()
	m.Payload = d.bytes(MaxPayload)
}

func (m *RootIs) encode(e *encoder) { e.uv(m.ReqID); e.id(m.Key); e.u8(m.Hops); e.peers(m.Leaves) }
func (m *RootIs) decode(d *decoder) {
	m.ReqID = d.uv()
	m.Key = d.id()
	m.Hops = d.u8()
	m.Leaves = d.peers()
}

func newMessage(t Type) Message {
	switch t {
	case TPing:
		return &Ping{}
	case TPong:
		return &Pong{}
	case TLeafReq:
		return &LeafReq{}
	case TLeafResp:
		return &LeafResp{}
	case TRowReq:
		return &RowReq{}
	case TRowResp:
		return &RowResp{}
	case TRoute:
		return &Route{}
	case TRouteAck:
		return &RouteAck{}
	case TRootIs:
		return &RootIs{}
	case TWrite:
		return &Write{}
	case TWriteAck:
		return &WriteAck{}
	case TRead:
		return &Read{}
	case TReadResp:
		return &ReadResp{}
	case TSyncDigest:
		return &SyncDigest{}
	case TSyncList:
		return &SyncList{}
	case TSyncWant:
		return &SyncWant{}
	case TProto:
		return &Proto{}
	}
	return nil
}

// Encode appends the datagram for env to dst. Messages must be passed as
// pointers (e.g. &wire.Ping{}).
func Encode(dst []byte, env Envelope) ([]byte, error) {
	e := encoder{b: dst}
	e.b = append(e.b, magic[0], magic[1], Version, uint8(env.Msg.Type()))
	e.peer(env.From)
	encodeBody(&e, env.Msg)
	if len(e.b)-len(dst) > MaxDatagram {
		return dst, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(e.b)-len(dst))
	}
	return e.b, nil
}

// Decode parses one datagram. The message is returned as a pointer type;
// it shares no memory with b.
func Decode(b []byte) (Envelope, error) { return decode(b, false) }

// DecodeShared is Decode without the copies: the message's byte strings
// (payloads, values, secrets, placemarks) are slices of b. The caller must
// neither change nor reuse b for as long as it keeps the message or any
// part of it; a driver that gives every datagram its own buffer may. It
// saves one allocation and one copy per byte string (a 1 kB value).
func DecodeShared(b []byte) (Envelope, error) { return decode(b, true) }

func decode(b []byte, share bool) (Envelope, error) {
	if len(b) > MaxDatagram {
		return Envelope{}, ErrTooLarge
	}
	if len(b) < 4 || b[0] != magic[0] || b[1] != magic[1] {
		return Envelope{}, fmt.Errorf("%w: bad magic", ErrMalformed)
	}
	if b[2] != Version {
		return Envelope{}, fmt.Errorf("%w: %d", ErrVersion, b[2])
	}
	m := newMessage(Type(b[3]))
	if m == nil {
		return Envelope{}, fmt.Errorf("%w: %d", ErrUnknownType, b[3])
	}
	d := decoder{b: b[4:], share: share}
	env := Envelope{From: d.peer()}
	decodeBody(&d, m)
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return Envelope{}, d.err
	}
	env.Msg = m
	return env, nil
}

// encodeBody and decodeBody call the message's method on its concrete
// type: through the interface the encoder or decoder would escape to the
// heap, one allocation per datagram. Every Message is one of these types
// (its methods are unexported); a new type must be added here, or the
// round-trip test panics.
func encodeBody(e *encoder, m Message) {
	switch m := m.(type) {
	case *Ping:
		m.encode(e)
	case *Pong:
		m.encode(e)
	case *LeafReq:
		m.encode(e)
	case *LeafResp:
		m.encode(e)
	case *RowReq:
		m.encode(e)
	case *RowResp:
		m.encode(e)
	case *Route:
		m.encode(e)
	case *RouteAck:
		m.encode(e)
	case *RootIs:
		m.encode(e)
	case *Write:
		m.encode(e)
	case *WriteAck:
		m.encode(e)
	case *Read:
		m.encode(e)
	case *ReadResp:
		m.encode(e)
	case *SyncDigest:
		m.encode(e)
	case *SyncList:
		m.encode(e)
	case *SyncWant:
		m.encode(e)
	case *Proto:
		m.encode(e)
	default:
		panic(fmt.Sprintf("wire: no encoder for %T", m))
	}
}

func decodeBody(d *decoder, m Message) {
	switch m := m.(type) {
	case *Ping:
		m.decode(d)
	case *Pong:
		m.decode(d)
	case *LeafReq:
		m.decode(d)
	case *LeafResp:
		m.decode(d)
	case *RowReq:
		m.decode(d)
	case *RowResp:
		m.decode(d)
	case *Route:
		m.decode(d)
	case *RouteAck:
		m.decode(d)
	case *RootIs:
		m.decode(d)
	case *Write:
		m.decode(d)
	case *WriteAck:
		m.decode(d)
	case *Read:
		m.decode(d)
	case *ReadResp:
		m.decode(d)
	case *SyncDigest:
		m.decode(d)
	case *SyncList:
		m.decode(d)
	case *SyncWant:
		m.decode(d)
	case *Proto:
		m.decode(d)
	default:
		panic(fmt.Sprintf("wire: no decoder for %T", m))
	}
}
