package store

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/opendht-go/opendht/impl/rapidtest"
)

// TestNegativeControls proves that the model-versus-store test can fail:
// each deliberately wrong store variant must be caught. PUT-4 (a tombstone
// blocks a re-put), GET-3 (the reply cap), DUR-1 (acknowledged means
// synced: a crash of the machine loses nothing acknowledged) and RM-2
// through the read cache (a tombstone that does not invalidate the cached
// key), PUT-3 through the read cache (a cached key that does not gain a
// new item), AC-5 (a store that admits an account's writes beyond its
// quota).
func TestNegativeControls(t *testing.T) {
	if !mutationsBuilt {
		t.Skip("the negative controls plant mutations: build with -tags variants")
	}
	// No fail files for expected failures, and little time on shrinking.
	rapidtest.SetNegativeControlFlags(t, 2000)
	mustCatch(t, modelVsStore, []negativeControl{
		{"ignores tombstones", mutIgnoreTombstones, "PUT-4"},
		{"ignores reply cap", mutNoReplyCap, "GET-3"},
		{"acknowledges before fsync", mutNoSync, "DUR-1"},
		{"read cache keeps removed items", mutCacheKeepsRemoved, "RM-2"},
		{"read cache misses new items", mutCacheMissesNewItems, "PUT-3"},
		{"replica ignores the quota", mutIgnoreQuota, "AC-5"},
	})
}

// negativeControl is a planted mutation and the rule a store with it
// breaks.
type negativeControl struct {
	name string
	bug  mutation
	rule string
}

// mustCatch runs check on a store with each control's mutation, in a
// subtest of its own, and fails the subtest if check passes.
func mustCatch(t *testing.T, check func(mutation) func(*rapid.T), controls []negativeControl) {
	for _, c := range controls {
		t.Run(c.name, func(t *testing.T) {
			r := &rapidtest.Recorder{TB: t}
			rapid.Check(r, check(c.bug))
			if !r.Failed() {
				t.Fatalf("the differential test did not catch a store that breaks %s", c.rule)
			}
			t.Logf("caught (%s): %s", c.rule, r.FirstLine())
		})
	}
}
