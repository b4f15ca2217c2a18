package linearizability

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
)

// Recorder records a history of register operations from real clients
// (goroutines, the wall clock) or simulated ones (the simulator's virtual
// clock), in the form porcupine needs:
//
//   - timestamps come from one clock and increase strictly: they are
//     nanoseconds since the recorder was made, and a reading that is not
//     later than the one before (a clock that stepped back, or a simulated
//     clock that has not moved) becomes the one before plus a nanosecond.
//     So the order in which the recorder saw events is kept, which is a
//     real-time order as long as a client records a call before it sends
//     the request and a return after the answer came: a client's next call
//     is after its last return, and porcupine's closed intervals do not
//     make them concurrent;
//   - each Client is one sequential stream with one operation in flight at
//     most; after an unknown outcome the client continues under a new
//     client id, since the old operation may still take effect at any time
//     (its return is at Infinity);
//   - faults are recorded beside the operations for the visualization.
//
// A Recorder is safe for concurrent use.
type Recorder struct {
	mu         sync.Mutex
	clock      func() time.Time
	epoch      time.Time
	last       int64
	nextClient int
	ops        []RegisterOp
	faults     []Fault
	open       map[int]bool // faults not ended yet
}

// NewRecorder returns a recorder whose timestamps come from clock (the
// simulator's virtual time, say); nil means the wall clock, read with its
// monotonic reading.
func NewRecorder(clock func() time.Time) *Recorder {
	if clock == nil {
		clock = time.Now
	}
	return &Recorder{clock: clock, epoch: clock(), last: -1, open: map[int]bool{}}
}

// now returns the next timestamp. Called with mu held.
func (r *Recorder) now() int64 {
	t := max(int64(r.clock().Sub(r.epoch)), r.last+1)
	r.last = t
	return t
}

// Now is the recorder's current timestamp.
func (r *Recorder) Now() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.now()
}

// At converts a time of the recorder's clock to a timestamp, for faults
// scheduled in advance. It does not move the recorder's time.
func (r *Recorder) At(t time.Time) int64 { return int64(t.Sub(r.epoch)) }

// Client is one sequential stream of operations of a Recorder: at most one
// operation is in flight, between a Call and its Return, Unknown or
// Refused. Using it otherwise is a bug of the test and panics.
type Client struct {
	r       *Recorder
	id      int
	pending int // index of the operation in flight in r.ops, -1 if none
}

// Client returns a new client with a fresh id.
func (r *Recorder) Client() *Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := &Client{r: r, id: r.nextClient, pending: -1}
	r.nextClient++
	return c
}

// ID is the client's current porcupine client id.
func (c *Client) ID() int {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	return c.id
}

func (c *Client) call(op RegisterOp) {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	if c.pending >= 0 {
		panic(fmt.Sprintf("linearizability: client %d calls %v while op #%d is in flight", c.id, op.Kind, c.pending))
	}
	op.Client, op.Call = c.id, c.r.now()
	c.pending = len(c.r.ops)
	c.r.ops = append(c.r.ops, op)
}

// CallCAS records that the client sends a cas.
func (c *Client) CallCAS(req dht.CAS) {
	c.call(RegisterOp{Kind: RegisterCAS, Key: req.Key, Expected: req.Expected, Value: slices.Clone(req.Value), TTL: req.TTL})
}

// CallRead records that the client sends a read.
func (c *Client) CallRead(key dht.Key) {
	c.call(RegisterOp{Kind: RegisterRead, Key: key})
}

// finish ends the operation in flight. Called with mu held.
func (c *Client) finish(outcome Outcome, set func(op *RegisterOp)) {
	if c.pending < 0 {
		panic(fmt.Sprintf("linearizability: client %d returns with no operation in flight", c.id))
	}
	op := &c.r.ops[c.pending]
	op.Return, op.Outcome = c.r.now(), outcome
	set(op)
	c.pending = -1
}

// ReturnCAS records the answer to the cas in flight.
func (c *Client) ReturnCAS(res dht.CASResult) {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	c.finish(OutcomeOK, func(op *RegisterOp) {
		if op.Kind != RegisterCAS {
			panic(fmt.Sprintf("linearizability: client %d gets a cas answer to a %v", c.id, op.Kind))
		}
		op.OK, op.Version, op.Got = res.OK, res.Version, slices.Clone(res.Value)
	})
}

// ReturnRead records the answer to the read in flight.
func (c *Client) ReturnRead(v dht.Versioned) {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	c.finish(OutcomeOK, func(op *RegisterOp) {
		if op.Kind != RegisterRead {
			panic(fmt.Sprintf("linearizability: client %d gets a read answer to a %v", c.id, op.Kind))
		}
		op.Version, op.Got = v.Version, slices.Clone(v.Value)
	})
}

// Unknown records that the operation in flight got no answer (err says
// what the client saw instead): it may take effect at any time, so it
// returns at Infinity, and the client continues under a new id.
func (c *Client) Unknown(err error) {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	c.finish(OutcomeUnknown, func(op *RegisterOp) { op.Err = errString(err) })
	c.id = c.r.nextClient
	c.r.nextClient++
}

// Refused records that the operation in flight certainly had no effect: a
// validation error (CAS-8) or a refusal before anything was written.
func (c *Client) Refused(err error) {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	c.finish(OutcomeRefused, func(op *RegisterOp) { op.Err = errString(err) })
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// BeginFault records that a fault starts now and returns its handle for
// EndFault.
func (r *Recorder) BeginFault(kind, target, detail string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.now()
	r.faults = append(r.faults, Fault{Kind: kind, Target: target, From: t, To: t, Detail: detail})
	r.open[len(r.faults)-1] = true
	return len(r.faults) - 1
}

// EndFault records that the fault ends now.
func (r *Recorder) EndFault(handle int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults[handle].To = r.now()
	delete(r.open, handle)
}

// Fault records a fault whose interval is known (from a schedule), in the
// recorder's timestamps (see At).
func (r *Recorder) Fault(f Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = append(r.faults, f)
}

// History returns the history so far. Operations still in flight are
// recorded as unknown outcomes that gave up now, and faults still going on
// as ending now; the recorder itself is not changed.
func (r *Recorder) History() RegisterHistory {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	h := RegisterHistory{Ops: slices.Clone(r.ops), Faults: slices.Clone(r.faults)}
	for i := range h.Ops {
		if h.Ops[i].Outcome == 0 {
			h.Ops[i].Outcome, h.Ops[i].Return, h.Ops[i].Err = OutcomeUnknown, now, "still in flight at the end of the history"
		}
	}
	for i := range r.open {
		h.Faults[i].To = now
	}
	return h
}
