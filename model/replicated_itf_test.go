package model_test

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/model"
)

// This file replays the ITF traces that spec/run.sh (make spec) exports from
// spec/replicated.qnt, the mechanism of the replicated DHT (spec/SPEC.md
// section 13), against model/replicated.go, the model of what a client
// sees. The spec knows when each write took effect (the step at which a
// node first applied it, RD-3), so the replay applies the writes to the
// model's logical state in that order; at the step where a get returns,
// its answer must hold every item model.Must requires and only items
// model.May allows, at some instant between its call and its return (its
// linearization point: the state before the writes that took effect during
// the get, or after any prefix of them).

// repITFDir holds the traces; `make spec` regenerates them.
const repITFDir = "testdata/itf/replicated"

// repITFConfig holds the bounds of spec/replicated.qnt: S is SETTLE, L is
// LIFETIME, the TTL clamp MAX_TTL, and the changes RD-7 tolerates
// TOLERATED_CHANGES. Its node clocks are exact whole seconds, which the
// Δ of 1 s covers (a node reads an instant of the history's clock as its
// second). Change both together.
var repITFConfig = model.ReplicatedConfig{
	Delta:            time.Second,
	Settle:           4 * time.Second,
	RequestLifetime:  4 * time.Second,
	MaxTTL:           30,
	ToleratedChanges: 1,
}

// repItem is item x of key k of the spec: a removable put of the value
// "value x" with the secret "secret x" (PUT-1, PUT-2).
func repItem(k, x int64) dht.ItemID {
	return dht.ItemID{
		Key:        itfKey(k),
		SecretHash: dht.SHA1([]byte(fmt.Sprintf("secret %d", x))),
		ValueHash:  dht.SHA1([]byte(fmt.Sprintf("value %d", x))),
	}
}

// The spec's history, decoded from ITF. Instants are now * 1000 + step.

type repWrite struct {
	Kind              string // "put" or "rm"
	Key, Item, TTL    int64
	Call, Ret, Effect int64 // instants; -1: not answered, not applied
	Status            string
}

type repPage struct {
	Call, Ret int64
	Items     []int64
	Next      int64
}

type repGet struct {
	Key, MaxVals, Call, Ret int64
	Status                  string
	Pages                   []repPage
}

type repFault struct {
	Kind     string // "loss", "cut" or "crash"
	From, To int64  // To -1 while it lasts
}

type repState struct {
	Now, Clock int64
	Writes     map[int64]repWrite
	Gets       map[int64]repGet
	Faults     []repFault
	Events     []string
}

type repTrace struct {
	File   string
	States []repState
}

func decodeRepState(s map[string]any, events []string) repState {
	st := repState{
		Now: itfInt(s["now"]), Clock: itfInt(s["clock"]),
		Writes: map[int64]repWrite{}, Gets: map[int64]repGet{}, Events: events,
	}
	for _, kv := range itfMap(s["writes"]) {
		r := itfRec(kv[1], "kind", "key", "item", "ttl", "gw", "call", "ret", "status", "effect")
		st.Writes[itfInt(kv[0])] = repWrite{
			Kind: itfStr(r["kind"]), Key: itfInt(r["key"]), Item: itfInt(r["item"]), TTL: itfInt(r["ttl"]),
			Call: itfInt(r["call"]), Ret: itfInt(r["ret"]), Effect: itfInt(r["effect"]), Status: itfStr(r["status"]),
		}
	}
	for _, kv := range itfMap(s["gets"]) {
		r := itfRec(kv[1], "key", "maxvals", "call", "ret", "status", "pages")
		g := repGet{Key: itfInt(r["key"]), MaxVals: itfInt(r["maxvals"]), Call: itfInt(r["call"]), Ret: itfInt(r["ret"]), Status: itfStr(r["status"])}
		for _, p := range itfList(r["pages"]) {
			pr := itfRec(p, "call", "ret", "items", "next")
			page := repPage{Call: itfInt(pr["call"]), Ret: itfInt(pr["ret"]), Next: itfInt(pr["next"])}
			for _, x := range itfList(pr["items"]) {
				page.Items = append(page.Items, itfInt(x))
			}
			g.Pages = append(g.Pages, page)
		}
		st.Gets[itfInt(kv[0])] = g
	}
	for _, f := range itfList(s["faults"]) {
		r := itfRec(f, "kind", "from", "to")
		st.Faults = append(st.Faults, repFault{Kind: itfStr(r["kind"]), From: itfInt(r["from"]), To: itfInt(r["to"])})
	}
	return st
}

