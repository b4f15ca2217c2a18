package model_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/model"
)

// This file replays the ITF traces that spec/run.sh (make spec) exports from
// the Quint spec spec/opendht.qnt against the Go model: the spec and the
// model must agree step by step on every completion, get reply and state.

// itfDir holds the traces; `make spec` regenerates them.
const itfDir = "testdata/itf"

// itfConfig is the node of spec/opendht.qnt: CAPACITY, MAX_TTL,
// QUEUE_LIMIT, QUEUE_TIMEOUT and REPLY_CAP there. Change both together.
var itfConfig = model.Config{Capacity: 2400, MaxTTL: 30, QueueLimit: 2, QueueTimeout: 4, ReplyCap: 1024}

// The abstract domains of the spec and their bytes. They mirror VALUE_LEN
// and SECRET_LEN in spec/opendht.qnt: the spec only needs distinct ids to
// have distinct hashes (PUT-1) and the lengths to be right (FST-1, GET-3,
// LIM-2, LIM-3).
var (
	itfValueLen  = []int{0, 16, 500, 500, 1024, 1025}
	itfSecretLen = []int{0, 16, 40, 41}
)

// itfValue is value id v: itfValueLen[v] copies of the byte 'a'+v.
func itfValue(v int64) []byte {
	return bytes.Repeat([]byte{byte('a' + v)}, itfValueLen[v])
}

// itfSecret is secret id s: itfSecretLen[s] copies of the byte '0'+s.
func itfSecret(s int64) []byte {
	return bytes.Repeat([]byte{byte('0' + s)}, itfSecretLen[s])
}

// itfSecretHash is the secret hash of a put with secret id s: zero for s = 0
// (an unremovable put, PUT-2), SHA-1 of the secret otherwise.
func itfSecretHash(s int64) dht.Hash {
	if s == 0 {
		return dht.ZeroHash
	}
	return dht.SHA1(itfSecret(s))
}

// itfKey is key k: 19 zero bytes and k (LIM-1 padding).
func itfKey(k int64) dht.Key {
	var key dht.Key
	key[dht.KeyLen-1] = byte(k)
	return key
}

// Reverse tables from Go bytes and hashes back to spec ids.
var (
	itfValueIDs      = map[string]int64{}
	itfValueHashIDs  = map[dht.Hash]int64{}
	itfSecretHashIDs = map[dht.Hash]int64{}
)

func init() {
	for v := range itfValueLen {
		itfValueIDs[string(itfValue(int64(v)))] = int64(v)
		itfValueHashIDs[dht.SHA1(itfValue(int64(v)))] = int64(v)
	}
	for s := range itfSecretLen {
		itfSecretHashIDs[itfSecretHash(int64(s))] = int64(s)
	}
}

// The spec's records, decoded from ITF. Field names follow the Quint types.

type itfOp struct {
	Kind                                        string
	ID                                          int64
	Client                                      string
	Key, Vid, Sec, TTL, MaxVals, Placemark, Now int64
}

type itfCompletion struct{ ID, Status int64 }

type itfValueDetails struct{ Vid, Sec, TTL int64 }

type itfResult struct {
	Err       string
	Completed []itfCompletion
	Values    []itfValueDetails
	Placemark int64 // 0: empty; else the storage sequence it encodes
}

type itfID struct{ Key, Sec, Vid int64 }

type itfItem struct {
	Expiry, Seq int64
	Client      string
	Charge      int64
}

type itfTomb struct {
	Expiry int64
	Client string
	Charge int64
}

type itfPending struct {
	ID            int64
	Arrival, S, F int64
}

// itfNode is the state summary both sides are reduced to. Maps leave out
// empty queues and zero amounts, which the two sides store differently.
type itfNode struct {
	Now                int64
	Items              map[itfID]itfItem
	Tombs              map[itfID]itfTomb
	NextSeq, NextOrder int64
	V                  int64
	Queues             map[string][]itfPending
	LastF, Usage       map[string]int64
	Overtaken          bool
}

type itfState struct {
	Op     itfOp
	Res    itfResult
	Node   itfNode
	Events []string // rule tags of the step, for the coverage report
}

