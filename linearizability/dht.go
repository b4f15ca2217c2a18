package linearizability

import (
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/model"
)

// This file judges a cluster history of puts, removes and gets against the
// model of the replicated DHT (model/replicated.go, spec/SPEC.md section
// 13). The model says, for a get and the logical state where the get is
// linearized, what it must and may return; porcupine searches for an order
// of the writes (and of their unknown outcomes) in which every get returns
// what it must and only what it may.
//
// The porcupine history. Keys are independent: each key is checked alone.
//
//   - A put or rm acknowledged with status 0 took effect at one instant
//     between its call and its return (RD-3): an operation over that
//     interval.
//   - A put or rm answered 1 or 2, or not answered, may have taken effect
//     at any instant up to its deadline (L after its call, RD-3) or never:
//     an operation over [call, deadline] whose step leaves the state as it
//     was, or as the write left it.
//   - A get is one operation from its call to its return; a paged get is
//     one get from its first page's call to its last page's return (RD-9),
//     its values the union of its pages. It changes nothing, and steps only
//     if model.Must's items are among its values and each value passes
//     model.May.
//
// Time. An instant of the history becomes 2t (a return) or 2t+1 (a call)
// in porcupine's clock, in nanoseconds since the history's first instant:
// an operation that returned at the instant another was called precedes
// it, as it did in a client that issued them one after the other.
//
// Details. porcupine tells only whether a key's history has a
// linearization. A second pass over the history (explainKey) names the
// gets that no linearization can explain, and why: it applies the same
// rules to the writes every linearization must place before or after the
// get, so what it finds porcupine must reject. A key porcupine rejects
// without such a get (a write of unknown outcome that one get shows took
// effect and a later quiet get misses, say) is reported as a whole.
//
// Against CheckEventual, the set checker kept as a second opinion: both
// judge phantoms (RD-5), expired values (RD-6), resurrection after a quiet
// settle time (RD-8) and acknowledged puts missing from final reads
// (RD-8), and agree there. Only CheckDHT judges: acknowledged puts missing
// from any stable get that is not a fast get (RD-7; a fast get, Event.Fast,
// is held to every other rule, RD-14) and from any quiet get (RD-8), writes of
// unknown outcome that a get showed took effect (RD-3, RD-8), an item
// twice in a paged get (RD-9), resurrection during a fault once the
// tombstone had settled before it, a put that met a live tombstone
// (PUT-4), and expiry from the put's call rather than its return (RD-6).
// Only CheckEventual judges: final reads the caller declares settled
// whatever the fault intervals say, and removed items after their
// tombstone's own TTL (it takes a settled remove to hold until a later
// put; CheckDHT trusts a tombstone for its own TTL only, not for RM-3's
// extension to the item's expiry).

// DHTConfig sets how CheckDHT judges a history.
type DHTConfig struct {
	// Model holds the bounds of section 13: Δ, S, L, the TTL clamp and the
	// changes of replica sets RD-7 tolerates.
	Model model.ReplicatedConfig
	// Timeout bounds porcupine's search for each key (0:
	// DefaultDHTTimeout). A key whose search runs out is undecided.
	Timeout time.Duration
	// Changes are the faults that are one change of the replica sets each
	// (one node joined, left, crashed or restarted), which RD-7 tolerates
	// up to Model.ToleratedChanges times between a put's call and a get's
	// return. They are faults like the others for RD-8: list them here and
	// not among the faults given to CheckDHT.
	Changes []Interval
	// VisualizePath, if set, is where porcupine's HTML visualization of the
	// whole history goes (every key, with the faults and the violations
	// as annotations).
	VisualizePath string
}

// DefaultDHTTimeout is how long porcupine may search one key's history.
const DefaultDHTTimeout = 30 * time.Second

// DefaultDHTConfig judges with the bounds of model.DefaultReplicatedConfig.
func DefaultDHTConfig() DHTConfig {
	return DHTConfig{Model: model.DefaultReplicatedConfig(), Timeout: DefaultDHTTimeout}
}

