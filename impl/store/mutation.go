package store

import "errors"

// mutation names a deliberate bug that tests switch on to prove that the
// model-versus-store checks catch it (negative controls). Mutations exist
// only in builds with the build tag "variants" (make's tests set it):
// elsewhere a store's mutation is the constant noMutation, so production
// binaries carry neither the switch nor a field for it.
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
