//go:build variants

package store

import (
	"fmt"
	"sync"
)

// mutationsBuilt reports whether this build can plant mutations.
const mutationsBuilt = true

// planted holds the mutation of every store given one, outside the Store
// struct.
var planted struct {
	sync.RWMutex
	m map[*Store]mutation
}

func (s *Store) mut() mutation {
	planted.RLock()
	defer planted.RUnlock()
	return planted.m[s]
}

// plantMutation gives s the mutation m (noMutation removes it).
func plantMutation(s *Store, m mutation) {
	planted.Lock()
	defer planted.Unlock()
	if planted.m == nil {
		planted.m = map[*Store]mutation{}
	}
	if m == noMutation {
		delete(planted.m, s)
	} else {
		planted.m[s] = m
	}
}

// Plant gives s the mutation named name (see exported; "" removes it).
func Plant(s *Store, name string) error {
	m, ok := exported[name]
	if !ok && name != "" {
		return fmt.Errorf("store: no mutation %q to plant", name)
	}
	plantMutation(s, m)
	return nil
}
