package node

import (
	"math/big"
	"slices"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/overlay"
	"github.com/opendht-go/opendht/impl/store"
	"github.com/opendht-go/opendht/impl/wire"
)

// Anti-entropy: every AntiEntropyPeriod (jittered) a node picks a random
// leaf-set neighbour and compares, bucket by bucket, the items and
// tombstones it holds that the neighbour should hold too (the neighbour is
// in the key's replica set as this node sees it). The neighbour lists its
// entries of the buckets that differ; the node then pushes what the
// neighbour lacks and asks for what it lacks itself. Entries travel as
// replica Writes, so they pass the receiver's admission and its tombstone
// rules: a tombstone removes the item it meets, an item meets the tombstone
// and is dropped. Items a node holds but is no longer a replica of are
// pushed the same way (hand-off, RD-11).
//
// The keys a neighbour should hold form a few arcs of the ring (sharedRanges),
// so a round asks the store for digests of key ranges (store.ReqDigest)
// rather than scanning it: what a round with nothing to repair costs does
// not grow with the number of entries the store keeps an index of.

// syncSession is one comparison with one neighbour, kept until it ends.
type syncSession struct {
	peer wire.Peer
	// ranges are the key ranges the peer should hold, cut at bucket
	// boundaries, by bucket.
	ranges [wire.SyncBuckets][]store.KeyRange
	// byKey maps the summaries this side listed to their entries.
	byKey   map[uint64]dht.ItemID
	parts   map[uint8][][]uint64 // received SyncList parts, by bucket
	expires time.Time
}

// maxPushPerSync bounds the entries one session sends, so that a node that
// lost everything is refilled over several rounds, not in one burst.
const maxPushPerSync = 256

// bucketOf is the digest bucket of a key: its top five bits.
func bucketOf(k dht.Key) int { return int(k[0] >> 3) }

// bucketRange is the key range of digest bucket b.
func bucketRange(b int) store.KeyRange {
	var r store.KeyRange
	r.Lo[0] = byte(b << 3)
	if b+1 < wire.SyncBuckets {
		r.Hi[0] = byte((b + 1) << 3)
	}
	return r
}

var ringSize = new(big.Int).Lsh(big.NewInt(1), 8*dht.KeyLen)

func keyOf(x *big.Int) dht.Key {
	var k dht.Key
	x.Mod(x, ringSize).FillBytes(k[:])
	return k
}

// midpoint returns the point halfway along the clockwise arc from a to c.
func midpoint(a, c dht.Key) dht.Key {
	gap := new(big.Int).Sub(overlay.Big(c), overlay.Big(a))
	gap.Mod(gap, ringSize)
	if gap.Sign() == 0 {
		gap.Set(ringSize) // the whole ring
	}
	gap.Rsh(gap, 1)
	return keyOf(gap.Add(gap, overlay.Big(a)))
}

// sharedRanges returns the keys for which peer is in the replica set as
// this node sees it (and, in the NoHandOff variant, this node too), as
// ranges that do not wrap.
func (n *Node) sharedRanges(peer dht.Key) []store.KeyRange {
	var also []dht.Key
	if n.bug().NoHandOff {
		also = []dht.Key{n.self.ID}
	}
	return holdRanges(append([]wire.Peer{n.self}, n.ov.Leaves()...), n.cfg.Replicas, append(also, peer))
}

// holdRanges returns the keys whose replica set (their k closest among
// known, as replicaSet computes it) holds every node of must, as ranges
// that do not wrap, in key order. On the ring the set of the k closest
// nodes changes only where some node i+k (the known nodes sorted around
// the ring) becomes closer than node i, at the midpoint of the arc between
// them; between two consecutive such points the set is the same, so one
// evaluation per arc decides it.
func holdRanges(known []wire.Peer, k int, must []dht.Key) []store.KeyRange {
	var ids []dht.Key
	var peers []wire.Peer
	for _, p := range known {
		if !slices.Contains(ids, p.ID) {
			ids = append(ids, p.ID)
			peers = append(peers, p)
		}
	}
	holds := func(key dht.Key) bool {
		set := closest(key, slices.Clone(peers), k)
		for _, m := range must {
			if !slices.ContainsFunc(set, func(p wire.Peer) bool { return p.ID == m }) {
				return false
			}
		}
		return true
	}
	if len(ids) <= k {
		// Every known node holds every key.
		if holds(dht.Key{}) {
			return []store.KeyRange{{}}
		}
		return nil
	}
	slices.SortFunc(ids, func(a, b dht.Key) int { return overlay.Compare(a, b) })
	var cuts []dht.Key
	for i := range ids {
		cuts = append(cuts, midpoint(ids[i], ids[(i+k)%len(ids)]))
	}
	slices.SortFunc(cuts, func(a, b dht.Key) int { return overlay.Compare(a, b) })
	cuts = slices.Compact(cuts)
	var out []store.KeyRange
	for i, lo := range cuts {
		hi := cuts[(i+1)%len(cuts)]
		if !holds(midpoint(lo, hi)) {
			continue
		}
		if overlay.Compare(lo, hi) < 0 {
			out = appendRange(out, store.KeyRange{Lo: lo, Hi: hi})
			continue
		}
		// The arc wraps past zero (or is the whole ring).
		if hi != (dht.Key{}) {
			out = slices.Insert(out, 0, store.KeyRange{Hi: hi})
		}
		out = appendRange(out, store.KeyRange{Lo: lo})
	}
	return out
}

