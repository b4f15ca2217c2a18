package store

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"maps"
	"slices"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/opendht-go/opendht/impl/dht"
)

// nodeSummary is the formula impl/node's anti-entropy has computed since
// its first version, copied here so that a change of Summary that would
// make old and new nodes disagree fails this package's tests.
func nodeSummary(id dht.ItemID, tombstone bool) uint64 {
	h := sha1.New()
	h.Write(id.Key[:])
	h.Write(id.SecretHash[:])
	h.Write(id.ValueHash[:])
	if tombstone {
		h.Write([]byte{1})
	} else {
		h.Write([]byte{0})
	}
	return binary.BigEndian.Uint64(h.Sum(nil))
}

func TestSummaryMatchesTheNodesFormula(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var id dht.ItemID
		copy(id.Key[:], rapid.SliceOfN(rapid.Byte(), dht.KeyLen, dht.KeyLen).Draw(t, "key"))
		copy(id.SecretHash[:], rapid.SliceOfN(rapid.Byte(), dht.HashLen, dht.HashLen).Draw(t, "secretHash"))
		copy(id.ValueHash[:], rapid.SliceOfN(rapid.Byte(), dht.HashLen, dht.HashLen).Draw(t, "valueHash"))
		tomb := rapid.Bool().Draw(t, "tombstone")
		if got, want := Summary(id, tomb), nodeSummary(id, tomb); got != want {
			t.Fatalf("Summary(%v, %v) = %x, the node computes %x", id, tomb, got, want)
		}
	})
	// A fixed vector, so that a change of both formulas fails too.
	if got := Summary(dht.ItemID{}, false); got != 0xb32c03194e03c658 {
		t.Fatalf("Summary of the zero item = %#x", got)
	}
}

// oracle is the brute-force digest index: a map, scanned in full.
type oracle map[dht.ItemID]bool

type oracleEntry struct {
	ID   dht.ItemID
	Tomb bool
	Sum  uint64
}

func inRange(k, lo, hi dht.Key) bool {
	if bytes.Compare(k[:], lo[:]) < 0 {
		return false
	}
	return hi == (dht.Key{}) || bytes.Compare(k[:], hi[:]) < 0
}

func (o oracle) list(lo, hi dht.Key) []oracleEntry {
	var out []oracleEntry
	for _, id := range slices.SortedFunc(maps.Keys(o), func(a, b dht.ItemID) int { return cmpID(&a, &b) }) {
		if inRange(id.Key, lo, hi) {
			out = append(out, oracleEntry{id, o[id], nodeSummary(id, o[id])})
		}
	}
	return out
}

func (o oracle) digest(lo, hi dht.Key) (uint64, int) {
	var x uint64
	es := o.list(lo, hi)
	for _, e := range es {
		x ^= e.Sum
	}
	return x, len(es)
}

func indexList(d *digestIndex, lo, hi dht.Key) []oracleEntry {
	var out []oracleEntry
	d.list(lo, hi, func(id dht.ItemID, tomb bool, sum uint64) bool {
		out = append(out, oracleEntry{id, tomb, sum})
		return true
	})
	return out
}

// Keys are drawn from a small space with shared prefixes, so that equal
// keys, keys that differ only in their last byte and range bounds that
// fall on, between and around the stored keys are all common.
func drawKey(t *rapid.T, label string) dht.Key {
	var k dht.Key
	k[0] = rapid.SampledFrom([]byte{0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff}).Draw(t, label+"0")
	k[1] = byte(rapid.IntRange(0, 3).Draw(t, label+"1"))
	k[19] = byte(rapid.IntRange(0, 2).Draw(t, label+"19"))
	if rapid.IntRange(0, 9).Draw(t, label+"ones") == 0 {
		k = dht.Key(bytes.Repeat([]byte{0xff}, dht.KeyLen))
	}
	return k
}

func drawID(t *rapid.T) dht.ItemID {
	id := dht.ItemID{Key: drawKey(t, "key")}
	id.SecretHash[0] = byte(rapid.IntRange(0, 2).Draw(t, "secretHash"))
	id.ValueHash[19] = byte(rapid.IntRange(0, 2).Draw(t, "valueHash"))
	return id
}

func drawBound(t *rapid.T, label string) dht.Key {
	if rapid.IntRange(0, 4).Draw(t, label+"zero") == 0 {
		return dht.Key{} // the start, or as hi the end, of the key space
	}
	return drawKey(t, label)
}

