package linearizability

import (
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/model"
)

// fakeClock is a clock the test moves by hand, like the simulator's.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock               { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func casReq(exp uint64, v string) dht.CAS {
	return dht.CAS{Key: rkey(1), Expected: exp, Value: []byte(v), TTL: 60}
}
func answer(ok bool, ver uint64, v string) dht.CASResult {
	return dht.CASResult{OK: ok, Versioned: dht.Versioned{Version: ver, Value: []byte(v)}}
}

// TestRecorderClientIDs: a client keeps its id across answered and
// refused operations, and gets a new one, never used before, after an
// unknown outcome (porcupine needs one operation in flight per client id,
// and the unknown one never ends).
func TestRecorderClientIDs(t *testing.T) {
	clk := newFakeClock()
	r := NewRecorder(clk.now)
	a, b := r.Client(), r.Client()
	if a.ID() == b.ID() {
		t.Fatal("two clients share an id")
	}
	a.CallCAS(casReq(0, "x"))
	a.ReturnCAS(answer(true, 1, "x"))
	a.CallCAS(casReq(0, "y"))
	a.Refused(dht.ErrBadTTL)
	if a.ID() != 0 {
		t.Fatalf("id changed after an answer or a refusal: %d", a.ID())
	}
	a.CallCAS(casReq(1, "z"))
	a.Unknown(errors.New("timeout"))
	if a.ID() == 0 || a.ID() == b.ID() {
		t.Fatalf("after an unknown outcome the client has id %d (b has %d)", a.ID(), b.ID())
	}
	a.CallRead(rkey(1))
	a.ReturnRead(dht.Versioned{Version: 1, Value: []byte("x")})
	h := r.History()
	if got := []int{h.Ops[0].Client, h.Ops[1].Client, h.Ops[2].Client, h.Ops[3].Client}; got[2] != 0 || got[3] != a.ID() {
		t.Fatalf("client ids of the operations: %v", got)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestRecorderUnknownReturnsAtInfinity: an unknown outcome returns at
// Infinity in the porcupine history, later than every other timestamp,
// and so does an operation still in flight when the history is taken; the
// time the client gave up is kept for the visualization.
func TestRecorderUnknownReturnsAtInfinity(t *testing.T) {
	clk := newFakeClock()
	r := NewRecorder(clk.now)
	a, b := r.Client(), r.Client()
	a.CallCAS(casReq(0, "x"))
	clk.advance(time.Second)
	a.Unknown(errors.New("timeout"))
	b.CallRead(rkey(1))
	clk.advance(time.Second)
	b.ReturnRead(dht.Versioned{})
	b.CallRead(rkey(1)) // still in flight
	h := r.History()
	ops := h.Operations()
	if ops[0].Return != Infinity || ops[0].Input.(RegisterInput).Return != Infinity || ops[2].Return != Infinity {
		t.Fatalf("unknown outcomes return at %d and %d", ops[0].Return, ops[2].Return)
	}
	for _, op := range ops[1:2] {
		if op.Return >= Infinity || op.Call >= Infinity {
			t.Fatalf("a finite timestamp reaches infinity: %+v", op)
		}
	}
	if h.Ops[0].Return != sec(1) || h.Ops[2].Outcome != OutcomeUnknown {
		t.Fatalf("gave up at %d, in-flight outcome %v", h.Ops[0].Return, h.Ops[2].Outcome)
	}
	if Infinity != math.MaxInt64 {
		t.Fatal("Infinity must be later than every timestamp")
	}
}

// TestRecorderTimestampsIncrease: timestamps increase strictly, even when
// the clock stands still (a simulator) or steps back; the order of events
// the recorder saw is kept, so a client's next call is after its return.
func TestRecorderTimestampsIncrease(t *testing.T) {
	clk := newFakeClock()
	r := NewRecorder(clk.now)
	c := r.Client()
	c.CallRead(rkey(1))
	c.ReturnRead(dht.Versioned{}) // same instant
	clk.advance(-time.Minute)
	c.CallRead(rkey(1))
	c.ReturnRead(dht.Versioned{})
	clk.advance(2 * time.Minute)
	c.CallRead(rkey(1))
	c.ReturnRead(dht.Versioned{})
	h := r.History()
	last := int64(-1)
	for _, op := range h.Ops {
		if op.Call <= last || op.Return <= op.Call {
			t.Fatalf("timestamps do not increase: %+v after %d", op, last)
		}
		last = op.Return
	}
	if h.Ops[2].Call < sec(60) {
		t.Fatalf("the clock moved on a minute but the call is at %d", h.Ops[2].Call)
	}
}

// TestRecorderMisuse: a second call in flight and a return without a call
// are bugs of the test and panic.
func TestRecorderMisuse(t *testing.T) {
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	r := NewRecorder(nil)
	c := r.Client()
	mustPanic("return without call", func() { c.ReturnRead(dht.Versioned{}) })
	c.CallRead(rkey(1))
	mustPanic("two calls in flight", func() { c.CallRead(rkey(1)) })
	mustPanic("cas answer to a read", func() { c.ReturnCAS(dht.CASResult{}) })
}

// TestRecorderFaults: faults begun and ended, scheduled ones, and ones
// still going on at the end of the history.
func TestRecorderFaults(t *testing.T) {
	clk := newFakeClock()
	r := NewRecorder(clk.now)
	p := r.BeginFault("partition", "n1 | n2", "")
	clk.advance(time.Second)
	r.EndFault(p)
	r.Fault(Fault{Kind: "crash", Target: "n3", From: r.At(clk.t.Add(time.Second)), To: r.At(clk.t.Add(time.Second))})
	r.BeginFault("loss", "all links", "10%")
	clk.advance(time.Second)
	h := r.History()
	if len(h.Faults) != 3 || h.Faults[0].To-h.Faults[0].From < sec(1) || h.Faults[1].From != sec(2) || h.Faults[2].To < sec(2) {
		t.Fatalf("faults: %+v", h.Faults)
	}
	if len(h.Annotations()) != 3 {
		t.Fatalf("annotations: %+v", h.Annotations())
	}
}

// TestRecorderRealClients: goroutines with the wall clock run cas and
// reads against one register behind a mutex (linearizable by
// construction, model.Registers as the store); the recorded history must be
// judged linearizable (CAS-11). Half of the answers of one client are
// dropped and recorded as unknown outcomes.
func TestRecorderRealClients(t *testing.T) {
	var mu sync.Mutex
	store := model.NewRegisters(dht.MaxTTL)
	do := func(req dht.CAS, read bool) (dht.CASResult, error) {
		mu.Lock()
		defer mu.Unlock()
		if read {
			return dht.CASResult{Versioned: store.Read(req.Key, 0)}, nil
		}
		return store.CAS(req, 0)
	}
	r := NewRecorder(nil)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := r.Client()
			var seen uint64
			for i := range 30 {
				if i%3 == 0 {
					c.CallRead(rkey(1))
					res, _ := do(dht.CAS{Key: rkey(1)}, true)
					c.ReturnRead(res.Versioned)
					seen = res.Version
					continue
				}
				req := dht.CAS{Key: rkey(1), Expected: seen, Value: []byte{byte('a' + w), byte(i)}, TTL: 600}
				c.CallCAS(req)
				res, err := do(req, false)
				switch {
				case err != nil:
					c.Refused(err)
				case w == 0 && i%2 == 0:
					c.Unknown(errors.New("answer dropped by the test"))
				default:
					c.ReturnCAS(res)
				}
				seen = res.Version
			}
		}()
	}
	wg.Wait()
	h := r.History()
	h.MaxTTL, h.Skew = dht.MaxTTL, time.Second
	if len(h.Ops) != 120 {
		t.Fatalf("%d operations recorded", len(h.Ops))
	}
	for _, nondet := range []bool{false, true} {
		if v, err := Check(h, CheckConfig{Nondeterministic: nondet, Timeout: time.Minute}); err != nil || v != VerdictOK {
			t.Fatalf("nondeterministic=%v: a linearizable store judged %s (%v)", nondet, v, err)
		}
	}
}
