//go:build !variants

package plant

// Built reports whether this build can plant variants.
const Built = false

// Table holds nothing in this build.
type Table[K, V comparable] struct{}

// Of is the zero V: nothing is planted in this build.
func (*Table[K, V]) Of(K) V {
	var none V
	return none
}

// Plant plants nothing and reports false: this build has no variants.
func (*Table[K, V]) Plant(K, V) bool { return false }