func loadRepITF(path string) (repTrace, error) {
	tr := repTrace{File: path}
	err := readITF(path, func(s map[string]any, events []string) {
		tr.States = append(tr.States, decodeRepState(s, events))
	})
	if err != nil {
		return tr, err
	}
	if len(tr.States) == 0 || tr.States[0].Clock != 0 || len(tr.States[0].Writes)+len(tr.States[0].Gets) != 0 {
		return tr, fmt.Errorf("%s: a trace must start with the initial state", path)
	}
	return tr, nil
}

func loadRepITFTraces(t *testing.T) []repTrace {
	return loadTraces(t, repITFDir, "spec/replicated.qnt", loadRepITF)
}

// repReplay is the replay of one trace: the times of its steps and what the
// whole history tells.
type repReplay struct {
	cfg model.ReplicatedConfig
	tr  repTrace
	// final is the last state: the history as a checker sees it in the end
	// (every write's answer and effect, every fault's end).
	final repState
	spans []model.Span
	// effects are the ids of the writes that took effect, by effect.
	effects []int64
	cov     *repCoverage
}

// ns is an instant of the spec in the history's clock: its second plus its
// step in milliseconds, so that the steps within a second keep their order.
func (r *repReplay) ns(t int64) int64 {
	if t < 0 {
		return math.MaxInt64
	}
	return (t/1000)*int64(time.Second) + (t%1000)*int64(time.Millisecond)
}

func (r *repReplay) write(id int64) model.Write {
	w := r.final.Writes[id]
	mw := model.Write{Kind: model.WritePut, ID: repItem(w.Key, w.Item), TTL: w.TTL, Call: r.ns(w.Call), Acked: w.Status == "ok"}
	if w.Kind == "rm" {
		mw.Kind = model.WriteRemove
	}
	if w.Ret >= 0 {
		mw.Return = r.ns(w.Ret)
	}
	return mw
}

func newRepReplay(cfg model.ReplicatedConfig, tr repTrace, cov *repCoverage) *repReplay {
	r := &repReplay{cfg: cfg, tr: tr, final: tr.States[len(tr.States)-1], cov: cov}
	for _, f := range r.final.Faults {
		// RD-7 tolerates a crash and restart of one node (a change of the
		// replica set); a loss or a cut link it does not (model.Span).
		r.spans = append(r.spans, model.Span{From: r.ns(f.From), To: r.ns(f.To), Change: f.Kind == "crash"})
	}
	for id, w := range r.final.Writes {
		if w.Effect >= 0 {
			r.effects = append(r.effects, id)
		}
	}
	slices.SortFunc(r.effects, func(a, b int64) int { return int(r.final.Writes[a].Effect - r.final.Writes[b].Effect) })
	return r
}

// checkInstant checks that an instant recorded in state i names a step
// at or before i whose second it gives.
func (r *repReplay) checkInstant(i int, what string, t int64) error {
	step := t % 1000
	if t < 0 || step > int64(i) || r.tr.States[step].Now != t/1000 {
		return fmt.Errorf("%s is instant %d, which no step up to %d has", what, t, i)
	}
	return nil
}

