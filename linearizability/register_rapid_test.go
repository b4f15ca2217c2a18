package linearizability

import (
	"flag"
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/model"
)

// Property tests of the checker: histories drawn from a sequential
// execution of the model (model.Registers), given random intervals around
// their linearization points, must be judged linearizable; answers changed
// so that no execution explains them must be caught.

// fixRapidSeed makes a rapid test replayable: it uses def as the seed
// unless -rapid.seed is given, and logs the seed and the command that
// replays the run.
func fixRapidSeed(t *testing.T, def string) {
	t.Helper()
	f := flag.Lookup("rapid.seed")
	if f.Value.String() == f.DefValue {
		if err := flag.Set("rapid.seed", def); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = flag.Set("rapid.seed", f.DefValue) })
	}
	t.Logf("rapid seed %s; replay: go test ./linearizability -run '^%s$' -count=1 -v -rapid.seed=%s", f.Value, t.Name(), f.Value)
}

// genConfig shapes the drawn histories.
type genConfig struct {
	maxOps     int
	keys       int
	spread     time.Duration // how far a call or return may be from its point
	clockSkew  time.Duration // how far a node's clock may be from the history's
	shortTTLs  bool          // ttls of 1..6 s, so that registers expire
	unknowns   bool          // some outcomes unknown (applied or lost)
	refusals   bool          // some requests refused (CAS-8)
	sequential bool          // intervals do not overlap (spread is ignored)
}

// skew is the bound S the histories are judged with: two clock offsets
// and the one-second grain of node time (CAS-11).
func (g genConfig) skew() time.Duration { return 2*g.clockSkew + time.Second }

var values = []string{"a", "b", "c", ""}

// drawHistory runs random operations through model.Registers one at a
// time at increasing points of the history's clock, with the node's time
// taken from a clock up to clockSkew off, and records each operation with
// an interval around its point.
func drawHistory(t *rapid.T, g genConfig) RegisterHistory {
	const maxTTL = 3600
	regs := model.NewRegisters(maxTTL)
	h := RegisterHistory{MaxTTL: maxTTL, Skew: g.skew()}
	point := int64(time.Second)
	lastReturn := int64(-1)
	for i := range rapid.IntRange(1, g.maxOps).Draw(t, "ops") {
		point += int64(rapid.IntRange(1, 1500).Draw(t, "gap_ms")) * int64(time.Millisecond)
		offset := rapid.Int64Range(-int64(g.clockSkew), int64(g.clockSkew)).Draw(t, "clock_offset_ns")
		now := dht.Time((point + offset) / int64(time.Second))
		key := dht.Key{19: byte(rapid.IntRange(1, g.keys).Draw(t, "key"))}
		op := RegisterOp{Key: key, Outcome: OutcomeOK}
		if g.sequential {
			op.Call = max(point-int64(time.Millisecond)/2, lastReturn+1)
			op.Return = point
		} else {
			op.Call = point - rapid.Int64Range(0, int64(g.spread)).Draw(t, "before_ns")
			op.Return = point + rapid.Int64Range(0, int64(g.spread)).Draw(t, "after_ns")
		}
		lastReturn = op.Return
		// About one operation in ten has an unknown outcome, one in twenty
		// of them never took effect; one in twenty-five is refused. (rapid
		// draws small numbers more often than large ones.)
		fate := rapid.IntRange(0, 99).Draw(t, "fate")
		unknown := g.unknowns && fate >= 90   // no answer came back
		lost := unknown && fate >= 95         // the request never took effect
		refused := g.refusals && fate/4 == 21 // a request that breaks a limit
		if rapid.IntRange(0, 9).Draw(t, "kind") < 7 {
			cur := regs.Clone().Read(key, now).Version
			op.Kind = RegisterCAS
			op.Expected = rapid.SampledFrom([]uint64{cur, cur, cur, 0, cur + 1, max(cur, 1) - 1}).Draw(t, "expected")
			op.Value = []byte(rapid.SampledFrom(values).Draw(t, "value"))
			op.TTL = maxTTL
			if g.shortTTLs {
				op.TTL = rapid.Int64Range(1, 6).Draw(t, "ttl")
			}
			if refused {
				op.TTL = 0
			}
			if !lost {
				res, err := regs.CAS(dht.CAS{Key: key, Expected: op.Expected, Value: op.Value, TTL: op.TTL}, now)
				if err != nil {
					op.Outcome, op.Err = OutcomeRefused, err.Error()
				}
				op.OK, op.Version, op.Got = res.OK, res.Version, res.Value
			}
		} else {
			op.Kind = RegisterRead
			if !lost {
				v := regs.Read(key, now)
				op.Version, op.Got = v.Version, v.Value
			}
		}
		if unknown && op.Outcome == OutcomeOK {
			op.Outcome, op.OK, op.Version, op.Got, op.Err = OutcomeUnknown, false, 0, nil, fmt.Sprintf("op %d: timeout", i)
		}
		h.Ops = append(h.Ops, op)
	}
	assignClients(&h)
	return h
}

// assignClients gives each operation a client id, as sequential clients
// would have: an id is reused only once its last operation returned, and
// never after an unknown outcome.
func assignClients(h *RegisterHistory) {
	slices.SortStableFunc(h.Ops, func(a, b RegisterOp) int { return int(min(max(a.Call-b.Call, -1), 1)) })
	var busy []int64 // per client id: busy until
	for i := range h.Ops {
		op := &h.Ops[i]
		op.Client = -1
		for c, until := range busy {
			if until < op.Call {
				op.Client = c
				break
			}
		}
		if op.Client < 0 {
			op.Client = len(busy)
			busy = append(busy, 0)
		}
		busy[op.Client] = op.Return
		if op.Outcome == OutcomeUnknown {
			busy[op.Client] = Infinity
		}
	}
}