type itfTrace struct {
	File   string
	States []itfState
}

// ITF decoding. The helpers panic on a malformed trace; loadITF recovers.

type itfFormatError struct{ msg string }

func itfFail(format string, a ...any) { panic(itfFormatError{fmt.Sprintf(format, a...)}) }

// itfInt decodes an ITF integer: {"#bigint":"123"} or a plain JSON number.
func itfInt(v any) int64 {
	switch x := v.(type) {
	case map[string]any:
		if s, ok := x["#bigint"].(string); ok {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				itfFail("bigint %q: %v", s, err)
			}
			return n
		}
	case json.Number:
		n, err := x.Int64()
		if err != nil {
			itfFail("number %q: %v", x, err)
		}
		return n
	}
	itfFail("not an integer: %v", v)
	return 0
}

func itfStr(v any) string {
	s, ok := v.(string)
	if !ok {
		itfFail("not a string: %v", v)
	}
	return s
}

func itfBool(v any) bool {
	b, ok := v.(bool)
	if !ok {
		itfFail("not a bool: %v", v)
	}
	return b
}

// itfRec decodes a record and checks it has the named fields.
func itfRec(v any, fields ...string) map[string]any {
	r, ok := v.(map[string]any)
	if !ok {
		itfFail("not a record: %v", v)
	}
	for _, f := range fields {
		if _, ok := r[f]; !ok {
			itfFail("record without field %q: %v", f, v)
		}
	}
	return r
}

func itfList(v any) []any {
	l, ok := v.([]any)
	if !ok {
		itfFail("not a list: %v", v)
	}
	return l
}

// itfTagged decodes {"#set": [...]}, {"#map": [...]} or {"#tup": [...]}.
func itfTagged(v any, tag string) []any {
	r, ok := v.(map[string]any)
	if !ok {
		itfFail("not a %s: %v", tag, v)
	}
	return itfList(r[tag])
}

// itfMap decodes {"#map": [[k, v], ...]}.
func itfMap(v any) [][2]any {
	var out [][2]any
	for _, kv := range itfTagged(v, "#map") {
		p := itfList(kv)
		if len(p) != 2 {
			itfFail("map entry is not a pair: %v", kv)
		}
		out = append(out, [2]any{p[0], p[1]})
	}
	return out
}

func decodeOp(v any) itfOp {
	r := itfRec(v, "kind", "id", "client", "key", "vid", "sec", "ttl", "maxvals", "placemark", "now")
	return itfOp{
		Kind: itfStr(r["kind"]), ID: itfInt(r["id"]), Client: itfStr(r["client"]),
		Key: itfInt(r["key"]), Vid: itfInt(r["vid"]), Sec: itfInt(r["sec"]), TTL: itfInt(r["ttl"]),
		MaxVals: itfInt(r["maxvals"]), Placemark: itfInt(r["placemark"]), Now: itfInt(r["now"]),
	}
}

func decodeResult(v any) itfResult {
	r := itfRec(v, "err", "completed", "values", "placemark")
	res := itfResult{Err: itfStr(r["err"]), Placemark: itfInt(r["placemark"])}
	for _, c := range itfList(r["completed"]) {
		cr := itfRec(c, "id", "status")
		res.Completed = append(res.Completed, itfCompletion{ID: itfInt(cr["id"]), Status: itfInt(cr["status"])})
	}
	for _, x := range itfList(r["values"]) {
		xr := itfRec(x, "vid", "sec", "ttl")
		res.Values = append(res.Values, itfValueDetails{Vid: itfInt(xr["vid"]), Sec: itfInt(xr["sec"]), TTL: itfInt(xr["ttl"])})
	}
	return res
}

func decodeID(v any) itfID {
	t := itfTagged(v, "#tup")
	if len(t) != 3 {
		itfFail("item id is not a triple: %v", v)
	}
	return itfID{Key: itfInt(t[0]), Sec: itfInt(t[1]), Vid: itfInt(t[2])}
}

func decodeAmounts(v any) map[string]int64 {
	m := map[string]int64{}
	for _, kv := range itfMap(v) {
		if n := itfInt(kv[1]); n != 0 {
			m[itfStr(kv[0])] = n
		}
	}
	return m
}

