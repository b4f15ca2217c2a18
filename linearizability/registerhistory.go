package linearizability

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/anishathalye/porcupine"

	"github.com/opendht-go/opendht/impl/dht"
)

// RegisterOp is one register operation of a history, as its client saw it.
// Times are nanoseconds of the history's clock (see Recorder).
type RegisterOp struct {
	// Client is the porcupine client id: one sequential stream of
	// operations. A client gets a new id after an unknown outcome (see
	// Recorder), so that a client never has two operations in flight.
	Client int
	Kind   RegisterKind
	Key    dht.Key
	// Expected, Value and TTL are the cas request (CAS-3).
	Expected uint64
	Value    []byte
	TTL      int64
	// Call is when the client sent the request; Return when the answer
	// came, or (an unknown outcome) when the client gave up: the
	// operation itself returns at Infinity.
	Call, Return int64
	Outcome      Outcome
	// The answer (OutcomeOK): OK for a cas; the version and value the
	// answer shows, for a read and a cas.
	OK      bool
	Version uint64
	Got     []byte
	// Err is why an operation was refused (OutcomeRefused), or what the
	// client saw instead of an answer (OutcomeUnknown), for the record.
	Err string
}

// Fault is an interval during which the system was not whole: a
// partition, a crash, message loss, churn. The checker does not use
// faults; the visualization shows them beside the operations.
type Fault struct {
	// Kind is the fault: "partition", "crash", "loss", "churn"...
	Kind string
	// Target is what it hit: nodes, links, the two sides of a partition.
	Target string
	// From and To are nanoseconds of the history's clock; To == From for
	// an instant.
	From, To int64
	Detail   string
}

// RegisterHistory is a history of register operations with what is needed
// to check it again and to find out where it came from: the protocol and
// seed that produced it, the faults injected, and the bounds it is judged
// with.
type RegisterHistory struct {
	// Protocol and Seed name the run; Meta holds anything else that helps
	// to replay it (the command, the fault schedule...).
	Protocol string
	Seed     uint64
	Meta     map[string]string
	// MaxTTL is the TTL clamp of the system in seconds (TTL-1); 0 means
	// dht.MaxTTL.
	MaxTTL int64
	// Skew is the bound S of CAS-11 on when a register expires.
	Skew time.Duration
	// Expect is the verdict a committed history must keep getting ("" if
	// none): a regression test of the checker.
	Expect Verdict
	Ops    []RegisterOp
	Faults []Fault
}

// Verdict is the result of checking a history.
type Verdict string

const (
	// VerdictOK: the history is linearizable; porcupine found a
	// linearization.
	VerdictOK Verdict = "ok"
	// VerdictIllegal: the history is not linearizable.
	VerdictIllegal Verdict = "illegal"
	// VerdictUnknown: the check timed out.
	VerdictUnknown Verdict = "unknown"
)

// CheckConfig sets how Check works.
type CheckConfig struct {
	// Timeout bounds the check (0: none); when it runs out the verdict is
	// VerdictUnknown.
	Timeout time.Duration
	// Nondeterministic checks with RegisterNondeterministicModel instead
	// of RegisterModel. Both give the same verdict on histories whose
	// unknown outcomes return at infinity; the deterministic one is faster.
	Nondeterministic bool
	// VisualizePath, if set, is where the HTML visualization of the check
	// goes when the verdict is not VerdictOK, with the faults shown as
	// annotations.
	VisualizePath string
}

// Errors of malformed histories.
var (
	ErrOverlappingOps = errors.New("linearizability: a client has two operations in flight")
	ErrBadInterval    = errors.New("linearizability: an operation returns before its call")
	ErrBadFormat      = errors.New("linearizability: not a register history of this format")
)

