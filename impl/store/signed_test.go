package store

import (
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/rapidtest"
)

// Owners of signed keys in the tests: fixed seeds, so that a rapid
// failure replays.
var authOwners = []ed25519.PrivateKey{
	ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)),
	ed25519.NewKeyFromSeed([]byte("0123456789abcdef0123456789abcdef")),
}

var authNames = []dht.Hash{dht.SHA1([]byte("profile")), dht.SHA1([]byte("status"))}

func authValues() [][]byte {
	return [][]byte{nil, []byte("one"), testValue(7, 300), testValue(8, dht.MaxSignedValueLen)}
}

// authKeys are every key the authenticated generator writes under.
func authKeys() []dht.Key {
	var ks []dht.Key
	for _, o := range authOwners {
		for _, n := range authNames {
			ks = append(ks, dht.SignedKey(o.Public().(ed25519.PublicKey), n))
		}
	}
	for _, v := range authValues() {
		ks = append(ks, dht.ImmutableKey(dht.ImmutableSHA1, v), dht.ImmutableKey(dht.ImmutableSHA256, v))
	}
	return ks
}

// drawAuthOp draws immutable puts, signed puts and removes (honest and
// hostile: forged, truncated, under another key, stale), rm calls aimed at
// authenticated items, gets of their keys, and ticks.
func (d *differential) drawAuthOp(t *rapid.T) dht.Op {
	client := rapid.SampledFrom(clients).Draw(t, "client")
	values := authValues()
	value := values[rapid.IntRange(0, len(values)-1).Draw(t, "value")]
	op := dht.Op{ID: d.nextID}
	d.nextID++
	switch rapid.IntRange(0, 9).Draw(t, "kind") {
	case 0, 1:
		alg := dht.ImmutableAlg(rapid.IntRange(1, 2).Draw(t, "alg"))
		op.Kind = dht.OpPut
		op.Put = dht.ImmutablePut(alg, value, rapid.SampledFrom([]int64{1, 5, 20, 1000}).Draw(t, "ttl"), client)
		if rapid.IntRange(0, 3).Draw(t, "wrongKey") == 0 { // IM-3: refused
			op.Put.Key[0] ^= 1
		}
	case 2, 3, 4:
		priv := authOwners[rapid.IntRange(0, len(authOwners)-1).Draw(t, "owner")]
		r := dht.Record{NameHash: authNames[rapid.IntRange(0, len(authNames)-1).Draw(t, "name")],
			Seq:     uint64(rapid.IntRange(0, 4).Draw(t, "seq")),
			Expires: d.now + dht.Time(rapid.SampledFrom([]int64{-1, 3, 10, 25, 60}).Draw(t, "expires")),
			Removed: rapid.IntRange(0, 4).Draw(t, "removed") == 0}
		if !r.Removed {
			r.Value = value
		}
		r.Sign(priv)
		key := r.Key()
		switch rapid.IntRange(0, 9).Draw(t, "attack") {
		case 0: // forged: the value changed after signing
			r.Value = append([]byte("x"), r.Value...)
		case 1: // truncated signature
			r.Signature = r.Signature[:63]
		case 2: // a valid record under another key
			key = dht.SignedKey(r.PublicKey, dht.SHA1([]byte("elsewhere")))
		}
		op.Kind = dht.OpPut
		op.Put = dht.Put{Client: client, Key: key, Value: r.Encode(), TTL: rapid.SampledFrom([]int64{2, 20, 1000}).Draw(t, "ttl"), SecretHash: dht.TagSigned}
	case 5:
		op.Kind = dht.OpRemove
		keys := authKeys()
		op.Remove = dht.Remove{Client: client, Key: keys[rapid.IntRange(0, len(keys)-1).Draw(t, "rmKey")], ValueHash: dht.SHA1(value), Secret: []byte("guess"), TTL: 10}
	case 6, 7, 8:
		keys := authKeys()
		op.Kind = dht.OpGet
		op.Get = dht.Get{Key: keys[rapid.IntRange(0, len(keys)-1).Draw(t, "getKey")], MaxVals: 10, ItemOrder: rapid.Bool().Draw(t, "itemOrder")}
	default:
		op.Kind = dht.OpTick
	}
	return op
}

func authModelVsStore(bug mutation) func(*rapid.T) {
	return differentialCheck(bug, (*differential).drawAuthOp, (*differential).checkAuthContents)
}

// checkAuthContents compares every authenticated key's contents, in both
// orders.
func (d *differential) checkAuthContents(t *rapid.T) {
	for _, k := range authKeys() {
		for _, itemOrder := range []bool{false, true} {
			if diff := cmp.Diff(d.modelContentsOf(k, itemOrder), d.storeContentsOf(t, k, itemOrder), cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("contents of key %v differ (-model +store):\n%s", k, diff)
			}
		}
	}
}

// TestStoreMatchesModelAuthenticated checks the store against the model on
// immutable and signed puts, honest and hostile, with removes aimed at
// them, expiry and crashes: IM-1..IM-4, SG-1..SG-8. Replay a failure with
// the -rapid.seed or -rapid.failfile it prints.
func TestStoreMatchesModelAuthenticated(t *testing.T) {
	rapid.Check(t, authModelVsStore(noMutation))
}

