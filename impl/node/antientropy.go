package node

import (
	"crypto/sha1"
	"encoding/binary"
	"slices"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
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
// pushed the same way (hand-off).

// syncSession is one comparison with one neighbour, kept until it ends.
type syncSession struct {
	peer    wire.Peer
	byKey   map[uint64]dht.ItemID // summary -> entry, this side
	buckets [wire.SyncBuckets][]uint64
	parts   map[uint8][][]uint64 // received SyncList parts, by bucket
	expires time.Time
}

// maxPushPerSync bounds the entries one session sends, so that a node that
// lost everything is refilled over several rounds, not in one burst.
const maxPushPerSync = 256

func summary(id dht.ItemID, tombstone bool) uint64 {
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

func bucketOf(k dht.Key) int { return int(k[0] >> 3) }

// shouldHold reports whether peer is in the replica set of key as this
// node sees it.
func (n *Node) shouldHold(peer dht.Key, key dht.Key) bool {
	return slices.ContainsFunc(n.replicaSet(key), func(p wire.Peer) bool { return p.ID == peer })
}

// session scans the store for the entries peer should hold.
func (n *Node) session(now time.Time, peer wire.Peer) *syncSession {
	s := &syncSession{peer: peer, byKey: map[uint64]dht.ItemID{}, parts: map[uint8][][]uint64{}, expires: now.Add(30 * time.Second)}
	// The scan meets the items of one key one after another: the answer
	// for the previous key is reused.
	var lastKey dht.Key
	var lastHold, haveLast bool
	err := n.st.Scan(n.storeSecs(now), func(r store.Record) bool {
		if !haveLast || r.ID.Key != lastKey {
			lastKey, lastHold, haveLast = r.ID.Key, n.shouldHold(peer.ID, r.ID.Key), true
			if lastHold && n.bugs.NoHandOff {
				lastHold = n.shouldHold(n.self.ID, r.ID.Key)
			}
		}
		if lastHold && !(r.Tombstone && n.bugs.NoTombstoneCopies) {
			h := summary(r.ID, r.Tombstone)
			s.byKey[h] = r.ID
			b := bucketOf(r.ID.Key)
			s.buckets[b] = append(s.buckets[b], h)
		}
		return true
	})
	if err != nil {
		n.log.Error("anti-entropy scan", "err", err)
	}
	return s
}

func (s *syncSession) digests() [wire.SyncBuckets]uint64 {
	var d [wire.SyncBuckets]uint64
	for b, hs := range s.buckets {
		for _, h := range hs {
			d[b] ^= h
		}
	}
	return d
}

// antiEntropy starts one round with a random leaf.
func (n *Node) antiEntropy(now time.Time) {
	leaves := n.ov.Leaves()
	if len(leaves) == 0 || n.bugs.NoAntiEntropy {
		return
	}
	peer := leaves[n.rngIntN(len(leaves))]
	nonce := n.id()
	s := n.session(now, peer)
	n.syncs[nonce] = s
	n.stats.SyncRounds++
	n.send(now, peer, &wire.SyncDigest{Nonce: nonce, Digests: s.digests()})
}

func (n *Node) syncDigest(now time.Time, from wire.Peer, m *wire.SyncDigest) {
	s := n.session(now, from)
	mine := s.digests()
	differ := false
	for b := range mine {
		if mine[b] == m.Digests[b] {
			continue
		}
		differ = true
		entries := s.buckets[b]
		parts := max(1, (len(entries)+wire.MaxSyncEntries-1)/wire.MaxSyncEntries)
		if parts > 255 {
			parts = 255 // the rest waits for a later round
		}
		for p := range parts {
			chunk := entries[min(p*wire.MaxSyncEntries, len(entries)):min((p+1)*wire.MaxSyncEntries, len(entries))]
			n.send(now, from, &wire.SyncList{Nonce: m.Nonce, Bucket: uint8(b), Part: uint8(p), Parts: uint8(parts), Entries: chunk})
		}
	}
	if differ {
		// Keep this side's view to answer the SyncWant that may follow.
		n.served[served{from.ID, m.Nonce}] = s
	}
}

type served struct {
	peer  dht.Key
	nonce uint64
}

func (n *Node) syncList(now time.Time, from wire.Peer, m *wire.SyncList) {
	s := n.syncs[m.Nonce]
	if s == nil || s.peer.ID != from.ID {
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
	mine := map[uint64]bool{}
	pushed := 0
	for _, h := range s.buckets[m.Bucket] {
		mine[h] = true
		if !theirs[h] && pushed < maxPushPerSync {
			n.push(now, from, s.byKey[h])
			pushed++
		}
	}
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
}

func (n *Node) syncWant(now time.Time, from wire.Peer, m *wire.SyncWant) {
	s := n.served[served{from.ID, m.Nonce}]
	if s == nil {
		return
	}
	for i, h := range m.Entries {
		if id, ok := s.byKey[h]; ok && i < maxPushPerSync {
			n.push(now, from, id)
		}
	}
}

// push sends one stored entry to a peer as a replica write.
func (n *Node) push(now time.Time, to wire.Peer, id dht.ItemID) {
	r, err := n.st.Fetch(id, n.storeSecs(now))
	if err != nil {
		return // expired or removed meanwhile
	}
	ttl := int64(r.Expiry - n.storeSecs(now))
	if ttl <= 0 {
		return
	}
	it := wire.Item{Key: id.Key, TTL: ttl, Expiry: int64(r.Expiry), Client: string(r.Client)}
	if r.Tombstone {
		it.Kind, it.ValueHash, it.Secret = wire.ItemRemove, id.ValueHash, r.Secret
	} else {
		it.Kind, it.Value, it.SecretHash = wire.ItemPut, r.Value, id.SecretHash
	}
	n.stats.SyncPushed++
	n.send(now, to, &wire.Write{Replica: true, Gateway: n.self, Item: it})
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
