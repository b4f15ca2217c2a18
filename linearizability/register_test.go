package linearizability

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/opendht-go/opendht/impl/dht"
)

// Hand-built histories of the versioned registers (spec/SPEC.md section
// 11), each judged by both porcupine models against CAS-11: linearizable
// ones must pass and the classic anomalies of read-modify-write must be
// caught.

// sec is a time of the hand-built histories: seconds as nanoseconds.
func sec(s float64) int64 { return int64(s * 1e9) }

func rkey(k byte) dht.Key { return dht.Key{19: k} }

// casOp is an answered cas of key 1.
func casOp(client int, exp uint64, val string, ttl int64, call, ret float64, ok bool, ver uint64, got string) RegisterOp {
	return RegisterOp{Client: client, Kind: RegisterCAS, Key: rkey(1), Expected: exp, Value: []byte(val), TTL: ttl,
		Call: sec(call), Return: sec(ret), Outcome: OutcomeOK, OK: ok, Version: ver, Got: []byte(got)}
}

// casLost is a cas of key 1 whose client never learned the outcome.
func casLost(client int, exp uint64, val string, ttl int64, call float64) RegisterOp {
	return RegisterOp{Client: client, Kind: RegisterCAS, Key: rkey(1), Expected: exp, Value: []byte(val), TTL: ttl,
		Call: sec(call), Return: sec(call + 1), Outcome: OutcomeUnknown, Err: "timeout"}
}

// readOp is an answered read of key 1.
func readOp(client int, call, ret float64, ver uint64, got string) RegisterOp {
	return RegisterOp{Client: client, Kind: RegisterRead, Key: rkey(1), Call: sec(call), Return: sec(ret),
		Outcome: OutcomeOK, Version: ver, Got: []byte(got)}
}

func onKey(op RegisterOp, k byte) RegisterOp { op.Key = rkey(k); return op }

// long is a ttl that does not run out in these histories.
const long = 3600

// upTo3 writes versions 1..3 of key 1 ("a", "b", "c") with client 9.
func upTo3() []RegisterOp {
	return []RegisterOp{
		casOp(9, 0, "a", long, 0, 1, true, 1, "a"),
		casOp(9, 1, "b", long, 1.5, 2, true, 2, "b"),
		casOp(9, 2, "c", long, 2.5, 3, true, 3, "c"),
	}
}

func hist(ops ...[]RegisterOp) RegisterHistory {
	h := RegisterHistory{MaxTTL: long, Skew: time.Second}
	for _, o := range ops {
		h.Ops = append(h.Ops, o...)
	}
	return h
}

func ops(o ...RegisterOp) []RegisterOp { return o }

