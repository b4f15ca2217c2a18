package linearizability

import (
	"fmt"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
)

// EventualConfig states the bounds the checker holds a history to.
type EventualConfig struct {
	// MaxTTL is the TTL clamp (TTL-1), in seconds.
	MaxTTL int64
	// Skew bounds how far the nodes' clocks may be from the history's
	// clock: a value may be returned up to Skew after its expiry.
	Skew time.Duration
	// Settle is how long after an acknowledged remove every get must have
	// stopped returning the value (propagation of tombstones).
	Settle time.Duration
	// Faults are the intervals when the system was not whole (partitions,
	// loss, a node down, a node joining). Propagation of removes needs
	// quiet time: resurrection is only judged at least Settle after the
	// last fault that ended before the get, and not during a fault.
	Faults []Interval
	// FinalReads marks the start of the final read phase, after faults
	// healed and Settle passed: from then on every acknowledged put that
	// is not expired and was not removed must be returned.
	FinalReads time.Time
}

// Interval is a span of time.
type Interval struct{ From, To time.Time }

// quietSince returns the end of the last fault that started before t, or
// ok=false if a fault is active at t.
func quietSince(faults []Interval, t time.Time) (time.Time, bool) {
	var last time.Time
	for _, f := range faults {
		if f.From.After(t) {
			continue
		}
		if f.To.After(t) {
			return time.Time{}, false
		}
		if f.To.After(last) {
			last = f.To
		}
	}
	return last, true
}

// Violation is one broken property, with the events that show it.
type Violation struct {
	Property string
	Detail   string
}

func (v Violation) String() string { return v.Property + ": " + v.Detail }

// CheckEventual checks a history of puts, removes and gets for eventual
// consistency (after Jepsen's set checkers):
//
//   - no phantom: a get returns only values some put had been called for;
//   - no expired value: not after the latest possible expiry of any put of
//     it (its return plus its clamped TTL) plus the skew bound;
//   - no resurrection: not after an acknowledged remove of it returned,
//     plus the settle bound of quiet time (no fault), unless a later put
//     of it was called;
//   - no lost acknowledged put: every final read returns every put that
//     was acknowledged, has not expired (minus the skew) and was never the
//     object of a remove.
func CheckEventual(h History, cfg EventualConfig) []Violation {
	type putInfo struct {
		calls      []time.Time // when puts of the item were called
		maxExpiry  time.Time   // latest possible expiry over all puts
		ackedUntil time.Time   // latest expiry among acknowledged puts (earliest bound)
	}
	puts := map[itemKey]*putInfo{}
	removed := map[itemKey][]time.Time{} // returns of acknowledged removes
	removeCalled := map[itemKey]bool{}
	clamp := func(ttl int64) time.Duration { return time.Duration(min(ttl, cfg.MaxTTL)) * time.Second }
	for _, e := range h {
		switch e.Kind {
		case OpPut:
			k := itemOf(e.Key, e.SecretHash, e.Value)
			p := puts[k]
			if p == nil {
				p = &putInfo{}
				puts[k] = p
			}
			p.calls = append(p.calls, e.Call)
			end := e.Return
			if e.Unknown {
				end = time.Unix(1<<40, 0) // it may take effect any time: no expiry bound
			}
			if exp := end.Add(clamp(e.TTL)); exp.After(p.maxExpiry) {
				p.maxExpiry = exp
			}
			if !e.Unknown && e.Status == dht.StatusOK {
				if exp := e.Call.Add(clamp(e.TTL)); exp.After(p.ackedUntil) {
					p.ackedUntil = exp
				}
			}
		case OpRemove:
			k := itemOf(e.Key, e.SecretHash, e.Value)
			removeCalled[k] = true
			if !e.Unknown && e.Status == dht.StatusOK {
				removed[k] = append(removed[k], e.Return)
			}
		}
	}
	var out []Violation
	for _, e := range h {
		if e.Kind != OpGet || e.Unknown {
			continue
		}
		seen := map[itemKey]bool{}
		for _, v := range e.Values {
			k := itemOf(e.Key, v.SecretHash, v.Value)
			seen[k] = true
			p := puts[k]
			if p == nil || !earlierThanAny(p.calls, e.Return) {
				out = append(out, Violation{"phantom", fmt.Sprintf("client %d get of %x at %v returned %q, never put before", e.Client, e.Key[:4], e.Call, v.Value)})
				continue
			}
			if e.Call.After(p.maxExpiry.Add(cfg.Skew)) {
				out = append(out, Violation{"expired value", fmt.Sprintf("client %d get of %x at %v returned %q, expired by %v", e.Client, e.Key[:4], e.Call, v.Value, p.maxExpiry)})
			}
			quiet, ok := quietSince(cfg.Faults, e.Call)
			for _, r := range removed[k] {
				if !ok {
					break
				}
				if r.Before(quiet) {
					r = quiet
				}
				if e.Call.After(r.Add(cfg.Settle)) && !anyBetween(p.calls, r, e.Return) {
					out = append(out, Violation{"resurrection", fmt.Sprintf("client %d get of %x at %v returned %q, removed (acknowledged) at %v", e.Client, e.Key[:4], e.Call, v.Value, r)})
					break
				}
			}
		}
		if cfg.FinalReads.IsZero() || e.Call.Before(cfg.FinalReads) {
			continue
		}
		for k, p := range puts {
			if k.key != e.Key || removeCalled[k] || seen[k] || p.ackedUntil.IsZero() {
				continue
			}
			if e.Return.Add(cfg.Skew).Before(p.ackedUntil) {
				out = append(out, Violation{"lost put", fmt.Sprintf("client %d final get of %x at %v misses an acknowledged put (live until %v)", e.Client, e.Key[:4], e.Call, p.ackedUntil)})
			}
		}
	}
	return out
}

func earlierThanAny(ts []time.Time, t time.Time) bool {
	for _, x := range ts {
		if x.Before(t) {
			return true
		}
	}
	return false
}

func anyBetween(ts []time.Time, a, b time.Time) bool {
	for _, x := range ts {
		if x.After(a) && x.Before(b) {
			return true
		}
	}
	return false
}
