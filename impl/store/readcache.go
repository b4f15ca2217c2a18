package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"slices"
	"sort"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/opendht-go/opendht/impl/dht"
)

// The read cache holds, for recently read keys, every item the store holds
// under the key (expired or not, tombstones left out), decoded: a get of a
// cached key is answered from memory, at any time, page size, placemark
// and order, without a Pebble iterator. What a key holds changes only in a
// step. After a batch is applied, and before its steps return, every key
// it changed is brought up to date: a cached key that only gained new
// items (PUT-3) gets a new entry with them appended (a busy key is not
// reloaded from Pebble after every put), and a key changed in any other
// way is dropped. A get that loaded a key while a step changed it does not
// keep what it loaded (the shard's generation moved). Expired
// items stay in an entry until their reclamation invalidates it: the
// answer filters them by time as the Pebble read does (TTL-3).

// cacheShards spreads the cache over independently locked shards, so
// concurrent gets rarely wait for each other or for a step's invalidations.
const cacheShards = 64

type readCache struct {
	seed   maphash.Seed
	budget int64 // bytes per shard
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu    sync.RWMutex
	gen   uint64 // bumped by every invalidation in the shard
	keys  map[dht.Key]*keyItems
	bytes int64
	_     [40]byte // keeps shards on separate cache lines
}

// keyItems is what one key holds: its items in storage order (GET-1), and
// their indexes in item order (RD-9).
type keyItems struct {
	bySeq  []cachedItem
	byPos  []int32
	charge int64 // bytes the entry holds, for the budget
}

type cachedItem struct {
	seq    uint64
	pos    dht.ItemPos
	expiry dht.Time
	value  []byte
}

// cachedItemOverhead approximates the memory of a cached item beyond its
// value bytes.
const cachedItemOverhead = 96

func newReadCache(size int64) *readCache {
	c := &readCache{seed: maphash.MakeSeed(), budget: size / cacheShards}
	for i := range c.shards {
		c.shards[i].keys = map[dht.Key]*keyItems{}
	}
	return c
}

func (c *readCache) shard(k dht.Key) *cacheShard {
	return &c.shards[maphash.Bytes(c.seed, k[:])%cacheShards]
}

// lookup returns the key's entry, or the shard's generation to insert a
// freshly loaded one with.
func (c *readCache) lookup(k dht.Key) (*keyItems, uint64) {
	sh := c.shard(k)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return sh.keys[k], sh.gen
}

// insert keeps e for k unless the shard was invalidated since gen was read
// (e may then be stale), evicting other keys to stay within the budget.
func (c *readCache) insert(k dht.Key, e *keyItems, gen uint64) {
	if e.charge > c.budget/4 {
		return // one key must not flush a shard
	}
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.gen != gen {
		return
	}
	if old := sh.keys[k]; old != nil {
		sh.bytes -= old.charge
	}
	sh.keys[k] = e
	sh.bytes += e.charge
	c.evict(sh, k)
}

// evict forgets other keys than k until the shard is within its budget.
func (c *readCache) evict(sh *cacheShard, k dht.Key) {
	for victim, v := range sh.keys { // random eviction: map order is random
		if sh.bytes <= c.budget {
			break
		}
		if victim != k {
			delete(sh.keys, victim)
			sh.bytes -= v.charge
		}
	}
}

// addedItem is a new item (PUT-3) of an applied batch, with the bytes its
// identity record charges.
type addedItem struct {
	key    dht.Key
	charge int64
	item   cachedItem
}

// update brings the cache up to date with an applied batch: the keys in
// dropped changed in ways other than new items and are forgotten; a
// cached key whose only changes are the new items in added gains them in
// a new entry (entries are never modified in place: gets may be reading
// the old one). Every shard written bumps its generation, so that a get
// that loaded a key from before the batch does not keep it.
func (c *readCache) update(dropped []dht.Key, added []addedItem) {
	for _, k := range dropped {
		c.drop(k)
	}
	for i := 0; i < len(added); {
		k := added[i].key
		j := i + 1
		for j < len(added) && added[j].key == k {
			j++
		}
		if !slices.Contains(dropped, k) {
			c.extend(k, added[i:j])
		}
		i = j
	}
}

// drop forgets what the cache holds for k.
func (c *readCache) drop(k dht.Key) {
	sh := c.shard(k)
	sh.mu.Lock()
	sh.gen++
	if old := sh.keys[k]; old != nil {
		delete(sh.keys, k)
		sh.bytes -= old.charge
	}
	sh.mu.Unlock()
}

// extend replaces k's entry, if cached, by one that also holds the new
// items, which follow every item it holds in storage order (PUT-3 gives
// each new item the next sequence number).
func (c *readCache) extend(k dht.Key, added []addedItem) {
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.gen++
	old := sh.keys[k]
	if old == nil {
		return
	}
	e := &keyItems{charge: old.charge}
	e.bySeq = make([]cachedItem, len(old.bySeq), len(old.bySeq)+len(added))
	copy(e.bySeq, old.bySeq)
	// A get that loaded k after the batch reached the disk, and cached it
	// before this update, already holds the batch's items: only items
	// after its last are new to it.
	var last uint64
	if n := len(old.bySeq); n > 0 {
		last = old.bySeq[n-1].seq
	}
	for _, a := range added {
		if a.item.seq <= last {
			continue
		}
		e.bySeq = append(e.bySeq, a.item)
		e.charge += a.charge + cachedItemOverhead
	}
	delete(sh.keys, k)
	sh.bytes -= old.charge
	if e.charge > c.budget/4 {
		return
	}
	e.byPos = make([]int32, len(e.bySeq))
	copy(e.byPos, old.byPos)
	for i := len(old.bySeq); i < len(e.bySeq); i++ {
		e.byPos[i] = int32(i)
	}
	slices.SortFunc(e.byPos, func(a, b int32) int { return e.bySeq[a].pos.Compare(e.bySeq[b].pos) })
	sh.keys[k] = e
	sh.bytes += e.charge
	c.evict(sh, k)
}

