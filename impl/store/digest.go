package store

import (
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/opendht-go/opendht/impl/dht"
)

// The digest index: what anti-entropy compares, kept up to date as the
// store writes, so that comparing a key range with a neighbour costs
// O(log N) and not a scan of the store.
//
// It holds one entry per identity record (item or tombstone): the item ID,
// the tombstone flag and the entry's summary, ordered by item ID, with the
// XOR and count of the summaries of every subtree (digestTree).
//
// It follows the identity records by reading every batch the store applies
// (followBatch): each Set of an identity record inserts or replaces the
// entry, each Delete removes it. Every path that writes identity records
// (a new put, a put extended in place, a remove over an item or over a
// shorter tombstone, reclamation after expiry) goes through a batch, so
// none can be missed, including paths added later. Open rebuilds the index
// from one ordered scan of the identity records.

// Summary is an entry's summary as anti-entropy compares it: the first 8
// bytes, big-endian, of SHA-1 over key | secret hash | value hash | one
// byte 1 for a tombstone, 0 for an item. Nodes of every version compute
// the same value; do not change it without changing the sync protocol.
func Summary(id dht.ItemID, tombstone bool) uint64 {
	var b [idLen + 1]byte
	copy(b[0:], id.Key[:])
	copy(b[dht.KeyLen:], id.SecretHash[:])
	copy(b[dht.KeyLen+dht.HashLen:], id.ValueHash[:])
	if tombstone {
		b[idLen] = 1
	}
	h := sha1.Sum(b[:])
	return binary.BigEndian.Uint64(h[:8])
}

// digestIndex is the digest tree and the lock that lets readers on other
// goroutines use it while the store writes.
type digestIndex struct {
	mu   sync.RWMutex
	tree *digestTree
	// ops is the writer's scratch space (used under the store mutex).
	ops []digestOp
}

type digestOp struct {
	id   dht.ItemID
	del  bool
	tomb bool
}

func newDigestIndex() *digestIndex {
	return &digestIndex{tree: newDigestTree(rand.Uint64())}
}

// DigestRange returns the XOR of the summaries and the number of the
// items and tombstones whose key is in [lo, hi) in byte order. A zero hi
// stands for the end of the key space: [lo, 0) is everything from lo on,
// and [0, 0) the whole store. Any other hi at or below lo gives an empty
// range. A ring arc that wraps past the top is two calls: [lo, 0) and
// [0, hi). It costs O(log N) for N entries.
//
// DigestRange, ListRange and LenDigest may be called from any goroutine,
// at the same time as writes. They see the store as of the end of some
// step (or group of steps committed together): every write a step made,
// or none. That state is applied (Get and Fetch see it) but need not be
// durable yet; nothing that is not yet visible to Fetch is in the index.
// After Close they answer from the state the store was closed in.
//
// The index holds entries until a step reclaims them: an item or
// tombstone whose expiry has passed is in it until the next step at or
// after its expiry (TTL-5), unlike Scan, which hides it at once. A caller
// that wants exactly the live entries at now steps the store (Tick(now))
// first; one that copies entries finds them gone at Fetch anyway.
func (s *Store) DigestRange(lo, hi dht.Key) (xor uint64, count int) {
	return s.digest.rangeDigest(lo, hi)
}

func (d *digestIndex) rangeDigest(lo, hi dht.Key) (uint64, int) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.tree.rangeDigest(&lo, &hi)
}

// ListRange calls fn for the items and tombstones whose key is in [lo, hi)
// (the range of DigestRange) in item-ID order, with each one's summary,
// until fn returns false. It costs O(log N + k) for k entries reported.
//
// fn runs without any lock held: it may call the store, Fetch included.
// ListRange reads the index in chunks, so that a long listing does not
// hold up writers; each chunk is consistent as DigestRange is. An entry
// that is in the range for the whole call is reported exactly once; one
// added or removed during the call may or may not be.
func (s *Store) ListRange(lo, hi dht.Key, fn func(id dht.ItemID, tombstone bool, summary uint64) bool) {
	s.digest.list(lo, hi, fn)
}

