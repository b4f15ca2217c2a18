//go:build variants

package plant

import "sync"

// Built reports whether this build can plant variants.
const Built = true

// Table holds the variant V planted in each K given one. Things run on
// goroutines of their own, so it is locked. The zero Table is empty and
// ready.
type Table[K, V comparable] struct {
	mu sync.RWMutex
	m  map[K]V
}

// Of is the variant planted in k, the zero V if none.
func (t *Table[K, V]) Of(k K) V {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.m[k]
}

// Plant plants v in k (the zero V removes what was planted) and reports
// whether it could: always, in this build.
func (t *Table[K, V]) Plant(k K, v V) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	var none V
	if v == none {
		delete(t.m, k)
		return true
	}
	if t.m == nil {
		t.m = map[K]V{}
	}
	t.m[k] = v
	return true
}