// step checks state i against state i-1: the history only grows, each
// answer and effect is recorded once, at the step it happened, and a write
// took effect within its call and its deadline (RD-3). Then it judges the
// gets that returned at step i.
func (r *repReplay) step(i int) error {
	prev, cur := r.tr.States[i-1], r.tr.States[i]
	if i >= 1000 {
		return fmt.Errorf("a trace of more than 999 steps: its instants (now * 1000 + step) are ambiguous")
	}
	if cur.Clock != int64(i) || cur.Now < prev.Now {
		return fmt.Errorf("state %d has clock %d and time %d after %d", i, cur.Clock, cur.Now, prev.Now)
	}
	for id, w := range cur.Writes {
		p, old := prev.Writes[id]
		switch {
		case !old:
			if w.Call%1000 != int64(i) || w.Status != "pending" {
				return fmt.Errorf("write #%d appears with call %d, status %s", id, w.Call, w.Status)
			}
		case p.Effect >= 0 && p.Effect != w.Effect:
			return fmt.Errorf("write #%d's effect changed: %+v, then %+v", id, p, w)
		case p.Status != "pending":
			// after its answer, only its effect may still come (RD-3)
			q := w
			q.Effect = p.Effect
			if p != q {
				return fmt.Errorf("write #%d changed after its answer: %+v, then %+v", id, p, w)
			}
		}
		if err := r.checkInstant(i, fmt.Sprintf("write #%d's call", id), w.Call); err != nil {
			return err
		}
		if w.Ret >= 0 && (!old || p.Ret < 0) && w.Ret%1000 != int64(i) {
			return fmt.Errorf("write #%d's answer is recorded at step %d with instant %d", id, i, w.Ret)
		}
		if w.Effect >= 0 && (!old || p.Effect < 0) {
			if w.Effect%1000 != int64(i) {
				return fmt.Errorf("write #%d's effect is recorded at step %d with instant %d", id, i, w.Effect)
			}
			// RD-3: it took effect after its call and by its deadline, as
			// the whole history tells it.
			mw := r.write(id)
			if e := r.ns(w.Effect); e < mw.Call || e > r.cfg.Deadline(mw) {
				return fmt.Errorf("RD-3: write #%d (%v, called %s, %s) took effect at %s, after its deadline %s",
					id, mw.Kind, model.Seconds(mw.Call), r.final.Writes[id].Status, model.Seconds(e), model.Seconds(r.cfg.Deadline(mw)))
			}
		}
	}
	for id := range prev.Writes {
		if _, ok := cur.Writes[id]; !ok {
			return fmt.Errorf("write #%d is gone from the history", id)
		}
	}
	for id, g := range cur.Gets {
		p, old := prev.Gets[id]
		switch {
		case !old:
			if g.Call%1000 != int64(i) {
				return fmt.Errorf("get #%d appears with call %d", id, g.Call)
			}
		case p.Status == "ok" || p.Status == "fail":
			if p.Status != g.Status || p.Ret != g.Ret || len(p.Pages) != len(g.Pages) {
				return fmt.Errorf("get #%d changed after its answer", id)
			}
			continue
		case len(g.Pages) < len(p.Pages):
			return fmt.Errorf("get #%d lost pages", id)
		}
		if g.Status == "ok" && (!old || p.Status != "ok") {
			if g.Ret%1000 != int64(i) {
				return fmt.Errorf("get #%d's answer is recorded at step %d with instant %d", id, i, g.Ret)
			}
			if err := r.judge(id, g); err != nil {
				return err
			}
		}
	}
	for id := range prev.Gets {
		if _, ok := cur.Gets[id]; !ok {
			return fmt.Errorf("get #%d is gone from the history", id)
		}
	}
	return nil
}

// applyAll applies write id to every state of states: the states the DHT
// may be in after it (model.Apply), without repeats.
func (r *repReplay) applyAll(states []model.Logical, id int64) []model.Logical {
	var out []model.Logical
	seen := map[string]bool{}
	for _, s := range states {
		for _, n := range r.cfg.Apply(s, r.write(id)) {
			if enc := n.Encode(); !seen[enc] {
				seen[enc] = true
				out = append(out, n)
			}
		}
	}
	return out
}