// Validate checks that the history can be checked: each operation has a
// kind and an outcome, returns no earlier than its call (answered and
// refused ones), and no client has two operations in flight (an unknown
// outcome keeps its client busy forever).
func (h RegisterHistory) Validate() error {
	byClient := map[int][]int{}
	for i, op := range h.Ops {
		if op.Kind != RegisterCAS && op.Kind != RegisterRead {
			return fmt.Errorf("%w: op #%d has kind %v", ErrBadFormat, i, op.Kind)
		}
		if op.Outcome < OutcomeOK || op.Outcome > OutcomeRefused {
			return fmt.Errorf("%w: op #%d has outcome %v", ErrBadFormat, i, op.Outcome)
		}
		if op.Outcome != OutcomeUnknown && op.Return < op.Call {
			return fmt.Errorf("%w: op #%d called at %d returns at %d", ErrBadInterval, i, op.Call, op.Return)
		}
		byClient[op.Client] = append(byClient[op.Client], i)
	}
	for c, idx := range byClient {
		slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(h.Ops[a].Call, h.Ops[b].Call) })
		for j := 1; j < len(idx); j++ {
			prev, op := h.Ops[idx[j-1]], h.Ops[idx[j]]
			end := prev.Return
			if prev.Outcome == OutcomeUnknown {
				end = Infinity
			}
			if end >= op.Call {
				return fmt.Errorf("%w: client %d calls op #%d at %d, busy with op #%d until %s", ErrOverlappingOps, c, idx[j], op.Call, idx[j-1], secondsOf(end))
			}
		}
	}
	return nil
}

// Operations converts the history to porcupine's form: unknown outcomes
// return at Infinity, and each operation carries its index as metadata.
func (h RegisterHistory) Operations() []porcupine.Operation {
	ops := make([]porcupine.Operation, 0, len(h.Ops))
	for i, op := range h.Ops {
		ret := op.Return
		if op.Outcome == OutcomeUnknown {
			ret = Infinity
		}
		in := RegisterInput{Kind: op.Kind, Key: op.Key, Call: op.Call, Return: ret}
		if op.Kind == RegisterCAS {
			in.Expected, in.Value, in.TTL = op.Expected, string(op.Value), op.TTL
		}
		out := RegisterOutput{Outcome: op.Outcome}
		if op.Outcome == OutcomeOK {
			out.OK, out.Version, out.Value = op.OK && op.Kind == RegisterCAS, op.Version, string(op.Got)
		}
		ops = append(ops, porcupine.Operation{
			ClientId: op.Client, Input: in, Call: op.Call, Output: out, Return: ret,
			Metadata: opMetadata{Index: i, Client: op.Client},
		})
	}
	return ops
}

// faultColors tells the kinds of fault apart in the visualization.
var faultColors = map[string]string{
	"partition": "#f7c6c7", "crash": "#f9d9a8", "loss": "#c9daf8", "churn": "#d9ead3",
}

// Annotations are the faults, and the moments clients gave up on an
// operation, as porcupine annotations for the visualization.
func (h RegisterHistory) Annotations() []porcupine.Annotation {
	var out []porcupine.Annotation
	for _, f := range h.Faults {
		color, ok := faultColors[f.Kind]
		if !ok {
			color = "#e6e6e6"
		}
		desc := f.Kind
		if f.Target != "" {
			desc += " " + f.Target
		}
		out = append(out, porcupine.Annotation{
			Tag: "fault: " + f.Kind, Start: f.From, End: f.To,
			Description:     desc,
			Details:         fmt.Sprintf("%s from %s to %s. %s", desc, secondsOf(f.From), secondsOf(f.To), f.Detail),
			BackgroundColor: color,
		})
	}
	for i, op := range h.Ops {
		if op.Outcome == OutcomeUnknown {
			out = append(out, porcupine.Annotation{
				ClientId: op.Client, Start: op.Return,
				Description:     "gave up",
				Details:         fmt.Sprintf("op #%d: no answer (%s); the client continues under a new id", i, op.Err),
				BackgroundColor: "#eeeeee",
			})
		}
	}
	return out
}

// maxTTL is the clamp the history is judged with.
func (h RegisterHistory) maxTTL() int64 {
	if h.MaxTTL > 0 {
		return h.MaxTTL
	}
	return dht.MaxTTL
}

