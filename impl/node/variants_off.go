//go:build !variants

package node

// VariantsBuilt reports whether this build can plant variants.
const VariantsBuilt = false

// bug is the node's planted variant: none, in this build. It inlines to a
// constant, so every check of a flag compiles away.
func (n *Node) bug() Variant { return Variant{} }

// Plant gives n a planted variant. This build has none: it returns
// ErrNoVariants.
func Plant(n *Node, v Variant) error { return ErrNoVariants }
