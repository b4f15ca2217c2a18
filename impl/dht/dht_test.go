package dht

import (
	"bytes"
	"errors"
	"testing"
)

// TestParseKey checks LIM-1: short keys are left-padded with zeros, keys
// over 20 bytes are refused with the original message.
func TestParseKey(t *testing.T) {
	k, err := ParseKey([]byte{1, 2})
	if err != nil || k[18] != 1 || k[19] != 2 || k[0] != 0 {
		t.Fatalf("short key: %v %v", k, err)
	}
	if _, err := ParseKey(make([]byte, 21)); !errors.Is(err, ErrKeyTooLong) || err.Error() != "key is longer than 20 bytes" {
		t.Fatalf("long key: %v", err)
	}
	if k, err := ParseKey(bytes.Repeat([]byte{7}, 20)); err != nil || k[0] != 7 {
		t.Fatalf("20-byte key: %v %v", k, err)
	}
}

// TestValidate checks LIM-2, LIM-3, LIM-5, LIM-6 and TTL-1/TTL-2 at the
// vocabulary level.
func TestValidate(t *testing.T) {
	if err := (Put{Value: make([]byte, 1025), TTL: 1}).Validate(); !errors.Is(err, ErrValueTooLong) || err.Error() != "value is longer than 1024 bytes" {
		t.Errorf("LIM-2: %v", err)
	}
	if err := (Put{Value: make([]byte, 1024), TTL: 1}).Validate(); err != nil {
		t.Errorf("LIM-2 boundary: %v", err)
	}
	if err := (Remove{Secret: make([]byte, 41), TTL: 1}).Validate(); !errors.Is(err, ErrSecretTooLong) {
		t.Errorf("LIM-3: %v", err)
	}
	if err := (Remove{Secret: make([]byte, 40), TTL: 1}).Validate(); err != nil {
		t.Errorf("LIM-3 boundary: %v", err)
	}
	if err := (Get{MaxVals: 0}).Validate(); !errors.Is(err, ErrBadMaxVals) {
		t.Errorf("LIM-6 maxvals: %v", err)
	}
	if err := (Put{TTL: 0}).Validate(); !errors.Is(err, ErrBadTTL) {
		t.Errorf("LIM-6 ttl: %v", err)
	}
	if err := (Get{MaxVals: 1, Placemark: []byte{1, 2, 3}}).Validate(); !errors.Is(err, ErrBadPlacemark) {
		t.Errorf("LIM-5: %v", err)
	}
	for _, c := range []struct{ in, want int64 }{{1, 1}, {MaxTTL, MaxTTL}, {MaxTTL + 1, MaxTTL}, {1 << 40, MaxTTL}} {
		if got, err := ClampTTL(c.in); err != nil || got != c.want {
			t.Errorf("TTL-1 clamp %d: %d %v", c.in, got, err)
		}
	}
}

// TestItemIdentity checks PUT-1, PUT-2 and RM-1: identity is (key, secret
// hash, value hash), and a remove names the item of SHA-1(secret).
func TestItemIdentity(t *testing.T) {
	p := Put{Key: Key{1}, Value: []byte("v")}
	q := p
	q.SecretHash = SHA1([]byte("s"))
	if p.ID() == q.ID() {
		t.Fatal("same value under two secret hashes must be two items")
	}
	if !p.ID().SecretHash.IsZero() {
		t.Fatal("a plain put has the all-zero secret hash")
	}
	r := Remove{Key: Key{1}, ValueHash: SHA1([]byte("v")), Secret: []byte("s")}
	if r.ID() != q.ID() {
		t.Fatal("remove with the right secret must name the removable put")
	}
	if (Value{}).HashAlg() != "" || (Value{SecretHash: Hash{1}}).HashAlg() != "SHA" {
		t.Fatal("GET-5 hash algorithm names")
	}
}

// FuzzPlacemark: decode never panics, and decode-encode-decode is stable
// (LIM-5, GET-4).
func FuzzPlacemark(f *testing.F) {
	f.Add(EncodePlacemark(0))
	f.Add(EncodePlacemark(1 << 40))
	f.Add([]byte{2, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		seq, err := DecodePlacemark(b)
		if err != nil {
			return
		}
		if !bytes.Equal(EncodePlacemark(seq), b) {
			t.Fatalf("placemark %x decodes to %d which encodes to %x", b, seq, EncodePlacemark(seq))
		}
		if len(b) > MaxPlacemarkLen {
			t.Fatalf("accepted a placemark of %d bytes", len(b))
		}
	})
}