// DHTViolation is one get, or one key, that breaks a rule of section 13.
type DHTViolation struct {
	// Rule is the rule broken: RD-5 (phantom), RD-6 (expired), RD-7
	// (acknowledged put missed by a stable get), RD-8 (item missed by a
	// quiet get, or resurrected), RD-9 (an item twice in a paged get), or
	// RD-3 when porcupine finds no order of the key's writes that explains
	// its gets together while no single get is wrong on its own.
	Rule string
	Key  dht.Key
	// Event is the index in the history of the get (-1 for RD-3).
	Event  int
	Detail string
}

func (v DHTViolation) String() string { return v.Rule + ": " + v.Detail }

// DHTResult is the judgment of a history.
type DHTResult struct {
	// Verdict is VerdictIllegal if there is a violation, else
	// VerdictUnknown if some key is undecided, else VerdictOK.
	Verdict Verdict
	// Ops counts the operations given to porcupine (Gets + Writes); Keys
	// the keys.
	Ops, Gets, Writes, Keys int
	// Undecided are the keys whose search ran out of time. The violations
	// of such a key that the second pass finds are reported all the same.
	Undecided []dht.Key
	// Violations are in history order.
	Violations []DHTViolation
}

// AsViolations returns the violations in the form CheckEventual gives
// them, the rule as the property.
func (r DHTResult) AsViolations() []Violation {
	out := make([]Violation, len(r.Violations))
	for i, v := range r.Violations {
		out[i] = Violation{Property: v.Rule, Detail: v.Detail}
	}
	return out
}

// dhtInput is an operation of a porcupine history of the DHT.
type dhtInput struct {
	Event  int // index in the History
	Client int
	IsGet  bool
	Write  model.Write   // puts and removes
	Status string        // puts and removes: "ok", "unknown", or the status
	Get    model.GetView // gets
}

// dhtOutput is a get's answer: the distinct items it returned, in ItemID
// order. Writes have none.
type dhtOutput struct {
	Items []dht.ItemID
}

// dhtState is the logical state of one key with its canonical encoding,
// by which porcupine compares and hashes states.
type dhtState struct {
	s   model.Logical
	enc string
}

func newDHTState(s model.Logical) dhtState { return dhtState{s, s.Encode()} }

// getAllowed reports whether a get may answer items where the state is s:
// it returns every item model.Must requires and only items model.May
// allows.
func getAllowed(c model.ReplicatedConfig, s model.Logical, g model.GetView, items []dht.ItemID) bool {
	for _, r := range c.Must(s, g) {
		if _, found := slices.BinarySearchFunc(items, r.ID, dht.ItemID.Compare); !found {
			return false
		}
	}
	for _, id := range items {
		if ok, _ := c.May(s, g, id); !ok {
			return false
		}
	}
	return true
}

// dhtStep is the nondeterministic step: every state the operation may
// leave (none if it cannot be placed here).
func dhtStep(c model.ReplicatedConfig, state dhtState, in dhtInput, out dhtOutput) []dhtState {
	if in.IsGet {
		if getAllowed(c, state.s, in.Get, out.Items) {
			return []dhtState{state}
		}
		return nil
	}
	var next []dhtState
	if !in.Write.Acked {
		next = append(next, state) // it never took effect (RD-3)
	}
	for _, s := range c.Apply(state.s, in.Write) {
		next = append(next, newDHTState(s))
	}
	return next
}

func inputKey(in dhtInput) dht.Key {
	if in.IsGet {
		return in.Get.Key
	}
	return in.Write.ID.Key
}

