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

// exported are the mutations a package that runs stores may plant by
// name (Plant): a node whose planted mistake is its store's (impl/node's
// variants), so that the cluster checks are held to the same negative
// controls as the store's own.
var exported = map[string]mutation{
	"skip-auth":    mutSkipAuth,
	"accept-stale": mutAcceptStale,
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
