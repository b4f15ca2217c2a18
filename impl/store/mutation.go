package store

import (
	"errors"
	"fmt"

	"github.com/opendht-go/opendht/impl/plant"
)

// mutation names a deliberate bug that tests switch on to prove that the
// model-versus-store checks catch it (negative controls). Mutations exist
// only in builds with the build tag "variants" (make's tests set it):
// elsewhere a store's mutation is the constant noMutation, so production
// binaries carry neither the switch nor a field for it (impl/plant).
type mutation int

const (
	noMutation mutation = iota
	// mutIgnoreTombstones lets a put through a live tombstone (breaks PUT-4).
	mutIgnoreTombstones
	// mutNoReplyCap ignores the per-reply size cap (breaks GET-3).
	mutNoReplyCap
	// mutNoSync acknowledges writes before they are synced (breaks DUR-1).
	mutNoSync
	// mutCacheKeepsRemoved does not invalidate the read cache when a
	// remove writes a tombstone, so gets may still return the removed
	// item (breaks RM-2 for cached keys).
	mutCacheKeepsRemoved
	// mutDigestMissesDeletes keeps the digest index from following deleted
	// identity records, so that it misses reclamation after expiry (TTL-5).
	mutDigestMissesDeletes
	// mutLookupSkipsBatch answers a lookup from the digest index alone,
	// missing what the batch being built wrote: a write grouped with an
	// earlier one of the same item is taken for a new item (breaks FST
	// charges and PUT-6 within a group commit).
	mutLookupSkipsBatch
	// mutCacheMissesNewItems leaves a cached key's entry as it was when a
	// put adds a new item to it, so gets of the key miss the item (breaks
	// PUT-3 and GET-1 for cached keys).
	mutCacheMissesNewItems
	// mutSkipAuth stores authenticated puts without verifying them
	// (breaks IM-3 and SG-5).
	mutSkipAuth
	// mutAcceptStale lets a signed put in under a record that outranks
	// it (breaks SG-6).
	mutAcceptStale
	// mutIgnoreQuota admits an account's writes beyond its quota: a
	// replica that ignores the quota (breaks AC-5 and INV-9).
	mutIgnoreQuota
)

// ErrNoMutations: this build plants no mutations (build with -tags
// variants).
var ErrNoMutations = errors.New("store: planted mutations need a build with -tags variants")

// mutationsBuilt reports whether this build can plant mutations.
const mutationsBuilt = plant.Built

// planted holds the mutation of every store given one, outside the Store
// struct.
var planted plant.Table[*Store, mutation]

// mut is the store's planted mutation: the constant noMutation without
// the variants tag, so every check compiles away.
func (s *Store) mut() mutation { return planted.Of(s) }

// plantMutation gives s the mutation m (noMutation removes it). A build
// without the variants tag has none: planting one is a broken invariant
// of the tests.
func plantMutation(s *Store, m mutation) {
	if !planted.Plant(s, m) && m != noMutation {
		panic("store: mutations need a build with -tags variants")
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

// Plant gives s the mutation named name (see exported; "" removes it). A
// build without the variants tag has none: it accepts only "" and
// returns ErrNoMutations for a name.
func Plant(s *Store, name string) error {
	m, ok := exported[name]
	if !ok && name != "" {
		if !mutationsBuilt {
			return ErrNoMutations
		}
		return fmt.Errorf("store: no mutation %q to plant", name)
	}
	if !planted.Plant(s, m) && m != noMutation {
		return ErrNoMutations
	}
	return nil
}