// Check judges a history for linearizability (CAS-11) with porcupine,
// partitioned by key. If the verdict is not VerdictOK and
// cfg.VisualizePath is set, it writes the visualization there. The error
// is for histories that cannot be checked (Validate) and for a
// visualization that cannot be written.
func Check(h RegisterHistory, cfg CheckConfig) (Verdict, error) {
	if err := h.Validate(); err != nil {
		return "", err
	}
	var m porcupine.Model
	if cfg.Nondeterministic {
		nm := RegisterNondeterministicModel(h.maxTTL(), h.Skew)
		m = nm.ToModel()
	} else {
		m = RegisterModel(h.maxTTL(), h.Skew)
	}
	ops := h.Operations()
	var (
		res  porcupine.CheckResult
		info porcupine.LinearizationInfo
	)
	if cfg.VisualizePath != "" {
		res, info = porcupine.CheckOperationsVerbose(m, ops, cfg.Timeout)
	} else {
		res = porcupine.CheckOperationsTimeout(m, ops, cfg.Timeout)
	}
	v := VerdictUnknown
	switch res {
	case porcupine.Ok:
		return VerdictOK, nil
	case porcupine.Illegal:
		v = VerdictIllegal
	}
	if cfg.VisualizePath != "" {
		info.AddAnnotations(h.Annotations())
		if err := os.MkdirAll(filepath.Dir(cfg.VisualizePath), 0o755); err != nil {
			return v, err
		}
		if err := porcupine.VisualizePath(m, info, cfg.VisualizePath); err != nil {
			return v, fmt.Errorf("linearizability: writing the visualization: %w", err)
		}
	}
	return v, nil
}

// The JSON form of a history: readable in a diff, one operation a line,
// values as text when they are UTF-8 and in hex otherwise, keys in hex.

// historyFormat names the JSON format, so that a later change is noticed.
const historyFormat = "opendht-register-history/1"

type historyHeader struct {
	Format   string            `json:"format"`
	Protocol string            `json:"protocol,omitempty"`
	Seed     uint64            `json:"seed"`
	Meta     map[string]string `json:"meta,omitempty"`
	MaxTTL   int64             `json:"max_ttl_s,omitempty"`
	SkewNS   int64             `json:"skew_ns"`
	Expect   Verdict           `json:"expect,omitempty"`
}

type historyJSON struct {
	historyHeader
	Ops    []opJSON    `json:"ops"`
	Faults []faultJSON `json:"faults,omitempty"`
}

type opJSON struct {
	Client   int     `json:"client"`
	Kind     string  `json:"kind"`
	Key      string  `json:"key"`
	Expected uint64  `json:"expected,omitempty"`
	Value    *string `json:"value,omitempty"`
	ValueHex string  `json:"value_hex,omitempty"`
	TTL      int64   `json:"ttl,omitempty"`
	Call     int64   `json:"call"`
	Return   int64   `json:"return"`
	Outcome  string  `json:"outcome"`
	OK       bool    `json:"ok,omitempty"`
	Version  uint64  `json:"version,omitempty"`
	Got      *string `json:"got,omitempty"`
	GotHex   string  `json:"got_hex,omitempty"`
	Err      string  `json:"err,omitempty"`
}

type faultJSON struct {
	Kind   string `json:"kind"`
	Target string `json:"target,omitempty"`
	From   int64  `json:"from"`
	To     int64  `json:"to"`
	Detail string `json:"detail,omitempty"`
}

// encodeBytes gives a value as text if it is UTF-8, else in hex; nothing
// for an empty value unless keep.
func encodeBytes(b []byte, keep bool) (*string, string) {
	switch {
	case len(b) == 0 && !keep:
		return nil, ""
	case utf8.Valid(b):
		s := string(b)
		return &s, ""
	}
	return nil, hex.EncodeToString(b)
}

func decodeBytes(text *string, hx string) ([]byte, error) {
	if hx != "" {
		return hex.DecodeString(hx)
	}
	if text != nil {
		return []byte(*text), nil
	}
	return nil, nil
}

var (
	kindNames    = map[RegisterKind]string{RegisterCAS: "cas", RegisterRead: "read"}
	outcomeNames = map[Outcome]string{OutcomeOK: "ok", OutcomeUnknown: "unknown", OutcomeRefused: "refused"}
)

func lookup[K comparable](m map[K]string, name string) (K, bool) {
	for k, n := range m {
		if n == name {
			return k, true
		}
	}
	var zero K
	return zero, false
}

// MarshalJSON writes the JSON form.
func (h RegisterHistory) MarshalJSON() ([]byte, error) {
	return json.Marshal(h.toJSON())
}

