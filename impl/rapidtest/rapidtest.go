// Package rapidtest helps the negative controls of rapid property tests:
// a control runs a check against a planted bug and must see it fail.
// Recorder takes the failure in place of the test, and
// SetNegativeControlFlags keeps rapid from saving fail files for failures
// that are expected.
package rapidtest

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// Recorder is a rapid.TB that records a failure instead of failing the
// test it wraps, so that a negative control can assert that rapid failed.
// Its log is dropped: rapid's shrinking would fill the test's.
type Recorder struct {
	testing.TB
	failed bool
	msgs   []string
}

var _ rapid.TB = (*Recorder)(nil)

func (r *Recorder) Fatalf(format string, args ...any) {
	r.failed = true
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}
func (r *Recorder) Fatal(args ...any)                 { r.failed = true; r.msgs = append(r.msgs, fmt.Sprint(args...)) }
func (r *Recorder) Errorf(format string, args ...any) { r.Fatalf(format, args...) }
func (r *Recorder) Error(args ...any)                 { r.Fatal(args...) }
func (r *Recorder) FailNow()                          { r.failed = true }
func (r *Recorder) Fail()                             { r.failed = true }
func (r *Recorder) Failed() bool                      { return r.failed }
func (r *Recorder) Logf(string, ...any)               {}
func (r *Recorder) Log(...any)                        {}

// FirstLine is the first line of the first failure recorded ("" if none):
// what a control logs of what it caught.
func (r *Recorder) FirstLine() string {
	if len(r.msgs) == 0 {
		return ""
	}
	line, _, _ := strings.Cut(r.msgs[0], "\n")
	return line
}

// SetNegativeControlFlags sets rapid's flags for a negative control until
// t ends: no fail files for the expected failures, a second at most of
// shrinking each, and checks runs of the property.
func SetNegativeControlFlags(t testing.TB, checks int) {
	t.Helper()
	for name, v := range map[string]string{"rapid.nofailfile": "true", "rapid.shrinktime": "1s", "rapid.checks": strconv.Itoa(checks)} {
		f := flag.Lookup(name)
		if f == nil {
			t.Fatalf("no flag %s: is pgregory.net/rapid linked in?", name)
		}
		old := f.Value.String()
		if err := flag.Set(name, v); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = flag.Set(name, old) })
	}
}
