package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"pgregory.net/rapid"

	"github.com/opendht-go/opendht/impl/dht"
)

// TestFieldsRoundTrip: what an Encoder writes a Decoder reads back, to
// the last byte; signed varints are encoding/binary's (zig-zag).
func TestFieldsRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		u8 := rapid.Uint8().Draw(t, "u8")
		uv := rapid.Uint64().Draw(t, "uv")
		sv := rapid.Int64().Draw(t, "sv")
		var id dht.Key
		copy(id[:], rapid.SliceOfN(rapid.Byte(), 20, 20).Draw(t, "id"))
		fixed := rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, "fixed")
		str := rapid.SliceOfN(rapid.Byte(), 0, 100).Draw(t, "str")
		e := NewEncoder(nil)
		e.U8(u8)
		e.Uvarint(uv)
		e.Varint(sv)
		e.ID(id)
		e.Fixed(fixed)
		e.String(str)
		d := NewDecoder(e.Bytes())
		gotFixed := make([]byte, 16)
		if d.U8() != u8 || d.Uvarint() != uv || d.Varint() != sv || d.ID() != id {
			t.Fatalf("fixed-size fields differ")
		}
		d.Fixed(gotFixed, "fixed")
		gotStr := d.String(100, "str")
		d.End()
		if d.Err() != nil || !bytes.Equal(gotFixed, fixed) || !bytes.Equal(gotStr, str) {
			t.Fatalf("got %x %x (%v), want %x %x", gotFixed, gotStr, d.Err(), fixed, str)
		}
		if want := binary.AppendVarint(nil, sv); !bytes.Equal(func() []byte { e := NewEncoder(nil); e.Varint(sv); return e.Bytes() }(), want) {
			t.Fatalf("Varint(%d) is not encoding/binary's varint", sv)
		}
	})
}

// TestFieldsRejects: limits hold before allocation, errors stick and wrap
// ErrMalformed, and trailing bytes are an error.
func TestFieldsRejects(t *testing.T) {
	long := NewEncoder(nil)
	long.String(make([]byte, 11))
	for _, c := range []struct {
		name string
		read func(d *Decoder)
		b    []byte
	}{
		{"string over its limit", func(d *Decoder) { d.String(10, "s") }, long.Bytes()},
		{"short string", func(d *Decoder) { d.String(100, "s") }, []byte{5, 1}},
		{"short fixed", func(d *Decoder) { d.Fixed(make([]byte, 4), "f") }, []byte{1, 2, 3}},
		{"bad varint", func(d *Decoder) { d.Uvarint() }, bytes.Repeat([]byte{0xff}, 11)},
		{"trailing", func(d *Decoder) { d.U8(); d.End() }, []byte{1, 2}},
		{"sticky", func(d *Decoder) { d.ID(); d.U8() }, []byte{1}},
	} {
		d := NewDecoder(c.b)
		c.read(d)
		if !errors.Is(d.Err(), ErrMalformed) {
			t.Errorf("%s: error %v, want ErrMalformed", c.name, d.Err())
		}
	}
}