// appendRange appends r, merging it with the last range when they touch.
func appendRange(rs []store.KeyRange, r store.KeyRange) []store.KeyRange {
	if len(rs) > 0 && rs[len(rs)-1].Hi == r.Lo && r.Lo != (dht.Key{}) {
		rs[len(rs)-1].Hi = r.Hi
		return rs
	}
	return append(rs, r)
}

// newSession cuts the ranges peer should hold at the bucket boundaries.
func (n *Node) newSession(now time.Time, peer wire.Peer) *syncSession {
	s := &syncSession{peer: peer, byKey: map[uint64]dht.ItemID{}, parts: map[uint8][][]uint64{}, expires: now.Add(30 * time.Second)}
	for _, r := range n.sharedRanges(peer.ID) {
		for b := range wire.SyncBuckets {
			if c, ok := intersect(r, bucketRange(b)); ok {
				s.ranges[b] = append(s.ranges[b], c)
			}
		}
	}
	return s
}

// intersect returns the common part of two ranges, if any.
func intersect(a, b store.KeyRange) (store.KeyRange, bool) {
	lo := a.Lo
	if overlay.Compare(b.Lo, lo) > 0 {
		lo = b.Lo
	}
	hi := a.Hi
	if hi == (dht.Key{}) || (b.Hi != (dht.Key{}) && overlay.Compare(b.Hi, hi) < 0) {
		hi = b.Hi
	}
	if hi != (dht.Key{}) && overlay.Compare(lo, hi) >= 0 {
		return store.KeyRange{}, false
	}
	return store.KeyRange{Lo: lo, Hi: hi}, true
}

// flatRanges lists the session's ranges of the given buckets, and the
// bucket of each.
func (s *syncSession) flatRanges(buckets []int) ([]store.KeyRange, []int) {
	var rs []store.KeyRange
	var of []int
	for _, b := range buckets {
		for _, r := range s.ranges[b] {
			rs = append(rs, r)
			of = append(of, b)
		}
	}
	return rs, of
}

var allBuckets = func() []int {
	bs := make([]int, wire.SyncBuckets)
	for i := range bs {
		bs[i] = i
	}
	return bs
}()

// digests asks the store for the session's bucket digests.
func (n *Node) digests(now time.Time, s *syncSession, then func(now time.Time, d *[wire.SyncBuckets]uint64)) {
	rs, of := s.flatRanges(allBuckets)
	n.ask(store.Request{Kind: store.ReqDigest, Ranges: rs, Now: n.storeSecs(now)}, func(now time.Time, r store.Response) {
		if r.Err != nil {
			n.log.Error("anti-entropy digest", "err", r.Err)
			return
		}
		var d [wire.SyncBuckets]uint64
		for i, rd := range r.Digests {
			d[of[i]] ^= rd.XOR
		}
		then(now, &d)
	})
}

// list asks the store for the session's entries of the given buckets, by
// bucket, and records their summaries in the session.
func (n *Node) list(now time.Time, s *syncSession, buckets []int, then func(now time.Time, byBucket map[int][]uint64)) {
	rs, _ := s.flatRanges(buckets)
	n.ask(store.Request{Kind: store.ReqList, Ranges: rs, Now: n.storeSecs(now)}, func(now time.Time, r store.Response) {
		if r.Err != nil {
			n.log.Error("anti-entropy list", "err", r.Err)
			return
		}
		byBucket := map[int][]uint64{}
		for _, e := range r.Entries {
			b := bucketOf(e.ID.Key)
			byBucket[b] = append(byBucket[b], e.Summary)
			s.byKey[e.Summary] = e.ID
		}
		then(now, byBucket)
	})
}

// antiEntropy starts one round with a random leaf.
func (n *Node) antiEntropy(now time.Time) {
	leaves := n.ov.Leaves()
	if len(leaves) == 0 || n.bug().NoAntiEntropy {
		return
	}
	peer := leaves[n.rngIntN(len(leaves))]
	nonce := n.id()
	s := n.newSession(now, peer)
	n.syncs[nonce] = s
	n.stats.SyncRounds++
	n.digests(now, s, func(now time.Time, d *[wire.SyncBuckets]uint64) {
		n.send(now, peer, &wire.SyncDigest{Nonce: nonce, Digests: *d})
	})
}

