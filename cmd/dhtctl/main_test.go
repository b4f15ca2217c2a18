package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opendht-go/opendht/cmd/internal/cli"
	"github.com/opendht-go/opendht/impl/client"
	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway/gatewaytest"
	"github.com/opendht-go/opendht/impl/gateway/httpapi"
	"github.com/opendht-go/opendht/impl/gateway/sunrpc"
	"github.com/opendht-go/opendht/impl/gateway/xmlrpc"
)

// gateways starts an XML-RPC and a Sun RPC gateway on one in-memory DHT.
func gateways(t *testing.T) (xml, sun string, m *gatewaytest.Model) {
	t.Helper()
	m = gatewaytest.NewModel()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	l1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	xc := xmlrpc.DefaultConfig()
	xc.API = httpapi.New(m, httpapi.DefaultConfig()) // as on a node: /api/ on the same port
	go func() { _ = xmlrpc.New(m, xc).ServeListener(ctx, l1) }()
	go func() { _ = sunrpc.New(m, sunrpc.DefaultConfig()).Serve(ctx, l2) }()
	return l1.Addr().String(), l2.Addr().String(), m
}

// run runs dhtctl with args and returns its output.
func run(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := rootCmd(strings.NewReader(stdin), &out)
	root.SetArgs(args)
	root.SetErr(&out)
	err := root.Execute()
	return out.String(), err
}

