//go:build !variants

package largevalue

// VariantsBuilt reports whether this build can plant variants.
const VariantsBuilt = false

// planted is the layer's planted variant: none, in this build.
func planted(*Layer) Variant { return Variant{} }

// Plant gives l a planted variant. This build has none: it returns
// ErrNoVariants.
func Plant(*Layer, Variant) error { return ErrNoVariants }
