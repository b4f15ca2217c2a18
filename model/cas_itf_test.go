package model_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/model"
)

// This file replays the ITF traces that spec/run.sh (make spec) exports from
// spec/cas.qnt, the versioned registers of spec/SPEC.md section 11, against
// model/cas.go: the spec and the model must agree step by step on every
// answer and every register.

// casITFDir holds the traces; `make spec` regenerates them.
const casITFDir = "testdata/itf/cas"

// casITFMaxTTL is MAX_TTL of spec/cas.qnt. Change both together.
const casITFMaxTTL = 30

// casValueLen mirrors VALUE_LEN of spec/cas.qnt: value id -> length. Id 0
// is the empty value (a tombstone, CAS-6), ids 1 and 2 have the same
// length and different bytes, id 4 breaks LIM-2.
var casValueLen = []int{0, 16, 16, 1024, 1025}

// casValue is value id v: casValueLen[v] copies of the byte 'A'+v.
func casValue(v int64) []byte { return bytes.Repeat([]byte{byte('A' + v)}, casValueLen[v]) }

var casValueIDs = map[string]int64{}

func init() {
	for v := range casValueLen {
		casValueIDs[string(casValue(int64(v)))] = int64(v)
	}
}

// The spec's records, decoded from ITF. Field names follow the Quint types.

type casITFOp struct {
	Kind          string
	Key           int64
	Expected      uint64 // CAS-8 uses 2^64 - 1, beyond int64
	Vid, TTL, Now int64
}

type casITFResult struct {
	Err     string
	OK      bool
	Version uint64
	Vid     int64
}

type casITFReg struct {
	Version     uint64
	Vid, Expiry int64
}

type casITFNode struct {
	Now  int64
	Regs map[int64]casITFReg
}

type casITFState struct {
	Op     casITFOp
	Res    casITFResult
	Node   casITFNode
	Events []string
}

type casITFTrace struct {
	File   string
	States []casITFState
}

// itfUint decodes an ITF integer that may not fit an int64.
func itfUint(v any) uint64 {
	var s string
	switch x := v.(type) {
	case map[string]any:
		s, _ = x["#bigint"].(string)
	case json.Number:
		s = x.String()
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		itfFail("not an unsigned 64-bit integer: %v", v)
	}
	return n
}

func decodeCASNode(v any) casITFNode {
	r := itfRec(v, "now", "regs")
	n := casITFNode{Now: itfInt(r["now"]), Regs: map[int64]casITFReg{}}
	for _, kv := range itfMap(r["regs"]) {
		g := itfRec(kv[1], "version", "vid", "expiry")
		n.Regs[itfInt(kv[0])] = casITFReg{Version: itfUint(g["version"]), Vid: itfInt(g["vid"]), Expiry: itfInt(g["expiry"])}
	}
	return n
}

// loadCASITF reads one trace file.
func loadCASITF(path string) (casITFTrace, error) {
	tr := casITFTrace{File: path}
	err := readITF(path, func(s map[string]any, events []string) {
		o := itfRec(s["lastOp"], "kind", "key", "expected", "vid", "ttl", "now")
		r := itfRec(s["lastRes"], "err", "ok", "version", "vid")
		tr.States = append(tr.States, casITFState{
			Op: casITFOp{Kind: itfStr(o["kind"]), Key: itfInt(o["key"]), Expected: itfUint(o["expected"]),
				Vid: itfInt(o["vid"]), TTL: itfInt(o["ttl"]), Now: itfInt(o["now"])},
			Res:    casITFResult{Err: itfStr(r["err"]), OK: itfBool(r["ok"]), Version: itfUint(r["version"]), Vid: itfInt(r["vid"])},
			Node:   decodeCASNode(s["st"]),
			Events: events,
		})
	})
	if err != nil {
		return tr, err
	}
	if len(tr.States) == 0 || tr.States[0].Op.Kind != "init" {
		return tr, fmt.Errorf("%s: a trace must start with the initial state", path)
	}
	return tr, nil
}

func loadCASITFTraces(t *testing.T) []casITFTrace {
	return loadTraces(t, casITFDir, "spec/cas.qnt", loadCASITF)
}

// casErrNames are the spec's names of the validation errors (CAS-8).
var casErrNames = []struct {
	err  error
	name string
}{
	{dht.ErrValueTooLong, "value"},   // LIM-2
	{dht.ErrBadTTL, "ttl"},           // LIM-6
	{dht.ErrBadExpected, "expected"}, // CAS-8
}

