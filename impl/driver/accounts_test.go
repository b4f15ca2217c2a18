package driver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/client"
	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/driver"
	"github.com/opendht-go/opendht/impl/gateway"
	"github.com/opendht-go/opendht/impl/gateway/accounts"
	"github.com/opendht-go/opendht/impl/gateway/xmlrpc"
	"github.com/opendht-go/opendht/impl/porttest"
)

// The two providers of the accounts check: each runs two of the four
// nodes of one ring. Both have an account named alice: two identities
// (AC-9).
const (
	alphaFile = `provider = "alpha"
admin_key = "alpha-admin-key-0123456789"
[[account]]
name = "alice"
key = "alice-key-0123456789"
quota = 3000
[[account]]
name = "carol"
key = "carol-key-0123456789"
quota = 100000
`
	betaFile = `provider = "beta"
admin_key = "beta-admin-key-0123456789"
[[account]]
name = "bob"
key = "bob-key-0123456789abc"
quota = 100000
[[account]]
name = "alice"
key = "beta-alice-key-0123456789"
quota = 100000
`
	aliceKey = "alice-key-0123456789"
	bobKey   = "bob-key-0123456789abc"
)

// accountsCluster is a ring of four nodes over loopback UDP: nodes 0 and 1
// are provider alpha's gateways, 2 and 3 provider beta's. With four
// replicas per key every node stores every key, so every node is a
// replica of every write.
type accountsCluster struct {
	servers []*driver.Server
	sunrpc  []string
}

func startAccountsCluster(t *testing.T) *accountsCluster {
	t.Helper()
	sets := make([]*accounts.Set, 2)
	for i, f := range []string{alphaFile, betaFile} {
		s, err := accounts.Parse(f, fmt.Sprintf("provider %d", i))
		if err != nil {
			t.Fatal(err)
		}
		sets[i] = s
	}
	c := &accountsCluster{}
	c.servers = startNodes(t, 4, func(i int, cfg *driver.ServerConfig) {
		sun := fmt.Sprintf("127.0.0.1:%d", porttest.TCP(t))
		cfg.XMLRPC, cfg.SunRPC, cfg.Accounts = fmt.Sprintf("127.0.0.1:%d", porttest.TCP(t)), sun, sets[i/2]
		cfg.Store.NoSync = true // this test checks accounts, not durability
		c.sunrpc = append(c.sunrpc, sun)
	})
	// Every node must see the three others: then every node is in every
	// key's replica set.
	waitForRing(t, c.servers, 60*time.Second)
	return c
}

