package wire

import (
	"github.com/opendht-go/opendht/impl/dht"
)

// DHT message types: the replicated storage on top of the overlay.
const (
	TWrite    Type = 10 // a put or remove, routed to the root or sent to a replica
	TWriteAck Type = 11 // the outcome of a Write
	TRead     Type = 12 // a get, routed to the root or sent to a replica
	TReadResp Type = 13 // the values a replica holds
)

// Limits of the DHT messages.
const (
	MaxClientLen = 64  // bytes of a client identity (an IP address)
	MaxValues    = 128 // values in one read reply
)

// ItemKind says whether an Item is a put or a remove.
type ItemKind uint8

const (
	ItemPut    ItemKind = 1
	ItemRemove ItemKind = 2
)

// Item is a write as it travels between nodes: a put (Value, SecretHash)
// or a remove (ValueHash, Secret), with the client it is charged to and
// its TTL in seconds.
type Item struct {
	Kind       ItemKind
	Key        dht.Key
	Value      []byte
	SecretHash dht.Hash
	ValueHash  dht.Hash
	Secret     []byte
	TTL        int64
	// Expiry, if not zero, is the absolute expiry (Unix seconds) a replica
	// must keep: copies between replicas carry it so that a copy of a copy
	// does not live longer than the original.
	Expiry int64
	Client string
}

// Write asks the receiver to store an item. Replica is false on the way to
// the root (through the overlay) and true from the root to its replicas.
type Write struct {
	ReqID   uint64
	Replica bool
	Gateway Peer // who answers the client
	Item    Item
}

// WriteAck reports a Write's status: dht.Status codes 0-3, or, from a
// root to the gateway, 16 and up for an authenticated write the root
// refused (dht.RefusalCode, spec SG-9). A gateway that knows no such code
// reports a failed write, never a success.
type WriteAck struct {
	ReqID  uint64
	Status uint8
}

// Read asks for the values under Key. Replica marks a read a coordinator
// sends to a member (answer from the store, ask no one); Fast marks the
// reads of a fast get (spec RD-14): its coordinator asks every member, and
// a member does not name its replica set. Direct marks a fast get's read
// that a gateway that does not know the key's replica set sends straight
// to a node it knows near the key: the node answers the gateway only if it
// is a member of the set in its own view and knows that set (PR-2), naming
// the set (which then holds the sender: a self-claimed member answer), and
// asks no one; Direct needs Fast and no Replica. The three travel in one
// flags byte (bit 0 Replica, bit 1 Fast, bit 2 Direct), whose value for a
// read without Fast is the boolean byte earlier releases wrote.
type Read struct {
	ReqID     uint64
	Replica   bool
	Fast      bool
	Direct    bool
	Gateway   Peer
	Key       dht.Key
	MaxVals   uint16
	Placemark []byte
}

// ReadValue is one value of a read reply.
type ReadValue struct {
	Value        []byte
	TTLRemaining int64
	SecretHash   dht.Hash
}

// ReadResp answers a Read with what the sender stores, and, from the node
// that coordinates the read (the root, or under parallel reads the first
// node that knows the replica set), the replica set it asked. Under
// parallel reads a member that is the root in its own view also names its
// replica set: Replicas[0] is then the sender itself.
type ReadResp struct {
	ReqID     uint64
	Values    []ReadValue
	Placemark []byte
	Replicas  []Peer
}

func (Write) Type() Type    { return TWrite }
func (WriteAck) Type() Type { return TWriteAck }
func (Read) Type() Type     { return TRead }
func (ReadResp) Type() Type { return TReadResp }

func (e *encoder) bool(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}

func (d *decoder) bool() bool {
	switch d.u8() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail("bool")
	return false
}

func (d *decoder) hash() dht.Hash { return dht.Hash(d.id()) }

// i64 encodes a signed integer as a zig-zag varint.
func (e *encoder) i64(v int64) { e.uv(uint64(v<<1) ^ uint64(v>>63)) }
func (d *decoder) i64() int64 {
	u := d.uv()
	return int64(u>>1) ^ -int64(u&1)
}