func decodeNode(v any) itfNode {
	r := itfRec(v, "now", "items", "tombs", "nextSeq", "queues", "lastF", "v", "nextOrder", "usage", "overtaken")
	n := itfNode{
		Now: itfInt(r["now"]), Items: map[itfID]itfItem{}, Tombs: map[itfID]itfTomb{},
		NextSeq: itfInt(r["nextSeq"]), NextOrder: itfInt(r["nextOrder"]), V: itfInt(r["v"]),
		Queues: map[string][]itfPending{}, LastF: decodeAmounts(r["lastF"]), Usage: decodeAmounts(r["usage"]),
		Overtaken: itfBool(r["overtaken"]),
	}
	for _, kv := range itfMap(r["items"]) {
		it := itfRec(kv[1], "expiry", "seq", "client", "charge")
		n.Items[decodeID(kv[0])] = itfItem{Expiry: itfInt(it["expiry"]), Seq: itfInt(it["seq"]), Client: itfStr(it["client"]), Charge: itfInt(it["charge"])}
	}
	for _, kv := range itfMap(r["tombs"]) {
		t := itfRec(kv[1], "expiry", "client", "charge")
		n.Tombs[decodeID(kv[0])] = itfTomb{Expiry: itfInt(t["expiry"]), Client: itfStr(t["client"]), Charge: itfInt(t["charge"])}
	}
	for _, kv := range itfMap(r["queues"]) {
		var q []itfPending
		for _, p := range itfList(kv[1]) {
			pr := itfRec(p, "id", "arrival", "s", "f")
			q = append(q, itfPending{ID: itfInt(pr["id"]), Arrival: itfInt(pr["arrival"]), S: itfInt(pr["s"]), F: itfInt(pr["f"])})
		}
		if len(q) > 0 {
			n.Queues[itfStr(kv[0])] = q
		}
	}
	return n
}

// readITF reads one ITF trace file and calls state for each of its
// states, in order, with the state's events (the "#set" of "events"). A
// malformed trace (an itfFormatError panic of the decoders) becomes an
// error naming the file.
func readITF(path string, state func(s map[string]any, events []string)) (err error) {
	defer func() {
		if r := recover(); r != nil {
			fe, ok := r.(itfFormatError)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("%s: malformed ITF: %s", path, fe.msg)
		}
	}()
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc struct {
		States []map[string]any `json:"states"`
	}
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, s := range doc.States {
		var events []string
		for _, e := range itfTagged(s["events"], "#set") {
			events = append(events, itfStr(e))
		}
		state(s, events)
	}
	return nil
}

// loadITF reads one trace file.
func loadITF(path string) (itfTrace, error) {
	tr := itfTrace{File: path}
	err := readITF(path, func(s map[string]any, events []string) {
		tr.States = append(tr.States, itfState{Op: decodeOp(s["lastOp"]), Res: decodeResult(s["lastRes"]), Node: decodeNode(s["st"]), Events: events})
	})
	if err != nil {
		return tr, err
	}
	if len(tr.States) == 0 || tr.States[0].Op.Kind != "init" {
		return tr, fmt.Errorf("%s: a trace must start with the initial state", path)
	}
	return tr, nil
}

// loadITFTraces reads every trace of itfDir.
func loadITFTraces(t *testing.T) []itfTrace {
	return loadTraces(t, itfDir, "spec/opendht.qnt", loadITF)
}

// loadTraces reads every *.itf.json file of dir with load, in name order;
// there must be at least one (exported by `make spec` from spec).
func loadTraces[T any](t *testing.T, dir, spec string, load func(string) (T, error)) []T {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.itf.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no ITF traces in %s: run `make spec` to export them from %s", dir, spec)
	}
	sort.Strings(paths)
	var trs []T
	for _, p := range paths {
		tr, err := load(p)
		if err != nil {
			t.Fatal(err)
		}
		trs = append(trs, tr)
	}
	return trs
}

