package dht

import (
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// TestAccountIdentity: an account's identity carries its quota and gives
// it back (AC-4); identities that are not an account's, or whose quota is
// malformed, have no quota and are charged as they are.
func TestAccountIdentity(t *testing.T) {
	id := AccountClient("alpha", "alice")
	if id != "acct:alpha/alice" {
		t.Fatalf("identity %q", id)
	}
	c, q := id.WithQuota(1 << 20).Quota()
	if c != id || q != 1<<20 {
		t.Fatalf("Quota of %q = %q, %d", id.WithQuota(1<<20), c, q)
	}
	if p := id.WithQuota(5).Provider(); p != "alpha" {
		t.Fatalf("provider %q", p)
	}
	for _, s := range []ClientID{"192.0.2.1", "2001:db8::1", "acct:alpha/alice", "acct:a/b#", "acct:a/b#0", "acct:a/b#-5",
		"acct:a/b#007", "acct:a/b#1000000000000000", "acct:a/b#12x", "10.0.0.1#5", "acct:a/b#99999999999999999999"} {
		if c, q := s.Quota(); c != s || q != 0 {
			t.Errorf("%q: Quota = %q, %d; want no quota", s, c, q)
		}
	}
	if p := ClientID("192.0.2.1").Provider(); p != "" {
		t.Errorf("an IP client has provider %q", p)
	}
	// The longest identity with the largest quota fits a client identity
	// on the wire (64 bytes, wire.MaxClientLen).
	longest := AccountClient(strings.Repeat("p", MaxProviderLen), strings.Repeat("a", MaxAccountLen)).WithQuota(MaxQuota - 1)
	if len(longest) > 64 {
		t.Fatalf("the longest identity %q has %d bytes", longest, len(longest))
	}
}

// TestAccountNames: AC-1's names.
func TestAccountNames(t *testing.T) {
	for _, p := range []string{"a", "alpha", "isp-7", strings.Repeat("x", MaxProviderLen)} {
		if err := ValidProvider(p); err != nil {
			t.Errorf("provider %q: %v", p, err)
		}
	}
	for _, p := range []string{"", "Alpha", "a/b", "a#1", "a b", strings.Repeat("x", MaxProviderLen+1)} {
		if ValidProvider(p) == nil {
			t.Errorf("provider %q accepted", p)
		}
	}
	for _, a := range []string{"alice", "Bob.smith_2-x", strings.Repeat("x", MaxAccountLen)} {
		if err := ValidAccount(a); err != nil {
			t.Errorf("account %q: %v", a, err)
		}
	}
	for _, a := range []string{"", "a/b", "a#1", "é", strings.Repeat("x", MaxAccountLen+1)} {
		if ValidAccount(a) == nil {
			t.Errorf("account %q accepted", a)
		}
	}
}

// TestQuotaRoundTrip: for every valid provider, account and quota, the
// identity with its quota splits back into the identity and the quota
// (AC-4), and OverQuota refuses exactly the writes that raise a charge
// above the quota (AC-5).
func TestQuotaRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := rapid.StringMatching(`[a-z0-9-]{1,16}`).Draw(t, "provider")
		a := rapid.StringMatching(`[A-Za-z0-9._-]{1,24}`).Draw(t, "account")
		q := rapid.Int64Range(1, MaxQuota-1).Draw(t, "quota")
		id := AccountClient(p, a)
		c, got := id.WithQuota(q).Quota()
		if c != id || got != q || id.WithQuota(q).Provider() != p {
			t.Fatalf("%q: Quota = %q, %d; provider %q", id.WithQuota(q), c, got, id.WithQuota(q).Provider())
		}
		before := rapid.Int64Range(0, 2*q).Draw(t, "before")
		after := rapid.Int64Range(0, 2*q).Draw(t, "after")
		if OverQuota(q, before, after) != (after > q && after > before) {
			t.Fatalf("OverQuota(%d, %d, %d)", q, before, after)
		}
		if OverQuota(0, before, after) {
			t.Fatal("a client without a quota was refused")
		}
	})
}
