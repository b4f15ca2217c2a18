package dht

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// TestCASValidate checks CAS-8 at the vocabulary level: LIM-2 for the
// value (1024 bytes pass, 1025 do not), LIM-6 for the ttl, the range of
// the expected version, and that a large ttl is not an error (TTL-1 clamps
// it later).
func TestCASValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		cas  CAS
		want error
	}{
		{"empty value (CAS-6 tombstone)", CAS{TTL: 1}, nil},
		{"1024 bytes", CAS{Value: make([]byte, 1024), TTL: 1}, nil},
		{"1025 bytes", CAS{Value: make([]byte, 1025), TTL: 1}, ErrValueTooLong},
		{"ttl 0", CAS{TTL: 0}, ErrBadTTL},
		{"ttl -1", CAS{TTL: -1}, ErrBadTTL},
		{"ttl beyond the maximum", CAS{TTL: MaxTTL + 1}, nil},
		{"largest expected", CAS{Expected: MaxExpectedVersion, TTL: 1}, nil},
		{"expected without successor", CAS{Expected: math.MaxUint64, TTL: 1}, ErrBadExpected},
	} {
		if err := c.cas.Validate(); !errors.Is(err, c.want) {
			t.Errorf("%s: Validate() = %v, want %v", c.name, err, c.want)
		}
	}
	if ErrBadExpected.Error() != "expected version is out of range" {
		t.Errorf("CAS-8 message: %q", ErrBadExpected)
	}
}

// TestRegisterStrings: results print as the checker's visualization shows
// them; version 0 prints as absent (CAS-2).
func TestRegisterStrings(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{Versioned{}.String(), "absent"},
		{Versioned{Version: 3, Value: []byte("x")}.String(), `v3 "x"`},
		{CASResult{OK: true, Versioned: Versioned{Version: 1, Value: []byte("a")}}.String(), `ok v1 "a"`},
		{CASResult{Versioned: Versioned{Version: 2}}.String(), `failed, now v2 ""`},
		{CAS{Key: Key{0xab}, Expected: 2, Value: []byte("b"), TTL: 60}.String(), `cas(ab000000, 2, "b", 60s)`},
	} {
		if c.got != c.want {
			t.Errorf("got %s, want %s", c.got, c.want)
		}
	}
	if s := ShortValue(make([]byte, 100)); !strings.HasPrefix(s, "100B:") {
		t.Errorf("long value prints as %s", s)
	}
}
