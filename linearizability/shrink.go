package linearizability

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/opendht-go/opendht/impl/dht"
)

// Shrink cuts a history that is not linearizable down to where it stops
// being so, for a person to read: the operations on one key that is not
// linearizable, called before the earliest time T at which the history cut
// at T is already not linearizable. Cut at T means: operations called at or
// after T are left out, and those that returned after T become unknown
// outcomes (their answers are forgotten). A cut of a linearizable history
// is linearizable (what is left out or forgotten only frees the checker),
// so a cut the checker rejects proves the whole history wrong, and the
// violation happened before T.
//
// It returns false if h is linearizable (or the checks time out); faults
// that begin after T are left out too.
func Shrink(h RegisterHistory, cfg CheckConfig) (RegisterHistory, bool) {
	cfg.VisualizePath = ""
	illegal := func(x RegisterHistory) bool {
		v, err := Check(x, cfg)
		return err == nil && v == VerdictIllegal
	}
	groups := groupByKey(h.Ops, func(op RegisterOp) dht.Key { return op.Key })
	slices.SortFunc(groups, func(a, b []RegisterOp) int { return bytes.Compare(a[0].Key[:], b[0].Key[:]) })
	for _, ops := range groups {
		one := h
		one.Ops = ops
		if !illegal(one) {
			continue
		}
		var times []int64
		for _, op := range one.Ops {
			times = append(times, op.Return)
		}
		slices.Sort(times)
		// The earliest cut that is rejected: the whole key's history is.
		lo, hi := 0, len(times)-1
		for lo < hi {
			mid := (lo + hi) / 2
			if illegal(cut(one, times[mid]+1)) {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		out := cut(one, times[lo]+1)
		if !illegal(out) {
			out = one // the search assumes cuts only get worse; keep what is proven
		}
		out.Meta = map[string]string{}
		for mk, mv := range h.Meta {
			out.Meta[mk] = mv
		}
		out.Meta["shrunk"] = fmt.Sprintf("key %x, cut at %d ns: %d of %d operations", ops[0].Key[:], times[lo]+1, len(out.Ops), len(h.Ops))
		out.Expect = VerdictIllegal
		return out, true
	}
	return RegisterHistory{}, false
}

// cut is h cut at t (see Shrink).
func cut(h RegisterHistory, t int64) RegisterHistory {
	out := h
	out.Ops = nil
	for _, op := range h.Ops {
		if op.Call >= t {
			continue
		}
		if op.Return > t && op.Outcome == OutcomeOK {
			op.Outcome, op.OK, op.Version, op.Got = OutcomeUnknown, false, 0, nil
			op.Err = "answered after the cut"
		}
		out.Ops = append(out.Ops, op)
	}
	out.Faults = nil
	for _, f := range h.Faults {
		if f.From < t {
			out.Faults = append(out.Faults, f)
		}
	}
	return out
}
