package largevalue

import (
	"errors"

	"github.com/opendht-go/opendht/impl/plant"
)

// Variant holds the planted mistakes that the layer's checks must catch,
// one flag each: the negative controls of spec/SPEC.md section 17. The
// zero Variant is the correct layer.
//
// Variants exist only in builds with the build tag "variants" (make test
// sets it): there Plant gives one Layer a Variant. In every other build
// Plant fails and the layer asks a constant zero Variant.
type Variant struct {
	// RootBeforeBlocksAcked writes the root without waiting for its blocks'
	// acknowledgements, and even after one failed: a partial write becomes
	// visible (breaks LV-3).
	RootBeforeBlocksAcked bool
	// SkipHashCheck takes the first value under a block's key as the block
	// without hashing it: a corrupted block is returned as data (breaks
	// LV-4).
	SkipHashCheck bool
	// RootOutlivesBlocks puts the root with the full TTL: when the write
	// took time, its first blocks expire while the root still names them
	// (breaks LV-6).
	RootOutlivesBlocks bool
}

// ErrNoVariants is Plant's answer in a build without the variants tag.
var ErrNoVariants = errors.New("largevalue: this build has no planted variants (build with -tags variants)")

// VariantsBuilt reports whether this build can plant variants.
const VariantsBuilt = plant.Built

// plantedVariants holds the variant of every layer given one, outside the
// Layer struct (impl/plant).
var plantedVariants plant.Table[*Layer, Variant]

// planted is l's planted variant: a constant zero Variant without the
// variants tag.
func planted(l *Layer) Variant { return plantedVariants.Of(l) }

// Plant gives l the planted variant v (the zero Variant removes it). A
// build without the variants tag has none: it returns ErrNoVariants.
func Plant(l *Layer, v Variant) error {
	if !plantedVariants.Plant(l, v) {
		return ErrNoVariants
	}
	return nil
}
