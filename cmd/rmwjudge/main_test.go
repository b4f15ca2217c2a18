package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// TestTable: the judge prints a row per schedule family and the summary
// line per protocol, and exits 0 when caspaxos passes and naive is caught.
func TestTable(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"-protocols", "caspaxos,naive", "-sim-runs", "2", "-udp-runs", "0", "-out", t.TempDir()}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{
		`(?m)^protocol=caspaxos runs=2 linearizable=2 violations=0$`,
		`(?m)^protocol=naive runs=2 linearizable=0 violations=2$`,
		`(?m)^caspaxos\s+sim\s+one-way\s+1\s+1\s+0\s`,
		`(?m)^naive\s+sim\s+loss\s+1\s+0\s+1\s.*naive-sim-2-shrunk\.html$`,
	} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "caspaxos-minority-quorum") {
		t.Errorf("variants judged although -protocols was given")
	}
}

// TestExitStatus: a protocol that must pass and fails, or one that must
// be caught and is not, exits 1; bad usage exits 2.
func TestExitStatus(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-protocols", "naive", "-must-pass", "naive", "-sim-runs", "1", "-udp-runs", "0", "-out", ""}, &out, &errb); code != 1 {
		t.Errorf("naive required to pass: exit %d, want 1", code)
	}
	if code := run([]string{"-protocols", "caspaxos", "-must-fail", "caspaxos", "-sim-runs", "1", "-udp-runs", "0", "-out", ""}, &out, &errb); code != 1 {
		t.Errorf("caspaxos required to be caught: exit %d, want 1", code)
	}
	for _, args := range [][]string{{"-protocols", "nosuch"}, {"-sim-runs", "-1"}, {"-bogus"}} {
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