// toDHT builds the model's input for a spec op.
func (o itfOp) toDHT() (dht.Op, error) {
	if o.Vid < 0 || o.Vid >= int64(len(itfValueLen)) || o.Sec < 0 || o.Sec >= int64(len(itfSecretLen)) || o.Key < 0 || o.Key > 255 {
		return dht.Op{}, fmt.Errorf("op %+v is outside the abstract domains of this test", o)
	}
	switch o.Kind {
	case "put":
		return dht.Op{Kind: dht.OpPut, ID: uint64(o.ID), Put: dht.Put{
			Client: dht.ClientID(o.Client), Key: itfKey(o.Key), Value: itfValue(o.Vid),
			TTL: o.TTL, SecretHash: itfSecretHash(o.Sec),
		}}, nil
	case "rm":
		return dht.Op{Kind: dht.OpRemove, ID: uint64(o.ID), Remove: dht.Remove{
			Client: dht.ClientID(o.Client), Key: itfKey(o.Key), ValueHash: dht.SHA1(itfValue(o.Vid)),
			Secret: itfSecret(o.Sec), TTL: o.TTL,
		}}, nil
	case "get":
		g := dht.Get{Key: itfKey(o.Key), MaxVals: int(o.MaxVals)}
		switch {
		case o.Placemark < 0: // LIM-5: not one this node produced
			g.Placemark = []byte{0xff}
		case o.Placemark > 0:
			g.Placemark = dht.EncodePlacemark(uint64(o.Placemark))
		}
		return dht.Op{Kind: dht.OpGet, Get: g}, nil
	case "tick":
		return dht.Op{Kind: dht.OpTick}, nil
	}
	return dht.Op{}, fmt.Errorf("unknown op kind %q", o.Kind)
}

// itfErrNames are the spec's names of the validation errors (LIM-7).
var itfErrNames = []struct {
	err  error
	name string
}{
	{dht.ErrValueTooLong, "value"},     // LIM-2
	{dht.ErrSecretTooLong, "secret"},   // LIM-3
	{dht.ErrBadTTL, "ttl"},             // LIM-6
	{dht.ErrBadMaxVals, "maxvals"},     // LIM-6
	{dht.ErrBadPlacemark, "placemark"}, // LIM-5
}

// resultOf reduces a model result to the spec's terms.
func resultOf(res dht.Result) (itfResult, error) {
	var r itfResult
	if res.Err != nil {
		r.Err = res.Err.Error()
		for _, e := range itfErrNames {
			if errors.Is(res.Err, e.err) {
				r.Err = e.name
			}
		}
	}
	for _, c := range res.Completed {
		r.Completed = append(r.Completed, itfCompletion{ID: int64(c.ID), Status: int64(c.Status)})
	}
	for _, v := range res.Reply.Values {
		vid, ok := itfValueIDs[string(v.Value)]
		if !ok {
			return r, fmt.Errorf("get returned a value that no op put (%d bytes)", len(v.Value))
		}
		sec, ok := itfSecretHashIDs[v.SecretHash]
		if !ok {
			return r, fmt.Errorf("get returned an unknown secret hash %v", v.SecretHash)
		}
		if (v.HashAlg() == "") != (sec == 0) { // GET-5
			return r, fmt.Errorf("get_details hash algorithm %q for secret id %d", v.HashAlg(), sec)
		}
		r.Values = append(r.Values, itfValueDetails{Vid: vid, Sec: sec, TTL: v.TTLRemaining})
	}
	if len(res.Reply.Placemark) > 0 {
		seq, err := dht.DecodePlacemark(res.Reply.Placemark)
		if err != nil {
			return r, fmt.Errorf("get returned a placemark it cannot decode: %w", err)
		}
		r.Placemark = int64(seq)
	}
	return r, nil
}

func idOf(id dht.ItemID) (itfID, error) {
	var zero [dht.KeyLen - 1]byte
	if !bytes.Equal(id.Key[:dht.KeyLen-1], zero[:]) {
		return itfID{}, fmt.Errorf("unknown key %v", id.Key)
	}
	sec, ok := itfSecretHashIDs[id.SecretHash]
	vid, ok2 := itfValueHashIDs[id.ValueHash]
	if !ok || !ok2 {
		return itfID{}, fmt.Errorf("unknown item %v/%v/%v", id.Key, id.SecretHash, id.ValueHash)
	}
	return itfID{Key: int64(id.Key[dht.KeyLen-1]), Sec: sec, Vid: vid}, nil
}