func (m *Write) encode(e *encoder) {
	e.uv(m.ReqID)
	e.bool(m.Replica)
	e.peer(m.Gateway)
	it := &m.Item
	e.u8(uint8(it.Kind))
	e.id(it.Key)
	e.i64(it.TTL)
	e.i64(it.Expiry)
	e.str(it.Client)
	if it.Kind == ItemPut {
		e.bytes(it.Value)
		e.id(dht.Key(it.SecretHash))
	} else {
		e.id(dht.Key(it.ValueHash))
		e.bytes(it.Secret)
	}
}

func (m *Write) decode(d *decoder) {
	m.ReqID = d.uv()
	m.Replica = d.bool()
	m.Gateway = d.peer()
	it := &m.Item
	it.Kind = ItemKind(d.u8())
	it.Key = d.id()
	it.TTL = d.i64()
	it.Expiry = d.i64()
	it.Client = d.str(MaxClientLen)
	switch it.Kind {
	case ItemPut:
		it.Value = d.bytes(dht.MaxValueLen)
		it.SecretHash = d.hash()
	case ItemRemove:
		it.ValueHash = d.hash()
		it.Secret = d.bytes(dht.MaxSecretLen)
	default:
		d.fail("item kind")
	}
}

func (m *WriteAck) encode(e *encoder) { e.uv(m.ReqID); e.u8(m.Status) }
func (m *WriteAck) decode(d *decoder) { m.ReqID = d.uv(); m.Status = d.u8() }

// Flags of a Read.
const (
	readReplica = 1 << 0
	readFast    = 1 << 1
	readDirect  = 1 << 2
)

func (m *Read) encode(e *encoder) {
	e.uv(m.ReqID)
	var flags uint8
	if m.Replica {
		flags |= readReplica
	}
	if m.Fast {
		flags |= readFast
	}
	if m.Direct {
		flags |= readDirect
	}
	e.u8(flags)
	e.peer(m.Gateway)
	e.id(m.Key)
	e.uv(uint64(m.MaxVals))
	e.bytes(m.Placemark)
}

func (m *Read) decode(d *decoder) {
	m.ReqID = d.uv()
	flags := d.u8()
	if flags&^(readReplica|readFast|readDirect) != 0 || flags&readDirect != 0 && flags != readFast|readDirect {
		d.fail("read flags")
	}
	m.Replica, m.Fast, m.Direct = flags&readReplica != 0, flags&readFast != 0, flags&readDirect != 0
	m.Gateway = d.peer()
	m.Key = d.id()
	m.MaxVals = uint16(d.uvMax(1<<16-1, "maxvals"))
	m.Placemark = d.bytes(dht.MaxPlacemarkLen)
}

func (m *ReadResp) encode(e *encoder) {
	e.uv(m.ReqID)
	e.uv(uint64(len(m.Values)))
	for _, v := range m.Values {
		e.bytes(v.Value)
		e.i64(v.TTLRemaining)
		e.id(dht.Key(v.SecretHash))
	}
	e.bytes(m.Placemark)
	e.peers(m.Replicas)
}

func (m *ReadResp) decode(d *decoder) {
	m.ReqID = d.uv()
	n := d.uvMax(MaxValues, "values")
	// Each value takes at least 22 bytes: refuse counts the packet cannot hold.
	if d.err == nil && uint64(len(d.b)) < n*22 {
		d.fail("short value list")
	}
	if d.err == nil && n > 0 {
		m.Values = make([]ReadValue, 0, n)
		for range n {
			m.Values = append(m.Values, ReadValue{Value: d.bytes(dht.MaxValueLen), TTLRemaining: d.i64(), SecretHash: d.hash()})
		}
	}
	m.Placemark = d.bytes(dht.MaxPlacemarkLen)
	m.Replicas = d.peers()
}