func casErrName(err error) string {
	if err == nil {
		return ""
	}
	for _, e := range casErrNames {
		if errors.Is(err, e.err) {
			return e.name
		}
	}
	return err.Error()
}

func casVid(v []byte) (int64, error) {
	id, ok := casValueIDs[string(v)]
	if !ok {
		return 0, fmt.Errorf("a value that no op wrote (%d bytes)", len(v))
	}
	return id, nil
}

// casSummarize reduces the model's namespace to the spec's terms.
func casSummarize(s *model.Registers) (casITFNode, error) {
	n := casITFNode{Now: int64(s.Now), Regs: map[int64]casITFReg{}}
	for k, r := range s.Regs {
		var zero [dht.KeyLen - 1]byte
		if !bytes.Equal(k[:dht.KeyLen-1], zero[:]) {
			return n, fmt.Errorf("unknown key %v", k)
		}
		vid, err := casVid(r.Value)
		if err != nil {
			return n, err
		}
		n.Regs[int64(k[dht.KeyLen-1])] = casITFReg{Version: r.Version, Vid: vid, Expiry: int64(r.Expiry)}
	}
	return n, nil
}

// casStepModel runs one spec op through the model and reduces the answer
// to the spec's terms.
func casStepModel(s *model.Registers, o casITFOp) (casITFResult, error) {
	if o.Vid < 0 || o.Vid >= int64(len(casValueLen)) || o.Key < 0 || o.Key > 255 {
		return casITFResult{}, fmt.Errorf("op %+v is outside the abstract domains of this test", o)
	}
	now := dht.Time(o.Now)
	switch o.Kind {
	case "cas":
		res, err := s.CAS(dht.CAS{Key: itfKey(o.Key), Expected: o.Expected, Value: casValue(o.Vid), TTL: o.TTL}, now)
		if err != nil {
			return casITFResult{Err: casErrName(err)}, nil
		}
		vid, err := casVid(res.Value)
		return casITFResult{OK: res.OK, Version: res.Version, Vid: vid}, err
	case "read":
		v := s.Read(itfKey(o.Key), now)
		vid, err := casVid(v.Value)
		return casITFResult{Version: v.Version, Vid: vid}, err
	case "tick":
		s.Tick(now)
		return casITFResult{}, nil
	}
	return casITFResult{}, fmt.Errorf("unknown op kind %q", o.Kind)
}

// replayCASITF runs the trace's ops through fresh model registers with
// the max TTL maxTTL and returns the first step where the model disagrees
// with the spec, or breaks INV-6..INV-8 on its own state.
func replayCASITF(maxTTL int64, tr casITFTrace) error {
	s := model.NewRegisters(maxTTL)
	inv := newRegisterInvariants()
	for i, st := range tr.States {
		if i > 0 {
			before := s.Clone()
			res, err := casStepModel(s, st.Op)
			if err != nil {
				return fmt.Errorf("%s step %d: %+v: %w", tr.File, i, st.Op, err)
			}
			if res != st.Res {
				return fmt.Errorf("%s step %d: %+v\n  spec  answer %+v\n  model answer %+v", tr.File, i, st.Op, st.Res, res)
			}
			if err := inv.check(before, s, st.Op.Kind == "cas" && res.Err == "", itfKey(st.Op.Key), res.OK, res.Version, casValue(res.Vid)); err != nil {
				return fmt.Errorf("%s step %d: %+v: %w", tr.File, i, st.Op, err)
			}
		}
		n, err := casSummarize(s)
		if err != nil {
			return fmt.Errorf("%s step %d: %+v: %w", tr.File, i, st.Op, err)
		}
		if !reflect.DeepEqual(n, st.Node) {
			return fmt.Errorf("%s step %d: %+v\n  spec  state %+v\n  model state %+v", tr.File, i, st.Op, st.Node, n)
		}
	}
	return nil
}