// summarize reduces a model state to the spec's terms.
func summarize(s *model.State) (itfNode, error) {
	n := itfNode{
		Now: int64(s.Now), Items: map[itfID]itfItem{}, Tombs: map[itfID]itfTomb{},
		NextSeq: int64(s.NextSeq), NextOrder: int64(s.NextOrder), V: s.V.Int64(),
		Queues: map[string][]itfPending{}, LastF: map[string]int64{}, Usage: map[string]int64{},
		Overtaken: s.Overtaken,
	}
	for id, it := range s.Items {
		k, err := idOf(id)
		if err != nil {
			return n, err
		}
		n.Items[k] = itfItem{Expiry: int64(it.Expiry), Seq: int64(it.Seq), Client: string(it.Client), Charge: it.Charge}
	}
	for id, t := range s.Tombstones {
		k, err := idOf(id)
		if err != nil {
			return n, err
		}
		if !bytes.Equal(t.Secret, itfSecret(k.Sec)) { // RM-3: the tombstone holds the secret
			return n, fmt.Errorf("tombstone %v holds secret %q", k, t.Secret)
		}
		n.Tombs[k] = itfTomb{Expiry: int64(t.Expiry), Client: string(t.Client), Charge: t.Charge}
	}
	for c, q := range s.Queues {
		for _, p := range q {
			n.Queues[string(c)] = append(n.Queues[string(c)], itfPending{ID: int64(p.Op.ID), Arrival: int64(p.Arrival), S: p.S.Int64(), F: p.F.Int64()})
		}
	}
	for c, f := range s.LastF {
		if f.Sign() != 0 {
			n.LastF[string(c)] = f.Int64()
		}
	}
	for c, u := range s.Usage() {
		if u != 0 {
			n.Usage[string(c)] = u
		}
	}
	return n, nil
}

// modelInvariants checks INV-3..INV-5 on the model's own state.
func modelInvariants(s *model.State) error {
	if !s.CurveHolds() {
		return errors.New("INV-3: the commitment curve exceeds the capacity")
	}
	if s.Overtaken {
		return errors.New("INV-4: a write overtook a head with a smaller start tag")
	}
	var sum int64
	for _, u := range s.Usage() {
		sum += u
	}
	if b := s.Commitment(s.Now); sum != b {
		return fmt.Errorf("INV-5: per-client charges add up to %d, B(now) = %d", sum, b)
	}
	return nil
}

// replayITF runs the trace's ops through a fresh model with cfg and returns
// the first step where the model disagrees with the spec.
func replayITF(cfg model.Config, tr itfTrace) error {
	s := model.New(cfg)
	for i, st := range tr.States {
		if i > 0 {
			var res itfResult
			if st.Op.Kind == "restart" { // DUR-3: not a step, no result
				s.Restart()
			} else {
				op, err := st.Op.toDHT()
				if err != nil {
					return fmt.Errorf("%s step %d: %w", tr.File, i, err)
				}
				res, err = resultOf(s.Step(op, dht.Time(st.Op.Now)))
				if err != nil {
					return fmt.Errorf("%s step %d: %+v: %w", tr.File, i, st.Op, err)
				}
			}
			if !reflect.DeepEqual(res, st.Res) {
				return fmt.Errorf("%s step %d: %+v\n  spec  result %+v\n  model result %+v", tr.File, i, st.Op, st.Res, res)
			}
		}
		n, err := summarize(s)
		if err != nil {
			return fmt.Errorf("%s step %d: %+v: %w", tr.File, i, st.Op, err)
		}
		if !reflect.DeepEqual(n, st.Node) {
			return fmt.Errorf("%s step %d: %+v\n  spec  state %+v\n  model state %+v", tr.File, i, st.Op, st.Node, n)
		}
		if err := modelInvariants(s); err != nil {
			return fmt.Errorf("%s step %d: %+v: %w", tr.File, i, st.Op, err)
		}
	}
	return nil
}