func checkBoth(t *rapid.T, h RegisterHistory) (Verdict, Verdict) {
	det, err := Check(h, CheckConfig{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	nondet, err := Check(h, CheckConfig{Timeout: time.Minute, Nondeterministic: true})
	if err != nil {
		t.Fatal(err)
	}
	return det, nondet
}

var concurrent = genConfig{maxOps: 30, keys: 2, spread: 2 * time.Second, clockSkew: 300 * time.Millisecond,
	shortTTLs: true, unknowns: true, refusals: true}

// TestDrawnHistoriesAreLinearizable: every history drawn from a sequential
// execution of the model (CAS-2..CAS-10), with overlapping intervals
// around the points, expiry, nodes' clocks off by up to 300 ms (CAS-11's
// skew bound), unknown outcomes that took effect or not, and refused
// requests, is judged linearizable by both models.
func TestDrawnHistoriesAreLinearizable(t *testing.T) {
	fixRapidSeed(t, "20050101")
	rapid.Check(t, func(t *rapid.T) {
		h := drawHistory(t, concurrent)
		if det, nondet := checkBoth(t, h); det != VerdictOK || nondet != VerdictOK {
			t.Fatalf("a history of the model judged %s (deterministic) / %s (nondeterministic):\n%s", det, nondet, dump(h))
		}
	})
}

// TestChangedAnswersAreCaught is the negative control: a checker that
// never fails proves nothing. (1) In sequential histories (no overlap,
// every outcome known, no expiry), any change to one answer (ok flipped,
// version off by one, another value) is illegal (CAS-3, CAS-7). (2) In
// concurrent histories like those above, an answer that shows a value no
// cas ever wrote is illegal.
func TestChangedAnswersAreCaught(t *testing.T) {
	fixRapidSeed(t, "20050102")
	seq := genConfig{maxOps: 20, keys: 2, sequential: true}
	rapid.Check(t, func(t *rapid.T) {
		h := drawHistory(t, seq)
		i := rapid.IntRange(0, len(h.Ops)-1).Draw(t, "changed_op")
		op := &h.Ops[i]
		if op.Outcome != OutcomeOK {
			t.Skip("refused")
		}
		switch change := rapid.IntRange(0, 2).Draw(t, "change"); {
		case change == 0 && op.Kind == RegisterCAS:
			op.OK = !op.OK
		case change <= 1:
			if op.Version > 0 && rapid.Bool().Draw(t, "down") {
				op.Version--
			} else {
				op.Version++
			}
		default:
			op.Got = append(op.Got, 'z')
		}
		if det, nondet := checkBoth(t, h); det != VerdictIllegal || nondet != VerdictIllegal {
			t.Fatalf("op #%d changed to %+v, judged %s / %s:\n%s", i, *op, det, nondet, dump(h))
		}
	})
	rapid.Check(t, func(t *rapid.T) {
		h := drawHistory(t, concurrent)
		var answered []int
		for i, op := range h.Ops {
			if op.Outcome == OutcomeOK {
				answered = append(answered, i)
			}
		}
		if len(answered) == 0 {
			t.Skip("no answer")
		}
		i := rapid.SampledFrom(answered).Draw(t, "changed_op")
		h.Ops[i].Version, h.Ops[i].Got = max(h.Ops[i].Version, 1), []byte("phantom")
		if det, nondet := checkBoth(t, h); det != VerdictIllegal || nondet != VerdictIllegal {
			t.Fatalf("op #%d shows a phantom value, judged %s / %s:\n%s", i, det, nondet, dump(h))
		}
	})
}

// TestModelsAgree: the deterministic and the nondeterministic model give
// the same verdict on drawn histories, whose unknown outcomes return at
// infinity, also after a random change to one answer (which may or may
// not leave the history linearizable). This is the claim that makes the
// faster deterministic model safe to use (CAS-11).
func TestModelsAgree(t *testing.T) {
	fixRapidSeed(t, "20050103")
	legal, illegal := 0, 0
	rapid.Check(t, func(t *rapid.T) {
		h := drawHistory(t, concurrent)
		if rapid.Bool().Draw(t, "change") {
			i := rapid.IntRange(0, len(h.Ops)-1).Draw(t, "changed_op")
			if h.Ops[i].Outcome == OutcomeOK {
				h.Ops[i].Version = uint64(rapid.IntRange(0, 3).Draw(t, "version"))
				h.Ops[i].Got = []byte(rapid.SampledFrom(values).Draw(t, "got"))
				h.Ops[i].OK = rapid.Bool().Draw(t, "ok") && h.Ops[i].Kind == RegisterCAS
			}
		}
		det, nondet := checkBoth(t, h)
		if det != nondet {
			t.Fatalf("deterministic %s, nondeterministic %s:\n%s", det, nondet, dump(h))
		}
		if det == VerdictOK {
			legal++
		} else {
			illegal++
		}
	})
	t.Logf("%d linearizable, %d not", legal, illegal)
	if legal == 0 || illegal == 0 {
		t.Errorf("the drawn histories are all of one verdict (%d ok, %d illegal): the agreement proves little", legal, illegal)
	}
}

func dump(h RegisterHistory) string {
	s := ""
	for i, op := range h.Ops {
		s += fmt.Sprintf("  #%d %s\n", i, describeRegisterOp(h.Operations()[i].Input, h.Operations()[i].Output)) +
			fmt.Sprintf("      client %d key %x [%s, %s] %s\n", op.Client, op.Key[19:], secondsOf(op.Call), secondsOf(op.Return), op.Outcome)
	}
	return s
}
