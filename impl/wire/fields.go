package wire

import (
	"fmt"

	"github.com/opendht-go/opendht/impl/dht"
)

// Encoder and Decoder lend this package's field encoding to the formats
// that travel inside its opaque payloads (Proto) or live beside it on
// disk, so that they read and check their fields the same way: unsigned
// varints, zig-zag signed varints, 20-byte IDs, byte strings with a varint
// length checked against a limit before anything is allocated. A Decoder's
// first error sticks (every later read returns zero), so a caller reads a
// whole record and checks Err once.

// Encoder appends fields to a byte slice.
type Encoder struct{ e encoder }

// NewEncoder appends to b.
func NewEncoder(b []byte) *Encoder { return &Encoder{encoder{b: b}} }

// Bytes returns what was encoded.
func (e *Encoder) Bytes() []byte { return e.e.b }

func (e *Encoder) U8(v uint8)       { e.e.u8(v) }
func (e *Encoder) Uvarint(v uint64) { e.e.uv(v) }
func (e *Encoder) Varint(v int64)   { e.e.i64(v) }
func (e *Encoder) ID(v dht.Key)     { e.e.id(v) }

// Fixed appends b as it is: its length is part of the format.
func (e *Encoder) Fixed(b []byte) { e.e.b = append(e.e.b, b...) }

// String appends a byte string with its length.
func (e *Encoder) String(b []byte) { e.e.bytes(b) }

// Decoder reads fields; its errors wrap ErrMalformed.
type Decoder struct{ d decoder }

// NewDecoder reads b.
func NewDecoder(b []byte) *Decoder { return &Decoder{decoder{b: b}} }

// Err is the first error met, if any.
func (d *Decoder) Err() error { return d.d.err }

// Len is the number of bytes not yet read.
func (d *Decoder) Len() int { return len(d.d.b) }

// Fail records a caller's own error (what the field was), unless one is
// recorded already.
func (d *Decoder) Fail(what string) { d.d.fail(what) }

func (d *Decoder) U8() uint8       { return d.d.u8() }
func (d *Decoder) Uvarint() uint64 { return d.d.uv() }
func (d *Decoder) Varint() int64   { return d.d.i64() }
func (d *Decoder) ID() dht.Key     { return d.d.id() }

// UvarintMax reads an unsigned varint and fails if it exceeds max.
func (d *Decoder) UvarintMax(max uint64, what string) uint64 { return d.d.uvMax(max, what) }

// Fixed fills dst from the next len(dst) bytes.
func (d *Decoder) Fixed(dst []byte, what string) {
	if d.d.err != nil {
		return
	}
	if len(d.d.b) < len(dst) {
		d.d.fail("short " + what)
		return
	}
	copy(dst, d.d.b)
	d.d.b = d.d.b[len(dst):]
}

// String reads a byte string of at most max bytes, checked before it is
// allocated. An empty string reads as nil.
func (d *Decoder) String(max int, what string) []byte {
	n := d.d.uvMax(uint64(max), what)
	if d.d.err != nil || n == 0 {
		return nil
	}
	if uint64(len(d.d.b)) < n {
		d.d.fail("short " + what)
		return nil
	}
	v := append([]byte(nil), d.d.b[:n]...)
	d.d.b = d.d.b[n:]
	return v
}

// End fails unless every byte was read.
func (d *Decoder) End() {
	if d.d.err == nil && len(d.d.b) != 0 {
		d.d.fail(fmt.Sprintf("%d trailing bytes", len(d.d.b)))
	}
}