// client returns a Go client of node i's gateway with key (empty:
// anonymous).
func (c *accountsCluster) client(t *testing.T, i int, p client.Protocol, key string) *client.Client {
	t.Helper()
	addr := c.servers[i].XMLRPCAddr()
	if p == client.SunRPC {
		addr = c.sunrpc[i]
	}
	cfg := client.DefaultConfig(addr)
	cfg.Protocol, cfg.APIKey = p, key
	cl, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// stored returns what every node's store charges to id (FST-10), once the
// replicas agree (anti-entropy may still be copying the last write).
func (c *accountsCluster) stored(t *testing.T, id dht.ClientID, want int64) []int64 {
	t.Helper()
	var got []int64
	for deadline := time.Now().Add(60 * time.Second); ; {
		got = got[:0]
		same := true
		for _, s := range c.servers {
			got = append(got, s.Store().Usage()[id])
			same = same && got[len(got)-1] == want
		}
		if same || time.Now().After(deadline) {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// value936 is a value whose put is charged 1000 bytes (FST-1).
func value936(tag string) []byte {
	v := bytes.Repeat([]byte{'.'}, 936)
	copy(v, tag)
	return v
}

// rawCall sends a request with headers to a gateway and returns the
// status code and body.
func rawCall(t *testing.T, method, url, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// overQuotaRefused is the check of AC-5 and AC-7 that the negative control
// must fail: alice, who holds her whole quota at every node, puts one
// more value through gateway i; it must be refused with ErrOverQuota and
// leave every node's charge to her where it was.
func overQuotaRefused(ctx context.Context, t *testing.T, c *accountsCluster, i int, tag string) error {
	alice := c.client(t, i, client.HTTP, aliceKey)
	err := alice.Put(ctx, client.TextKey(tag), value936(tag), time.Hour)
	if !errors.Is(err, client.ErrOverQuota) {
		return fmt.Errorf("a put over alice's quota through gateway %d answered %v, want %v", i, err, client.ErrOverQuota)
	}
	for j, s := range c.servers {
		if u := s.Store().Usage()[dht.AccountClient("alpha", "alice")]; u > 3000 {
			return fmt.Errorf("node %d charges alice %d bytes, over her quota of 3000 (INV-9)", j, u)
		}
	}
	return nil
}

// TestAccountsTwoProviders runs spec section 20 end to end on four real
// nodes over loopback UDP, two providers with two gateways each sharing
// one ring: API keys over the HTTP API, XML-RPC and the Go client (AC-2);
// anonymous reads served, anonymous writes refused (AC-3); each account's
// writes charged to its identity at every replica (AC-4); the quota
// enforced at every replica with a clear answer on every protocol (AC-5,
// AC-7); a client of one provider reads what a client of the other put,
// and each provider's usage report lists only its own accounts (AC-8,
// AC-9). Its negative control plants a gateway that does not attach the
// account's identity, which the quota check must catch.
func TestAccountsTwoProviders(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets")
	}
	c := startAccountsCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	aliceID, bobID := dht.AccountClient("alpha", "alice"), dht.AccountClient("beta", "bob")

	// alice (alpha) writes through alpha's gateway 0 over HTTP: three
	// values of 1000 bytes each fill her quota of 3000 (AC-5).
	alice := c.client(t, 0, client.HTTP, aliceKey)
	for i := range 3 {
		tag := fmt.Sprintf("alice-%d", i)
		if err := alice.Put(ctx, client.TextKey(tag), value936(tag), time.Hour); err != nil {
			t.Fatalf("alice's put %d: %v", i, err)
		}
	}
	// bob (beta) reads them through beta's gateway 2 over XML-RPC, and
	// writes a value that alice reads through alpha's gateway 1 (AC-9).
	bob := c.client(t, 2, client.XMLRPC, bobKey)
	page, err := bob.GetPage(ctx, client.TextKey("alice-1"), 10, nil)
	if err != nil || len(page.Values) != 1 || !bytes.Equal(page.Values[0].Data, value936("alice-1")) {
		t.Fatalf("bob's get of alice's value through beta: %+v %v", page, err)
	}
	if err := bob.Put(ctx, client.TextKey("bob-0"), []byte("from beta"), time.Hour); err != nil {
		t.Fatalf("bob's put: %v", err)
	}
	page, err = c.client(t, 1, client.XMLRPC, aliceKey).GetPage(ctx, client.TextKey("bob-0"), 10, nil)
	if err != nil || len(page.Values) != 1 || string(page.Values[0].Data) != "from beta" {
		t.Fatalf("alice's get of bob's value through alpha: %+v %v", page, err)
	}

	// Every node, of either provider, charges alice exactly her 3000
	// bytes and bob his 73 (AC-4, RD-10): beta's nodes know nothing of
	// alpha's accounts and enforce the quota that alpha's gateway put on
	// the identity (AC-6, AC-10).
	if got := c.stored(t, aliceID, 3000); fmt.Sprint(got) != "[3000 3000 3000 3000]" {
		t.Fatalf("alice's charge at the four nodes: %v, want 3000 at each", got)
	}
	if got := c.stored(t, bobID, 64+9); fmt.Sprint(got) != "[73 73 73 73]" {
		t.Fatalf("bob's charge at the four nodes: %v, want 73 at each", got)
	}

	// One more value is over quota: through either of alpha's gateways,
	// over the Go client (HTTP), raw HTTP and raw XML-RPC (AC-7).
	for i := range 2 {
		if err := overQuotaRefused(ctx, t, c, i, fmt.Sprintf("alice-over-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	api := "http://" + c.servers[1].XMLRPCAddr() + "/api/v1"
	key := client.TextKey("alice-raw")
	body := fmt.Sprintf(`{"value":"%s","ttl":600}`, "AAAA")
	if code, b := rawCall(t, "POST", fmt.Sprintf("%s/keys/%x", api, key[:]), body, map[string]string{"X-API-Key": aliceKey}); code != 507 ||
		!strings.Contains(b, `"result":"over quota"`) || !strings.Contains(b, `"status":1`) {
		t.Fatalf("raw HTTP put over quota: %d %s", code, b)
	}
	call := xmlrpc.EncodeMethodCall(&xmlrpc.MethodCall{Method: "put", Params: []xmlrpc.Value{
		xmlrpc.Base64Value(key[:]), xmlrpc.Base64Value([]byte("x")), xmlrpc.IntValue(600), xmlrpc.StringValue("test")}})
	code, b := rawCall(t, "POST", "http://"+c.servers[0].XMLRPCAddr()+"/RPC2", string(call), map[string]string{"Authorization": "Bearer " + aliceKey})
	if mr, err := xmlrpc.ParseMethodResponse([]byte(b)); code != 200 || err != nil || mr.Fault == nil || mr.Fault.String != dht.ErrOverQuota.Error() {
		t.Fatalf("raw XML-RPC put over quota: %d %s", code, b)
	}
	// Her other writes pass: a re-put of a value she holds, and carol of
	// the same provider is not held up.
	if err := alice.Put(ctx, client.TextKey("alice-0"), value936("alice-0"), 2*time.Hour); err != nil {
		t.Fatalf("alice's re-put at her quota: %v", err)
	}
	if err := c.client(t, 1, client.XMLRPC, "carol-key-0123456789").Put(ctx, client.TextKey("carol"), value936("carol"), time.Hour); err != nil {
		t.Fatalf("carol's put: %v", err)
	}

	// Anonymous clients read but do not write (AC-3); a wrong key is
	// refused whole (AC-2).
	anon := c.client(t, 0, client.HTTP, "")
	if page, err := anon.GetPage(ctx, client.TextKey("bob-0"), 10, nil); err != nil || len(page.Values) != 1 {
		t.Fatalf("anonymous get: %+v %v", page, err)
	}
	if err := anon.Put(ctx, client.TextKey("anon"), []byte("x"), time.Hour); !errors.Is(err, client.ErrKeyRequired) {
		t.Fatalf("anonymous put over HTTP: %v, want %v", err, client.ErrKeyRequired)
	}
	if err := c.client(t, 0, client.XMLRPC, "").Put(ctx, client.TextKey("anon"), []byte("x"), time.Hour); !errors.Is(err, client.ErrKeyRequired) {
		t.Fatalf("anonymous put over XML-RPC: %v, want %v", err, client.ErrKeyRequired)
	}
	if err := c.client(t, 2, client.HTTP, "no-such-key-0123456789").Put(ctx, client.TextKey("anon"), []byte("x"), time.Hour); !errors.Is(err, client.ErrUnknownKey) {
		t.Fatalf("put with an unknown key: %v, want %v", err, client.ErrUnknownKey)
	}
	if err := c.client(t, 2, client.HTTP, aliceKey).Put(ctx, client.TextKey("anon"), []byte("x"), time.Hour); !errors.Is(err, client.ErrUnknownKey) {
		t.Fatalf("alpha's key at beta's gateway: %v, want %v", err, client.ErrUnknownKey)
	}
	if err := c.client(t, 0, client.SunRPC, "").Put(ctx, client.TextKey("anon"), []byte("x"), time.Hour); !errors.Is(err, client.ErrOverCapacity) {
		t.Fatalf("anonymous put over Sun RPC: %v, want status 1", err)
	}
	if code, b := rawCall(t, "GET", api+"/usage", "", nil); code != 401 {
		t.Fatalf("anonymous usage report: %d %s", code, b)
	}

	// The usage reports (AC-8, AC-9).
	rep, err := alice.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Provider != "alpha" || len(rep.Accounts) != 1 {
		t.Fatalf("alice's report: %+v", rep)
	}
	a := rep.Accounts[0]
	if a.Account != "alice" || a.Identity != string(aliceID) || a.QuotaBytes != 3000 || a.StoredBytes != 3000 || a.StoredItems != 3 ||
		a.Ledger.OK != 4 || a.Ledger.OverQuota != 2 || a.Ledger.Bytes != 4000 {
		t.Fatalf("alice's row at gateway 0: %+v", a)
	}
	t.Logf("alice at gateway 0: %+v", a)
	admin := func(i int, key string) gateway.UsageReport {
		rep, err := c.client(t, i, client.XMLRPC, key).Usage(ctx)
		if err != nil {
			t.Fatalf("admin report at gateway %d: %v", i, err)
		}
		return rep
	}
	ra, rb := admin(1, "alpha-admin-key-0123456789"), admin(3, "beta-admin-key-0123456789")
	names := func(r gateway.UsageReport) string {
		var s []string
		for _, a := range r.Accounts {
			s = append(s, a.Identity)
		}
		return strings.Join(s, " ")
	}
	if names(ra) != "acct:alpha/alice acct:alpha/carol" || names(rb) != "acct:beta/bob acct:beta/alice" {
		t.Fatalf("the providers' reports list %q and %q", names(ra), names(rb))
	}
	// Beta's node stores alpha's accounts' values, and beta's report does
	// not show them: each provider sees only its own users (AC-9).
	if c.servers[3].Store().Usage()[aliceID] == 0 {
		t.Fatal("beta's node 3 stores nothing of alpha's alice: the scoping check would be empty")
	}
	if rb.Accounts[1].StoredBytes != 0 || rb.Accounts[0].StoredBytes != 73 {
		t.Fatalf("beta's report: %+v", rb)
	}
	t.Logf("alpha's report at gateway 1: %+v", ra)
	t.Logf("beta's report at gateway 3: %+v", rb)

	// Negative control: a gateway that charges the account's writes to
	// the client's address. The same check must now fail.
	if err := accounts.Plant(accounts.Variant{NoIdentity: true}); err != nil {
		t.Logf("negative control skipped: %v", err)
		return
	}
	defer func() { _ = accounts.Plant(accounts.Variant{}) }()
	err = overQuotaRefused(ctx, t, c, 0, "alice-planted")
	if err == nil {
		t.Fatal("negative control: a gateway that does not attach the account's identity passed the quota check")
	}
	t.Logf("negative control caught: %v", err)
}