func (h RegisterHistory) toJSON() historyJSON {
	j := historyJSON{historyHeader: historyHeader{
		Format: historyFormat, Protocol: h.Protocol, Seed: h.Seed, Meta: h.Meta,
		MaxTTL: h.MaxTTL, SkewNS: int64(h.Skew), Expect: h.Expect,
	}, Ops: []opJSON{}}
	for _, op := range h.Ops {
		o := opJSON{
			Client: op.Client, Kind: kindNames[op.Kind], Key: hex.EncodeToString(op.Key[:]),
			Call: op.Call, Return: op.Return, Outcome: outcomeNames[op.Outcome], Err: op.Err,
		}
		if op.Kind == RegisterCAS {
			o.Expected, o.TTL = op.Expected, op.TTL
			o.Value, o.ValueHex = encodeBytes(op.Value, true)
		}
		if op.Outcome == OutcomeOK {
			o.OK, o.Version = op.OK, op.Version
			o.Got, o.GotHex = encodeBytes(op.Got, op.Version > 0)
		}
		j.Ops = append(j.Ops, o)
	}
	for _, f := range h.Faults {
		j.Faults = append(j.Faults, faultJSON(f))
	}
	return j
}

// UnmarshalJSON reads the JSON form.
func (h *RegisterHistory) UnmarshalJSON(data []byte) error {
	var j historyJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	if j.Format != historyFormat {
		return fmt.Errorf("%w: format %q, want %q", ErrBadFormat, j.Format, historyFormat)
	}
	*h = RegisterHistory{
		Protocol: j.Protocol, Seed: j.Seed, Meta: j.Meta, MaxTTL: j.MaxTTL,
		Skew: time.Duration(j.SkewNS), Expect: j.Expect,
	}
	for i, o := range j.Ops {
		kind, ok := lookup(kindNames, o.Kind)
		if !ok {
			return fmt.Errorf("%w: op #%d has kind %q", ErrBadFormat, i, o.Kind)
		}
		outcome, ok := lookup(outcomeNames, o.Outcome)
		if !ok {
			return fmt.Errorf("%w: op #%d has outcome %q", ErrBadFormat, i, o.Outcome)
		}
		kb, err := hex.DecodeString(o.Key)
		if err != nil || len(kb) != dht.KeyLen {
			return fmt.Errorf("%w: op #%d has key %q", ErrBadFormat, i, o.Key)
		}
		op := RegisterOp{
			Client: o.Client, Kind: kind, Key: dht.Key(kb), Expected: o.Expected, TTL: o.TTL,
			Call: o.Call, Return: o.Return, Outcome: outcome, OK: o.OK, Version: o.Version, Err: o.Err,
		}
		if op.Value, err = decodeBytes(o.Value, o.ValueHex); err != nil {
			return fmt.Errorf("%w: op #%d value: %v", ErrBadFormat, i, err)
		}
		if op.Got, err = decodeBytes(o.Got, o.GotHex); err != nil {
			return fmt.Errorf("%w: op #%d answer: %v", ErrBadFormat, i, err)
		}
		h.Ops = append(h.Ops, op)
	}
	for _, f := range j.Faults {
		h.Faults = append(h.Faults, Fault(f))
	}
	return nil
}

// Save writes the history as JSON, one operation and one fault a line,
// ready to be committed under testdata/ and checked again by
// LoadRegisterHistory and Check.
func (h RegisterHistory) Save(path string) error {
	j := h.toJSON()
	head, err := json.MarshalIndent(j.historyHeader, "", "  ")
	if err != nil {
		return err
	}
	var b bytes.Buffer
	b.Write(bytes.TrimSuffix(head, []byte("\n}")))
	list := func(name string, n int, item func(i int) any) error {
		fmt.Fprintf(&b, ",\n  %q: [", name)
		for i := range n {
			line, err := json.Marshal(item(i))
			if err != nil {
				return err
			}
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("\n    ")
			b.Write(line)
		}
		if n > 0 {
			b.WriteString("\n  ")
		}
		b.WriteByte(']')
		return nil
	}
	if err := list("ops", len(j.Ops), func(i int) any { return j.Ops[i] }); err != nil {
		return err
	}
	if len(j.Faults) > 0 {
		if err := list("faults", len(j.Faults), func(i int) any { return j.Faults[i] }); err != nil {
			return err
		}
	}
	b.WriteString("\n}\n")
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// LoadRegisterHistory reads a history that Save wrote.
func LoadRegisterHistory(path string) (RegisterHistory, error) {
	var h RegisterHistory
	b, err := os.ReadFile(path)
	if err != nil {
		return h, err
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return h, fmt.Errorf("%s: %w", path, err)
	}
	return h, nil
}