// verdict is why a get's answer fails at one state: the items it must
// return and lacks, the items it returned and may not; empty if it passes.
func (r *repReplay) verdict(s model.Logical, view model.GetView, got map[dht.ItemID]bool, name func(dht.ItemID) string) []string {
	var why []string
	for _, req := range r.cfg.Must(s, view) {
		if !got[req.ID] {
			why = append(why, fmt.Sprintf("%s: it must return %s", req.Rule, name(req.ID)))
		}
	}
	ids := make([]dht.ItemID, 0, len(got))
	for id := range got {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, dht.ItemID.Compare)
	for _, id := range ids {
		if ok, rule := r.cfg.May(s, view, id); !ok {
			why = append(why, fmt.Sprintf("%s: it may not return %s", rule, name(id)))
		}
	}
	return why
}

// points returns the states the DHT may be in at each instant a get may be
// linearized at: before the writes that took effect during it, and after
// each of them, in effect order.
func (r *repReplay) points(call, ret int64) [][]model.Logical {
	states := []model.Logical{{}}
	var out [][]model.Logical
	first := true
	for _, id := range r.effects {
		e := r.final.Writes[id].Effect
		if e > ret {
			break
		}
		if e > call && first {
			out, first = append(out, states), false
		}
		states = r.applyAll(states, id)
		if e > call {
			out = append(out, states)
		}
	}
	if first {
		out = append(out, states)
	}
	return out
}

// repName names an item for people, as the spec does, in a get of key k.
func repName(k int64) func(dht.ItemID) string {
	return func(it dht.ItemID) string {
		for x := int64(1); x < 10; x++ {
			if repItem(k, x) == it {
				return fmt.Sprintf("item %d", x)
			}
		}
		ik := int64(it.Key[dht.KeyLen-1])
		for x := int64(1); x < 10; x++ {
			if repItem(ik, x) == it {
				return fmt.Sprintf("item %d of key %d", x, ik)
			}
		}
		return fmt.Sprintf("item %x", it.ValueHash[:4])
	}
}

// view is a get as the model sees it: its first call, its last return and
// the annotations the trace's faults give it.
func (r *repReplay) view(g repGet) model.GetView {
	v := model.GetView{Key: itfKey(g.Key), Call: r.ns(g.Call), Return: r.ns(g.Ret)}
	v.Annotations = model.Annotate(r.spans, v.Call, v.Return, r.cfg)
	return v
}

// judge checks a get that completed against the model (RD-5..RD-9).
func (r *repReplay) judge(id int64, g repGet) error {
	name := repName(g.Key)
	var items []int64
	got := map[dht.ItemID]bool{}
	mark := int64(0)
	for n, p := range g.Pages {
		for _, x := range p.Items {
			if x <= mark {
				return fmt.Errorf("RD-9: get #%d's page %d returns item %d after placemark %d", id, n+1, x, mark)
			}
			mark = x
			it := repItem(g.Key, x)
			if got[it] {
				return fmt.Errorf("RD-9: get #%d returns item %d twice", id, x)
			}
			got[it] = true
			items = append(items, x)
		}
		if (p.Next != 0) != (n < len(g.Pages)-1) || (p.Next != 0 && (len(p.Items) == 0 || p.Next != p.Items[len(p.Items)-1])) {
			return fmt.Errorf("RD-9: get #%d's page %d returns placemark %d after items %v", id, n+1, p.Next, p.Items)
		}
		mark = p.Next
	}
	view := r.view(g)
	desc := fmt.Sprintf("get #%d of key %d (%s..%s, %d pages, maxvals %d) returned items %v", id, g.Key,
		model.Seconds(view.Call), model.Seconds(view.Return), len(g.Pages), g.MaxVals, items)
	pts := r.points(g.Call, g.Ret)
	for _, states := range pts {
		for _, s := range states {
			if len(r.verdict(s, view, got, name)) == 0 {
				r.cov.judged(r.cfg, s, view, len(g.Pages))
				return nil
			}
		}
	}
	last := pts[len(pts)-1]
	return fmt.Errorf("%s, which no linearization allows; where it returned (state %s): %s",
		desc, last[0].Describe(name), strings.Join(r.verdict(last[0], view, got, name), "; "))
}

