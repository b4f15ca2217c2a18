//go:build !variants

package overlay

// VariantsBuilt reports whether this build can plant variants.
const VariantsBuilt = false

// bug is the node's planted variant: none, in this build.
func (n *Node) bug() Variant { return Variant{} }

// Plant gives n a planted variant. This build has none: it returns
// ErrNoVariants.
func Plant(n *Node, v Variant) error { return ErrNoVariants }
