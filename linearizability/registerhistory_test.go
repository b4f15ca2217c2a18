package linearizability

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the example histories under testdata/registers/")

// TestHistoryJSONRoundTrip: Save then LoadRegisterHistory gives the same
// history: metadata, bounds, expected verdict, every kind and outcome,
// text and binary values, empty values (tombstones, CAS-6) and faults;
// and the loaded history gets the same verdict.
func TestHistoryJSONRoundTrip(t *testing.T) {
	h := hist(upTo3(), ops(
		casOp(1, 3, "", long, 4, 5, true, 4, ""),
		casLost(2, 4, string([]byte{0xff, 0x00, 0x80}), 7, 6),
		RegisterOp{Client: 3, Kind: RegisterCAS, Key: rkey(1), Expected: 4, Value: []byte("x"), TTL: 0,
			Call: sec(6), Return: sec(6.5), Outcome: OutcomeRefused, Err: "ttl must be positive"},
		readOp(3, 7, 8, 4, ""),
		onKey(readOp(4, 7, 8, 0, ""), 0xab),
	))
	h.Protocol, h.Seed, h.Expect = "caspaxos", 1<<63+5, VerdictOK
	h.Meta = map[string]string{"replay": "go test -tags variants ./impl/node -run TestRegisters -args -seed=5"}
	h.Faults = []Fault{{Kind: "partition", Target: "n1 | n2", From: sec(3), To: sec(4)}, {Kind: "crash", Target: "n3", From: sec(5), To: sec(5), Detail: "kill -9"}}
	path := filepath.Join(t.TempDir(), "h.json")
	if err := h.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := LoadRegisterHistory(path)
	if err != nil {
		t.Fatal(err)
	}
	// nil and empty byte slices are the same value
	norm := func(h RegisterHistory) RegisterHistory {
		for i := range h.Ops {
			if len(h.Ops[i].Value) == 0 {
				h.Ops[i].Value = nil
			}
			if len(h.Ops[i].Got) == 0 {
				h.Ops[i].Got = nil
			}
		}
		return h
	}
	if !reflect.DeepEqual(norm(got), norm(h)) {
		t.Fatalf("round trip changed the history:\n got  %+v\n want %+v", got, h)
	}
	if v, err := Check(got, CheckConfig{}); err != nil || v != VerdictOK {
		t.Fatalf("loaded history: %s, %v", v, err)
	}
	b, _ := os.ReadFile(path)
	for _, want := range []string{`"format": "opendht-register-history/1"`, `"value_hex":"ff0080"`, `"outcome":"unknown"`, `"key":"00000000000000000000000000000000000000ab"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the JSON lacks %s", want)
		}
	}
	if err := os.WriteFile(path, []byte(`{"format": "something else", "ops": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRegisterHistory(path); !errors.Is(err, ErrBadFormat) {
		t.Fatalf("a file of another format loads: %v", err)
	}
}

// exampleHistories are committed under testdata/registers/ (go test
// ./linearizability -run TestCommittedHistories -update rewrites them):
// what a failing run saves, and a passing one.
func exampleHistories() map[string]RegisterHistory {
	lost := hist(upTo3(), ops(
		readOp(1, 3.5, 3.8, 3, "c"), readOp(2, 3.6, 3.9, 3, "c"),
		casOp(1, 3, "x", long, 4, 6, true, 4, "x"),
		casOp(2, 3, "y", long, 4.5, 6.5, true, 4, "y"),
		readOp(1, 7, 7.5, 4, "y"),
	))
	lost.Protocol, lost.Expect = "hand-built", VerdictIllegal
	lost.Meta = map[string]string{"note": "a lost update (CAS-3) as read-modify-write from get, rm and put produces it: two clients read version 3 on either side of a partition and both cas from it"}
	lost.Faults = []Fault{{Kind: "partition", Target: "n1,n2 | n3,n4", From: sec(3.4), To: sec(6.8), Detail: "client 1 reaches n1, client 2 reaches n3"}}

	stale := hist(upTo3(), ops(readOp(1, 4, 5, 2, "b")))
	stale.Protocol, stale.Expect = "hand-built", VerdictIllegal
	stale.Meta = map[string]string{"note": "a stale read (CAS-7): version 3 was acknowledged before the read started"}
	stale.Faults = []Fault{{Kind: "crash", Target: "n2", From: sec(3.2), To: sec(3.2)}}

	unknown := hist(upTo3(), ops(
		casLost(1, 3, "x", long, 4), readOp(2, 6, 7, 3, "c"), readOp(2, 30, 31, 4, "x"),
		casOp(3, 0, "e", 5, 40, 41, true, 1, "e"), readOp(3, 50, 51, 0, "")))
	unknown.Expect = VerdictOK
	unknown.Protocol = "hand-built"
	unknown.Meta = map[string]string{"note": "linearizable: a cas whose outcome is unknown takes effect late (CAS-11); a register expires (CAS-4)"}
	unknown.Ops[len(unknown.Ops)-2].Key, unknown.Ops[len(unknown.Ops)-1].Key = rkey(2), rkey(2)
	return map[string]RegisterHistory{"lost-update.json": lost, "stale-read.json": stale, "unknown-outcome.json": unknown}
}

// TestCommittedHistories checks again every history committed under
// testdata/registers/ with both models: each must get the verdict it
// records (Expect). This is where a failing run's history goes, so that
// the checker's verdict on it is kept; a mismatch writes the
// visualization and logs its path.
func TestCommittedHistories(t *testing.T) {
	dir := filepath.Join("testdata", "registers")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, h := range exampleHistories() {
			if err := h.Save(filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no histories under %s (%v): go test ./linearizability -run TestCommittedHistories -update", dir, err)
	}
	for _, p := range paths {
		h, err := LoadRegisterHistory(p)
		if err != nil {
			t.Fatal(err)
		}
		if h.Expect == "" {
			t.Errorf("%s records no expected verdict", p)
			continue
		}
		for _, nondet := range []bool{false, true} {
			vis := filepath.Join(os.TempDir(), "opendht-porcupine", strings.TrimSuffix(filepath.Base(p), ".json")+".html")
			cfg := CheckConfig{Nondeterministic: nondet, Timeout: time.Minute}
			if v, err := Check(h, cfg); err != nil || v != h.Expect {
				cfg.VisualizePath = vis
				_, _ = Check(h, cfg)
				t.Errorf("%s (nondeterministic=%v): verdict %s (%v), the file expects %s; visualization: %s", p, nondet, v, err, h.Expect, vis)
			}
		}
	}
}