// replayRep replays one trace; the error names the file and the step.
func replayRep(cfg model.ReplicatedConfig, tr repTrace, cov *repCoverage) error {
	if cov == nil {
		cov = &repCoverage{}
	}
	r := newRepReplay(cfg, tr, cov)
	for i := 1; i < len(tr.States); i++ {
		if err := r.step(i); err != nil {
			return fmt.Errorf("%s step %d: %w", tr.File, i, err)
		}
	}
	cov.trace(r)
	return nil
}

// repCoverage counts what the replay judged.
type repCoverage struct {
	gets, pagedGets  int
	must             map[string]int // items required, by rule
	forbidden        map[string]int // items of the key the model forbade, by rule
	quiet            int            // gets judged quiet (RD-8)
	acked, unknownIn int            // writes acknowledged; of unknown outcome that took effect
	faults           map[string]int
	events           map[string]int
	steps            int
}

func newRepCoverage() *repCoverage {
	return &repCoverage{must: map[string]int{}, forbidden: map[string]int{}, faults: map[string]int{}, events: map[string]int{}}
}

func (c *repCoverage) judged(cfg model.ReplicatedConfig, s model.Logical, view model.GetView, pages int) {
	if c.must == nil {
		return
	}
	c.gets++
	if pages > 1 {
		c.pagedGets++
	}
	if view.Quiet {
		c.quiet++
	}
	for _, req := range cfg.Must(s, view) {
		c.must[req.Rule]++
	}
	for _, e := range s.Entries() {
		if e.ID.Key != view.Key {
			continue
		}
		if ok, rule := cfg.May(s, view, e.ID); !ok {
			c.forbidden[rule]++
		}
	}
}

func (c *repCoverage) trace(r *repReplay) {
	if c.must == nil {
		return
	}
	for _, w := range r.final.Writes {
		switch {
		case w.Status == "ok":
			c.acked++
		case w.Effect >= 0:
			c.unknownIn++
		}
	}
	for _, f := range r.final.Faults {
		c.faults[f.Kind]++
	}
	for _, st := range r.tr.States[1:] {
		c.steps++
		for _, e := range st.Events {
			c.events[e]++
		}
	}
}

// repITFRequired are the tags (events of spec/replicated.qnt) the traces
// must exercise, or the replay would check little: acknowledged writes
// (RD-2), also at a node outside the replica set, writes that time out
// after they took effect and writes that take effect after their gateway
// answered (RD-3), duplicates (RD-4), puts meeting a tombstone (PUT-4) and
// removes (RM-2), copies that arrive expired (RD-6), expiry (TTL-3), pages
// answered without the root (RD-7), placemarks followed to a second page
// and answers cut short by the reply cap (RD-9, GET-3), anti-entropy
// copying items and tombstones (RD-8), crashes, cut links and lost and
// duplicated messages.
var repITFRequired = []string{
	"RD-2-ack", "RD-2-quorum-nonmember", "write-timeout-stored", "RD-3-after-answer", "RD-4-dup", "PUT-4", "RM-2",
	"RD-6-late", "TTL-3", "RD-7-without-root", "RD-9-page-2",
	"GET-3-short", "AE-item", "AE-tomb-removes", "crash", "cut", "loss", "dup",
}