// DHTModel is the porcupine model of the replicated DHT, partitioned by
// key, for histories built as CheckDHT builds them (see the top of this
// file). name prints an item in visualizations (nil: its value hash).
func DHTModel(c model.ReplicatedConfig, name func(dht.ItemID) string) porcupine.NondeterministicModel {
	if name == nil {
		name = func(id dht.ItemID) string { return fmt.Sprintf("%x", id.ValueHash[:4]) }
	}
	return porcupine.NondeterministicModel{
		Partition: func(ops []porcupine.Operation) [][]porcupine.Operation {
			return groupByKey(ops, func(op porcupine.Operation) dht.Key { return inputKey(op.Input.(dhtInput)) })
		},
		PartitionEvent: func(events []porcupine.Event) [][]porcupine.Event {
			keyOf := map[int]dht.Key{}
			for _, e := range events {
				if e.Kind == porcupine.CallEvent {
					keyOf[e.Id] = inputKey(e.Value.(dhtInput))
				}
			}
			return groupByKey(events, func(e porcupine.Event) dht.Key { return keyOf[e.Id] })
		},
		Init: func() []any { return []any{newDHTState(model.Logical{})} },
		Step: func(state, input, output any) []any {
			var out dhtOutput
			if output != nil {
				out = output.(dhtOutput)
			}
			next := dhtStep(c, state.(dhtState), input.(dhtInput), out)
			states := make([]any, len(next))
			for i, s := range next {
				states[i] = s
			}
			return states
		},
		Equal: func(a, b any) bool { return a.(dhtState).enc == b.(dhtState).enc },
		Hash: func(s any) uint64 {
			h := fnv.New64a()
			h.Write([]byte(s.(dhtState).enc))
			return h.Sum64()
		},
		DescribeOperation: func(input, output any) string {
			in := input.(dhtInput)
			if !in.IsGet {
				return fmt.Sprintf("%v %s (ttl %ds) → %s", in.Write.Kind, name(in.Write.ID), in.Write.TTL, in.Status)
			}
			var vals []string
			if output != nil {
				for _, id := range output.(dhtOutput).Items {
					vals = append(vals, name(id))
				}
			}
			kind := "get"
			if in.Get.Fast {
				kind = "fast get"
			}
			return fmt.Sprintf("%s → {%s}", kind, strings.Join(vals, ", "))
		},
		DescribeState:             func(s any) string { return s.(dhtState).s.Describe(name) },
		DescribeOperationMetadata: describeMetadata,
	}
}

// keyHistory is the part of a history about one key.
type keyHistory struct {
	key    dht.Key
	writes []writeOp
	gets   []getOp
	ops    []porcupine.Operation
}

type writeOp struct {
	event int
	w     model.Write
}

type getOp struct {
	event  int
	client int
	view   model.GetView
	items  []dht.ItemID // distinct, in ItemID order
}

// dhtHistory is a History turned into the model's terms.
type dhtHistory struct {
	base  time.Time
	keys  []*keyHistory
	names map[dht.ItemID]string
	dups  []DHTViolation // RD-9
	spans []model.Span
}

// ns turns an instant of the history into nanoseconds since its base.
func (d *dhtHistory) ns(t time.Time) int64 { return int64(t.Sub(d.base)) }

func (d *dhtHistory) name(id dht.ItemID) string {
	if n, ok := d.names[id]; ok {
		return n
	}
	return fmt.Sprintf("item %x", id.ValueHash[:4])
}

// seconds prints an instant of the history as seconds since its start.
func seconds(ns int64) string { return model.Seconds(ns) }

func callTS(ns int64) int64 { return 2*ns + 1 }
func retTS(ns int64) int64  { return 2 * ns }

