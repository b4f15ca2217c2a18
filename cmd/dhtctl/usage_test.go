package main

import (
	"context"
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway/accounts"
	"github.com/opendht-go/opendht/impl/gateway/gatewaytest"
	"github.com/opendht-go/opendht/impl/gateway/httpapi"
	"github.com/opendht-go/opendht/impl/gateway/xmlrpc"
)

// TestAPIKeyAndUsage: dhtctl's --api-key charges puts to the account over
// XML-RPC and HTTP, an anonymous put fails with the gateway's reason, a
// put over the quota says "over quota", and usage prints the account's
// row (spec section 20).
func TestAPIKeyAndUsage(t *testing.T) {
	set, err := accounts.Parse("provider = \"alpha\"\n[[account]]\nname = \"alice\"\nkey = \"alice-key-0123456789\"\nquota = 1100\n", "test")
	if err != nil {
		t.Fatal(err)
	}
	m := gatewaytest.NewModel()
	b := set.Wrap(m, nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ac := httpapi.DefaultConfig()
	ac.Usage = b.Usage
	xc := xmlrpc.DefaultConfig()
	xc.API, xc.Middleware = httpapi.New(b, ac), set.Middleware
	go func() { _ = xmlrpc.New(b, xc).ServeListener(ctx, l) }()
	gw := l.Addr().String()

	mustRun(t, "", "--gateway", gw, "--api-key", "alice-key-0123456789", "put", "k1", strings.Repeat("v", 900))
	if c := m.Clients(); len(c) != 1 || c[0] != dht.AccountClient("alpha", "alice").WithQuota(1100) {
		t.Fatalf("charged to %v", c)
	}
	if out, err := run(t, "", "--gateway", gw, "--protocol", "http", "--api-key", "alice-key-0123456789", "put", "k2", strings.Repeat("w", 900)); err == nil || !strings.Contains(out, "over quota") {
		t.Fatalf("a put over quota: %v\n%s", err, out)
	}
	if out, err := run(t, "", "--gateway", gw, "put", "k3", "x"); err == nil || !strings.Contains(err.Error()+out, dht.ErrKeyRequired.Error()) {
		t.Fatalf("an anonymous put: %v\n%s", err, out)
	}
	t.Setenv("OPENDHT_API_KEY", "alice-key-0123456789")
	out := mustRun(t, "", "--gateway", gw, "usage")
	if !strings.Contains(out, "provider alpha") || !regexp.MustCompile(`alice\s+1100\s+0\s+0\s+1\s+1\s+0\s+964\s+3470400`).MatchString(out) {
		t.Fatalf("usage:\n%s", out)
	}
	if out := mustRun(t, "", "--gateway", gw, "--json", "usage"); !strings.Contains(out, `"quota_bytes": 1100`) {
		t.Fatalf("usage --json:\n%s", out)
	}
	if _, err := run(t, "", "--gateway", gw, "--protocol", "sunrpc", "usage"); err == nil {
		t.Fatal("usage over Sun RPC with a key was accepted")
	}
}