// TestDigestTreeMatchesOracle drives the index and a brute-force oracle
// with the same random inserts, replacements, deletions (present and
// absent entries), linear-time rebuilds and range queries (empty, full,
// inverted, to the end), and checks the tree's invariants after each step.
// Replay a failure with the -rapid.seed or -rapid.failfile it prints.
func TestDigestTreeMatchesOracle(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := &digestIndex{tree: newDigestTree(rapid.Uint64().Draw(t, "prioritySeed"))}
		o := oracle{}
		t.Repeat(map[string]func(*rapid.T){
			"set": func(t *rapid.T) {
				id, tomb := drawID(t), rapid.Bool().Draw(t, "tomb")
				d.tree.set(id, tomb)
				o[id] = tomb
			},
			"setMany": func(t *rapid.T) { // enough entries for ListRange to read several chunks
				for range rapid.IntRange(0, 3*listChunk).Draw(t, "n") {
					id := drawID(t)
					id.ValueHash[0] = byte(rapid.IntRange(0, 255).Draw(t, "spread"))
					d.tree.set(id, false)
					o[id] = false
				}
			},
			"del": func(t *rapid.T) {
				id := drawID(t)
				if len(o) > 0 && rapid.Bool().Draw(t, "present") {
					id = rapid.SampledFrom(slices.Collect(maps.Keys(o))).Draw(t, "which")
				}
				_, want := o[id]
				if got := d.tree.del(id); got != want {
					t.Fatalf("del(%v) found %v, oracle %v", id, got, want)
				}
				delete(o, id)
			},
			"rebuild": func(t *rapid.T) {
				b := d.tree.newBuilder()
				for _, e := range o.list(dht.Key{}, dht.Key{}) {
					if err := b.add(e.ID, e.Tomb); err != nil {
						t.Fatal(err)
					}
				}
				b.finish()
			},
			"range": func(t *rapid.T) {
				lo, hi := drawBound(t, "lo"), drawBound(t, "hi")
				gx, gc := d.rangeDigest(lo, hi)
				wx, wc := o.digest(lo, hi)
				if gx != wx || gc != wc {
					t.Fatalf("DigestRange(%v, %v) = (%x, %d), oracle (%x, %d)", lo, hi, gx, gc, wx, wc)
				}
				if diff := cmp.Diff(o.list(lo, hi), indexList(d, lo, hi)); diff != "" {
					t.Fatalf("ListRange(%v, %v) differs (-oracle +index):\n%s", lo, hi, diff)
				}
			},
			"stopEarly": func(t *rapid.T) {
				lo, hi := drawBound(t, "lo"), drawBound(t, "hi")
				n := rapid.IntRange(1, 2*listChunk+1).Draw(t, "stopAfter")
				var got []oracleEntry
				d.list(lo, hi, func(id dht.ItemID, tomb bool, sum uint64) bool {
					got = append(got, oracleEntry{id, tomb, sum})
					return len(got) < n
				})
				want := o.list(lo, hi)
				want = want[:min(n, len(want))]
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("ListRange(%v, %v) stopped after %d differs (-oracle +index):\n%s", lo, hi, n, diff)
				}
			},
			"": func(t *rapid.T) {
				if err := d.tree.check(); err != nil {
					t.Fatalf("tree invariant: %v", err)
				}
				if d.len() != len(o) {
					t.Fatalf("%d entries, oracle %d", d.len(), len(o))
				}
				if x, c := d.rangeDigest(dht.Key{}, dht.Key{}); c != len(o) {
					t.Fatalf("full range (%x, %d), oracle holds %d", x, c, len(o))
				}
			},
		})
	})
}

// TestDigestTreeRejectsUnorderedBuild: a rebuild meets the identity
// records in order; anything else is a corrupt store, not a wrong index.
func TestDigestTreeRejectsUnorderedBuild(t *testing.T) {
	tr := newDigestTree(1)
	b := tr.newBuilder()
	if err := b.add(dht.ItemID{Key: dht.Key{2}}, false); err != nil {
		t.Fatal(err)
	}
	for _, k := range []byte{2, 1} {
		if err := b.add(dht.ItemID{Key: dht.Key{k}}, false); err == nil {
			t.Fatalf("key %d after key 2 accepted", k)
		}
	}
}

// FuzzDigestTree reads the fuzzer's bytes as operations on the tree (set,
// delete, range query) over a small ID space and compares each with the
// oracle; the tree's invariants are checked at the end.
func FuzzDigestTree(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 1, 0, 1, 0x41, 2, 2, 0x11, 0x12, 0x13, 0x14, 0x81, 2, 0, 0})
	f.Add(bytes.Repeat([]byte{0x00, 0x37, 0x40, 0x37, 0x80, 0x05, 0x99}, 40))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := &digestIndex{tree: newDigestTree(uint64(len(b)))}
		o := oracle{}
		key := func(c byte) dht.Key {
			if c == 0 {
				return dht.Key{}
			}
			return dht.Key{0: c & 0xf0, 19: c & 0x0f}
		}
		for len(b) >= 3 {
			op, x, y := b[0], b[1], b[2]
			b = b[3:]
			id := dht.ItemID{Key: key(x)}
			id.ValueHash[0] = y & 0x3
			switch op % 3 {
			case 0:
				d.tree.set(id, op&0x80 != 0)
				o[id] = op&0x80 != 0
			case 1:
				_, want := o[id]
				if got := d.tree.del(id); got != want {
					t.Fatalf("del(%v) found %v, oracle %v", id, got, want)
				}
				delete(o, id)
			case 2:
				lo, hi := key(x), key(y)
				gx, gc := d.rangeDigest(lo, hi)
				wx, wc := o.digest(lo, hi)
				if gx != wx || gc != wc {
					t.Fatalf("DigestRange(%v, %v) = (%x, %d), oracle (%x, %d)", lo, hi, gx, gc, wx, wc)
				}
				if diff := cmp.Diff(o.list(lo, hi), indexList(d, lo, hi)); diff != "" {
					t.Fatalf("ListRange(%v, %v) differs (-oracle +index):\n%s", lo, hi, diff)
				}
			}
		}
		if err := d.tree.check(); err != nil {
			t.Fatalf("tree invariant: %v", err)
		}
	})
}

// TestDigestNodeSize keeps an entry of the index at 96 bytes, 96 MB for a
// node of a million items and tombstones: a field added or reordered
// carelessly grows it.
func TestDigestNodeSize(t *testing.T) {
	if n := unsafe.Sizeof(dnode{}); n > 96 {
		t.Fatalf("a digest tree node takes %d bytes, the budget is 96", n)
	}
}
