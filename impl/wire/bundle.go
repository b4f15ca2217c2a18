package wire

import (
	"encoding/binary"
	"fmt"
)

// TBundle is a datagram that carries several whole datagrams for one
// destination: a driver that sends many small messages to the same peer in
// one turn (route acknowledgements, write acknowledgements, reads) packs
// them into one, and the receiving driver unpacks it and hands each
// datagram to its node as if it had arrived alone. The node never sees a
// bundle.
//
// Layout, after the common header ("OD", Version, TBundle):
//
//	(length (varint) | datagram)+
//
// Each datagram is a complete datagram of this format, at least 4 bytes
// long, and not itself a bundle; the whole bundle is at most MaxDatagram
// bytes. A bundle that breaks any of these rules is malformed as a whole:
// none of its datagrams is delivered.
const TBundle Type = 18

// BundleHeaderSize is the size of a bundle's header.
const BundleHeaderSize = 4

// minBundled is the smallest datagram a bundle may carry: a header.
const minBundled = 4

// IsBundle reports whether datagram b claims to be a bundle (by its
// header: whether it is a well-formed one is SplitBundle's to say).
func IsBundle(b []byte) bool {
	return len(b) >= BundleHeaderSize && b[0] == magic[0] && b[1] == magic[1] && b[2] == Version && b[3] == uint8(TBundle)
}

// BundledSize is how many bytes a datagram of n bytes takes in a bundle.
func BundledSize(n int) int {
	var v [binary.MaxVarintLen64]byte
	return binary.PutUvarint(v[:], uint64(n)) + n
}

// AppendBundleHeader starts a bundle at the end of dst.
func AppendBundleHeader(dst []byte) []byte {
	return append(dst, magic[0], magic[1], Version, uint8(TBundle))
}

// AppendBundled appends one datagram to the bundle being built at the end
// of dst. The caller keeps the bundle within MaxDatagram (BundledSize).
func AppendBundled(dst, datagram []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(datagram)))
	return append(dst, datagram...)
}

// AppendBundle appends a bundle of datagrams to dst, or returns an error
// if they do not make a well-formed bundle (too large, one too short or a
// bundle itself, none at all).
func AppendBundle(dst []byte, datagrams ...[]byte) ([]byte, error) {
	if len(datagrams) == 0 {
		return dst, fmt.Errorf("%w: empty bundle", ErrMalformed)
	}
	size := BundleHeaderSize
	for _, d := range datagrams {
		if len(d) < minBundled || IsBundle(d) {
			return dst, fmt.Errorf("%w: a bundle carries whole datagrams, not bundles", ErrMalformed)
		}
		size += BundledSize(len(d))
	}
	if size > MaxDatagram {
		return dst, fmt.Errorf("%w: bundle of %d bytes", ErrTooLarge, size)
	}
	dst = AppendBundleHeader(dst)
	for _, d := range datagrams {
		dst = AppendBundled(dst, d)
	}
	return dst, nil
}

// SplitBundle appends the datagrams bundle b carries to dst, as slices of
// b (which the caller must then keep unchanged for as long as it uses
// them). It checks the whole bundle before it appends anything: on an
// error dst is returned as it was.
func SplitBundle(dst [][]byte, b []byte) ([][]byte, error) {
	if len(b) > MaxDatagram {
		return dst, ErrTooLarge
	}
	if !IsBundle(b) {
		return dst, fmt.Errorf("%w: not a bundle", ErrMalformed)
	}
	n, err := checkBundle(b[BundleHeaderSize:])
	if err != nil {
		return dst, err
	}
	dst = growBy(dst, n)
	rest := b[BundleHeaderSize:]
	for len(rest) > 0 {
		l, k := binary.Uvarint(rest)
		end := k + int(l)
		dst = append(dst, rest[k:end:end])
		rest = rest[end:]
	}
	return dst, nil
}

// checkBundle checks a bundle's body and counts its datagrams.
func checkBundle(rest []byte) (int, error) {
	if len(rest) == 0 {
		return 0, fmt.Errorf("%w: empty bundle", ErrMalformed)
	}
	n := 0
	for len(rest) > 0 {
		l, k := binary.Uvarint(rest)
		if k <= 0 {
			return 0, fmt.Errorf("%w: bundle: bad length", ErrMalformed)
		}
		rest = rest[k:]
		if l < minBundled || l > uint64(len(rest)) {
			return 0, fmt.Errorf("%w: bundle: datagram of %d bytes with %d left", ErrMalformed, l, len(rest))
		}
		if IsBundle(rest[:l]) {
			return 0, fmt.Errorf("%w: bundle inside a bundle", ErrMalformed)
		}
		rest = rest[l:]
		n++
	}
	return n, nil
}

func growBy(s [][]byte, n int) [][]byte {
	if cap(s)-len(s) >= n {
		return s
	}
	t := make([][]byte, len(s), len(s)+n)
	copy(t, s)
	return t
}