// casITFRequired are the rule tags (events in spec/cas.qnt) the traces
// must exercise: creation, update and conflict (CAS-3), expiry, a cas on
// an expired register and recreation (CAS-4), ABA across an expiry and a
// write of the same value (CAS-5), tombstones written and read (CAS-6),
// reads (CAS-7), refused requests (CAS-8), the TTL clamp (TTL-1) and the
// clock running back (TTL-6, CAS-9).
var casITFRequired = []string{
	"CAS-3-create", "CAS-3-ok", "CAS-3-fail", "CAS-4", "CAS-4-fail-absent", "CAS-4-recreate",
	"CAS-5-aba", "CAS-5-same-value", "CAS-6", "CAS-6-read", "CAS-7", "CAS-8", "TTL-1", "TTL-6",
}

// TestCASITFTracesReplayAgainstModel replays every trace that spec/cas.qnt
// exported (spec/run.sh, `make spec`) through model.Registers and demands
// the same answer at every step: success or failure of a cas with the
// version and value it shows (CAS-2, CAS-3, CAS-5, CAS-10), reads
// (CAS-7), refused requests (CAS-8), and the registers after the step,
// with their expiries (CAS-4, CAS-6, TTL-1, TTL-2) and the clock (CAS-9,
// TTL-6). After each step it checks INV-6..INV-8 on the model's own
// state; the spec checked them on its side when it generated the traces.
// It fails, too, if the traces stop exercising the rules listed in
// casITFRequired.
func TestCASITFTracesReplayAgainstModel(t *testing.T) {
	events := map[string]int{}
	steps := 0
	for _, tr := range loadCASITFTraces(t) {
		if err := replayCASITF(casITFMaxTTL, tr); err != nil {
			t.Errorf("spec and model disagree (regenerate with `make spec` only if the spec changed on purpose):\n%v", err)
		}
		for _, st := range tr.States[1:] {
			steps++
			for _, e := range st.Events {
				events[e]++
			}
		}
	}
	var tags []string
	for e, n := range events {
		tags = append(tags, fmt.Sprintf("%s:%d", e, n))
	}
	sort.Strings(tags)
	t.Logf("coverage: %d steps; rule tags: %s", steps, strings.Join(tags, " "))
	for _, e := range casITFRequired {
		if events[e] == 0 {
			t.Errorf("no trace exercises %s: the replay checks too little; tune spec/cas.qnt or the seeds in spec/run.sh", e)
		}
	}
}

// TestCASITFReplayDetectsDisagreement is the negative control of
// TestCASITFTracesReplayAgainstModel: a model with another TTL clamp
// (TTL-1) must disagree with some trace, and so must a trace with one
// recorded answer (ok, version, value) or one register's expiry changed,
// at exactly that step.
func TestCASITFReplayDetectsDisagreement(t *testing.T) {
	trs := loadCASITFTraces(t)
	for _, maxTTL := range []int64{casITFMaxTTL - 1, casITFMaxTTL + 1} {
		caught := false
		for _, tr := range trs {
			if replayCASITF(maxTTL, tr) != nil {
				caught = true
				break
			}
		}
		if !caught {
			t.Errorf("a model with max TTL %d agrees with every trace: the replay cannot see TTL-1", maxTTL)
		}
	}
	flips := []itfFlip[casITFState]{
		{"ok", func(st *casITFState) bool {
			if st.Op.Kind != "cas" || st.Res.Err != "" {
				return false
			}
			st.Res.OK = !st.Res.OK
			return true
		}},
		{"version", func(st *casITFState) bool {
			if st.Op.Kind != "read" || st.Res.Version == 0 {
				return false
			}
			st.Res.Version++
			return true
		}},
		{"value", func(st *casITFState) bool {
			if st.Op.Kind != "cas" || !st.Res.OK || st.Res.Vid == 0 {
				return false
			}
			st.Res.Vid = 3 - st.Res.Vid%3 // another valid value id
			return true
		}},
		{"expiry", func(st *casITFState) bool {
			if st.Op.Kind != "cas" || !st.Res.OK {
				return false
			}
			regs := map[int64]casITFReg{}
			for k, r := range st.Node.Regs {
				regs[k] = r
			}
			r := regs[st.Op.Key]
			r.Expiry++
			regs[st.Op.Key] = r
			st.Node.Regs = regs
			return true
		}},
	}
	var traces [][]casITFState
	var files []string
	for _, tr := range trs {
		traces, files = append(traces, tr.States), append(files, tr.File)
	}
	flipsCaught(t, files, traces, flips, func(file string, states []casITFState) error {
		return replayCASITF(casITFMaxTTL, casITFTrace{File: file, States: states})
	})
}