var registerCases = []struct {
	name string
	h    RegisterHistory
	want Verdict
}{
	{"empty", hist(), VerdictOK},
	{"create then read", hist(upTo3(), ops(readOp(1, 4, 5, 3, "c"))), VerdictOK},
	// CAS-3: two cas from version 3 cannot both succeed.
	{"lost update: two cas from v3 both ok", hist(upTo3(), ops(
		casOp(1, 3, "x", long, 4, 6, true, 4, "x"),
		casOp(2, 3, "y", long, 4.5, 6.5, true, 4, "y"),
	)), VerdictIllegal},
	{"concurrent cas from v3: one wins, the loser sees it", hist(upTo3(), ops(
		casOp(1, 3, "x", long, 4, 6, true, 4, "x"),
		casOp(2, 3, "y", long, 4.5, 6.5, false, 4, "x"),
	)), VerdictOK},
	{"the loser claims to see its own value", hist(upTo3(), ops(
		casOp(1, 3, "x", long, 4, 6, true, 4, "x"),
		casOp(2, 3, "y", long, 4.5, 6.5, false, 4, "y"),
	)), VerdictIllegal},
	// CAS-7: a read after a completed cas sees it.
	{"stale read", hist(upTo3(), ops(readOp(1, 4, 5, 2, "b"))), VerdictIllegal},
	{"read concurrent with a cas sees the old value", hist(upTo3(), ops(
		casOp(1, 3, "x", long, 4, 6, true, 4, "x"), readOp(2, 4.5, 5, 3, "c"))), VerdictOK},
	{"read concurrent with a cas sees the new value", hist(upTo3(), ops(
		casOp(1, 3, "x", long, 4, 6, true, 4, "x"), readOp(2, 4.5, 5, 4, "x"))), VerdictOK},
	{"reads go back in time", hist(upTo3(), ops(
		casOp(1, 3, "x", long, 4, 10, true, 4, "x"), readOp(2, 5, 6, 4, "x"), readOp(3, 7, 8, 3, "c"))), VerdictIllegal},
	{"read of a value never written", hist(upTo3(), ops(readOp(1, 4, 5, 3, "zzz"))), VerdictIllegal},
	{"read of a version never reached", hist(upTo3(), ops(readOp(1, 4, 5, 7, "c"))), VerdictIllegal},
	{"cas answer with a version that is not expected+1", hist(ops(casOp(1, 0, "a", long, 0, 1, true, 2, "a"))), VerdictIllegal},
	// CAS-11: unknown outcomes.
	{"unknown cas that must be assumed applied", hist(upTo3(), ops(
		casLost(1, 3, "x", long, 4), readOp(2, 6, 7, 4, "x"))), VerdictOK},
	{"unknown cas that must be assumed lost", hist(upTo3(), ops(
		casLost(1, 3, "x", long, 4), readOp(2, 6, 7, 3, "c"), readOp(2, 8, 9, 3, "c"))), VerdictOK},
	{"unknown cas applied late, after a read missed it", hist(upTo3(), ops(
		casLost(1, 3, "x", long, 4), readOp(2, 6, 7, 3, "c"), readOp(2, 100, 101, 4, "x"))), VerdictOK},
	{"unknown cas seen, then unseen", hist(upTo3(), ops(
		casLost(1, 3, "x", long, 4), readOp(2, 6, 7, 4, "x"), readOp(2, 8, 9, 3, "c"))), VerdictIllegal},
	{"unknown cas with the wrong version cannot explain a read", hist(upTo3(), ops(
		casLost(1, 2, "x", long, 4), readOp(2, 6, 7, 4, "x"))), VerdictIllegal},
	{"unknown cas cannot act before its call", hist(upTo3(), ops(
		readOp(2, 4, 5, 4, "x"), casLost(1, 3, "x", long, 6))), VerdictIllegal},
	{"refused request has no effect", hist(upTo3(), ops(
		RegisterOp{Client: 1, Kind: RegisterCAS, Key: rkey(1), Expected: 3, Value: []byte("x"), TTL: 0,
			Call: sec(4), Return: sec(5), Outcome: OutcomeRefused, Err: "ttl must be positive"},
		readOp(2, 6, 7, 3, "c"))), VerdictOK},
	{"a refused request cannot answer ok", hist(upTo3(), ops(casOp(1, 3, "x", 0, 4, 5, true, 4, "x"))), VerdictIllegal},
	// CAS-4, CAS-11: expiry, judged with the skew bound (1 s here).
	{"expired register reads as absent", hist(ops(
		casOp(1, 0, "a", 5, 0, 1, true, 1, "a"), readOp(1, 10, 11, 0, ""))), VerdictOK},
	{"absent too early", hist(ops(
		casOp(1, 0, "a", 5, 0, 1, true, 1, "a"), readOp(1, 2, 3, 0, ""))), VerdictIllegal},
	{"live too late", hist(ops(
		casOp(1, 0, "a", 5, 0, 1, true, 1, "a"), readOp(1, 10, 11, 1, "a"))), VerdictIllegal},
	{"near the expiry either answer", hist(ops(
		casOp(1, 0, "a", 5, 0, 1, true, 1, "a"), readOp(1, 5.5, 5.6, 1, "a"), readOp(1, 5.7, 5.8, 0, ""))), VerdictOK},
	{"expired, then live again", hist(ops(
		casOp(1, 0, "a", 5, 0, 1, true, 1, "a"), readOp(1, 5.5, 5.6, 0, ""), readOp(1, 5.7, 5.8, 1, "a"))), VerdictIllegal},
	{"TTL-1: the ttl is clamped", hist(ops(
		casOp(1, 0, "a", 1<<40, 0, 1, true, 1, "a"), readOp(1, long+10, long+11, 0, ""))), VerdictOK},
	{"recreated after expiry, and the ABA of CAS-5", hist(ops(
		casOp(1, 0, "a", 5, 0, 1, true, 1, "a"), casOp(1, 1, "b", 5, 1.1, 2, true, 2, "b"),
		casOp(1, 2, "c", 5, 20, 21, false, 0, ""),
		casOp(1, 0, "d", 5, 22, 23, true, 1, "d"), casOp(1, 1, "e", 5, 23.1, 24, true, 2, "e"),
		casOp(2, 2, "stale", 5, 24, 25, true, 3, "stale"))), VerdictOK},
	{"a cas does not renew the expiry when it fails", hist(ops(
		casOp(1, 0, "a", 5, 0, 1, true, 1, "a"), casOp(1, 0, "b", 100, 4, 4.5, false, 1, "a"),
		readOp(1, 10, 11, 1, "a"))), VerdictIllegal},
	{"an unknown cas may recreate an expired register", hist(ops(
		casOp(1, 0, "a", 5, 0, 1, true, 1, "a"), casLost(1, 0, "b", 100, 10), readOp(2, 20, 21, 1, "b"))), VerdictOK},
	// CAS-6: a tombstone keeps counting versions.
	{"tombstone", hist(upTo3(), ops(
		casOp(1, 3, "", long, 4, 5, true, 4, ""), readOp(1, 6, 7, 4, ""), casOp(2, 3, "z", long, 8, 9, false, 4, ""))), VerdictOK},
	{"tombstone is not absence", hist(upTo3(), ops(casOp(1, 3, "", long, 4, 5, true, 4, ""), readOp(1, 6, 7, 0, ""))), VerdictIllegal},
	// Partitioned by key: registers of two keys are independent.
	{"two keys", hist(upTo3(), ops(
		onKey(casOp(1, 0, "k2", long, 0.5, 5, true, 1, "k2"), 2), onKey(readOp(2, 4, 5, 1, "k2"), 2), readOp(2, 6, 7, 3, "c"))), VerdictOK},
	{"two keys, one stale", hist(upTo3(), ops(
		onKey(casOp(1, 0, "k2", long, 0.5, 1, true, 1, "k2"), 2), onKey(readOp(2, 4, 5, 0, ""), 2), readOp(2, 6, 7, 3, "c"))), VerdictIllegal},
}

