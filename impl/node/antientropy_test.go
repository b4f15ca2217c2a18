package node

import (
	"flag"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/store"
	"github.com/opendht-go/opendht/impl/wire"
)

var rangesSeed = flag.Uint64("ranges-seed", 0, "seed of TestHoldRangesMatchReplicaSets (0: fixed seeds 1-200)")

// TestHoldRangesMatchReplicaSets checks the ranges an anti-entropy round
// compares against the replica sets they stand for (RD-11): a key lies in
// holdRanges(known, k, {peer}) exactly when peer is among the k nodes of
// known closest to the key, for random rings (including rings no larger
// than a replica set, and nodes packed close together) and random keys,
// and for keys placed just beside every range boundary.
func TestHoldRangesMatchReplicaSets(t *testing.T) {
	seeds := []uint64{*rangesSeed}
	if *rangesSeed == 0 {
		seeds = nil
		for s := uint64(1); s <= 200; s++ {
			seeds = append(seeds, s)
		}
	}
	for _, seed := range seeds {
		rng := rand.New(rand.NewPCG(seed, 5))
		m := 1 + rng.IntN(12)
		k := 1 + rng.IntN(5)
		var known []wire.Peer
		base := randKey(rng)
		for i := range m {
			id := randKey(rng)
			if rng.IntN(3) == 0 { // packed: share a long prefix with base
				copy(id[:18], base[:18])
			}
			known = append(known, wire.Peer{ID: id, Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 1)})
		}
		peer := known[rng.IntN(len(known))].ID
		rs := holdRanges(known, k, []dht.Key{peer})
		check := func(key dht.Key) {
			want := false
			for _, p := range closest(key, append([]wire.Peer(nil), known...), k) {
				want = want || p.ID == peer
			}
			got := false
			for _, r := range rs {
				got = got || r.Contains(key)
			}
			if got != want {
				t.Fatalf("seed %d: key %x: in ranges %v, in replica set %v (m=%d k=%d ranges=%v)\nreplay: go test -tags variants ./impl/node -run TestHoldRangesMatchReplicaSets -args -ranges-seed=%d", seed, key[:6], got, want, m, k, rs, seed)
			}
		}
		for range 300 {
			check(randKey(rng))
		}
		for _, r := range rs {
			for _, edge := range []dht.Key{r.Lo, r.Hi} {
				check(addKey(edge, 1))
				check(addKey(edge, -2))
			}
		}
	}
}

// TestHoldRangesCatchAWrongCut is the negative control: the same check
// finds ranges cut at the wrong points (each cut moved by a quarter ring).
func TestHoldRangesCatchAWrongCut(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 5))
	var known []wire.Peer
	for i := range 9 {
		known = append(known, wire.Peer{ID: randKey(rng), Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 1)})
	}
	peer := known[0].ID
	rs := holdRanges(known, 3, []dht.Key{peer})
	for i := range rs {
		rs[i].Lo[0] += 64
		if rs[i].Hi != (dht.Key{}) {
			rs[i].Hi[0] += 64
		}
	}
	wrong := 0
	for range 2000 {
		key := randKey(rng)
		want := false
		for _, p := range closest(key, append([]wire.Peer(nil), known...), 3) {
			want = want || p.ID == peer
		}
		got := false
		for _, r := range rs {
			got = got || r.Contains(key)
		}
		if got != want {
			wrong++
		}
	}
	if wrong == 0 {
		t.Fatal("ranges cut at the wrong points were not told apart from the replica sets")
	}
}

func randKey(rng *rand.Rand) dht.Key {
	var k dht.Key
	for i := range k {
		k[i] = byte(rng.IntN(256))
	}
	return k
}

// addKey adds d (small) to k modulo 2^160.
func addKey(k dht.Key, d int) dht.Key {
	for d > 0 {
		for i := len(k) - 1; i >= 0; i-- {
			k[i]++
			if k[i] != 0 {
				break
			}
		}
		d--
	}
	for d < 0 {
		for i := len(k) - 1; i >= 0; i-- {
			k[i]--
			if k[i] != 0xff {
				break
			}
		}
		d++
	}
	return k
}

// TestStoreRangeRequests checks the store's digest and list requests,
// which anti-entropy compares, against the entries they stand for.
func TestStoreRangeRequests(t *testing.T) {
	st := openMemStore(t)
	rng := rand.New(rand.NewPCG(3, 3))
	var all []dht.ItemID
	for i := range 200 {
		key := randKey(rng)
		v := []byte{byte(i), byte(i >> 8)}
		res, p, err := st.StepAsync(dht.Op{Kind: dht.OpPut, ID: uint64(i + 1), Put: dht.Put{Client: "c", Key: key, Value: v, TTL: 3600}}, 1000)
		if err != nil || res.Err != nil {
			t.Fatal(err, res.Err)
		}
		if p != nil {
			if err := p.Wait(); err != nil {
				t.Fatal(err)
			}
		}
		all = append(all, dht.ItemID{Key: key, ValueHash: dht.SHA1(v)})
	}
	for trial := range 50 {
		a, b := randKey(rng), randKey(rng)
		if trial%10 == 0 {
			b = dht.Key{}
		} else if string(a[:]) > string(b[:]) {
			a, b = b, a
		}
		r := store.KeyRange{Lo: a, Hi: b}
		var xor uint64
		count := 0
		for _, id := range all {
			if r.Contains(id.Key) {
				xor ^= store.Summary(id, false)
				count++
			}
		}
		d := st.Exec(store.Request{Kind: store.ReqDigest, Ranges: []store.KeyRange{r}, Now: 1000})
		l := st.Exec(store.Request{Kind: store.ReqList, Ranges: []store.KeyRange{r}, Now: 1000})
		if d.Err != nil || l.Err != nil {
			t.Fatal(d.Err, l.Err)
		}
		if d.Digests[0].XOR != xor || d.Digests[0].Count != count || len(l.Entries) != count {
			t.Fatalf("range %x..%x: digest %+v list %d, want xor %x count %d", a[:4], b[:4], d.Digests[0], len(l.Entries), xor, count)
		}
	}
}

func openMemStore(t *testing.T) *store.Store {
	t.Helper()
	cfg := store.DefaultConfig("db")
	cfg.FS = vfs.NewMem()
	st, err := store.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}
