//go:build variants

package largevalue

import "sync"

// VariantsBuilt reports whether this build can plant variants.
const VariantsBuilt = true

var plantedVariants struct {
	sync.RWMutex
	m map[*Layer]Variant
}

func planted(l *Layer) Variant {
	plantedVariants.RLock()
	defer plantedVariants.RUnlock()
	return plantedVariants.m[l]
}

// Plant gives l the planted variant v (the zero Variant removes it).
func Plant(l *Layer, v Variant) error {
	plantedVariants.Lock()
	defer plantedVariants.Unlock()
	if plantedVariants.m == nil {
		plantedVariants.m = map[*Layer]Variant{}
	}
	if v == (Variant{}) {
		delete(plantedVariants.m, l)
	} else {
		plantedVariants.m[l] = v
	}
	return nil
}