// TestRegisterHistories judges each hand-built history with the
// deterministic and the nondeterministic model (CAS-11, and the rules
// named in each case: CAS-3 lost update, CAS-4 expiry, CAS-5 ABA, CAS-6
// tombstones, CAS-7 stale reads, CAS-8 refused requests, TTL-1 clamping).
func TestRegisterHistories(t *testing.T) {
	for _, c := range registerCases {
		t.Run(c.name, func(t *testing.T) {
			for _, nondet := range []bool{false, true} {
				got, err := Check(c.h, CheckConfig{Nondeterministic: nondet})
				if err != nil {
					t.Fatal(err)
				}
				if got != c.want {
					t.Errorf("nondeterministic=%v: verdict %s, want %s", nondet, got, c.want)
				}
			}
		})
	}
}

// TestUnknownWithFiniteReturn shows why the deterministic model needs
// unknown outcomes at infinity and the nondeterministic one does not: a cas
// that was lost (its client learned later that it never took effect, say)
// is given a finite return; a read after that return still sees the old
// version. The nondeterministic model accepts that (the cas may not have
// taken effect); the deterministic one, which applies a cas that can take
// effect, rejects it. With the return at infinity both accept.
func TestUnknownWithFiniteReturn(t *testing.T) {
	h := hist(upTo3(), ops(casLost(1, 3, "x", long, 4), readOp(2, 6, 7, 3, "c")))
	ops := h.Operations()
	if ops[3].Return != Infinity {
		t.Fatalf("an unknown outcome returns at %d, not at infinity", ops[3].Return)
	}
	nm := RegisterNondeterministicModel(long, time.Second)
	if !porcupine.CheckOperations(nm.ToModel(), ops) || !porcupine.CheckOperations(RegisterModel(long, time.Second), ops) {
		t.Fatal("at infinity, both models must accept")
	}
	finite := append([]porcupine.Operation(nil), ops...)
	in := finite[3].Input.(RegisterInput)
	in.Return = sec(5)
	finite[3].Input, finite[3].Return = in, sec(5)
	if !porcupine.CheckOperations(nm.ToModel(), finite) {
		t.Error("nondeterministic model: a lost cas with a finite return must be allowed not to take effect")
	}
	if porcupine.CheckOperations(RegisterModel(long, time.Second), finite) {
		t.Error("deterministic model accepted: then it does not need infinity, and this test is wrong")
	}
}

// TestPartitionByKey: the models split a history into one per key, and
// the event form agrees with the operation form.
func TestPartitionByKey(t *testing.T) {
	h := hist(upTo3(), ops(onKey(readOp(1, 4, 5, 0, ""), 2), onKey(readOp(2, 4, 5, 0, ""), 3), readOp(3, 6, 7, 3, "c")))
	parts := partitionByKey(h.Operations())
	if len(parts) != 3 || len(parts[0]) != 4 || len(parts[1]) != 1 || len(parts[2]) != 1 {
		t.Fatalf("partitions: %d of sizes %v", len(parts), func() (n []int) {
			for _, p := range parts {
				n = append(n, len(p))
			}
			return
		}())
	}
	var events []porcupine.Event
	for i, op := range h.Operations() {
		events = append(events, porcupine.Event{ClientId: op.ClientId, Kind: porcupine.CallEvent, Value: op.Input, Id: i})
		events = append(events, porcupine.Event{ClientId: op.ClientId, Kind: porcupine.ReturnEvent, Value: op.Output, Id: i})
	}
	if ep := partitionEventsByKey(events); len(ep) != 3 || len(ep[0]) != 8 {
		t.Fatalf("event partitions: %d", len(ep))
	}
	m := RegisterModel(long, time.Second)
	if !porcupine.CheckEvents(m, events) {
		t.Fatal("the event form of a linearizable history is judged illegal")
	}
}

