package dht

import (
	"errors"
	"fmt"
	"math"
)

// The versioned registers of spec/SPEC.md section 11 (CAS-1..CAS-11): a
// namespace apart from put/get, with its own request and result types so
// that the two cannot be confused (CAS-1).

// MaxExpectedVersion is the largest expected version a cas may carry: its
// successor, the version a successful cas sets, must exist (CAS-8).
const MaxExpectedVersion = math.MaxUint64 - 1

// ErrBadExpected refuses a cas whose expected version has no successor
// (CAS-8).
var ErrBadExpected = errors.New("expected version is out of range")

// CAS is a compare-and-set on the register of Key: if the register's
// version is Expected (0: the register is absent), it becomes Expected+1
// with Value, live for TTL seconds (CAS-3). Deleting is a CAS to the empty
// value: a tombstone that lives for TTL (CAS-6).
type CAS struct {
	Key      Key
	Expected uint64
	Value    []byte
	TTL      int64 // seconds, as asked; clamped to the node's maximum (TTL-1)
}

// Validate applies CAS-8: LIM-2 for the value, LIM-6 for the ttl, and the
// range of the expected version.
func (c CAS) Validate() error {
	if len(c.Value) > MaxValueLen {
		return ErrValueTooLong
	}
	if c.TTL <= 0 {
		return ErrBadTTL
	}
	if c.Expected > MaxExpectedVersion {
		return ErrBadExpected
	}
	return nil
}

func (c CAS) String() string {
	return fmt.Sprintf("cas(%x, %d, %s, %ds)", c.Key[:4], c.Expected, ShortValue(c.Value), c.TTL)
}

// Versioned is a register as a client sees it: what a read returns and
// what a cas reports as current (CAS-2). Version 0 means absent, and then
// Value is empty.
type Versioned struct {
	Version uint64
	Value   []byte
}

func (v Versioned) String() string {
	if v.Version == 0 {
		return "absent"
	}
	return fmt.Sprintf("v%d %s", v.Version, ShortValue(v.Value))
}

// CASResult is the answer to a cas (CAS-3): on success OK and the new
// version and value, on failure the current ones.
type CASResult struct {
	OK bool
	Versioned
}

func (r CASResult) String() string {
	if r.OK {
		return "ok " + r.Versioned.String()
	}
	return "failed, now " + r.Versioned.String()
}

// ShortValue prints a value for logs and visualizations: quoted if it is
// short printable text, else its length and the start of its SHA-1.
func ShortValue(v []byte) string {
	if len(v) <= 16 {
		printable := true
		for _, c := range v {
			if c < 0x20 || c > 0x7e {
				printable = false
				break
			}
		}
		if printable {
			return fmt.Sprintf("%q", v)
		}
	}
	h := SHA1(v)
	return fmt.Sprintf("%dB:%x", len(v), h[:3])
}