// TestReplicatedITFTracesReplayAgainstModel replays every trace that
// spec/replicated.qnt exported (spec/run.sh, `make spec`) against the
// model of the replicated DHT. Each write the spec's mechanism applied at
// some node took effect then, within its call and deadline (RD-3); each
// get that completed, at the step it returned, must have returned every
// item model.Must requires (RD-7: acknowledged puts read through the
// quorum, with the faults of the trace as the annotations; RD-8: what a
// quiet period spread) and only items model.May allows (RD-5 no phantom,
// RD-6 expiry, RD-8 no resurrection after a settled rm), in item order
// across its pages with no item twice (RD-9). It fails, too, if the traces
// stop exercising what repITFRequired lists or the model's rules.
func TestReplicatedITFTracesReplayAgainstModel(t *testing.T) {
	if err := repITFConfig.Validate(); err != nil {
		t.Fatal(err)
	}
	cov := newRepCoverage()
	for _, tr := range loadRepITFTraces(t) {
		if err := replayRep(repITFConfig, tr, cov); err != nil {
			t.Errorf("spec and model disagree (regenerate with `make spec` only if the spec changed on purpose):\n%v", err)
		}
	}
	var tags []string
	for e, n := range cov.events {
		tags = append(tags, fmt.Sprintf("%s:%d", e, n))
	}
	sort.Strings(tags)
	t.Logf("coverage: %d steps; %d gets judged (%d paged, %d quiet); items required %v, forbidden %v; writes acknowledged %d, of unknown outcome that took effect %d; faults %v",
		cov.steps, cov.gets, cov.pagedGets, cov.quiet, cov.must, cov.forbidden, cov.acked, cov.unknownIn, cov.faults)
	t.Logf("tags: %s", strings.Join(tags, " "))
	for _, e := range repITFRequired {
		if cov.events[e] == 0 {
			t.Errorf("no trace exercises %s: the replay checks too little; tune spec/replicated.qnt or the seed in spec/run.sh", e)
		}
	}
	switch {
	case cov.must["RD-7"] == 0, cov.must["RD-8"] == 0:
		t.Errorf("no get was required to return an item by RD-7 and by RD-8: %v", cov.must)
	case cov.forbidden["RD-6"] == 0:
		t.Errorf("no get was forbidden an expired item (RD-6): %v", cov.forbidden)
	case cov.pagedGets == 0, cov.unknownIn == 0:
		t.Errorf("no paged get, or no write of unknown outcome that took effect: %+v", cov)
	}
}

