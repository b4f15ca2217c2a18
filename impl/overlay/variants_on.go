//go:build variants

package overlay

import "sync"

// VariantsBuilt reports whether this build can plant variants.
const VariantsBuilt = true

// planted holds the variant of every node given one, outside the Node
// struct.
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