// buildDHT validates a history and turns it into one porcupine history per
// key. Gets without an answer (Unknown, or no return) are left out; writes
// without a return are of unknown outcome.
func buildDHT(h History, faults, changes []Interval, c model.ReplicatedConfig) (*dhtHistory, error) {
	d := &dhtHistory{names: map[dht.ItemID]string{}}
	first := true
	for _, e := range h {
		if first || e.Call.Before(d.base) {
			d.base, first = e.Call, false
		}
	}
	all := slices.Concat(faults, changes)
	for _, f := range all {
		if first || f.From.Before(d.base) {
			d.base, first = f.From, false
		}
	}
	for i, f := range all {
		if f.To.Before(f.From) {
			return nil, fmt.Errorf("linearizability: a fault ends (%v) before it begins (%v)", f.To, f.From)
		}
		d.spans = append(d.spans, model.Span{From: d.ns(f.From), To: d.ns(f.To), Change: i >= len(faults)})
	}
	byKey := map[dht.Key]*keyHistory{}
	keyOf := func(k dht.Key) *keyHistory {
		kh := byKey[k]
		if kh == nil {
			kh = &keyHistory{key: k}
			byKey[k] = kh
			d.keys = append(d.keys, kh)
		}
		return kh
	}
	for i, e := range h {
		answered := !e.Return.IsZero() && !e.Unknown
		if !e.Return.IsZero() && e.Return.Before(e.Call) {
			return nil, fmt.Errorf("linearizability: event %d returns (%v) before its call (%v)", i, e.Return, e.Call)
		}
		switch e.Kind {
		case OpPut, OpRemove:
			w := model.Write{
				Kind:  model.WritePut,
				ID:    dht.ItemID{Key: e.Key, SecretHash: e.SecretHash, ValueHash: dht.SHA1(e.Value)},
				TTL:   e.TTL,
				Call:  d.ns(e.Call),
				Acked: answered && e.Status == dht.StatusOK,
			}
			if e.Kind == OpRemove {
				w.Kind = model.WriteRemove
			} else {
				d.authenticated(&w, e)
			}
			if !e.Return.IsZero() {
				w.Return = d.ns(e.Return)
			}
			d.nameItem(w.ID, e.Value)
			kh := keyOf(e.Key)
			kh.writes = append(kh.writes, writeOp{i, w})
		case OpGet:
			if !answered {
				continue // no answer: nothing to judge
			}
			g := getOp{event: i, client: e.Client, view: model.GetView{Key: e.Key, Call: d.ns(e.Call), Return: d.ns(e.Return), Fast: e.Fast}}
			g.view.Annotations = model.Annotate(d.spans, g.view.Call, g.view.Return, c)
			seen := map[dht.ItemID]bool{}
			for _, v := range e.Values {
				id := dht.ItemID{Key: e.Key, SecretHash: v.SecretHash, ValueHash: dht.SHA1(v.Value)}
				d.nameItem(id, v.Value)
				if err := (dht.Put{Key: e.Key, Value: v.Value, SecretHash: v.SecretHash}).Authenticate(); err != nil && !seen[id] {
					rule := "SG-5"
					if v.SecretHash != dht.TagSigned {
						rule = "IM-3"
					}
					d.dups = append(d.dups, DHTViolation{Rule: rule, Key: e.Key, Event: i,
						Detail: fmt.Sprintf("%s returned %s, an authenticated item that does not verify: %v", d.describeGet(g), d.name(id), err)})
				}
				if seen[id] {
					d.dups = append(d.dups, DHTViolation{Rule: "RD-9", Key: e.Key, Event: i,
						Detail: fmt.Sprintf("%s returned %s twice", d.describeGet(g), d.name(id))})
					continue
				}
				seen[id] = true
				g.items = append(g.items, id)
			}
			slices.SortFunc(g.items, dht.ItemID.Compare)
			kh := keyOf(e.Key)
			kh.gets = append(kh.gets, g)
		default:
			return nil, fmt.Errorf("linearizability: event %d has unknown kind %d", i, e.Kind)
		}
	}
	d.buildOps(h, c)
	return d, nil
}