// TestReplicatedITFReplayDetectsDisagreement is the negative control of
// TestReplicatedITFTracesReplayAgainstModel: a replay that cannot fail
// proves nothing. A model with a request lifetime L shorter than the
// spec's must disagree with some trace (RD-3), and a trace with one
// recorded get answer changed must fail the replay at that step: dropping
// an item that the model requires at every point the get may be
// linearized at (RD-7 or RD-8), and adding an item that was never put
// (RD-5). So must a write recorded as taking effect after its deadline
// (RD-3).
func TestReplicatedITFReplayDetectsDisagreement(t *testing.T) {
	trs := loadRepITFTraces(t)
	for _, tr := range trs {
		if err := replayRep(repITFConfig, tr, nil); err != nil {
			t.Skipf("the traces do not replay: %v", err)
		}
	}
	// RD-3: a model whose request lifetime L is the gateway's timeout
	// (WRITE_TIMEOUT of the spec, 2 s) must find a write of unknown outcome
	// that took effect after its gateway answered (the traces have such
	// writes: RD-3-after-answer is in repITFRequired).
	short := repITFConfig
	short.RequestLifetime = 2 * time.Second
	caught := false
	for _, tr := range trs {
		if err := replayRep(short, tr, nil); err != nil && strings.Contains(err.Error(), "RD-3") {
			caught = true
			t.Logf("a model with L = %v: %v", short.RequestLifetime, err)
			break
		}
	}
	if !caught {
		t.Errorf("a model with L = %v agrees with every trace: the replay cannot see RD-3's deadline", short.RequestLifetime)
	}
	// withGet returns a copy of tr in which get id at state i is g: the
	// states are shared but for that one.
	withGet := func(tr repTrace, i int, id int64, g repGet) repTrace {
		bad := repTrace{File: tr.File, States: slices.Clone(tr.States)}
		gets := make(map[int64]repGet, len(bad.States[i].Gets))
		for k, v := range bad.States[i].Gets {
			gets[k] = v
		}
		gets[id] = g
		bad.States[i].Gets = gets
		return bad
	}
	expect := func(what string, bad repTrace, i int, rule string) {
		t.Helper()
		err := replayRep(repITFConfig, bad, nil)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("step %d:", i)) || !strings.Contains(err.Error(), rule) {
			t.Errorf("%s at %s step %d: replay gave %v, want a %s failure at that step", what, bad.File, i, err, rule)
		} else {
			t.Logf("%s: %v", what, err)
		}
	}
	dropped, added := false, false
	for _, tr := range trs {
		r := newRepReplay(repITFConfig, tr, &repCoverage{})
		for i := 1; i < len(tr.States) && !(dropped && added); i++ {
			for id, g := range tr.States[i].Gets {
				if g.Status != "ok" || g.Ret%1000 != int64(i) {
					continue
				}
				if !added {
					// RD-5: item 9 of the key was never put.
					b := g
					b.Pages = slices.Clone(g.Pages)
					lastPage := b.Pages[len(b.Pages)-1]
					lastPage.Items = append(slices.Clone(lastPage.Items), 9)
					b.Pages[len(b.Pages)-1] = lastPage
					expect("a never-put item added", withGet(tr, i, id, b), i, "RD-5")
					added = true
				}
				if dropped {
					continue
				}
				// An item required at every point: dropping it must fail.
				view := r.view(g)
				req := map[dht.ItemID]string{}
				first := true
				for _, states := range r.points(g.Call, g.Ret) {
					for _, s := range states {
						now := map[dht.ItemID]string{}
						for _, m := range repITFConfig.Must(s, view) {
							if _, ok := req[m.ID]; ok || first {
								now[m.ID] = m.Rule
							}
						}
						req, first = now, false
					}
				}
				for pn, p := range g.Pages {
					for k, x := range p.Items {
						rule, ok := req[repItem(g.Key, x)]
						if !ok || dropped {
							continue
						}
						b := g
						b.Pages = slices.Clone(g.Pages)
						b.Pages[pn].Items = slices.Delete(slices.Clone(p.Items), k, k+1)
						if b.Pages[pn].Next != 0 { // keep the placemark the page's last item
							if len(b.Pages[pn].Items) == 0 {
								continue
							}
							b.Pages[pn].Next = b.Pages[pn].Items[len(b.Pages[pn].Items)-1]
						}
						expect("a required item dropped", withGet(tr, i, id, b), i, rule)
						dropped = true
					}
				}
			}
		}
	}
	if !added || !dropped {
		t.Errorf("no get to change: an item added %v, a required item dropped %v", added, dropped)
	}
	// RD-3: a write of unknown outcome recorded as taking effect more than
	// L after its call. A get between may fail first (it returned the
	// item before its put took effect): then the next write is tried.
	for _, tr := range trs {
		for i := 1; i < len(tr.States); i++ {
			for id, w := range tr.States[i].Writes {
				if tr.States[len(tr.States)-1].Writes[id].Status == "ok" || w.Effect < 0 || w.Effect%1000 != int64(i) {
					continue
				}
				j := i
				for j < len(tr.States) && tr.States[j].Now <= w.Call/1000+int64(repITFConfig.RequestLifetime/time.Second) {
					j++
				}
				if j == len(tr.States) {
					continue
				}
				bad := repTrace{File: tr.File, States: slices.Clone(tr.States)}
				for k := i; k < len(bad.States); k++ {
					ws := make(map[int64]repWrite, len(bad.States[k].Writes))
					for x, v := range bad.States[k].Writes {
						ws[x] = v
					}
					v := ws[id]
					v.Effect = -1
					if k >= j {
						v.Effect = tr.States[j].Now*1000 + int64(j)
					}
					ws[id] = v
					bad.States[k].Writes = ws
				}
				err := replayRep(repITFConfig, bad, nil)
				if err == nil {
					t.Errorf("write #%d of %s moved to take effect at step %d: the replay passes", id, tr.File, j)
					return
				}
				if strings.Contains(err.Error(), fmt.Sprintf("step %d:", j)) && strings.Contains(err.Error(), "RD-3") {
					t.Logf("an effect after the deadline: %v", err)
					return
				}
			}
		}
	}
	t.Errorf("no write of unknown outcome that took effect could be moved past its deadline")
}
