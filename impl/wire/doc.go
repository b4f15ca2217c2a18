// Package wire is the binary format of every datagram between nodes: a
// versioned header, then one message. Decoding checks every length and count
// against a limit before it allocates, so a malformed or hostile packet costs
// at most its own size and yields an error (ErrMalformed, ErrVersion,
// ErrUnknownType) that the node counts and drops.
//
// Layout of a datagram:
//
//	magic "OD" | version (1 byte) | type (1 byte) | body
//
// A bundle (TBundle, bundle.go) is a datagram of this header whose body is
// several whole datagrams bound to one destination, each with its length:
// drivers build and unpack bundles, and a node's core never sees one.
//
// Integers are unsigned varints unless fixed-size; IDs are 20 bytes;
// addresses are a family byte (4 or 6), the IP, and a 2-byte port; byte
// strings and lists carry a varint length checked against their limit.
// decode(encode(m)) == m for every message (FuzzDecode checks
// decode-encode-decode stability).
//
// Encode appends to the caller's buffer and allocates nothing. Decode
// allocates the message and copies its byte strings out of the datagram;
// DecodeShared leaves them in the datagram, for a driver that gives every
// datagram its own buffer (FuzzDecodeShared checks that both decode the
// same).
package wire