// authenticated fills in what the model needs of an authenticated put
// (section 18): a put that does not verify is refused by every node
// (IM-3, SG-5); a signed record has a rank and a signed expiry (SG-6,
// SG-8).
func (d *dhtHistory) authenticated(w *model.Write, e Event) {
	p := dht.Put{Key: e.Key, Value: e.Value, SecretHash: e.SecretHash}
	if p.Authenticate() != nil {
		w.Refused = true
		return
	}
	if e.SecretHash != dht.TagSigned {
		return
	}
	r, err := dht.DecodeRecord(e.Value)
	if err != nil {
		w.Refused = true
		return
	}
	w.Signed, w.Seq, w.Expires = true, r.Seq, d.ns(time.Unix(int64(r.Expires), 0))
}

// nameItem remembers how to print an item: its value, and the start of
// its secret hash if it is removable.
func (d *dhtHistory) nameItem(id dht.ItemID, value []byte) {
	if _, ok := d.names[id]; ok {
		return
	}
	n := dht.ShortValue(value)
	if r, err := dht.DecodeRecord(value); err == nil && id.SecretHash == dht.TagSigned {
		n = fmt.Sprintf("record seq %d %s", r.Seq, dht.ShortValue(r.Value))
	}
	if !id.SecretHash.IsZero() {
		n += fmt.Sprintf("·%x", id.SecretHash[:2])
	}
	d.names[id] = n
}

func (d *dhtHistory) describeGet(g getOp) string {
	kind := "get"
	if g.view.Fast {
		kind = "fast get"
	}
	return fmt.Sprintf("%s #%d (client %d, %s..%s)", kind, g.event, g.client, seconds(g.view.Call), seconds(g.view.Return))
}

func (d *dhtHistory) describeWrite(w writeOp, c model.ReplicatedConfig) string {
	out := "acknowledged"
	if !w.w.Acked {
		out = "unknown outcome"
	}
	return fmt.Sprintf("%v #%d of %s (%s..%s, ttl %ds, %s)", w.w.Kind, w.event, d.name(w.w.ID), seconds(w.w.Call), seconds(c.Deadline(w.w)), w.w.TTL, out)
}

// buildOps makes the porcupine operations of every key. Clients become
// lanes of the visualization: an operation goes to its client's lane
// unless an earlier one of the client still overlaps it there (a write of
// unknown outcome spans its whole deadline), then to a spare lane.
func (d *dhtHistory) buildOps(h History, c model.ReplicatedConfig) {
	type pending struct {
		kh  *keyHistory
		op  porcupine.Operation
		cli int
	}
	var all []pending
	for _, kh := range d.keys {
		for _, w := range kh.writes {
			e := h[w.event]
			status := "ok"
			switch {
			case e.Unknown || e.Return.IsZero():
				status = "? (no answer)"
			case e.Status != dht.StatusOK:
				status = e.Status.String()
			}
			call := callTS(w.w.Call)
			all = append(all, pending{kh, porcupine.Operation{
				Input:    dhtInput{Event: w.event, Client: e.Client, Write: w.w, Status: status},
				Call:     call,
				Return:   max(retTS(c.Deadline(w.w)), call),
				Metadata: opMetadata{Index: w.event, Client: e.Client},
			}, e.Client})
		}
		for _, g := range kh.gets {
			call := callTS(g.view.Call)
			all = append(all, pending{kh, porcupine.Operation{
				Input:    dhtInput{Event: g.event, Client: g.client, IsGet: true, Get: g.view},
				Output:   dhtOutput{Items: g.items},
				Call:     call,
				Return:   max(retTS(g.view.Return), call),
				Metadata: opMetadata{Index: g.event, Client: g.client},
			}, g.client})
		}
	}
	slices.SortStableFunc(all, func(a, b pending) int { return cmp.Compare(a.op.Call, b.op.Call) })
	own := map[int]int{} // client -> its lane
	var spare []int      // lanes of no client
	var ends []int64     // lane -> return of its last operation
	for i := range all {
		p := &all[i]
		lane, ok := own[p.cli]
		if !ok {
			lane = len(ends)
			own[p.cli] = lane
			ends = append(ends, math.MinInt64)
		}
		if ends[lane] > p.op.Call {
			lane = -1
			for _, l := range spare {
				if ends[l] <= p.op.Call {
					lane = l
					break
				}
			}
			if lane < 0 {
				lane = len(ends)
				ends = append(ends, math.MinInt64)
				spare = append(spare, lane)
			}
		}
		ends[lane] = p.op.Return
		p.op.ClientId = lane
		p.kh.ops = append(p.kh.ops, p.op)
	}
}

