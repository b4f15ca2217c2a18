package store

import (
	"flag"
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// recorder is a rapid.TB that records a failure instead of failing the
// surrounding test, so a negative control can assert that rapid fails.
type recorder struct {
	testing.TB
	failed bool
	msgs   []string
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = true
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatal(args ...any)                 { r.failed = true; r.msgs = append(r.msgs, fmt.Sprint(args...)) }
func (r *recorder) Errorf(format string, args ...any) { r.Fatalf(format, args...) }
func (r *recorder) Error(args ...any)                 { r.Fatal(args...) }
func (r *recorder) FailNow()                          { r.failed = true }
func (r *recorder) Fail()                             { r.failed = true }
func (r *recorder) Failed() bool                      { return r.failed }
func (r *recorder) Logf(string, ...any)               {}
func (r *recorder) Log(...any)                        {}

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
	for name, v := range map[string]string{"rapid.nofailfile": "true", "rapid.shrinktime": "1s", "rapid.checks": "2000"} {
		old := flag.Lookup(name).Value.String()
		if err := flag.Set(name, v); err != nil {
			t.Fatal(err)
		}
		defer flag.Set(name, old) //nolint:errcheck
	}
	for _, c := range []struct {
		name string
		bug  mutation
		rule string
	}{
		{"ignores tombstones", mutIgnoreTombstones, "PUT-4"},
		{"ignores reply cap", mutNoReplyCap, "GET-3"},
		{"acknowledges before fsync", mutNoSync, "DUR-1"},
		{"read cache keeps removed items", mutCacheKeepsRemoved, "RM-2"},
		{"read cache misses new items", mutCacheMissesNewItems, "PUT-3"},
		{"replica ignores the quota", mutIgnoreQuota, "AC-5"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &recorder{TB: t}
			rapid.Check(r, modelVsStore(c.bug))
			if !r.failed {
				t.Fatalf("the differential test did not catch a store that breaks %s", c.rule)
			}
			t.Logf("caught (%s): %s", c.rule, firstLine(strings.Join(r.msgs, "\n")))
		})
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
