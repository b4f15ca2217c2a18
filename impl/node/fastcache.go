package node

import (
	"slices"
	"sync"

	"github.com/opendht-go/opendht/impl/dht"
)

// The FastReadCache variant (a planted mistake): a node that answers a
// fast get from the last answer it gave for the key. n.bug() is a constant
// zero Variant in a build without the variants tag, so there both methods
// return at once and the cache is never touched.

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
