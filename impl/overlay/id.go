package overlay

import (
	"bytes"
	"math/big"
	"math/bits"

	"github.com/opendht-go/opendht/impl/dht"
)

// ID is a point of the 160-bit identifier circle: node IDs and keys live in
// the same space, and the root of a key is the node whose ID is
// numerically closest to it.
type ID = dht.Key

// IDBits is the size of the identifier space.
const IDBits = 8 * dht.KeyLen

// Digit returns the i-th digit (most significant first) of id in base 2^b.
// b divides 8 or is 8; i counts from 0.
func Digit(id ID, i, b int) int {
	bit := i * b
	byteIdx, shift := bit/8, 8-b-bit%8
	return int(id[byteIdx]>>uint(shift)) & (1<<uint(b) - 1)
}

// SharedPrefix returns how many leading base-2^b digits a and c share.
func SharedPrefix(a, c ID, b int) int {
	for i := range dht.KeyLen {
		if x := a[i] ^ c[i]; x != 0 {
			return (8*i + bits.LeadingZeros8(x)) / b
		}
	}
	return IDBits / b
}

// Compare orders IDs as unsigned 160-bit integers.
func Compare(a, c ID) int { return bytes.Compare(a[:], c[:]) }

// clockwise returns (c - a) mod 2^160: how far c lies clockwise from a.
func clockwise(a, c ID) ID {
	var d ID
	var borrow uint16
	for i := dht.KeyLen - 1; i >= 0; i-- {
		v := uint16(c[i]) - uint16(a[i]) - borrow
		d[i] = byte(v)
		borrow = (v >> 8) & 1
	}
	return d
}

// Distance returns the distance between a and c on the circle: the smaller
// of the clockwise and counter-clockwise gaps.
func Distance(a, c ID) ID {
	cw, ccw := clockwise(a, c), clockwise(c, a)
	if Compare(cw, ccw) <= 0 {
		return cw
	}
	return ccw
}

// Closer reports whether x is strictly closer to key than y, with ties
// broken toward the smaller ID so that every node agrees on one root.
func Closer(key, x, y ID) bool {
	dx, dy := Distance(key, x), Distance(key, y)
	if c := Compare(dx, dy); c != 0 {
		return c < 0
	}
	return Compare(x, y) < 0
}

// Between reports whether x lies strictly inside the clockwise arc from a
// to c.
func Between(a, x, c ID) bool {
	if a == c {
		return x != a
	}
	return Compare(clockwise(a, x), clockwise(a, c)) < 0 && x != a
}

// Big returns id as an integer, for statistics and tests.
func Big(id ID) *big.Int { return new(big.Int).SetBytes(id[:]) }
