package accounts_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway"
	"github.com/opendht-go/opendht/impl/gateway/accounts"
	"github.com/opendht-go/opendht/impl/gateway/gatewaytest"
	"github.com/opendht-go/opendht/impl/gateway/httpapi"
	"github.com/opendht-go/opendht/impl/gateway/xmlrpc"
)

const testFile = `provider = "alpha"
admin_key = "admin-key-0123456789"
[[account]]
name = "alice"
key = "alice-key-0123456789"
quota = 2000
[[account]]
name = "bob"
key_sha256 = "%s"
quota = 100000
`

func testSet(t *testing.T, extra string) *accounts.Set {
	t.Helper()
	d := sha256.Sum256([]byte("bob-key-0123456789ab"))
	s, err := accounts.Parse(strings.Replace(testFile, "%s", hex.EncodeToString(d[:]), 1)+extra, "test.toml")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestParseRefusesBadFiles: AC-1's checks, each with a message that names
// the problem; nothing is loaded from a bad file.
func TestParseRefusesBadFiles(t *testing.T) {
	s := testSet(t, "")
	if s.Provider() != "alpha" || len(s.Accounts()) != 2 || s.Accounts()[1].Identity != "acct:alpha/bob" || s.Accounts()[0].Quota != 2000 {
		t.Fatalf("parsed %q %+v", s.Provider(), s.Accounts())
	}
	acct := func(name, key, quota string) string {
		return "\n[[account]]\nname = " + name + "\nkey = " + key + "\nquota = " + quota + "\n"
	}
	for _, c := range []struct{ text, want string }{
		{`provider = "Alpha"`, "may only hold a-z"},
		{`provider = ""`, "1 to 16 characters"},
		{`provider = "alpha"` + "\nquota = 5", `unknown field "quota"`},
		{`provider = "alpha"` + acct(`"a/b"`, `"0123456789abcdef"`, "10"), "may only hold"},
		{`provider = "alpha"` + acct(`"a"`, `"short"`, "10"), "at least 16 bytes"},
		{`provider = "alpha"` + acct(`"a"`, `"0123456789abcdef"`, "0"), "quota must be in"},
		{`provider = "alpha"` + acct(`"a"`, `"0123456789abcdef"`, "1000000000000000"), "quota must be in"},
		{`provider = "alpha"` + acct(`"a"`, `"0123456789abcdef"`, "10") + acct(`"a"`, `"0123456789abcdeg"`, "10"), `"a" is given twice`},
		{`provider = "alpha"` + acct(`"a"`, `"0123456789abcdef"`, "10") + acct(`"b"`, `"0123456789abcdef"`, "10"), "also another account's"},
		{`provider = "alpha"` + "\nadmin_key = \"0123456789abcdef\"" + acct(`"a"`, `"0123456789abcdef"`, "10"), "or the admin key"},
		{`provider = "alpha"` + "\n[[account]]\nname = \"a\"\nquota = 10\n", "give key or key_sha256"},
		{`provider = "alpha"` + "\n[[account]]\nname = \"a\"\nkey_sha256 = \"abcd\"\nquota = 10\n", "64 hex digits"},
		{`provider = `, "test.toml"},
	} {
		if _, err := accounts.Parse(c.text, "test.toml"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one containing %q", c.text, err, c.want)
		}
	}
}

// FuzzParse: any text either is refused or gives accounts that hold AC-1's
// rules; parsing never panics.
func FuzzParse(f *testing.F) {
	f.Add(strings.Replace(testFile, "%s", strings.Repeat("ab", 32), 1))
	f.Add("provider = \"p\"\n[[account]]\nname=\"x\"\nkey=\"0123456789abcdef\"\nquota=1\n")
	f.Fuzz(func(t *testing.T, text string) {
		s, err := accounts.Parse(text, "fuzz")
		if err != nil {
			return
		}
		if dht.ValidProvider(s.Provider()) != nil {
			t.Fatalf("provider %q accepted", s.Provider())
		}
		for _, a := range s.Accounts() {
			if dht.ValidAccount(a.Name) != nil || a.Quota < 1 || a.Quota >= dht.MaxQuota {
				t.Fatalf("account %+v accepted", a)
			}
			if c, q := a.Identity.WithQuota(a.Quota).Quota(); c != a.Identity || q != a.Quota || len(a.Identity.WithQuota(a.Quota)) > 64 {
				t.Fatalf("account %+v: identity with quota does not round-trip", a)
			}
		}
	})
}

// gatewayOn serves XML-RPC and the HTTP API on the model behind the set's
// accounts, as a node does (impl/driver).
func gatewayOn(t *testing.T, s *accounts.Set, stored func() map[dht.ClientID]accounts.Stored) (*httptest.Server, *gatewaytest.Model) {
	t.Helper()
	m := gatewaytest.NewModel()
	b := s.Wrap(m, stored)
	ac := httpapi.DefaultConfig()
	ac.Usage = b.Usage
	xc := xmlrpc.DefaultConfig()
	xc.API = httpapi.New(b, ac)
	xc.Middleware = s.Middleware
	srv := httptest.NewServer(xmlrpc.New(b, xc).HTTPServer().Handler)
	t.Cleanup(srv.Close)
	return srv, m
}

func do(t *testing.T, method, url, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func xmlPut(value []byte) string {
	return string(xmlrpc.EncodeMethodCall(&xmlrpc.MethodCall{Method: "put", Params: []xmlrpc.Value{
		xmlrpc.Base64Value([]byte("key")), xmlrpc.Base64Value(value), xmlrpc.IntValue(600), xmlrpc.StringValue("test")}}))
}

// TestAccountsAtTheGateway: the keys of AC-2 on both protocols and both
// headers, the identity of AC-4 on every write, AC-3's anonymous clients,
// AC-7's answers and AC-8's ledger and report, on a gateway over the
// reference model (which enforces the quota as every replica does).
func TestAccountsAtTheGateway(t *testing.T) {
	s := testSet(t, "")
	other := dht.AccountClient("beta", "carol")
	srv, m := gatewayOn(t, s, func() map[dht.ClientID]accounts.Stored {
		return map[dht.ClientID]accounts.Stored{"acct:alpha/alice": {Bytes: 1234, Items: 2}, other: {Bytes: 99, Items: 1}, "192.0.2.1": {Bytes: 5}}
	})
	api := srv.URL + "/api/v1/keys/6b6579"
	put := func(n int) string { return `{"value":"` + strings.Repeat("A", 4*n/3) + `","ttl":600}` }

	// XML-RPC with the Authorization header, the HTTP API with X-API-Key.
	if code, b := do(t, "POST", srv.URL+"/RPC2", xmlPut(bytes.Repeat([]byte("x"), 936)), "Authorization", "Bearer alice-key-0123456789"); code != 200 || !strings.Contains(b, "<int>0</int>") {
		t.Fatalf("XML-RPC put with a key: %d %s", code, b)
	}
	if code, b := do(t, "POST", api, put(936), "X-API-Key", "alice-key-0123456789"); code != 200 {
		t.Fatalf("HTTP put with a key: %d %s", code, b)
	}
	for _, c := range m.Clients() {
		if c != "acct:alpha/alice#2000" {
			t.Fatalf("AC-4: a write of alice was charged to %q", c)
		}
	}
	// Her third value is over quota (the model refuses it as a replica
	// does): a fault on XML-RPC, 507 on the API.
	if code, b := do(t, "POST", srv.URL+"/", xmlPut([]byte("x")), "X-API-Key", "alice-key-0123456789"); code != 200 || !strings.Contains(b, dht.ErrOverQuota.Error()) {
		t.Fatalf("XML-RPC put over quota: %d %s", code, b)
	}
	if code, b := do(t, "POST", api, put(3), "Authorization", "bearer alice-key-0123456789"); code != 507 || !strings.Contains(b, `"result":"over quota"`) {
		t.Fatalf("HTTP put over quota: %d %s", code, b)
	}
	// bob's key is given as its digest.
	if code, b := do(t, "POST", api, put(3), "X-API-Key", "bob-key-0123456789ab"); code != 200 {
		t.Fatalf("bob's put: %d %s", code, b)
	}
	// Anonymous: reads yes, writes no (AC-3). Unknown keys: 401 whole (AC-2).
	if code, b := do(t, "GET", api, ""); code != 200 || !strings.Contains(b, `"values":[{`) {
		t.Fatalf("anonymous get: %d %s", code, b)
	}
	n := len(m.Clients())
	if code, b := do(t, "POST", api, put(3)); code != 401 || !strings.Contains(b, dht.ErrKeyRequired.Error()) {
		t.Fatalf("anonymous HTTP put: %d %s", code, b)
	}
	if code, b := do(t, "POST", srv.URL+"/", xmlPut([]byte("x"))); code != 200 || !strings.Contains(b, dht.ErrKeyRequired.Error()) {
		t.Fatalf("anonymous XML-RPC put: %d %s", code, b)
	}
	for _, url := range []string{api, srv.URL + "/RPC2"} {
		if code, b := do(t, "POST", url, put(3), "X-API-Key", "wrong-key-0123456789"); code != 401 || !strings.Contains(b, dht.ErrUnknownKey.Error()) {
			t.Fatalf("unknown key at %s: %d %s", url, code, b)
		}
	}
	if code, b := do(t, "POST", api, put(3), "X-API-Key", "admin-key-0123456789"); code != 401 {
		t.Fatalf("a write with the admin key: %d %s", code, b)
	}
	if len(m.Clients()) != n {
		t.Fatalf("refused writes reached the DHT: %v", m.Clients()[n:])
	}

	// The reports (AC-8, AC-9).
	report := func(key string) (int, gateway.UsageReport) {
		code, b := do(t, "GET", srv.URL+"/api/v1/usage", "", "X-API-Key", key)
		var r gateway.UsageReport
		if code == 200 {
			if err := json.Unmarshal([]byte(b), &r); err != nil {
				t.Fatal(err)
			}
		}
		return code, r
	}
	if code, _ := report(""); code != 401 {
		t.Fatalf("anonymous report: %d", code)
	}
	_, r := report("alice-key-0123456789")
	want := gateway.AccountUsage{Account: "alice", Identity: "acct:alpha/alice", QuotaBytes: 2000, StoredBytes: 1234, StoredItems: 2,
		Ledger: gateway.Ledger{OK: 2, OverQuota: 2, Bytes: 2000, ByteSeconds: 1_200_000}}
	if r.Provider != "alpha" || len(r.Accounts) != 1 || r.Accounts[0] != want {
		t.Fatalf("alice's report: %+v", r)
	}
	_, r = report("admin-key-0123456789")
	if len(r.Accounts) != 2 || r.Accounts[0].Account != "alice" || r.Accounts[1].Account != "bob" || r.Accounts[1].Ledger.OK != 1 {
		t.Fatalf("the admin's report: %+v", r)
	}
	raw, _ := json.Marshal(r)
	if bytes.Contains(raw, []byte("beta")) || bytes.Contains(raw, []byte("192.0.2.1")) {
		t.Fatalf("AC-9: the report shows another provider's or an anonymous client: %s", raw)
	}
}

// TestAnonymousWrites: a file that allows them charges anonymous writes
// to the client's address, as an open gateway does (AC-3, FST-5).
func TestAnonymousWrites(t *testing.T) {
	s := testSet(t, "")
	open, err := accounts.Parse("provider = \"alpha\"\nanonymous_writes = true\n", "open.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		set  *accounts.Set
		want error
	}{{s, dht.ErrKeyRequired}, {open, nil}} {
		m := gatewaytest.NewModel()
		_, err := c.set.Wrap(m, nil).Put(context.Background(), dht.Put{Client: "192.0.2.9", Value: []byte("v"), TTL: 60})
		if err != c.want {
			t.Fatalf("anonymous put: %v, want %v", err, c.want)
		}
		if c.want == nil && (len(m.Clients()) != 1 || m.Clients()[0] != "192.0.2.9") {
			t.Fatalf("anonymous put charged to %v", m.Clients())
		}
	}
}

// TestKeyOf: the two headers of AC-2; another Authorization scheme is no
// API key.
func TestKeyOf(t *testing.T) {
	for _, c := range []struct{ name, value, want string }{
		{"X-API-Key", "k1", "k1"},
		{"Authorization", "Bearer k2", "k2"},
		{"Authorization", "bearer  k3 ", "k3"},
		{"Authorization", "Basic dXNlcjpwdw==", ""},
		{"Authorization", "Bearer", ""},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set(c.name, c.value)
		if got := accounts.KeyOf(r); got != c.want {
			t.Errorf("%s: %q: key %q, want %q", c.name, c.value, got, c.want)
		}
	}
}

// BenchmarkMiddleware is what a gateway with accounts adds to every
// request before a method sees it: the header, one SHA-256 of the key
// and a map lookup (AC-2).
func BenchmarkMiddleware(b *testing.B) {
	d := sha256.Sum256([]byte("bob-key-0123456789ab"))
	s, err := accounts.Parse(strings.Replace(testFile, "%s", hex.EncodeToString(d[:]), 1), "bench")
	if err != nil {
		b.Fatal(err)
	}
	h := s.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest("POST", "/RPC2", nil)
	r.Header.Set("X-API-Key", "alice-key-0123456789")
	w := httptest.NewRecorder()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}