// itfCoverage counts what the traces exercise: statuses and placemarks seen
// on the model side, and the spec's rule tags of each step.
type itfCoverage struct {
	status     [3]int
	placemarks int
	followed   int
	tombstones int
	steps      int
	events     map[string]int
}

func (c *itfCoverage) add(tr itfTrace) {
	prevTombs := 0
	for i, st := range tr.States {
		if i == 0 {
			continue
		}
		c.steps++
		for _, x := range st.Res.Completed {
			if x.Status >= 0 && x.Status < 3 {
				c.status[x.Status]++
			}
		}
		if st.Op.Kind == "get" && st.Res.Placemark > 0 {
			c.placemarks++
		}
		if st.Op.Kind == "get" && st.Op.Placemark > 0 && len(st.Res.Values) > 0 {
			c.followed++
		}
		if len(st.Node.Tombs) > prevTombs {
			c.tombstones++
		}
		prevTombs = len(st.Node.Tombs)
		for _, e := range st.Events {
			c.events[e]++
		}
	}
}

// itfRequired are the rule tags (events in spec/opendht.qnt) the traces
// must exercise, or the replay would check little: over capacity (FST-3,
// FST-6, FST-7), start-tag ties broken by arrival order (FST-4), timeouts
// (FST-8), tombstones (PUT-4, RM-2, RM-3, RM-4, RM-7), extensions (PUT-6),
// no-ops (PUT-5), expiry (TTL-3), placemarks, followed to exactly the next
// item, and the reply cap (GET-1..GET-4), the clock running back (TTL-6),
// invalid requests (LIM-7) and a restart that loses queued writes (DUR-3).
var itfRequired = []string{
	"FST-3", "FST-4-tie", "FST-6", "FST-7", "FST-8", "PUT-3", "PUT-4", "PUT-5", "PUT-6",
	"RM-2", "RM-3", "RM-4", "RM-7", "TTL-3", "GET-1-at-mark", "GET-2", "GET-3", "GET-4", "GET-4-follow",
	"TTL-6", "LIM-7", "DUR-3-lost",
}

// TestITFTracesReplayAgainstModel replays every trace that the Quint spec
// exported (spec/run.sh, `make spec`) through the Go model and demands the
// same result at every step: the completions in decision order with their
// statuses (ST-1, ST-2, FST-4..FST-8), the validation errors (LIM-2, LIM-3,
// LIM-5..LIM-7), the get replies with values in storage order,
// ttl_remaining, secret hashes and placemarks (GET-1..GET-5, TTL-4), and
// the state after the step: live items with expiry, storage position,
// client and charge (STEP-1, TTL-1..TTL-3, TTL-5, TTL-6, PUT-1..PUT-6,
// RM-1..RM-7), the queues with start and finish tags, V and lastF (FST-4,
// FST-5, and FST-8's give-back of a timed-out write's cost), the
// per-client usage (FST-10), and what a restart keeps and drops (DUR-3).
// After each step it also checks INV-3, INV-4 and INV-5 on the model's own
// state; the spec checked INV-1..INV-5 on its side when it generated the
// traces. It fails, too, if the traces stop exercising the rules listed in
// itfRequired.
func TestITFTracesReplayAgainstModel(t *testing.T) {
	cov := itfCoverage{events: map[string]int{}}
	for _, tr := range loadITFTraces(t) {
		if err := replayITF(itfConfig, tr); err != nil {
			t.Errorf("spec and model disagree (regenerate with `make spec` only if the spec changed on purpose):\n%v", err)
		}
		cov.add(tr)
	}
	names := make([]string, 0, len(cov.events))
	for e := range cov.events {
		names = append(names, e)
	}
	sort.Strings(names)
	var tags []string
	for _, e := range names {
		tags = append(tags, fmt.Sprintf("%s:%d", e, cov.events[e]))
	}
	t.Logf("coverage: %d steps; completions with status 0/1/2: %d/%d/%d; placemarks returned %d, followed %d; steps storing a tombstone %d",
		cov.steps, cov.status[0], cov.status[1], cov.status[2], cov.placemarks, cov.followed, cov.tombstones)
	t.Logf("rule tags: %s", strings.Join(tags, " "))
	for _, e := range itfRequired {
		if cov.events[e] == 0 {
			t.Errorf("no trace exercises %s: the replay checks too little; tune spec/opendht.qnt or the seeds in spec/run.sh", e)
		}
	}
	if cov.status[1] == 0 || cov.status[2] == 0 || cov.placemarks == 0 || cov.followed == 0 || cov.tombstones == 0 {
		t.Errorf("traces lack status 1, status 2, placemarks or tombstones: %+v", cov)
	}
}

