package store

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/model"
)

// TestAccountQuotaAtReplica walks one node through AC-5 step by step, the
// model and the store side by side: an account's writes are admitted
// until its charged bytes would pass its quota, the next is refused with
// status 3 at once and changes nothing, other clients (an IP client, the
// same account name at another provider) are not held up, a re-put of
// what the account holds and an rm that frees space pass at the quota,
// a changed quota does not reset the charge (AC-4), and the charges never
// pass the quota (INV-9).
func TestAccountQuotaAtReplica(t *testing.T) {
	mc := model.Config{Capacity: 1 << 20, MaxTTL: 100, QueueLimit: 8, QueueTimeout: 5, ReplyCap: dht.MaxValueLen}
	p := newFSTPair(t, mc)
	const t0 = dht.Time(1_700_000_000)
	alice := dht.AccountClient("alpha", "alice")
	a := alice.WithQuota(2000) // two 936-byte values (b = 1000 each)
	other := dht.AccountClient("beta", "alice").WithQuota(2000)
	const ip dht.ClientID = "192.0.2.1"
	secret := []byte("s3cret")
	removable := func(id uint64, c dht.ClientID, n int) dht.Op {
		op := fstPut(id, c, n, 50)
		op.Put.SecretHash = dht.SHA1(secret)
		return op
	}
	st := func(id uint64, s dht.Status) []dht.Completion { return []dht.Completion{{ID: id, Status: s}} }
	steps := []struct {
		name string
		op   dht.Op
		want []dht.Completion
		use  int64 // alice's charge after the step
	}{
		{"first value", removable(1, a, 936), st(1, dht.StatusOK), 1000},
		{"second value fills the quota", fstPut(2, a, 936, 50), st(2, dht.StatusOK), 2000},
		{"third is over quota", fstPut(3, a, 936, 50), st(3, dht.StatusOverQuota), 2000},
		{"even one empty value is", fstPut(4, a, 0, 50), st(4, dht.StatusOverQuota), 2000},
		{"an IP client is not held up", fstPut(5, ip, 936, 50), st(5, dht.StatusOK), 2000},
		{"nor alice of another provider", fstPut(6, other, 936, 50), st(6, dht.StatusOK), 2000},
		{"a re-put with a later expiry passes", fstPut(2, a, 936, 80), st(2, dht.StatusOK), 2000},
		{"a raised quota admits more", fstPut(7, alice.WithQuota(3000), 936, 50), st(7, dht.StatusOK), 3000},
		{"the old quota refuses again", fstPut(8, a, 0, 50), st(8, dht.StatusOverQuota), 3000},
		{"an rm that frees space passes", dht.Op{Kind: dht.OpRemove, ID: 9, Remove: dht.Remove{Client: a, Key: fstKey(1),
			ValueHash: dht.SHA1(fstPayload[:936]), Secret: secret, TTL: 10}}, st(9, dht.StatusOK), 3000 - 1000 + 64 + int64(len(secret))},
	}
	for i, s := range steps {
		res := p.step(s.op, t0)
		if diff := cmp.Diff(s.want, res.Completed, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("step %d (%s): completions (-want +got):\n%s", i, s.name, diff)
		}
		p.checkUsage(t0)
		if got := p.s.Usage()[alice]; got != s.use {
			t.Fatalf("step %d (%s): alice is charged %d bytes, want %d", i, s.name, got, s.use)
		}
	}
	if p.s.Usage()[dht.AccountClient("beta", "alice")] != 1000 || p.s.Usage()[ip] != 1000 {
		t.Fatalf("usage %v: the other clients should hold 1000 bytes each", p.s.Usage())
	}
	// The stored records keep the identity with its quota: it is what
	// anti-entropy copies to other replicas (AC-4).
	rec, err := p.s.Fetch(fstPut(2, a, 936, 80).Put.ID(), t0)
	if err != nil {
		t.Fatal(err)
	}
	found := rec.Client == a
	if !found {
		t.Fatalf("the record of item 2 names client %q, want %q", rec.Client, a)
	}
}
