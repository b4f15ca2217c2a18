package admission

import "math/bits"

// u128 is an unsigned 128-bit integer. The curve test multiplies bytes by
// seconds since the epoch and by the TTL horizon, which overflows 64 bits
// for capacities above a few gigabytes.
type u128 struct{ hi, lo uint64 }

func mul64(a, b uint64) u128 {
	hi, lo := bits.Mul64(a, b)
	return u128{hi, lo}
}

func (a u128) add(b u128) u128 {
	lo, c := bits.Add64(a.lo, b.lo, 0)
	hi, c2 := bits.Add64(a.hi, b.hi, c)
	if c2 != 0 {
		panic("admission: u128 overflow")
	}
	return u128{hi, lo}
}

func (a u128) less(b u128) bool {
	if a.hi != b.hi {
		return a.hi < b.hi
	}
	return a.lo < b.lo
}

func maxU(a, b u128) u128 {
	if a.less(b) {
		return b
	}
	return a
}
