package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/opendht-go/opendht/impl/client"
	"github.com/opendht-go/opendht/impl/gateway"
	"github.com/opendht-go/opendht/impl/gateway/gatewaytest"
	"github.com/opendht-go/opendht/impl/gateway/httpapi"
	"github.com/opendht-go/opendht/impl/gateway/xmlrpc"
)

// Reference: spec/SPEC.md section 11 (CAS-3, CAS-6, CAS-7, CAS-11) for
// every test in this file.

// xmlGateway starts an XML-RPC gateway, with the JSON API on its port, on
// b.
func xmlGateway(t *testing.T, b gateway.Backend) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	xc := xmlrpc.DefaultConfig()
	xc.API = httpapi.New(b, httpapi.DefaultConfig())
	go func() { _ = xmlrpc.New(b, xc).ServeListener(ctx, ln) }()
	return ln.Addr().String()
}

func TestCASRead(t *testing.T) {
	xml, _, _ := gateways(t)
	for _, proto := range []string{"xmlrpc", "http"} {
		t.Run(proto, func(t *testing.T) {
			g := []string{"--gateway", xml, "--protocol", proto}
			key := "reg-" + proto
			if out := mustRun(t, "", append(g, "read", key)...); out != "version=0 value= (absent)\n" {
				t.Errorf("read of an absent register: %q", out)
			}
			if out := mustRun(t, "", append(g, "cas", key, "--expected", "0", "first")...); out != "ok version=1 value=first\n" {
				t.Errorf("cas: %q", out)
			}
			if out := mustRun(t, "second", append(g, "cas", "--expected", "1", "--ttl", "10m", key, "-")...); out != "ok version=2 value=second\n" {
				t.Errorf("cas from stdin: %q", out)
			}
			// A stale cas prints the current register and fails.
			out, err := run(t, "", append(g, "cas", "--expected", "1", key, "third")...)
			var ue usageError
			if err == nil || errors.As(err, &ue) || !errors.Is(err, errCASFailed) || out != "failed version=2 value=second\n" ||
				!strings.Contains(err.Error(), "the register is at version 2, not 1") {
				t.Errorf("stale cas: %v %q", err, out)
			}
			if out := mustRun(t, "", append(g, "read", key)...); out != "version=2 value=second\n" {
				t.Errorf("read: %q", out)
			}
			// The same register by its raw key, and as JSON.
			raw := client.TextKey(key).String()
			out = mustRun(t, "", append(g, "--json", "read", "--raw-key", raw)...)
			var jr jsonRegister
			if err := json.Unmarshal([]byte(out), &jr); err != nil || jr.Key != raw || jr.Version != 2 || string(jr.Value) != "second" ||
				jr.Text != "second" || jr.OK != nil {
				t.Errorf("read --json: %v %q", err, out)
			}
			out, err = run(t, "", append(g, "--json", "cas", "--expected", "7", key, "x")...)
			jr = jsonRegister{}
			if jerr := json.Unmarshal([]byte(out), &jr); jerr != nil || err == nil || jr.OK == nil || *jr.OK || jr.Version != 2 || jr.Op != "cas" {
				t.Errorf("failed cas --json: %v %v %q", err, jerr, out)
			}
			// Delete: an empty value, and the version goes on (CAS-6).
			if out := mustRun(t, "", append(g, "cas", "--expected", "2", key, "")...); out != "ok version=3 value= (deleted)\n" {
				t.Errorf("delete: %q", out)
			}
			// Binary values are shown in base64.
			mustRun(t, "\x00\x01", append(g, "cas", "--expected", "3", key, "-")...)
			if out := mustRun(t, "", append(g, "read", key)...); out != "version=4 value=base64:AAE=\n" {
				t.Errorf("binary read: %q", out)
			}
			// Registers are not values (CAS-1).
			if out := mustRun(t, "", append(g, "get", key)...); out != "" {
				t.Errorf("get of a register's key: %q", out)
			}
		})
	}
}

func TestCASErrors(t *testing.T) {
	xml, sun, _ := gateways(t)
	g := []string{"--gateway", xml}
	for _, args := range [][]string{
		{"cas", "k", "v"},                     // no --expected
		{"cas", "--expected", "-1", "k", "v"}, // not a uint64
		{"cas", "--expected", "x", "k", "v"},  // not a number
		{"cas", "--expected", "0", "k"},       // no value
		{"cas", "--expected", "0", "--ttl", "0", "k", "v"},
		{"read"},
		{"read", "--raw-key", "zz"},
		{"bench", "--op", "rmw"},
		{"bench", "--op", "cas", "--get-ratio", "0.5"},
		{"--protocol", "sunrpc", "bench", "--op", "cas"},
	} {
		_, err := run(t, "", append(g, args...)...)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("dhtctl %v: %v, want a usage error", args, err)
		}
	}
	// Refused by the gateway: exit 1 with its text, nothing changed.
	_, err := run(t, "", append(g, "cas", "--expected", "18446744073709551615", "k", "v")...)
	if err == nil || !strings.Contains(err.Error(), "expected version is out of range") {
		t.Errorf("expected 2^64-1: %v", err)
	}
	out, err := run(t, "", append(g, "--json", "cas", "--expected", "0", "k", strings.Repeat("x", 1025))...)
	if err == nil || !strings.Contains(out, "value is longer than 1024 bytes") {
		t.Errorf("oversized cas: %v %q", err, out)
	}
	if out := mustRun(t, "", append(g, "read", "k")...); out != "version=0 value= (absent)\n" {
		t.Errorf("after refused cas: %q", out)
	}
	// Over Sun RPC: not supported, said so.
	_, err = run(t, "", "--gateway", sun, "--protocol", "sunrpc", "read", "k")
	if !errors.Is(err, client.ErrNotSupported) {
		t.Errorf("read over sunrpc: %v", err)
	}
}