func (n *Node) syncDigest(now time.Time, from wire.Peer, m *wire.SyncDigest) {
	s := n.newSession(now, from)
	n.digests(now, s, func(now time.Time, mine *[wire.SyncBuckets]uint64) {
		var differ []int
		for b := range mine {
			if mine[b] != m.Digests[b] {
				differ = append(differ, b)
			}
		}
		if len(differ) == 0 {
			return
		}
		// Keep this side's view to answer the SyncWant that may follow.
		n.served[served{from.ID, m.Nonce}] = s
		n.list(now, s, differ, func(now time.Time, byBucket map[int][]uint64) {
			for _, b := range differ {
				entries := byBucket[b]
				parts := max(1, (len(entries)+wire.MaxSyncEntries-1)/wire.MaxSyncEntries)
				if parts > 255 {
					parts = 255 // the rest waits for a later round
				}
				for p := range parts {
					chunk := entries[min(p*wire.MaxSyncEntries, len(entries)):min((p+1)*wire.MaxSyncEntries, len(entries))]
					n.send(now, from, &wire.SyncList{Nonce: m.Nonce, Bucket: uint8(b), Part: uint8(p), Parts: uint8(parts), Entries: chunk})
				}
			}
		})
	})
}

type served struct {
	peer  dht.Key
	nonce uint64
}

func (n *Node) syncList(now time.Time, from wire.Peer, m *wire.SyncList) {
	s := n.syncs[m.Nonce]
	if s == nil || s.peer.ID != from.ID || int(m.Bucket) >= wire.SyncBuckets {
		return
	}
	s.parts[m.Bucket] = append(s.parts[m.Bucket], m.Entries)
	if len(s.parts[m.Bucket]) < int(m.Parts) {
		return
	}
	theirs := map[uint64]bool{}
	for _, p := range s.parts[m.Bucket] {
		for _, h := range p {
			theirs[h] = true
		}
	}
	delete(s.parts, m.Bucket)
	b := int(m.Bucket)
	n.list(now, s, []int{b}, func(now time.Time, byBucket map[int][]uint64) {
		mine := map[uint64]bool{}
		var push []dht.ItemID
		for _, h := range byBucket[b] {
			mine[h] = true
			if !theirs[h] && len(push) < maxPushPerSync {
				push = append(push, s.byKey[h])
			}
		}
		n.push(now, from, push)
		var want []uint64
		for h := range theirs {
			if !mine[h] {
				want = append(want, h)
			}
		}
		slices.Sort(want)
		for len(want) > 0 {
			k := min(len(want), wire.MaxSyncEntries)
			n.send(now, from, &wire.SyncWant{Nonce: m.Nonce, Entries: want[:k]})
			want = want[k:]
		}
	})
}

func (n *Node) syncWant(now time.Time, from wire.Peer, m *wire.SyncWant) {
	s := n.served[served{from.ID, m.Nonce}]
	if s == nil {
		return
	}
	var push []dht.ItemID
	for i, h := range m.Entries {
		if id, ok := s.byKey[h]; ok && i < maxPushPerSync {
			push = append(push, id)
		}
	}
	n.push(now, from, push)
}

// push sends stored entries to a peer as replica writes.
func (n *Node) push(now time.Time, to wire.Peer, ids []dht.ItemID) {
	if len(ids) == 0 {
		return
	}
	n.ask(store.Request{Kind: store.ReqFetch, IDs: ids, Now: n.storeSecs(now)}, func(now time.Time, r store.Response) {
		for _, rec := range r.Records {
			ttl := int64(rec.Expiry - n.storeSecs(now))
			if ttl <= 0 || (rec.Tombstone && n.bug().NoTombstoneCopies) {
				continue
			}
			it := wire.Item{Key: rec.ID.Key, TTL: ttl, Expiry: int64(rec.Expiry), Client: string(rec.Client)}
			if rec.Tombstone {
				it.Kind, it.ValueHash, it.Secret = wire.ItemRemove, rec.ID.ValueHash, rec.Secret
			} else {
				it.Kind, it.Value, it.SecretHash = wire.ItemPut, rec.Value, rec.ID.SecretHash
			}
			n.stats.SyncPushed++
			n.send(now, to, &wire.Write{Replica: true, Gateway: n.self, Item: it})
		}
	})
}

// expireSyncs forgets sessions that ended.
func (n *Node) expireSyncs(now time.Time) {
	for k, s := range n.syncs {
		if now.After(s.expires) {
			delete(n.syncs, k)
		}
	}
	for k, s := range n.served {
		if now.After(s.expires) {
			delete(n.served, k)
		}
	}
}