// subSat is a − b for b ≥ 0 that leaves math.MinInt64 (none) as it is.
func subSat(a, b int64) int64 {
	if a < math.MinInt64+b {
		return math.MinInt64
	}
	return a - b
}

// CheckDHT judges a history of puts, removes and gets recorded from a
// cluster against the model of the replicated DHT (spec/SPEC.md section
// 13). faults are the intervals when the cluster was not quiet (loss,
// partition, a node down, a join or departure), except those that are
// single changes of the replica sets, which go in cfg.Changes; the
// annotations of every get (model.Annotate) come from both. The error is
// for a history that cannot be judged, a visualization that cannot be
// written, and a disagreement between the checker's two passes (a bug of
// the checker); the result is filled in all the same.
func CheckDHT(h History, faults []Interval, cfg DHTConfig) (DHTResult, error) {
	c := cfg.Model
	if err := c.Validate(); err != nil {
		return DHTResult{}, err
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultDHTTimeout
	}
	d, err := buildDHT(h, faults, cfg.Changes, c)
	if err != nil {
		return DHTResult{}, err
	}
	res := DHTResult{Keys: len(d.keys)}
	for _, kh := range d.keys {
		res.Gets += len(kh.gets)
		res.Writes += len(kh.writes)
	}
	res.Ops = res.Gets + res.Writes
	m := DHTModel(c, d.name)
	pm := m.ToModel()

	type keyResult struct {
		result porcupine.CheckResult
		info   porcupine.LinearizationInfo
	}
	results := make([]keyResult, len(d.keys))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, kh := range d.keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			r, info := porcupine.CheckOperationsVerbose(pm, kh.ops, timeout)
			results[i] = keyResult{r, info}
		}()
	}
	wg.Wait()

	var errs []error
	res.Violations = append(res.Violations, d.dups...)
	for i, kh := range d.keys {
		found := explainKey(c, d, kh)
		res.Violations = append(res.Violations, found...)
		switch results[i].result {
		case porcupine.Ok:
			if len(found) > 0 {
				errs = append(errs, fmt.Errorf("linearizability: internal disagreement on key %x: porcupine linearizes what the second pass rejects (%v)", kh.key[:4], found[0]))
			}
		case porcupine.Illegal:
			if len(found) == 0 {
				res.Violations = append(res.Violations, DHTViolation{Rule: "RD-3", Key: kh.key, Event: -1, Detail: unexplained(d, kh, results[i].info)})
			}
		default:
			res.Undecided = append(res.Undecided, kh.key)
		}
	}
	slices.SortStableFunc(res.Violations, func(a, b DHTViolation) int { return cmp.Compare(int64(a.Event), int64(b.Event)) })
	switch {
	case len(res.Violations) > 0:
		res.Verdict = VerdictIllegal
	case len(res.Undecided) > 0:
		res.Verdict = VerdictUnknown
	default:
		res.Verdict = VerdictOK
	}
	if cfg.VisualizePath != "" {
		if err := d.visualize(pm, res, timeout, cfg.VisualizePath); err != nil {
			errs = append(errs, err)
		}
	}
	return res, errors.Join(errs...)
}