// TestCASUnknownOutcome: a lost answer is said to be an unknown outcome,
// on its own, and the cas is not repeated.
func TestCASUnknownOutcome(t *testing.T) {
	addr := xmlGateway(t, &gatewaytest.Unknown{})
	for _, proto := range []string{"xmlrpc", "http"} {
		g := []string{"--gateway", addr, "--protocol", proto}
		out, err := run(t, "", append(g, "cas", "--expected", "0", "k", "v")...)
		if !errors.Is(err, client.ErrUnknownOutcome) || !strings.Contains(err.Error(), "OUTCOME UNKNOWN") ||
			!strings.Contains(err.Error(), "read the register (dhtctl read) before trying again") || out != "" {
			t.Errorf("%s: cas with an unknown outcome: %v %q", proto, err, out)
		}
		out, _ = run(t, "", append(g, "--json", "cas", "--expected", "0", "k", "v")...)
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil || m["outcome"] != "unknown" || m["error"] == nil {
			t.Errorf("%s: --json: %v %q", proto, err, out)
		}
	}
	// A failing node is a failure, not an unknown outcome.
	addr = xmlGateway(t, gatewaytest.Failing{})
	_, err := run(t, "", "--gateway", addr, "cas", "--expected", "0", "k", "v")
	if err == nil || errors.Is(err, client.ErrUnknownOutcome) || strings.Contains(err.Error(), "OUTCOME UNKNOWN") {
		t.Errorf("failing node: %v", err)
	}
}

// TestBenchCAS: read-modify-write loops on one contended register and on
// several: every call completes, conflicts are counted apart from errors,
// and the registers end at the number of cas that took effect.
func TestBenchCAS(t *testing.T) {
	xml, _, _ := gateways(t)
	casLine := regexp.MustCompile(`(?m)^cas +ops=(\d+) ops/s=\d+ p50_ms=[0-9.]+ p99_ms=[0-9.]+ p999_ms=[0-9.]+ conflicts=(\d+) errors=0$`)
	readLine := regexp.MustCompile(`(?m)^read +ops=(\d+) ops/s=\d+ p50_ms=[0-9.]+ p99_ms=[0-9.]+ p999_ms=[0-9.]+ errors=0$`)
	summary := regexp.MustCompile(`^ops/s=\d+ p50_ms=[0-9.]+ p99_ms=[0-9.]+ conflicts=(\d+) errors=0$`)
	for i, tc := range []struct {
		proto string
		keys  int
	}{{"xmlrpc", 1}, {"http", 1}, {"xmlrpc", 5}} {
		seed := strconv.Itoa(100 + i)
		out := mustRun(t, "", "--gateway", xml, "--protocol", tc.proto, "bench", "--op", "cas", "--ops", "300", "--concurrency", "6",
			"--keys", strconv.Itoa(tc.keys), "--value-size", "16", "--seed", seed)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		cm, rm, sm := casLine.FindStringSubmatch(out), readLine.FindStringSubmatch(out), summary.FindStringSubmatch(lines[len(lines)-1])
		if cm == nil || rm == nil || sm == nil {
			t.Fatalf("%s, %d keys: output\n%s", tc.proto, tc.keys, out)
		}
		cas, _ := strconv.Atoi(cm[1])
		conflicts, _ := strconv.Atoi(cm[2])
		reads, _ := strconv.Atoi(rm[1])
		if cas+reads != 300 || sm[1] != cm[2] {
			t.Errorf("%s: %d cas + %d reads, want 300 calls; conflicts %s and %s", tc.proto, cas, reads, cm[2], sm[1])
		}
		if tc.keys == 1 && conflicts == 0 {
			t.Errorf("%s: 6 clients on one register and no conflict:\n%s", tc.proto, out)
		}
		// Each cas that took effect moved one register by one version.
		total := 0
		for k := range tc.keys {
			out := mustRun(t, "", "--gateway", xml, "--json", "read", "bench-"+seed+"-"+strconv.Itoa(k))
			var jr jsonRegister
			if err := json.Unmarshal([]byte(out), &jr); err != nil {
				t.Fatal(err)
			}
			total += int(jr.Version)
		}
		if total != cas-conflicts {
			t.Errorf("%s, %d keys: registers at %d versions in all, want %d cas - %d conflicts", tc.proto, tc.keys, total, cas, conflicts)
		}
	}
	// A gateway without registers: every call an error, the table says why.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type noRegisters struct{ gateway.Backend }
	go func() {
		_ = xmlrpc.New(noRegisters{gatewaytest.NewModel()}, xmlrpc.DefaultConfig()).ServeListener(ctx, ln)
	}()
	out := mustRun(t, "", "--gateway", ln.Addr().String(), "bench", "--op", "cas", "--ops", "20", "--concurrency", "2")
	if !strings.HasSuffix(strings.TrimSpace(out), "conflicts=0 errors=20") || !strings.Contains(out, "20 x not supported") {
		t.Errorf("gateway without registers:\n%s", out)
	}
}
