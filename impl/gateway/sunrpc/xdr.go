package sunrpc

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrGarbage is returned by the decoders for bytes that are not a valid
// XDR encoding of the expected type (RFC 4506) or break a declared bound.
var ErrGarbage = errors.New("sunrpc: undecodable XDR")

// xdrWriter appends XDR encodings to b.
type xdrWriter struct{ b []byte }

func (w *xdrWriter) uint32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *xdrWriter) int32(v int32)   { w.uint32(uint32(v)) }

// fixed writes opaque[n]: the bytes and zero padding to a multiple of four.
func (w *xdrWriter) fixed(p []byte) {
	w.b = append(w.b, p...)
	for i := len(p); i%4 != 0; i++ {
		w.b = append(w.b, 0)
	}
}

// opaque writes opaque<>: the length, then the bytes padded.
func (w *xdrWriter) opaque(p []byte) {
	w.uint32(uint32(len(p)))
	w.fixed(p)
}

func (w *xdrWriter) string(s string) { w.opaque([]byte(s)) }

// xdrReader decodes XDR from b. The first error sticks: later reads return
// zero values, so a decoder checks err once at the end. Every length is
// checked against its bound and against the bytes left before anything is
// allocated, so a hostile length costs nothing.
type xdrReader struct {
	b   []byte
	off int
	err error
	// share makes opaque values slices of b instead of copies: for a
	// server that reads every record into its own buffer.
	share bool
}

func (r *xdrReader) fail(format string, a ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrGarbage}, a...)...)
	}
}

func (r *xdrReader) remaining() int { return len(r.b) - r.off }

func (r *xdrReader) uint32() uint32 {
	if r.err != nil {
		return 0
	}
	if r.remaining() < 4 {
		r.fail("short read at offset %d", r.off)
		return 0
	}
	v := binary.BigEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

func (r *xdrReader) int32() int32 { return int32(r.uint32()) }

// fixed reads opaque[n] and returns a copy. Padding must be zero, so every
// accepted encoding is the canonical one.
func (r *xdrReader) fixed(n int) []byte {
	if r.err != nil {
		return nil
	}
	padded := (n + 3) &^ 3
	if n < 0 || padded > r.remaining() {
		r.fail("%d bytes declared, %d left at offset %d", n, r.remaining(), r.off)
		return nil
	}
	if !r.padding(n, padded) {
		return nil
	}
	var p []byte // nil when empty, so decoded values compare equal to literals
	switch {
	case n == 0:
	case r.share:
		p = r.b[r.off : r.off+n : r.off+n]
	default:
		p = make([]byte, n)
		copy(p, r.b[r.off:])
	}
	r.off += padded
	return p
}

// padding checks that the padding after n bytes at the offset is zero.
func (r *xdrReader) padding(n, padded int) bool {
	for _, c := range r.b[r.off+n : r.off+padded] {
		if c != 0 {
			r.fail("non-zero padding at offset %d", r.off+n)
			return false
		}
	}
	return true
}

// fixedInto reads opaque[len(dst)] into dst, without allocating.
func (r *xdrReader) fixedInto(dst []byte) {
	if r.err != nil {
		return
	}
	n := len(dst)
	padded := (n + 3) &^ 3
	if padded > r.remaining() {
		r.fail("%d bytes declared, %d left at offset %d", n, r.remaining(), r.off)
		return
	}
	if !r.padding(n, padded) {
		return
	}
	copy(dst, r.b[r.off:])
	r.off += padded
}

// opaque reads opaque<max>.
func (r *xdrReader) opaque(max int, what string) []byte {
	n := r.uint32()
	if r.err != nil {
		return nil
	}
	if n > uint32(max) {
		r.fail("%s is %d bytes, longer than %d", what, n, max)
		return nil
	}
	return r.fixed(int(n))
}

// string reads string<max>, with one copy.
func (r *xdrReader) string(max int, what string) string {
	n := r.uint32()
	if r.err != nil {
		return ""
	}
	if n > uint32(max) {
		r.fail("%s is %d bytes, longer than %d", what, n, max)
		return ""
	}
	padded := (int(n) + 3) &^ 3
	if padded > r.remaining() {
		r.fail("%d bytes declared, %d left at offset %d", n, r.remaining(), r.off)
		return ""
	}
	if !r.padding(int(n), padded) {
		return ""
	}
	v := string(r.b[r.off : r.off+int(n)])
	r.off += padded
	return v
}

// count reads the length of a variable array whose elements take at least
// minSize bytes each, so a count the remaining bytes cannot hold is
// rejected before the array is allocated.
func (r *xdrReader) count(max int, minSize int, what string) int {
	n := r.uint32()
	if r.err != nil {
		return 0
	}
	if n > uint32(max) || uint64(n)*uint64(minSize) > uint64(r.remaining()) {
		r.fail("%s has %d elements, at most %d fit", what, n, min(max, r.remaining()/minSize))
		return 0
	}
	return int(n)
}

// done reports the first error, or trailing bytes after a complete value.
func (r *xdrReader) done() error {
	if r.err == nil && r.remaining() != 0 {
		r.fail("%d trailing bytes", r.remaining())
	}
	return r.err
}
