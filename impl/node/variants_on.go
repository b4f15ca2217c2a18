//go:build variants

package node

import (
	"sync"

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