// unexplained describes a key porcupine rejects although each get alone
// could be explained: where the longest order porcupine found stops.
func unexplained(d *dhtHistory, kh *keyHistory, info porcupine.LinearizationInfo) string {
	placed := map[int]bool{}
	longest := 0
	for _, part := range info.PartialLinearizationsOperations() {
		for _, lin := range part {
			if len(lin) <= longest {
				continue
			}
			longest = len(lin)
			clear(placed)
			for _, op := range lin {
				placed[op.Metadata.(opMetadata).Index] = true
			}
		}
	}
	stuck := ""
	for _, g := range kh.gets { // the first get the longest order leaves out
		if !placed[g.event] {
			stuck = "; the longest order porcupine found leaves out " + d.describeGet(g) + " and what follows"
			break
		}
	}
	return fmt.Sprintf("no order of the %d writes of key %x explains its %d gets together, although each get alone is explained (typically: a write of unknown outcome that one get shows took effect and a later quiet get misses, RD-8)%s",
		len(kh.writes), kh.key[:4], len(kh.gets), stuck)
}

// explainKey names the gets of one key that no linearization explains:
// it asks the rules of model.Must and model.May of the writes that every
// linearization places before the get (acknowledged writes that returned
// before its call) and of those that none places before it (writes called
// after its return). Whatever it reports, porcupine rejects.
func explainKey(c model.ReplicatedConfig, d *dhtHistory, kh *keyHistory) []DHTViolation {
	delta, settle := int64(c.Delta), int64(c.Settle)
	var out []DHTViolation
	report := func(g getOp, rule, format string, args ...any) {
		out = append(out, DHTViolation{Rule: rule, Key: kh.key, Event: g.event, Detail: d.describeGet(g) + " " + fmt.Sprintf(format, args...)})
	}
	for _, g := range kh.gets {
		v := g.view
		returned := map[dht.ItemID]bool{}
		for _, id := range g.items {
			returned[id] = true
		}
		// What it may return.
		for _, id := range g.items {
			var puts []writeOp
			for _, w := range kh.writes {
				if w.w.Kind == model.WritePut && w.w.ID == id && w.w.Call < v.Return && !w.w.Refused {
					puts = append(puts, w)
				}
			}
			if len(puts) == 0 {
				report(g, "RD-5", "returned %s, which no put called before the get returned stored (a phantom)", d.name(id))
				continue
			}
			latest := int64(math.MinInt64)
			for _, p := range puts {
				latest = max(latest, c.ExpiryHi(p.w))
			}
			if v.Call > latest+delta {
				report(g, "RD-6", "returned %s, expired: every put of it expires by %s at any node's clock, more than Δ before the get was called", d.name(id), seconds(latest))
				continue
			}
			if h, ok := settledSuperseder(c, kh, puts[0].w, subSat(v.SettledBefore, settle)); ok {
				report(g, "SG-6", "returned %s, superseded: %s outranks it, lives at least as long, and settled (the cluster was quiet from %s to %s)",
					d.name(id), d.describeWrite(h, c), seconds(subSat(v.SettledBefore, settle)), seconds(v.SettledBefore))
				continue
			}
			for _, m := range kh.writes {
				if m.w.Kind != model.WriteRemove || m.w.ID != id || !m.w.Acked {
					continue
				}
				if m.w.Return > subSat(v.SettledBefore, settle) || c.ExpiryLo(m.w) <= v.Return+delta {
					continue
				}
				escape := slices.ContainsFunc(puts, func(p writeOp) bool { return c.Deadline(p.w)+delta >= c.ExpiryLo(m.w) })
				if !escape {
					report(g, "RD-8", "returned %s, resurrected: %s settled (the cluster was quiet from %s to %s) and its tombstone lives until after the get",
						d.name(id), d.describeWrite(m, c), seconds(subSat(v.SettledBefore, settle)), seconds(v.SettledBefore))
					break
				}
			}
		}
		// What it must return.
		for _, w := range kh.writes {
			if w.w.Kind != model.WritePut || !w.w.Acked || w.w.Refused || returned[w.w.ID] || c.ExpiryLo(w.w) <= v.Return+delta {
				continue
			}
			if mayBeSuperseded(c, kh, w.w, v.Return) {
				continue // SG-6: a higher record may have deleted it
			}
			removing := slices.ContainsFunc(kh.writes, func(m writeOp) bool {
				return m.w.Kind == model.WriteRemove && m.w.ID == w.w.ID && m.w.Call < v.Return
			})
			if removing {
				continue
			}
			switch {
			case !v.Fast && w.w.Return <= v.Call && w.w.Call >= v.StableSince: // a fast get keeps no RD-7 (RD-14)
				report(g, "RD-7", "misses %s: %s returned before the get was called, with no fault since its call", d.name(w.w.ID), d.describeWrite(w, c))
			case v.Quiet && w.w.Return <= v.Call-settle:
				report(g, "RD-8", "misses %s: %s returned S before the get was called and the cluster was quiet since", d.name(w.w.ID), d.describeWrite(w, c))
			default:
				continue
			}
			returned[w.w.ID] = true // once per item
		}
	}
	return out
}

