package model

import (
	"slices"

	"github.com/opendht-go/opendht/impl/dht"
)

// This file is the sequential specification of large values, spec/SPEC.md
// section 17 (LV-3, LV-5..LV-7): what a client sees of a name when whole
// writes, reads and removes are applied one at a time. How a value is cut
// into blocks is not visible here; the layer (impl/largevalue) is checked
// against this model through a DHT whose blocks can be lost or corrupted,
// where a read may also fail with an error naming a damaged block.

// LargeVersion is one completed write of a large value.
type LargeVersion struct {
	// Data is the value.
	Data []byte
	// Created is the writer's clock when the write began (LV-5); writes of
	// one name are ordered by it.
	Created int64
	// Expiry is when the value stops being readable (LV-6).
	Expiry dht.Time
	// SecretHash is the SHA-1 of the secret of a removable write, zero
	// otherwise (LV-7).
	SecretHash dht.Hash
}

// LargeValues is the large-value namespace: every write that completed,
// per name. Writes that failed are never added (LV-3).
type LargeValues struct {
	names map[dht.Key][]LargeVersion
}

// NewLargeValues returns the empty namespace.
func NewLargeValues() *LargeValues { return &LargeValues{names: map[dht.Key][]LargeVersion{}} }

// Put records a completed write.
func (m *LargeValues) Put(name dht.Key, v LargeVersion) {
	v.Data = slices.Clone(v.Data)
	m.names[name] = append(m.names[name], v)
}

// Get returns the value of name at now: the live write with the latest
// Created (LV-5), or false when there is none.
func (m *LargeValues) Get(name dht.Key, now dht.Time) (LargeVersion, bool) {
	var best LargeVersion
	found := false
	for _, v := range m.names[name] {
		if now < v.Expiry && (!found || v.Created > best.Created) {
			best, found = v, true
		}
	}
	return best, found
}

// Remove removes every live write of name put with the secret whose hash
// is secretHash (LV-7), and reports whether there was one.
func (m *LargeValues) Remove(name dht.Key, secretHash dht.Hash, now dht.Time) bool {
	if secretHash.IsZero() {
		return false
	}
	vs := m.names[name]
	kept := vs[:0]
	removed := false
	for _, v := range vs {
		if v.SecretHash == secretHash && now < v.Expiry {
			removed = true
			continue
		}
		kept = append(kept, v)
	}
	m.names[name] = kept
	return removed
}
