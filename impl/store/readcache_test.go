package store

import (
	"testing"

	"github.com/opendht-go/opendht/impl/dht"
)

// TestReadCacheRefusesStaleLoad: a get that loaded a key before a step
// invalidated it must not keep what it loaded, and the budget holds.
func TestReadCacheRefusesStaleLoad(t *testing.T) {
	c := newReadCache(cacheShards * 4096)
	k := dht.Key{1}
	e := &keyItems{charge: 100}
	if got, _ := c.lookup(k); got != nil {
		t.Fatal("empty cache holds a key")
	}
	_, gen := c.lookup(k)
	c.update([]dht.Key{k}, nil) // a step wrote k while the get was loading
	c.insert(k, e, gen)
	if got, _ := c.lookup(k); got != nil {
		t.Fatal("an entry loaded before an invalidation was kept")
	}
	_, gen = c.lookup(k)
	c.insert(k, e, gen)
	if got, _ := c.lookup(k); got != e {
		t.Fatal("an entry loaded without invalidation was not kept")
	}
	c.update([]dht.Key{k}, nil)
	if got, _ := c.lookup(k); got != nil {
		t.Fatal("invalidation left the entry")
	}
	// Many keys in one shard: the shard stays within its budget.
	sh := c.shard(k)
	for i := range 10_000 {
		k2 := dht.Key{0: byte(i), 1: byte(i >> 8)}
		if c.shard(k2) != sh {
			continue
		}
		_, gen := c.lookup(k2)
		c.insert(k2, &keyItems{charge: 1000}, gen)
		if sh.bytes > c.budget {
			t.Fatalf("shard holds %d bytes, budget %d", sh.bytes, c.budget)
		}
	}
	if len(sh.keys) == 0 || len(sh.keys) > 4 {
		t.Fatalf("shard holds %d entries of 1000 bytes in a budget of %d", len(sh.keys), c.budget)
	}
}
