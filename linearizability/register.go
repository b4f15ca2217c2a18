package linearizability

import (
	"fmt"
	"hash/fnv"
	"math"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/model"
)

// This file holds the porcupine models of the versioned registers
// (spec/SPEC.md section 11): the sequential specification is model.CAS
// and model.Read; the models add what linearizability (CAS-11) needs on top
// of it: operations placed at unknown instants between their call and
// their return, operations whose outcome is unknown, and expiry judged in
// the history's time with a skew bound.
//
// Time. Every timestamp is in nanoseconds of the history's clock. A
// register written by an operation linearized at point l with a clamped
// ttl t expires at an instant E in [l + t - Skew, l + t + Skew]. The state
// carries the bounds [ELo, EHi] that the history allows for E, and Floor,
// a lower bound on the point of the last operation linearized (the points
// of a linearization increase). An operation called at c and returned at
// r is placed at a point in [max(c, Floor), r]; it may see the register
// live if that can be before E, and absent (expired) if that can be at or
// after E. Both are then narrowed: seeing it live puts E after the point,
// seeing it expired puts the point at or after E.
//
// Determinism. A completed operation's answer tells which of the two it
// saw (version 0 or not, CAS-2), so completed operations step
// deterministically. An operation whose outcome is unknown (CAS-11) may
// have taken effect or not: the nondeterministic model follows both. The
// deterministic model takes one choice (the operation takes effect when
// it can) and relies on the recorder placing unknown operations' returns
// at infinity, where an operation that did not take effect can be
// linearized last, after every answer, with the same result.

// RegisterKind names a register operation.
type RegisterKind uint8

const (
	// RegisterCAS is a compare-and-set (CAS-3).
	RegisterCAS RegisterKind = iota + 1
	// RegisterRead is a linearizable read (CAS-7).
	RegisterRead
)

