//go:build !variants

package node

import (
	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/store"
)

// VariantsBuilt reports whether this build can plant variants.
const VariantsBuilt = false

// bug is the node's planted variant: none, in this build. It inlines to a
// constant, so every check of a flag compiles away.
func (n *Node) bug() Variant { return Variant{} }

// Plant gives n a planted variant. This build has none: it returns
// ErrNoVariants.
func Plant(n *Node, v Variant) error { return ErrNoVariants }

// PlantStore plants the store's part of a variant. This build has none:
// it returns ErrNoVariants for a variant that has one.
func PlantStore(st *store.Store, v Variant) error {
	if v.storeMutation() != "" {
		return ErrNoVariants
	}
	return nil
}

// cachedFastRead is the FastReadCache variant's cache: none, in this
// build.
func (n *Node) cachedFastRead(dht.Get) (Completion, bool) { return Completion{}, false }

// cacheFastRead keeps nothing in this build.
func (n *Node) cacheFastRead(dht.Get, Completion) {}
