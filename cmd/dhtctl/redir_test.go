package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestRedir: register three members, list them, look up a successor and a
// predecessor (RZ-5), an empty namespace (exit 1) and a bad tree (exit 2).
func TestRedir(t *testing.T) {
	xml, _, _ := gateways(t)
	g := []string{"--gateway", xml}
	for _, m := range []string{"alice", "bob", "carol"} {
		if out := mustRun(t, "", append(g, "redir", "register", "ns", m, m+"-addr")...); !strings.Contains(out, "registered ") {
			t.Fatalf("register: %q", out)
		}
	}
	out := mustRun(t, "", append(g, "redir", "members", "ns")...)
	if strings.Count(out, "\n") != 3 || !strings.Contains(out, "bob-addr") {
		t.Fatalf("members: %q", out)
	}
	// Keys as hex so the answer is known: the members' IDs are SHA-1s.
	var ms []jsonMember
	if err := json.Unmarshal([]byte(mustRun(t, "", append(g, "--json", "redir", "members", "ns")...)), &ms); err != nil || len(ms) != 3 {
		t.Fatalf("members --json: %v %+v", err, ms)
	}
	out = mustRun(t, "", append(g, "--raw-key", "redir", "lookup", "ns", ms[1].ID)...)
	if !strings.HasPrefix(out, ms[1].ID+"\t"+ms[1].Text) {
		t.Errorf("lookup of a member's own ID: %q, want %s", out, ms[1].ID)
	}
	out = mustRun(t, "", append(g, "--raw-key", "redir", "lookup", "--predecessor", "ns", ms[1].ID)...)
	if !strings.HasPrefix(out, ms[0].ID) {
		t.Errorf("predecessor: %q, want %s", out, ms[0].ID)
	}
	out = mustRun(t, "", append(g, "--raw-key", "redir", "lookup", "ns", "ffffffffffffffffffffffffffffffffffffffff")...)
	if !strings.HasPrefix(out, ms[0].ID) {
		t.Errorf("successor wraps to the lowest: %q, want %s", out, ms[0].ID)
	}
	if _, err := run(t, "", append(g, "redir", "lookup", "empty", "k")...); err == nil || isUsage(err) {
		t.Errorf("lookup in an empty namespace: %v, want a failed call", err)
	}
	if _, err := run(t, "", append(g, "redir", "--branching", "3", "members", "ns")...); !isUsage(err) {
		t.Errorf("branching 3: %v, want a usage error", err)
	}
	if _, err := run(t, "", append(g, "redir", "register", "ns", "x")...); !isUsage(err) {
		t.Errorf("missing payload: %v, want a usage error", err)
	}
}

func isUsage(err error) bool {
	var ue usageError
	return errors.As(err, &ue)
}