// TestAuthNegativeControls: a store that skips verification (IM-3, SG-5)
// and one that lets a stale record in (SG-6) are caught by the test above.
func TestAuthNegativeControls(t *testing.T) {
	if !mutationsBuilt {
		t.Skip("the negative controls plant mutations: build with -tags variants")
	}
	rapidtest.SetNegativeControlFlags(t, 2000)
	mustCatch(t, authModelVsStore, []negativeControl{
		{"skips verification", mutSkipAuth, "IM-3, SG-5"},
		{"accepts stale records", mutAcceptStale, "SG-6"},
	})
}

// TestSignedAttacksRefused tries each attack of SG-9 on one store and
// checks the reason it is refused with, and that the stored record is
// still the owner's latest.
func TestSignedAttacksRefused(t *testing.T) {
	s, err := Open(storeConfig(diffConfig(), nil, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := dht.Time(1_700_000_000)
	priv := authOwners[0]
	name := dht.SHA1([]byte("profile"))
	rec := func(seq uint64, v string) dht.Record {
		r := dht.Record{NameHash: name, Seq: seq, Expires: now + 25, Value: []byte(v)}
		r.Sign(priv)
		return r
	}
	id := uint64(1)
	put := func(p dht.Put) error {
		id++
		res, err := s.Step(dht.Op{Kind: dht.OpPut, ID: id, Put: p}, now)
		if err != nil {
			t.Fatal(err)
		}
		return res.Err
	}
	if err := put(dht.SignedPut(rec(1, "v1"), now, "c")); err != nil {
		t.Fatal(err)
	}
	if err := put(dht.SignedPut(rec(2, "v2"), now, "c")); err != nil {
		t.Fatal(err)
	}
	forged := rec(3, "v3")
	forged.Value = []byte("evil")
	truncated := rec(3, "v3")
	truncated.Signature = truncated.Signature[:63]
	cut := dht.SignedPut(rec(3, ""), now, "c")
	cut.Value = cut.Value[:dht.RecordOverhead-1]
	other := rec(3, "v3")
	otherKey := dht.SignedPut(other, now, "c")
	otherKey.Key = dht.SignedKey(priv.Public().(ed25519.PublicKey), dht.SHA1([]byte("other name")))
	stranger := dht.Record{NameHash: name, Seq: 9, Expires: now + 25, Value: []byte("mine")}
	stranger.Sign(authOwners[1])
	strangerPut := dht.SignedPut(stranger, now, "c")
	strangerPut.Key = rec(1, "").Key() // claims the owner's key
	// A record signed for another key, moved under this one.
	elsewhere := dht.Record{NameHash: dht.SHA1([]byte("other name")), Seq: 9, Expires: now + 25, Value: []byte("x")}
	elsewhere.Sign(priv)
	moved := dht.SignedPut(elsewhere, now, "c")
	moved.Key = rec(1, "").Key()
	for _, c := range []struct {
		name string
		put  dht.Put
		want error
	}{
		{"forged signature", dht.SignedPut(forged, now, "c"), dht.ErrRecordSignature},
		{"replayed old seq", dht.SignedPut(rec(1, "v1"), now, "c"), dht.ErrRecordStale},
		{"key/owner mismatch", strangerPut, dht.ErrRecordOwner},
		// A short signature shifts the value into it: it does not verify.
		{"truncated signature", dht.SignedPut(truncated, now, "c"), dht.ErrRecordSignature},
		{"record cut inside its signature", cut, dht.ErrRecordMalformed},
		{"valid signature for another key", otherKey, dht.ErrRecordOwner},
		{"record of another name moved here", moved, dht.ErrRecordOwner},
	} {
		if err := put(c.put); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	rep, err := s.Get(dht.Get{Key: rec(1, "").Key(), MaxVals: 10}, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Values) != 1 {
		t.Fatalf("the key holds %d records, want the owner's latest alone", len(rep.Values))
	}
	got, err := dht.DecodeRecord(rep.Values[0].Value)
	if err != nil || got.Seq != 2 || string(got.Value) != "v2" {
		t.Fatalf("stored record: seq %d value %q (%v), want seq 2 v2", got.Seq, got.Value, err)
	}
}

// TestPlantByName: the mutations another package plants by name (a node
// variant whose mistake is its store's) are the store's own; an unknown
// name is refused and changes nothing, and "" removes the mutation.
func TestPlantByName(t *testing.T) {
	if !mutationsBuilt {
		if err := Plant(nil, "accept-stale"); err == nil {
			t.Fatal("a build without mutations planted one")
		}
		t.Skip("mutations need -tags variants")
	}
	s, err := Open(storeConfig(diffConfig(), nil, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, want := range map[string]mutation{"accept-stale": mutAcceptStale, "skip-auth": mutSkipAuth} {
		if err := Plant(s, name); err != nil || s.mut() != want {
			t.Fatalf("Plant %q: %v, mutation %d, want %d", name, err, s.mut(), want)
		}
		if err := Plant(s, "no such mutation"); err == nil || s.mut() != want {
			t.Fatalf("Plant of an unknown name: %v, mutation now %d", err, s.mut())
		}
		if err := Plant(s, ""); err != nil || s.mut() != noMutation {
			t.Fatalf("Plant \"\": %v, mutation %d", err, s.mut())
		}
	}
}