// TestITFReplayDetectsDisagreement is the negative control of
// TestITFTracesReplayAgainstModel: a replay that cannot fail proves
// nothing. A model with another capacity (FST-3), queue limit (FST-6),
// queue timeout (FST-8), maximum TTL (TTL-1, FST-7) or reply cap (GET-3)
// must disagree with some trace, and so must a trace with one recorded
// status, get value or placemark changed.
func TestITFReplayDetectsDisagreement(t *testing.T) {
	trs := loadITFTraces(t)
	detects := func(cfg model.Config, trs []itfTrace) bool {
		for _, tr := range trs {
			if replayITF(cfg, tr) != nil {
				return true
			}
		}
		return false
	}
	wrong := map[string]func(*model.Config){
		"capacity-100":    func(c *model.Config) { c.Capacity -= 100 },
		"capacity+500":    func(c *model.Config) { c.Capacity += 500 },
		"queue limit+1":   func(c *model.Config) { c.QueueLimit++ },
		"queue timeout+1": func(c *model.Config) { c.QueueTimeout++ },
		"max ttl-1":       func(c *model.Config) { c.MaxTTL-- },
		"reply cap*2":     func(c *model.Config) { c.ReplyCap *= 2 },
	}
	for name, mutate := range wrong {
		cfg := itfConfig
		mutate(&cfg)
		if !detects(cfg, trs) {
			t.Errorf("a model with %s (%+v) agrees with every trace: the replay cannot see that parameter", name, cfg)
		}
	}

	// Flip the first recorded status, the first get value's ttl_remaining
	// and the first placemark: each must make that trace fail at that step.
	flips := []itfFlip[itfState]{
		{"status", func(st *itfState) bool {
			if len(st.Res.Completed) == 0 {
				return false
			}
			st.Res.Completed = append([]itfCompletion(nil), st.Res.Completed...)
			st.Res.Completed[0].Status = (st.Res.Completed[0].Status + 1) % 3
			return true
		}},
		{"ttl_remaining", func(st *itfState) bool {
			if len(st.Res.Values) == 0 {
				return false
			}
			st.Res.Values = append([]itfValueDetails(nil), st.Res.Values...)
			st.Res.Values[0].TTL++
			return true
		}},
		{"placemark", func(st *itfState) bool {
			if st.Res.Placemark == 0 {
				return false
			}
			st.Res.Placemark = 0
			return true
		}},
	}
	var traces [][]itfState
	var files []string
	for _, tr := range trs {
		traces, files = append(traces, tr.States), append(files, tr.File)
	}
	flipsCaught(t, files, traces, flips, func(file string, states []itfState) error {
		return replayITF(itfConfig, itfTrace{File: file, States: states})
	})
}

// itfFlip changes one recorded state of a trace, where it applies
// (apply reports whether it did).
type itfFlip[S any] struct {
	name  string
	apply func(st *S) bool
}

// flipsCaught applies each flip to the first state (after the initial
// one) of the first trace where it applies, and requires replay to report
// a mismatch at that step: the replay sees what the flip changes.
func flipsCaught[S any](t *testing.T, files []string, traces [][]S, flips []itfFlip[S], replay func(file string, states []S) error) {
	t.Helper()
	for _, f := range flips {
		found := false
		for k, states := range traces {
			for i := 1; i < len(states) && !found; i++ {
				bad := slices.Clone(states)
				if !f.apply(&bad[i]) {
					continue
				}
				found = true
				err := replay(files[k], bad)
				if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("step %d:", i)) {
					t.Errorf("%s changed at %s step %d: replay gave %v, want a mismatch at that step", f.name, files[k], i, err)
				}
			}
			if found {
				break
			}
		}
		if !found {
			t.Errorf("no trace has a %s to change", f.name)
		}
	}
}