// settledSuperseder finds an acknowledged signed put that returned by
// settled and certainly supersedes the record of l (SG-6): every
// linearization places it before the get, and the model's May forbids
// the record from then on.
func settledSuperseder(c model.ReplicatedConfig, kh *keyHistory, l model.Write, settled int64) (writeOp, bool) {
	for _, h := range kh.writes {
		if h.w.Kind == model.WritePut && h.w.Signed && l.Signed && !h.w.Refused && h.w.Acked && h.w.Return <= settled &&
			model.Outranks(h.w.Seq, h.w.ID, l.Seq, l.ID) && c.ExactExpiry(h.w) && h.w.Expires >= l.Expires {
			return h, true
		}
	}
	return writeOp{}, false
}

// mayBeSuperseded reports whether a signed put called before ret may
// supersede the record of l (SG-6), so that a get need not return it.
func mayBeSuperseded(c model.ReplicatedConfig, kh *keyHistory, l model.Write, ret int64) bool {
	if !l.Signed {
		return false
	}
	return slices.ContainsFunc(kh.writes, func(h writeOp) bool {
		return h.w.Kind == model.WritePut && h.w.Signed && !h.w.Refused && h.w.Call < ret && h.w.ID != l.ID &&
			model.Outranks(h.w.Seq, h.w.ID, l.Seq, l.ID) && c.ExpiryHi(h.w) >= c.ExpiryLo(l)
	})
}

// visualize writes porcupine's visualization of every key, with the
// faults and the violations as annotations.
func (d *dhtHistory) visualize(m porcupine.Model, res DHTResult, timeout time.Duration, path string) error {
	var ops []porcupine.Operation
	for _, kh := range d.keys {
		ops = append(ops, kh.ops...)
	}
	_, info := porcupine.CheckOperationsVerbose(m, ops, timeout)
	var notes []porcupine.Annotation
	for _, f := range d.spans {
		desc, color := "fault", "#f7c6c7"
		if f.Change {
			desc, color = "change", "#d9ead3"
		}
		notes = append(notes, porcupine.Annotation{
			Tag: "faults", Start: retTS(f.From), End: retTS(f.To),
			Description:     desc,
			Details:         fmt.Sprintf("%s from %s to %s", desc, seconds(f.From), seconds(f.To)),
			BackgroundColor: color,
		})
	}
	for _, v := range res.Violations {
		var at int64
		for _, kh := range d.keys {
			for _, op := range kh.ops {
				if op.Metadata.(opMetadata).Index == v.Event {
					at = op.Return
				}
			}
		}
		notes = append(notes, porcupine.Annotation{
			Tag: "violations", Start: at, End: at,
			Description: v.Rule, Details: v.Detail, BackgroundColor: "#ffd966",
		})
	}
	info.AddAnnotations(notes)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := porcupine.VisualizePath(m, info, path); err != nil {
		return fmt.Errorf("linearizability: writing the visualization: %w", err)
	}
	return nil
}
