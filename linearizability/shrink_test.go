package linearizability

import (
	"testing"
)

// TestShrink: a violation on one key, followed by much more history on
// both keys, shrinks to that key cut just after the violation; the shrunk
// history is still rejected (so it proves the whole one wrong), and a
// linearizable history does not shrink.
func TestShrink(t *testing.T) {
	var tail []RegisterOp
	for i := range 20 {
		at := 10 + float64(i)
		tail = append(tail, readOp(5, at, at+0.5, 4, "y"), onKey(readOp(6, at, at+0.5, 0, ""), 2))
	}
	h := hist(upTo3(), ops(
		readOp(1, 3.5, 3.8, 3, "c"), readOp(2, 3.6, 3.9, 3, "c"),
		casOp(1, 3, "x", long, 4, 6, true, 4, "x"),
		casOp(2, 3, "y", long, 4.5, 6.5, true, 4, "y"), // a lost update: both succeed from 3
		onKey(readOp(7, 3.7, 3.9, 0, ""), 2),
	), tail)
	if v, err := Check(h, CheckConfig{}); err != nil || v != VerdictIllegal {
		t.Fatalf("the history is %s (%v), want illegal", v, err)
	}
	s, ok := Shrink(h, CheckConfig{})
	if !ok {
		t.Fatal("an illegal history did not shrink")
	}
	if v, err := Check(s, CheckConfig{}); err != nil || v != VerdictIllegal {
		t.Fatalf("the shrunk history is %s (%v): it must still be rejected", v, err)
	}
	for _, op := range s.Ops {
		if op.Key != rkey(1) {
			t.Fatalf("the shrunk history keeps key %x, which is linearizable", op.Key)
		}
		if op.Call >= sec(10) {
			t.Fatalf("the shrunk history keeps an operation called at %d, after the violation", op.Call)
		}
	}
	if len(s.Ops) >= len(h.Ops)/2 || s.Expect != VerdictIllegal || s.Meta["shrunk"] == "" {
		t.Fatalf("shrunk to %d of %d operations, expect %q, meta %v", len(s.Ops), len(h.Ops), s.Expect, s.Meta)
	}
	if _, ok := Shrink(hist(upTo3()), CheckConfig{}); ok {
		t.Fatal("a linearizable history shrank")
	}
}