func mustRun(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := run(t, stdin, args...)
	if err != nil {
		t.Fatalf("dhtctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestPutGetRm(t *testing.T) {
	xml, sun, _ := gateways(t)
	for _, gw := range []struct{ proto, addr string }{{"xmlrpc", xml}, {"sunrpc", sun}, {"http", xml}} {
		t.Run(gw.proto, func(t *testing.T) {
			g := []string{"--gateway", gw.addr, "--protocol", gw.proto}
			key := "cli-" + gw.proto
			if out := mustRun(t, "", append(g, "put", key, "first")...); !strings.Contains(out, "success (status 0)") {
				t.Errorf("put: %q", out)
			}
			mustRun(t, "from stdin", append(g, "put", "--secret", "pw", "--ttl", "10m", key, "-")...)
			out := mustRun(t, "", append(g, "get", key)...)
			if out != "first\nfrom stdin\n" {
				t.Errorf("get: %q", out)
			}
			out = mustRun(t, "", append(g, "get", "--details", key)...)
			if !strings.Contains(out, "first\tttl=3600s\tnot removable") ||
				!strings.Contains(out, "from stdin\tttl=600s\tsecret_hash="+hexHash("pw")) {
				t.Errorf("get --details: %q", out)
			}
			out = mustRun(t, "", append(g, "--json", "get", key)...)
			var js struct {
				Key    string
				Values []jsonValue
			}
			if err := json.Unmarshal([]byte(out), &js); err != nil || len(js.Values) != 2 || js.Values[1].Text != "from stdin" ||
				js.Key != client.TextKey(key).String() {
				t.Errorf("get --json: %v %q", err, out)
			}
			mustRun(t, "", append(g, "rm", "--secret", "pw", "--ttl", "600", key, "from stdin")...)
			if out := mustRun(t, "", append(g, "get", key)...); out != "first\n" {
				t.Errorf("get after rm: %q", out)
			}
			// The same key given raw.
			raw := client.TextKey(key).String()
			if out := mustRun(t, "", append(g, "get", "--raw-key", raw)...); out != "first\n" {
				t.Errorf("get --raw-key: %q", out)
			}
			if out := mustRun(t, "", append(g, "ping")...); !strings.Contains(out, gw.addr+": ok in") {
				t.Errorf("ping: %q", out)
			}
		})
	}
}

func hexHash(s string) string { return dht.Key(dht.SHA1([]byte(s))).String() }

// TestErrors: usage errors and failed calls end with an error, and the
// JSON output of a write carries the status.
func TestErrors(t *testing.T) {
	xml, _, _ := gateways(t)
	g := []string{"--gateway", xml}
	for _, args := range [][]string{
		{"put", "onlykey"},
		{"get"},
		{"--protocol", "smtp", "get", "k"},
		{"get", "--raw-key", "xyz", "k"},
		{"get", "--raw-key", strings.Repeat("ab", 21)},
		{"rm", "k", "v"},
		{"put", "--ttl", "0", "k", "v"},
		{"bench", "--get-ratio", "2"},
		{"bench", "--value-size", "2000"},
	} {
		_, err := run(t, "", append(g, args...)...)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("dhtctl %v: %v, want a usage error", args, err)
		}
	}
	out, err := run(t, "", append(g, "--json", "put", "k", strings.Repeat("x", 1025))...)
	if err == nil || !strings.Contains(out, "value is longer than 1024 bytes") {
		t.Errorf("oversized put: %v %q", err, out)
	}
	_, err = run(t, "", "--gateway", "127.0.0.1:1", "--timeout", "2s", "ping")
	if err == nil {
		t.Error("ping of a closed port succeeded")
	}
}

// TestBench: a short bench completes every call, prints the per-operation
// lines, and ends with the summary line scripts parse.
func TestBench(t *testing.T) {
	xml, sun, m := gateways(t)
	for _, gw := range []struct{ proto, addr string }{{"xmlrpc", xml}, {"sunrpc", sun}, {"http", xml}} {
		out := mustRun(t, "", "--gateway", gw.addr, "--protocol", gw.proto, "bench", "--ops", "400", "--concurrency", "8", "--keys", "20", "--value-size", "100")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		last := lines[len(lines)-1]
		if !regexp.MustCompile(`^ops/s=\d+ p50_ms=[0-9.]+ p99_ms=[0-9.]+ errors=0$`).MatchString(last) {
			t.Errorf("%s: summary line %q\n%s", gw.proto, last, out)
		}
		for _, op := range []string{"put ", "get "} {
			if !regexp.MustCompile(`(?m)^` + op + ` *ops=\d+ ops/s=\d+ p50_ms=[0-9.]+ p99_ms=[0-9.]+ p999_ms=[0-9.]+ errors=0$`).MatchString(out) {
				t.Errorf("%s: no %q line in\n%s", gw.proto, op, out)
			}
		}
	}
	// A gateway that fails every call: every call is an error, and the
	// table says which.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = xmlrpc.New(gatewaytest.Failing{}, xmlrpc.DefaultConfig()).ServeListener(ctx, ln) }()
	out := mustRun(t, "", "--gateway", ln.Addr().String(), "bench", "--ops", "50", "--get-ratio", "0", "--concurrency", "4")
	if !strings.HasSuffix(strings.TrimSpace(out), "errors=50") || !strings.Contains(out, "50 x no gateway answered") {
		t.Errorf("failing gateway:\n%s", out)
	}
	// 3 x (20 loading puts + about 200 measured puts) reached the DHT.
	if n := len(m.Clients()); n < 3*(20+150) || n > 3*(20+250) {
		t.Errorf("%d writes reached the backend", n)
	}
}

// TestSunRPCVersion2: --sunrpc-version 2 speaks the first Sun RPC
// interface: put, get and bench work, a put with a secret is refused by
// the client (version 2 has none) and fails, and other versions are usage
// errors.
func TestSunRPCVersion2(t *testing.T) {
	_, sun, _ := gateways(t)
	g := []string{"--gateway", sun, "--protocol", "sunrpc", "--sunrpc-version", "2"}
	mustRun(t, "", append(g, "put", "old-key", "old value")...)
	if out := mustRun(t, "", append(g, "get", "old-key")...); out != "old value\n" {
		t.Errorf("v2 get: %q", out)
	}
	if out := mustRun(t, "", "--gateway", sun, "--protocol", "sunrpc", "get", "--details", "old-key"); !strings.Contains(out, "old value\tttl=3600s\tnot removable") {
		t.Errorf("v3 get of a v2 put: %q", out)
	}
	if out, err := run(t, "", append(g, "put", "--secret", "pw", "old-key", "v")...); err == nil || !strings.Contains(out+err.Error(), "version 2") {
		t.Errorf("v2 put with a secret: %v %q", err, out)
	}
	if out := mustRun(t, "", append(g, "ping")...); !strings.Contains(out, sun+": ok in") {
		t.Errorf("v2 ping: %q", out)
	}
	out := mustRun(t, "", append(g, "bench", "--ops", "200", "--concurrency", "4", "--keys", "10", "--value-size", "100")...)
	if !regexp.MustCompile(`errors=0\s*$`).MatchString(out) {
		t.Errorf("v2 bench:\n%s", out)
	}
	var ue usageError
	if _, err := run(t, "", "--gateway", sun, "--protocol", "sunrpc", "--sunrpc-version", "5", "get", "k"); !errors.As(err, &ue) {
		t.Errorf("--sunrpc-version 5: %v, want a usage error", err)
	}
}

// The papercuts of a first run: --version, exit statuses shared with
// opendht, --ops with --duration, and a progress bar only on a terminal.
func TestVersionUsageAndProgress(t *testing.T) {
	out, err := run(t, "", "--version")
	if err != nil || !strings.HasPrefix(out, "dhtctl ") || !strings.Contains(out, "revision") {
		t.Fatalf("--version: %v %q", err, out)
	}
	for _, args := range [][]string{{"nosuch"}, {"bench", "--ops", "10", "--duration", "1s"}, {"get", "--bogus", "k"}} {
		var stderr bytes.Buffer
		if code := cli.Run(rootCmd(strings.NewReader(""), &bytes.Buffer{}), args, &stderr); code != cli.ExitUsage {
			t.Errorf("dhtctl %v: exit %d (%s), want 2", args, code, stderr.String())
		}
	}
	if isTerminal(&bytes.Buffer{}) {
		t.Fatal("a buffer is a terminal")
	}
	var calls atomic.Int64
	var quiet bytes.Buffer
	startProgress(&quiet, false, 100, 0, &calls).finish()
	if quiet.Len() != 0 {
		t.Fatalf("a progress bar off a terminal: %q", quiet.String())
	}
	var tty bytes.Buffer
	p := startProgress(&tty, true, 100, 0, &calls)
	calls.Store(40)
	p.finish()
	if !strings.Contains(tty.String(), "(100/100)") {
		t.Fatalf("the progress bar on a terminal: %q", tty.String())
	}
}

// TestFastReads: get --fast and bench --fast-reads ask the gateway for
// fast reads (spec RD-14) over xmlrpc and http, and print what a default
// get prints; over sunrpc, and with --op cas or --output, they are usage
// errors and nothing reaches the gateway.
func TestFastReads(t *testing.T) {
	xml, sun, m := gateways(t)
	for _, proto := range []string{"xmlrpc", "http"} {
		g := []string{"--gateway", xml, "--protocol", proto}
		mustRun(t, "", append(g, "put", "fast-"+proto, "v1")...)
		want := mustRun(t, "", append(g, "get", "--details", "fast-"+proto)...)
		before := len(m.FastGets())
		if got := mustRun(t, "", append(g, "get", "--details", "--fast", "fast-"+proto)...); got != want {
			t.Errorf("%s: get --fast printed %q, get %q", proto, got, want)
		}
		if fast := m.FastGets()[before:]; len(fast) != 1 || !fast[0] {
			t.Errorf("%s: get --fast made the gets %v, want one fast read", proto, fast)
		}
		before = len(m.FastGets())
		out := mustRun(t, "", append(g, "bench", "--fast-reads", "--get-ratio", "1", "--ops", "30", "--concurrency", "2", "--keys", "5", "--value-size", "10")...)
		if !strings.Contains(out, "fast reads") || !strings.HasSuffix(strings.TrimSpace(out), "errors=0") {
			t.Errorf("%s: bench --fast-reads:\n%s", proto, out)
		}
		if fast := m.FastGets()[before:]; len(fast) != 30 || slices.Contains(fast, false) {
			t.Errorf("%s: bench --fast-reads made %d gets, fast: %v; want 30 fast reads", proto, len(fast), fast)
		}
	}
	before := len(m.FastGets())
	for _, args := range [][]string{
		{"--gateway", sun, "--protocol", "sunrpc", "bench", "--fast-reads", "--ops", "10"},
		{"--gateway", xml, "bench", "--fast-reads", "--op", "cas", "--ops", "10"},
		{"--gateway", xml, "get", "--fast", "--output", "-", "k"},
	} {
		if _, err := run(t, "", args...); !errors.As(err, new(usageError)) {
			t.Errorf("dhtctl %v: %v, want a usage error", args, err)
		}
	}
	if _, err := run(t, "", "--gateway", sun, "--protocol", "sunrpc", "get", "--fast", "k"); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("get --fast over sunrpc: %v, want not supported", err)
	}
	if n := len(m.FastGets()) - before; n != 0 {
		t.Errorf("%d gets reached the gateway from refused commands", n)
	}
}
