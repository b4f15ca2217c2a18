//go:build variants

package node

import (
	"slices"
	"sync"

	"github.com/opendht-go/opendht/impl/dht"

	"github.com/opendht-go/opendht/impl/store"
)

// VariantsBuilt reports whether this build can plant variants.
const VariantsBuilt = true

// planted holds the variant of every node given one, outside the Node
// struct: nodes run on their own goroutines, so the map is locked.
var planted struct {
	sync.RWMutex
	m map[*Node]Variant
}

func (n *Node) bug() Variant {
	planted.RLock()
	defer planted.RUnlock()
	return planted.m[n]
}

// Plant gives n the planted variant v (the zero Variant removes it).
func Plant(n *Node, v Variant) error {
	planted.Lock()
	defer planted.Unlock()
	if planted.m == nil {
		planted.m = map[*Node]Variant{}
	}
	if v == (Variant{}) {
		delete(planted.m, n)
	} else {
		planted.m[n] = v
	}
	return nil
}

// PlantStore plants the part of v that is a mistake of the node's store
// in st, the store the node runs on (AcceptStaleRecords,
// UnverifiedCopies); a v without one removes any.
func PlantStore(st *store.Store, v Variant) error { return store.Plant(st, v.storeMutation()) }

// fastReads is the FastReadCache variant's cache: the last answer each
// node gave a first-page fast get of each key.
var fastReads struct {
	sync.Mutex
	m map[*Node]map[dht.Key]Completion
}

// cachedFastRead returns the cached answer to g under FastReadCache.
func (n *Node) cachedFastRead(g dht.Get) (Completion, bool) {
	if !n.bug().FastReadCache || len(g.Placemark) > 0 {
		return Completion{}, false
	}
	fastReads.Lock()
	defer fastReads.Unlock()
	c, ok := fastReads.m[n][g.Key]
	c.Values = slices.Clone(c.Values)
	return c, ok
}

// cacheFastRead keeps c, the answer to the fast get g, under FastReadCache.
func (n *Node) cacheFastRead(g dht.Get, c Completion) {
	if !n.bug().FastReadCache || len(g.Placemark) > 0 {
		return
	}
	fastReads.Lock()
	defer fastReads.Unlock()
	if fastReads.m == nil {
		fastReads.m = map[*Node]map[dht.Key]Completion{}
	}
	if fastReads.m[n] == nil {
		fastReads.m[n] = map[dht.Key]Completion{}
	}
	c.Values = slices.Clone(c.Values)
	fastReads.m[n][g.Key] = c
}
