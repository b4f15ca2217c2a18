package model

import (
	"fmt"
	"slices"

	"github.com/opendht-go/opendht/impl/dht"
)

// This file is the sequential specification of the versioned registers,
// spec/SPEC.md section 11 (CAS-1..CAS-10): what one register does when
// operations are applied to it one at a time, each at a time now. CAS and
// Read are pure functions of a Register; Registers is the namespace of a
// node, kept apart from the put/get State (CAS-1).

// Register is the state of one key's register (CAS-2). The zero Register
// is absent: version 0, no value.
type Register struct {
	Version uint64
	Value   []byte
	Expiry  dht.Time
}

// LiveAt reports whether the register holds a value at now (CAS-4, TTL-3).
func (r Register) LiveAt(now dht.Time) bool { return r.Version > 0 && now < r.Expiry }

// At is the register as a step at now sees it: itself while it is live,
// absent once its expiry has come (CAS-4).
func (r Register) At(now dht.Time) Register {
	if r.LiveAt(now) {
		return r
	}
	return Register{}
}

// Versioned is what a client sees of the register at now.
func (r Register) Versioned(now dht.Time) dht.Versioned {
	r = r.At(now)
	return dht.Versioned{Version: r.Version, Value: slices.Clone(r.Value)}
}

// CAS applies one cas at now (CAS-3) to the register r and returns the
// register after it and the answer. maxTTL is T, the node's TTL clamp
// (TTL-1). A request that breaks a limit (CAS-8) returns the error and r
// unchanged. CAS does not modify r.
func CAS(r Register, c dht.CAS, now dht.Time, maxTTL int64) (Register, dht.CASResult, error) {
	if err := c.Validate(); err != nil {
		return r, dht.CASResult{}, err
	}
	cur := r.At(now) // CAS-4: an expired register is absent
	if cur.Version != c.Expected {
		return r, dht.CASResult{OK: false, Versioned: cur.Versioned(now)}, nil
	}
	next := Register{
		Version: c.Expected + 1, // CAS-3, CAS-10
		Value:   slices.Clone(c.Value),
		Expiry:  now + dht.Time(min(c.TTL, maxTTL)), // TTL-1, TTL-2
	}
	return next, dht.CASResult{OK: true, Versioned: next.Versioned(now)}, nil
}

// Read is the answer to a read of r at now (CAS-7).
func Read(r Register, now dht.Time) dht.Versioned { return r.Versioned(now) }

// Registers is the register namespace of one node (CAS-1): the live
// registers by key, and the clock floor of TTL-6 (CAS-9).
type Registers struct {
	// MaxTTL is T in seconds, the TTL clamp (TTL-1).
	MaxTTL int64
	// Now is the time of the last step.
	Now dht.Time
	// Regs holds the live registers; an absent key is an absent register.
	Regs map[dht.Key]Register
}

// NewRegisters returns a namespace of absent registers at time zero. It
// panics on a max TTL the spec does not define: the model is only built by
// tests.
func NewRegisters(maxTTL int64) *Registers {
	if maxTTL <= 0 || maxTTL > dht.MaxTTL {
		panic(fmt.Sprintf("model: max TTL must be in [1, %d] seconds, got %d", dht.MaxTTL, maxTTL))
	}
	return &Registers{MaxTTL: maxTTL, Regs: map[dht.Key]Register{}}
}

// Clone returns a deep copy.
func (s *Registers) Clone() *Registers {
	c := *s
	c.Regs = maps(s.Regs)
	return &c
}

// Tick is the start of every step (CAS-9): the clock moves to now unless
// that is earlier (TTL-6), and registers whose expiry has come are
// forgotten (CAS-4, TTL-5).
func (s *Registers) Tick(now dht.Time) {
	if now > s.Now {
		s.Now = now
	}
	for k, r := range s.Regs {
		if !r.LiveAt(s.Now) {
			delete(s.Regs, k)
		}
	}
}

// CAS applies a cas at now (CAS-3, CAS-8, CAS-9).
func (s *Registers) CAS(c dht.CAS, now dht.Time) (dht.CASResult, error) {
	s.Tick(now)
	next, res, err := CAS(s.Regs[c.Key], c, s.Now, s.MaxTTL)
	if err == nil && res.OK {
		s.Regs[c.Key] = next
	}
	return res, err
}

// Read answers a read at now (CAS-7, CAS-9).
func (s *Registers) Read(key dht.Key, now dht.Time) dht.Versioned {
	s.Tick(now)
	return Read(s.Regs[key], s.Now)
}
