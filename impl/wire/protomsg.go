package wire

// TProto carries a message of the node's read-modify-write protocol
// (impl/rmw): the wire format gives it no meaning beyond its bytes, which
// the protocol decodes and validates itself.
const TProto Type = 17

// MaxProtoPayload bounds a protocol message.
// A Proto goes straight to a peer in its own datagram: the envelope (4
// bytes of header, the sender: at most 39) and the length leave 1350.
const MaxProtoPayload = 1350

// Proto is a read-modify-write protocol's message.
type Proto struct {
	Payload []byte
}

func (Proto) Type() Type { return TProto }

func (m *Proto) encode(e *encoder) { e.bytes(m.Payload) }
func (m *Proto) decode(d *decoder) { m.Payload = d.bytes(MaxProtoPayload) }