// clear forgets everything: the disk may no longer match memory.
func (c *readCache) clear() {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.gen++
		clear(sh.keys)
		sh.bytes = 0
		sh.mu.Unlock()
	}
}

// loadItems reads every item of key k from r: its identity records name
// the items and their positions, its value records hold their values and
// expiries. ok is false if the key holds more than limit bytes.
func loadItems(r reader, k dht.Key, limit int64) (e *keyItems, ok bool, err error) {
	prefix := append([]byte{tagIdent}, k[:]...)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: valueKey(k, ^uint64(0))})
	if err != nil {
		return nil, false, err
	}
	defer it.Close()
	pos := map[uint64]dht.ItemPos{}
	e = &keyItems{}
	for it.SeekGE(prefix); it.Valid() && bytes.HasPrefix(it.Key(), prefix); it.Next() {
		rec, err := decodeIdent(it.Value())
		if err != nil {
			return nil, false, err
		}
		if rec.kind != kindItem {
			continue
		}
		if e.charge += rec.charge + cachedItemOverhead; e.charge > limit {
			return nil, false, nil
		}
		id := decodeID(it.Key()[1:])
		pos[rec.seq] = dht.ItemPos{SecretHash: id.SecretHash, ValueHash: id.ValueHash}
	}
	if err := it.Error(); err != nil {
		return nil, false, err
	}
	for it.SeekGE(valueKey(k, 0)); it.Valid(); it.Next() {
		key := it.Key()
		if len(key) != 1+dht.KeyLen+8 || key[0] != tagValue {
			break
		}
		seq := binary.BigEndian.Uint64(key[1+dht.KeyLen:])
		p, found := pos[seq]
		if !found {
			return nil, false, fmt.Errorf("%w: value record without its identity record (sequence %d)", errCorruptRecord, seq)
		}
		_, exp, v, err := decodeValue(it.Value())
		if err != nil {
			return nil, false, err
		}
		e.bySeq = append(e.bySeq, cachedItem{seq: seq, pos: p, expiry: exp, value: slices.Clone(v)})
	}
	if err := it.Error(); err != nil {
		return nil, false, err
	}
	if len(e.bySeq) != len(pos) {
		return nil, false, fmt.Errorf("%w: %d items of a key, %d value records", errCorruptRecord, len(pos), len(e.bySeq))
	}
	e.byPos = make([]int32, len(e.bySeq))
	for i := range e.byPos {
		e.byPos[i] = int32(i)
	}
	slices.SortFunc(e.byPos, func(a, b int32) int { return e.bySeq[a].pos.Compare(e.bySeq[b].pos) })
	return e, true, nil
}

// answer replies to g at time now from the key's items, as read and
// readItems reply from Pebble. The values are the cache's own: entries are
// never modified, only replaced, and Get's callers must not modify them.
func (s *Store) answer(e *keyItems, g dht.Get, now dht.Time) (dht.GetReply, error) {
	var rep dht.GetReply
	size := 0
	full := func(n int) bool { // GET-2, GET-3
		return len(rep.Values) == g.MaxVals || (len(rep.Values) > 0 && size+n > s.cfg.ReplyCap && s.mut() != mutNoReplyCap)
	}
	if g.ItemOrder {
		start := 0
		if len(g.Placemark) > 0 {
			after, err := dht.DecodeItemPlacemark(g.Placemark)
			if err != nil {
				return dht.GetReply{}, err
			}
			start = sort.Search(len(e.byPos), func(i int) bool { return e.bySeq[e.byPos[i]].pos.Compare(after) > 0 })
		}
		var last dht.ItemPos
		for _, i := range e.byPos[start:] {
			x := &e.bySeq[i]
			if x.expiry <= now { // TTL-3: not yet reclaimed
				continue
			}
			if full(len(x.value)) {
				rep.Placemark = dht.EncodeItemPlacemark(last) // RD-9
				break
			}
			rep.Values = append(rep.Values, dht.Value{Value: x.value, TTLRemaining: int64(x.expiry - now), SecretHash: x.pos.SecretHash})
			size += len(x.value)
			last = x.pos
		}
		return rep, nil
	}
	var from uint64
	if len(g.Placemark) > 0 {
		var err error
		if from, err = dht.DecodePlacemark(g.Placemark); err != nil {
			return dht.GetReply{}, err
		}
	}
	start := sort.Search(len(e.bySeq), func(i int) bool { return e.bySeq[i].seq >= from })
	var last uint64
	for i := start; i < len(e.bySeq); i++ {
		x := &e.bySeq[i]
		if x.expiry <= now { // TTL-3: not yet reclaimed
			continue
		}
		if full(len(x.value)) {
			rep.Placemark = dht.EncodePlacemark(last + 1) // GET-4
			break
		}
		rep.Values = append(rep.Values, dht.Value{Value: x.value, TTLRemaining: int64(x.expiry - now), SecretHash: x.pos.SecretHash})
		size += len(x.value)
		last = x.seq
	}
	return rep, nil
}