func (d *digestIndex) list(lo, hi dht.Key, fn func(id dht.ItemID, tombstone bool, summary uint64) bool) {
	if hi != (dht.Key{}) && string(lo[:]) >= string(hi[:]) {
		return
	}
	var chunk [listChunk]digestEntry
	from, after := dht.ItemID{Key: lo}, false
	for {
		d.mu.RLock()
		buf, more := d.tree.collect(chunk[:0], &from, after, &hi)
		d.mu.RUnlock()
		for _, e := range buf {
			if !fn(e.id, e.tomb, e.sum) {
				return
			}
		}
		if !more {
			return
		}
		from, after = buf[len(buf)-1].id, true
	}
}

// listChunk is the entries ListRange copies under one read lock: small
// enough to hold writers up for microseconds, large enough that the
// O(log N) restart of each chunk does not matter.
const listChunk = 64

// has reports whether id is in the index.
func (d *digestIndex) has(id dht.ItemID) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.tree.has(&id)
}

// LenDigest returns the number of entries in the digest index: the items
// and tombstones stored, expired ones not yet reclaimed included.
func (s *Store) LenDigest() int { return s.digest.len() }

func (d *digestIndex) len() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.tree.len()
}

// followBatch applies to the index the identity records that batch b,
// just applied to the database, sets and deletes, in the order it holds
// them. The caller holds the store mutex.
func (s *Store) followBatch(b *pebble.Batch) {
	d := s.digest
	d.ops = d.ops[:0]
	r := b.Reader()
	for {
		kind, k, v, ok, err := r.Next()
		if err != nil {
			panic(fmt.Sprintf("store: a batch the database accepted does not decode: %v", err))
		}
		if !ok {
			break
		}
		if len(k) != 1+idLen || k[0] != tagIdent {
			if kind == pebble.InternalKeyKindRangeDelete && string(k) < string([]byte{tagIdent + 1}) && string(v) > string([]byte{tagIdent}) {
				panic("store: the digest index cannot follow a range deletion over identity records")
			}
			continue
		}
		switch kind {
		case pebble.InternalKeyKindSet:
			if len(v) == 0 {
				panic(fmt.Sprintf("store: empty identity record %x written", k))
			}
			d.ops = append(d.ops, digestOp{id: decodeID(k[1:]), tomb: v[0] == kindTombstone})
		case pebble.InternalKeyKindDelete, pebble.InternalKeyKindSingleDelete:
			if s.mut() == mutDigestMissesDeletes {
				continue
			}
			d.ops = append(d.ops, digestOp{id: decodeID(k[1:]), del: true})
		default:
			panic(fmt.Sprintf("store: the digest index cannot follow a %v of identity record %x", kind, k))
		}
	}
	if len(d.ops) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, op := range d.ops {
		if op.del {
			d.tree.del(op.id)
		} else {
			d.tree.set(op.id, op.tomb)
		}
	}
}

// rebuildDigest builds the index from the identity records on disk, in one
// ordered scan, in time linear in their number.
func (s *Store) rebuildDigest() error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{tagIdent}, UpperBound: []byte{tagIdent + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	d := s.digest
	d.mu.Lock()
	defer d.mu.Unlock()
	b := d.tree.newBuilder()
	for it.First(); it.Valid(); it.Next() {
		k, v := it.Key(), it.Value()
		if len(k) != 1+idLen || len(v) == 0 || (v[0] != kindItem && v[0] != kindTombstone) {
			return fmt.Errorf("%w: identity record %x", errCorruptRecord, k)
		}
		if err := b.add(decodeID(k[1:]), v[0] == kindTombstone); err != nil {
			return err
		}
	}
	b.finish()
	return it.Error()
}
