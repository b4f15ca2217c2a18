//go:build variants

package accounts

import "sync"

var planted struct {
	sync.RWMutex
	v Variant
}

func bug() Variant {
	planted.RLock()
	defer planted.RUnlock()
	return planted.v
}

// Plant plants v in every gateway of the process (the zero Variant
// removes it).
func Plant(v Variant) error {
	planted.Lock()
	defer planted.Unlock()
	planted.v = v
	return nil
}
