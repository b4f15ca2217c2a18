package store

import (
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/model"
)

// TestTombstoneChargeAndHiding checks, on the store and on the model side
// by side, RM-6 (a tombstone is charged 64 + len(secret) bytes to the
// client of the rm, for its lifetime) and INV-2 (no get returns a value
// whose item has a live tombstone: neither the removed item, nor a later
// put of it, nor an item put after its rm).
func TestTombstoneChargeAndHiding(t *testing.T) {
	cfg := DefaultConfig("db")
	cfg.FS = vfs.NewMem()
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := model.New(model.DefaultConfig())
	const t0 = 2_000_000
	var id uint64
	both := func(op dht.Op, now dht.Time) dht.Result {
		t.Helper()
		id++
		op.ID = id
		r, err := s.Step(op, now)
		if err != nil || r.Err != nil {
			t.Fatalf("store step: %v %v", err, r.Err)
		}
		if mr := m.Step(op, now); len(mr.Reply.Values) != len(r.Reply.Values) {
			t.Fatalf("model returns %d values, store %d", len(mr.Reply.Values), len(r.Reply.Values))
		}
		return r
	}
	k := dht.Key{7}
	secret := []byte("a secret of 19 byte")
	sh := dht.SHA1(secret)
	both(dht.Op{Kind: dht.OpPut, Put: dht.Put{Client: "putter", Key: k, Value: []byte("gone"), TTL: 100, SecretHash: sh}}, t0)
	both(dht.Op{Kind: dht.OpRemove, Remove: dht.Remove{Client: "remover", Key: k, ValueHash: dht.SHA1([]byte("gone")), Secret: secret, TTL: 100}}, t0)
	// An rm that arrives before its put (RM-7) blocks the put too.
	both(dht.Op{Kind: dht.OpRemove, Remove: dht.Remove{Client: "remover", Key: k, ValueHash: dht.SHA1([]byte("early")), Secret: secret, TTL: 100}}, t0)
	both(dht.Op{Kind: dht.OpPut, Put: dht.Put{Client: "putter", Key: k, Value: []byte("early"), TTL: 50, SecretHash: sh}}, t0+1)
	both(dht.Op{Kind: dht.OpPut, Put: dht.Put{Client: "putter", Key: k, Value: []byte("gone"), TTL: 100, SecretHash: sh}}, t0+2)
	both(dht.Op{Kind: dht.OpPut, Put: dht.Put{Client: "putter", Key: k, Value: []byte("kept"), TTL: 100}}, t0+2)

	for now := dht.Time(t0 + 3); now < t0+100; now += 17 {
		r := both(dht.Op{Kind: dht.OpGet, Get: dht.Get{Key: k, MaxVals: 10}}, now)
		if len(r.Reply.Values) != 1 || string(r.Reply.Values[0].Value) != "kept" {
			t.Fatalf("INV-2: at +%d the get returns %q, want only \"kept\"", now-t0, values(r.Reply))
		}
	}
	want := int64(2 * (64 + len(secret)))
	for name, usage := range map[string]map[dht.ClientID]int64{"store": s.Usage(), "model": m.Usage()} {
		if usage["remover"] != want {
			t.Errorf("RM-6: the %s charges the remover %d bytes for two tombstones with a %d-byte secret, want %d",
				name, usage["remover"], len(secret), want)
		}
	}
}

func values(r dht.GetReply) []string {
	var out []string
	for _, v := range r.Values {
		out = append(out, string(v.Value))
	}
	return out
}