// TestCheckWritesVisualization: on an illegal history Check writes the
// HTML visualization with the operations, the states and the faults as
// annotations; on a linearizable one it writes nothing.
func TestCheckWritesVisualization(t *testing.T) {
	dir := t.TempDir()
	h := hist(upTo3(), ops(
		casOp(1, 3, "x", long, 4, 6, true, 4, "x"),
		casOp(2, 3, "y", long, 4.5, 6.5, true, 4, "y"),
		casLost(3, 4, "z", long, 7),
	))
	h.Faults = []Fault{{Kind: "partition", Target: "n1,n2 | n3,n4", From: sec(3.5), To: sec(6.2), Detail: "both sides have a gateway"}}
	path := filepath.Join(dir, "lost-update.html")
	v, err := Check(h, CheckConfig{VisualizePath: path})
	if err != nil || v != VerdictIllegal {
		t.Fatalf("verdict %s, %v", v, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"partition n1,n2 | n3,n4", "both sides have a gateway", "fault: partition", "gave up", `cas(v3→\"x\", 3600s)`, "op #3 of the history"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the visualization lacks %q", want)
		}
	}
	okPath := filepath.Join(dir, "ok.html")
	if v, err := Check(hist(upTo3()), CheckConfig{VisualizePath: okPath}); err != nil || v != VerdictOK {
		t.Fatalf("verdict %s, %v", v, err)
	}
	if _, err := os.Stat(okPath); !os.IsNotExist(err) {
		t.Errorf("a visualization was written for a linearizable history: %v", err)
	}
}

// TestCheckRejectsMalformedHistories: a client with two operations in
// flight, an operation that returns before its call, and an unknown
// operation followed by another of the same client id are refused before
// porcupine sees them.
func TestCheckRejectsMalformedHistories(t *testing.T) {
	for name, h := range map[string]RegisterHistory{
		"overlap":            hist(ops(readOp(1, 0, 5, 0, ""), readOp(1, 4, 6, 0, ""))),
		"back in time":       hist(ops(readOp(1, 5, 4, 0, ""))),
		"busy after unknown": hist(ops(casLost(1, 0, "a", long, 0), readOp(1, 100, 101, 0, ""))),
		"no kind":            {Ops: []RegisterOp{{Outcome: OutcomeOK}}},
		"no outcome":         {Ops: []RegisterOp{{Kind: RegisterRead}}},
	} {
		if _, err := Check(h, CheckConfig{}); err == nil {
			t.Errorf("%s: checked", name)
		}
	}
}

// TestDescriptions: the visualization's texts of operations and states.
func TestDescriptions(t *testing.T) {
	in := RegisterInput{Kind: RegisterCAS, Key: rkey(1), Expected: 3, Value: "x", TTL: 60}
	for _, c := range []struct{ got, want string }{
		{describeRegisterOp(in, RegisterOutput{Outcome: OutcomeOK, OK: true, Version: 4, Value: "x"}), `cas(v3→"x", 60s) → ok v4 "x"`},
		{describeRegisterOp(in, RegisterOutput{Outcome: OutcomeOK, Version: 5, Value: "y"}), `cas(v3→"x", 60s) → failed, now v5 "y"`},
		{describeRegisterOp(in, RegisterOutput{Outcome: OutcomeUnknown}), `cas(v3→"x", 60s) → ? (unknown)`},
		{describeRegisterOp(RegisterInput{Kind: RegisterRead}, RegisterOutput{Outcome: OutcomeOK}), `read → absent`},
		{describeRegisterState(registerState{}), "absent"},
		{describeRegisterState(registerState{Version: 2, Value: "b", ELo: sec(1.5), EHi: math.MaxInt64}), `v2 "b", expires in [1.500s, ∞]`},
		{describeMetadata(opMetadata{Index: 7, Client: 2}), "op #7 of the history, client 2"},
	} {
		if c.got != c.want {
			t.Errorf("got %s, want %s", c.got, c.want)
		}
	}
}