func (k RegisterKind) String() string {
	switch k {
	case RegisterCAS:
		return "cas"
	case RegisterRead:
		return "read"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Outcome is what the client learned of an operation.
type Outcome uint8

const (
	// OutcomeOK: the answer came back; the operation took effect at one
	// instant between its call and its return.
	OutcomeOK Outcome = iota + 1
	// OutcomeUnknown: no answer came (a timeout, a gateway that crashed);
	// the operation may have taken effect at any instant after its call,
	// or not at all. Its return is at infinity.
	OutcomeUnknown
	// OutcomeRefused: the operation certainly had no effect: a request
	// refused by validation (CAS-8) or refused before anything was
	// written.
	OutcomeRefused
)

func (o Outcome) String() string {
	switch o {
	case OutcomeOK:
		return "ok"
	case OutcomeUnknown:
		return "unknown"
	case OutcomeRefused:
		return "refused"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// Infinity is the return time of an operation whose outcome is unknown:
// later than every other timestamp of a history.
const Infinity = math.MaxInt64

// RegisterInput is the input of a register operation in a porcupine
// history. Call and Return repeat the operation's interval (Return is
// Infinity for an unknown outcome), since expiry depends on it.
type RegisterInput struct {
	Kind     RegisterKind
	Key      dht.Key
	Expected uint64 // cas
	Value    string // cas: the new value
	TTL      int64  // cas: seconds, as asked
	Call     int64
	Return   int64
}

// RegisterOutput is the answer of a register operation in a porcupine
// history: for a read, Version and Value; for a cas also OK.
type RegisterOutput struct {
	Outcome Outcome
	OK      bool
	Version uint64
	Value   string
}

// registerState is one register (the models are partitioned by key) as the
// history so far allows it to be; see the comment at the top of the file.
type registerState struct {
	Version  uint64
	Value    string
	ELo, EHi int64 // bounds on the instant the register expires, if Version > 0
	Floor    int64 // lower bound on the point of the last operation linearized
}

// registerModel holds the parameters of the models.
type registerModel struct {
	maxTTL int64         // seconds, the TTL clamp (TTL-1)
	skew   time.Duration // CAS-11's bound S
}

func addSat(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// seen returns the register as an operation placed next may see it: live,
// and absent because it expired, whichever the bounds allow, each with
// Floor and the expiry bounds narrowed accordingly. An absent register has
// one view. No view: the operation cannot be placed next.
func (m registerModel) seen(s registerState, in RegisterInput) []registerState {
	lo := max(in.Call, s.Floor)
	if lo > in.Return {
		return nil
	}
	if s.Version == 0 {
		s.Floor = lo
		return []registerState{s}
	}
	var views []registerState
	if lo < s.EHi { // it can be placed before the expiry
		live := s
		live.Floor, live.ELo = lo, max(s.ELo, lo+1)
		views = append(views, live)
	}
	if at := max(lo, s.ELo); at <= in.Return { // it can be placed at or after the expiry
		views = append(views, registerState{Floor: at})
	}
	return views
}

// apply runs the sequential specification (model.CAS, model.Read) on a
// view and returns the state after the operation and its answer, or
// ok=false if the specification refuses the request (CAS-8).
func (m registerModel) apply(s registerState, in RegisterInput) (registerState, RegisterOutput, bool) {
	var reg model.Register // absent
	if s.Version > 0 {
		reg = model.Register{Version: s.Version, Value: []byte(s.Value), Expiry: 1} // live at time 0
	}
	if in.Kind == RegisterRead {
		v := model.Read(reg, 0)
		return s, RegisterOutput{Outcome: OutcomeOK, Version: v.Version, Value: string(v.Value)}, true
	}
	_, res, err := model.CAS(reg, dht.CAS{Key: in.Key, Expected: in.Expected, Value: []byte(in.Value), TTL: in.TTL}, 0, m.maxTTL)
	if err != nil {
		return s, RegisterOutput{}, false
	}
	out := RegisterOutput{Outcome: OutcomeOK, OK: res.OK, Version: res.Version, Value: string(res.Value)}
	if !res.OK {
		return s, out, true
	}
	ttl := time.Duration(min(in.TTL, m.maxTTL)) * time.Second
	return registerState{
		Version: res.Version,
		Value:   string(res.Value),
		ELo:     s.Floor + int64(ttl-m.skew), // the point is at least Floor
		EHi:     addSat(in.Return, int64(ttl+m.skew)),
		Floor:   s.Floor,
	}, out, true
}

// stepAnswered is the step of an operation whose answer is known: at most
// one view explains the answer (version 0 or not tells them apart).
func (m registerModel) stepAnswered(s registerState, in RegisterInput, out RegisterOutput) []registerState {
	for _, v := range m.seen(s, in) {
		next, got, ok := m.apply(v, in)
		if ok && got == out {
			return []registerState{next}
		}
	}
	return nil
}

// stepUnknown is the step of an operation whose outcome is unknown: every
// state it may leave. Not taking effect is always possible; a cas may also
// have taken effect on any view where its expected version matches.
func (m registerModel) stepUnknown(s registerState, in RegisterInput) []registerState {
	lo := max(in.Call, s.Floor)
	if lo > in.Return {
		return nil
	}
	noEffect := s
	noEffect.Floor = lo
	states := []registerState{noEffect}
	if in.Kind != RegisterCAS {
		return states
	}
	for _, v := range m.seen(s, in) {
		if next, out, ok := m.apply(v, in); ok && out.OK {
			states = append(states, next)
		}
	}
	return states
}

// step is the nondeterministic step of every outcome.
func (m registerModel) step(s registerState, in RegisterInput, out RegisterOutput) []registerState {
	switch out.Outcome {
	case OutcomeOK:
		return m.stepAnswered(s, in, out)
	case OutcomeUnknown:
		return m.stepUnknown(s, in)
	case OutcomeRefused:
		return []registerState{s}
	}
	return nil
}

// stepDeterministic takes one choice for an unknown outcome: the last
// state stepUnknown lists, which is the operation taking effect if it can.
func (m registerModel) stepDeterministic(s registerState, in RegisterInput, out RegisterOutput) (bool, registerState) {
	next := m.step(s, in, out)
	if len(next) == 0 {
		return false, s
	}
	return true, next[len(next)-1]
}

func hashRegister(s registerState) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d\x00%s\x00%d\x00%d\x00%d", s.Version, s.Value, s.ELo, s.EHi, s.Floor)
	return h.Sum64()
}

// groupByKey splits xs by the key of each, keeping their order within a
// group, the groups in the order their keys first appear.
func groupByKey[T any](xs []T, key func(T) dht.Key) [][]T {
	var order []dht.Key
	byKey := map[dht.Key][]T{}
	for _, x := range xs {
		k := key(x)
		if _, seen := byKey[k]; !seen {
			order = append(order, k)
		}
		byKey[k] = append(byKey[k], x)
	}
	out := make([][]T, 0, len(order))
	for _, k := range order {
		out = append(out, byKey[k])
	}
	return out
}

// partitionByKey splits a history into one history per key: registers of
// different keys are independent, and porcupine checks each alone.
func partitionByKey(ops []porcupine.Operation) [][]porcupine.Operation {
	return groupByKey(ops, func(op porcupine.Operation) dht.Key { return op.Input.(RegisterInput).Key })
}

// partitionEventsByKey is partitionByKey for the event form of a history:
// a return event goes with the call event of the same Id.
func partitionEventsByKey(events []porcupine.Event) [][]porcupine.Event {
	keyOf := map[int]dht.Key{}
	for _, e := range events {
		if e.Kind == porcupine.CallEvent {
			keyOf[e.Id] = e.Value.(RegisterInput).Key
		}
	}
	return groupByKey(events, func(e porcupine.Event) dht.Key { return keyOf[e.Id] })
}

// describeRegisterOp prints an operation for the visualization, e.g.
// `cas(v3→v4 "x", 60s) → ok` or `read → v3 "x"`.
func describeRegisterOp(input, output any) string {
	in, out := input.(RegisterInput), output.(RegisterOutput)
	var call string
	switch in.Kind {
	case RegisterCAS:
		call = fmt.Sprintf("cas(v%d→%s, %ds)", in.Expected, dht.ShortValue([]byte(in.Value)), in.TTL)
	default:
		call = in.Kind.String()
	}
	var ans string
	switch out.Outcome {
	case OutcomeUnknown:
		ans = "? (unknown)"
	case OutcomeRefused:
		ans = "refused"
	default:
		v := dht.Versioned{Version: out.Version, Value: []byte(out.Value)}
		ans = v.String()
		if in.Kind == RegisterCAS {
			ans = dht.CASResult{OK: out.OK, Versioned: v}.String()
		}
	}
	return fmt.Sprintf("%s → %s", call, ans)
}

func secondsOf(ns int64) string {
	if ns == Infinity {
		return "∞"
	}
	return fmt.Sprintf("%.3fs", float64(ns)/1e9)
}

// describeRegisterState prints a register for the visualization, with the
// window in which the history allows it to expire.
func describeRegisterState(state any) string {
	s := state.(registerState)
	if s.Version == 0 {
		return "absent"
	}
	return fmt.Sprintf("%s, expires in [%s, %s]", dht.Versioned{Version: s.Version, Value: []byte(s.Value)}, secondsOf(s.ELo), secondsOf(s.EHi))
}

// opMetadata identifies an operation of a RegisterHistory in the
// visualization.
type opMetadata struct {
	Index  int
	Client int
}

func describeMetadata(info any) string {
	if md, ok := info.(opMetadata); ok {
		return fmt.Sprintf("op #%d of the history, client %d", md.Index, md.Client)
	}
	return ""
}

// RegisterModel is the deterministic porcupine model of the registers
// (CAS-11), partitioned by key. maxTTL is the TTL clamp in seconds (TTL-1),
// skew the bound S on expiry. It is exact for histories whose unknown
// outcomes return at Infinity, as Recorder and RegisterHistory make them;
// for unknown outcomes with a finite return use
// RegisterNondeterministicModel.
func RegisterModel(maxTTL int64, skew time.Duration) porcupine.Model {
	m := registerModel{maxTTL: maxTTL, skew: skew}
	return porcupine.Model{
		Partition:      partitionByKey,
		PartitionEvent: partitionEventsByKey,
		Init:           func() any { return registerState{} },
		Step: func(state, input, output any) (bool, any) {
			return m.stepDeterministic(state.(registerState), input.(RegisterInput), output.(RegisterOutput))
		},
		Equal:                     func(a, b any) bool { return a.(registerState) == b.(registerState) },
		Hash:                      func(s any) uint64 { return hashRegister(s.(registerState)) },
		DescribeOperation:         describeRegisterOp,
		DescribeState:             describeRegisterState,
		DescribeOperationMetadata: describeMetadata,
	}
}

// RegisterNondeterministicModel is the nondeterministic porcupine model of
// the registers (CAS-11), partitioned by key: an operation whose outcome is
// unknown may have taken effect or not, wherever it is placed. Use
// ToModel to check with it.
func RegisterNondeterministicModel(maxTTL int64, skew time.Duration) porcupine.NondeterministicModel {
	m := registerModel{maxTTL: maxTTL, skew: skew}
	return porcupine.NondeterministicModel{
		Partition:      partitionByKey,
		PartitionEvent: partitionEventsByKey,
		Init:           func() []any { return []any{registerState{}} },
		Step: func(state, input, output any) []any {
			next := m.step(state.(registerState), input.(RegisterInput), output.(RegisterOutput))
			out := make([]any, len(next))
			for i, s := range next {
				out[i] = s
			}
			return out
		},
		Equal:                     func(a, b any) bool { return a.(registerState) == b.(registerState) },
		Hash:                      func(s any) uint64 { return hashRegister(s.(registerState)) },
		DescribeOperation:         describeRegisterOp,
		DescribeState:             describeRegisterState,
		DescribeOperationMetadata: describeMetadata,
	}
}
