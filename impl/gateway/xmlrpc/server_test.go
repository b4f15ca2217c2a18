package xmlrpc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"fmt"
	"github.com/opendht-go/opendht/impl/gateway/gatewaytest"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway"
)

// Reference: spec/CLIENT-API.md (client interface) for every test in this file.

func b64(b []byte) Value { return Base64Value(b) }
func str(s string) Value { return StringValue(s) }
func num(i int64) Value  { return IntValue(i) }

func sha(s string) []byte { h := sha1.Sum([]byte(s)); return h[:] }

// post sends body to h as a client at 192.0.2.1 and parses the response.
func post(t *testing.T, h http.Handler, path string, body []byte) *MethodResponse {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "text/xml")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("HTTP status %d, body %q", rec.Code, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/xml") {
		t.Errorf("Content-Type %q, want text/xml", ct)
	}
	mr, err := ParseMethodResponse(rec.Body.Bytes())
	if err != nil {
		t.Fatalf("bad response %q: %v", rec.Body.String(), err)
	}
	return mr
}

func call(t *testing.T, h http.Handler, method string, params ...Value) *MethodResponse {
	t.Helper()
	return post(t, h, "/RPC2", EncodeMethodCall(&MethodCall{Method: method, Params: params}))
}

// result returns the single result of a successful call.
func result(t *testing.T, mr *MethodResponse) Value {
	t.Helper()
	if mr.Fault != nil {
		t.Fatalf("unexpected fault %d %q", mr.Fault.Code, mr.Fault.String)
	}
	if len(mr.Params) != 1 {
		t.Fatalf("%d results, want 1", len(mr.Params))
	}
	return mr.Params[0]
}

func newTestServer(b gateway.Backend) *Server { return New(b, DefaultConfig()) }

func TestMethodsScenario(t *testing.T) {
	b := gatewaytest.NewModel()
	h := newTestServer(b).Handler()
	key := sha("my key")
	secret := []byte("s3cret")
	ok := num(0)

	if got := result(t, call(t, h, "put", b64(key), b64([]byte("v1")), num(3600), str("test"))); !cmp.Equal(got, ok) {
		t.Fatalf("put = %+v", got)
	}
	got := result(t, call(t, h, "put_removable", b64(key), b64([]byte("v2")), str("SHA"), b64(sha(string(secret))), num(600), str("test")))
	if !cmp.Equal(got, ok) {
		t.Fatalf("put_removable = %+v", got)
	}
	got = result(t, call(t, h, "get", b64(key), num(10), b64(nil), str("test")))
	want := ArrayValue(ArrayValue(b64([]byte("v1")), b64([]byte("v2"))), b64([]byte{}))
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("get (-want +got):\n%s", d)
	}
	got = result(t, call(t, h, "get_details", b64(key), num(10), b64(nil), str("test")))
	want = ArrayValue(ArrayValue(
		ArrayValue(b64([]byte("v1")), num(3600), str(""), b64([]byte{})),
		ArrayValue(b64([]byte("v2")), num(600), str("SHA"), b64(sha(string(secret)))),
	), b64([]byte{}))
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("get_details (-want +got):\n%s", d)
	}
	got = result(t, call(t, h, "rm", b64(key), b64(sha("v2")), str("SHA"), b64(secret), num(600), str("test")))
	if !cmp.Equal(got, ok) {
		t.Fatalf("rm = %+v", got)
	}
	got = result(t, call(t, h, "get", b64(key), num(10), b64(nil), str("test")))
	want = ArrayValue(ArrayValue(b64([]byte("v1"))), b64([]byte{}))
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("get after rm (-want +got):\n%s", d)
	}
	for i, c := range b.Clients() {
		if c != "192.0.2.1" {
			t.Errorf("write %d charged to %q, want the remote IP 192.0.2.1", i, c)
		}
	}
	if len(b.Clients()) != 3 {
		t.Errorf("%d writes reached the backend, want 3", len(b.Clients()))
	}
}

// TestGetPlacemarks: a short key is left-padded, and a get follows
// placemarks through values that do not fit one reply (GET-4).
func TestGetPlacemarks(t *testing.T) {
	h := newTestServer(gatewaytest.NewModel()).Handler()
	short := []byte("k")
	var stored [][]byte
	for i := range 5 {
		v := bytes.Repeat([]byte{byte('a' + i)}, 700)
		stored = append(stored, v)
		result(t, call(t, h, "put", b64(short), b64(v), num(3600), str("test")))
	}
	padded := append(make([]byte, dht.KeyLen-1), 'k')
	var got [][]byte
	pm := []byte{}
	for calls := 0; ; calls++ {
		if calls > 10 {
			t.Fatal("placemarks do not end")
		}
		r := result(t, call(t, h, "get", b64(padded), num(10), b64(pm), str("test")))
		for _, v := range r.Array[0].Array {
			got = append(got, v.Bytes)
		}
		pm = r.Array[1].Bytes
		if len(pm) == 0 {
			break
		}
	}
	if d := cmp.Diff(stored, got); d != "" {
		t.Fatalf("values (-want +got):\n%s", d)
	}
}

func TestFaults(t *testing.T) {
	key := b64(sha("k"))
	val := b64([]byte("v"))
	app := str("test")
	big := func(n int) Value { return b64(bytes.Repeat([]byte{1}, n)) }
	tests := []struct {
		name   string
		method string
		params []Value
		code   int64
		text   string // the fault string contains it
	}{
		{"unknown method", "append", nil, FaultUnknownMethod, `unknown method "append"`},
		{"put arity", "put", []Value{key, val, num(60)}, FaultBadParams, "put takes 4 arguments"},
		{"put too many", "put", []Value{key, val, num(60), app, app}, FaultBadParams, "got 5"},
		{"key type", "put", []Value{num(1), val, num(60), app}, FaultBadParams, "argument 1 (key): want base64, got int"},
		{"key not base64", "put", []Value{str("!!not base64!!"), val, num(60), app}, FaultBadParams, "argument 1 (key): invalid base64"},
		{"key too long", "put", []Value{big(21), val, num(60), app}, FaultBadParams, "key is longer than 20 bytes"},
		{"value too long", "put", []Value{key, big(1025), num(60), app}, FaultBadParams, "value is longer than 1024 bytes"},
		{"value type", "put", []Value{key, ArrayValue(), num(60), app}, FaultBadParams, "argument 2 (value): want base64, got array"},
		{"ttl zero", "put", []Value{key, val, num(0), app}, FaultBadParams, "ttl must be positive"},
		{"ttl type", "put", []Value{key, val, str("soon"), app}, FaultBadParams, "argument 3 (ttl_sec): want int, got string"},
		{"application type", "put", []Value{key, val, num(60), num(7)}, FaultBadParams, "argument 4 (application): want string, got int"},
		{"hash alg", "put_removable", []Value{key, val, str("MD5"), b64(sha("s")), num(60), app}, FaultBadParams, "unknown secret hash algorithm"},
		{"hash alg type", "put_removable", []Value{key, val, num(1), b64(sha("s")), num(60), app}, FaultBadParams, "argument 3 (hash_alg): want string"},
		{"secret hash size", "put_removable", []Value{key, val, str("SHA"), big(19), num(60), app}, FaultBadParams, "secret hash must be 20 bytes"},
		{"secret hash zero", "put_removable", []Value{key, val, str("SHA"), b64(make([]byte, 20)), num(60), app}, FaultBadParams, "must not be all zero"},
		{"put_removable value too long", "put_removable", []Value{key, big(1025), str("SHA"), b64(sha("s")), num(60), app}, FaultBadParams, "value is longer than 1024 bytes"},
		{"put_removable arity", "put_removable", []Value{key, val, num(60), app}, FaultBadParams, "put_removable takes 6 arguments"},
		{"maxvals zero", "get", []Value{key, num(0), b64(nil), app}, FaultBadParams, "maxvals must be positive"},
		{"placemark garbage", "get", []Value{key, num(10), b64([]byte("xyz")), app}, FaultBadParams, "placemark is malformed"},
		{"placemark too long", "get_details", []Value{key, num(10), big(101), app}, FaultBadParams, "placemark is malformed"},
		{"get key too long", "get_details", []Value{big(21), num(10), b64(nil), app}, FaultBadParams, "key is longer than 20 bytes"},
		{"get arity", "get", []Value{key, num(10), app}, FaultBadParams, "get takes 4 arguments"},
		{"value hash size", "rm", []Value{key, big(10), str("SHA"), b64([]byte("s")), num(60), app}, FaultBadParams, "value hash must be 20 bytes"},
		{"rm hash alg", "rm", []Value{key, b64(sha("v")), str("sha1"), b64([]byte("s")), num(60), app}, FaultBadParams, "unknown secret hash algorithm"},
		{"secret too long", "rm", []Value{key, b64(sha("v")), str("SHA"), big(41), num(60), app}, FaultBadParams, "secret is longer than 40 bytes"},
		{"rm ttl", "rm", []Value{key, b64(sha("v")), str("SHA"), b64([]byte("s")), num(-1), app}, FaultBadParams, "ttl must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := gatewaytest.NewModel()
			mr := call(t, newTestServer(b).Handler(), tt.method, tt.params...)
			if mr.Fault == nil {
				t.Fatalf("no fault, got %+v", mr.Params)
			}
			if mr.Fault.Code != tt.code || !strings.Contains(mr.Fault.String, tt.text) {
				t.Fatalf("fault %d %q, want %d containing %q", mr.Fault.Code, mr.Fault.String, tt.code, tt.text)
			}
			if len(b.Clients()) != 0 {
				t.Fatalf("a rejected call reached the backend")
			}
		})
	}
}

func TestFaultTextsAreTheOriginal(t *testing.T) {
	h := newTestServer(gatewaytest.NewModel()).Handler()
	for _, tc := range []struct {
		params []Value
		want   string
	}{
		{[]Value{b64(make([]byte, 21)), b64(nil), num(1), str("")}, "key is longer than 20 bytes"},
		{[]Value{b64(nil), b64(make([]byte, 1025)), num(1), str("")}, "value is longer than 1024 bytes"},
	} {
		mr := call(t, h, "put", tc.params...)
		if mr.Fault == nil || mr.Fault.String != tc.want {
			t.Errorf("fault %+v, want exactly %q", mr.Fault, tc.want)
		}
	}
	mr := call(t, h, "rm", b64(nil), b64(sha("v")), str("MD5"), b64(nil), num(1), str(""))
	if mr.Fault == nil || mr.Fault.String != "unknown secret hash algorithm" {
		t.Errorf("fault %+v, want exactly %q", mr.Fault, "unknown secret hash algorithm")
	}
}

func TestBackendFailureIsInternalFault(t *testing.T) {
	h := newTestServer(gatewaytest.Failing{}).Handler()
	for _, mr := range []*MethodResponse{
		call(t, h, "put", b64(sha("k")), b64(nil), num(1), str("")),
		call(t, h, "get", b64(sha("k")), num(1), b64(nil), str("")),
		call(t, h, "rm", b64(sha("k")), b64(sha("v")), str("SHA"), b64(nil), num(1), str("")),
	} {
		if mr.Fault == nil || mr.Fault.Code != FaultInternal || !strings.Contains(mr.Fault.String, "shutting down") {
			t.Errorf("fault %+v, want internal fault naming the cause", mr.Fault)
		}
	}
}

func TestParseErrorIsFault(t *testing.T) {
	h := newTestServer(gatewaytest.NewModel()).Handler()
	for _, body := range []string{"", "not xml", "<methodCall>", "<methodResponse/>", "<methodCall><params/></methodCall>"} {
		mr := post(t, h, "/", []byte(body))
		if mr.Fault == nil || mr.Fault.Code != FaultParse {
			t.Errorf("body %q: fault %+v, want a parse fault", body, mr.Fault)
		}
	}
}

// sloppyPut is a put as old hand-written clients sent it: no XML
// declaration, no <params>, untyped base64 strings with line breaks, an
// <i4>, an untyped application, comments and whitespace everywhere.
const sloppyPut = `
<methodCall>
  <!-- written by hand -->
  <methodName> put </methodName>
  <param><value>AAAAAAAA
AAAAAAAAAAAA
  AAAAAAE=</value></param>
  <param><value>aGVsbG8=</value></param>
  <param>
    <value><i4> 3600 </i4></value>
  </param>
  <param><value>sloppy app</value></param>
</methodCall>
`

func TestSloppyClients(t *testing.T) {
	key := append(make([]byte, 19), 1)
	getCall := func(app string) string {
		return `<?xml version="1.0" encoding="ISO-8859-1"?><methodCall><methodName>get</methodName><params>` +
			`<param><value><base64>` + "AAAAAAAAAAAAAAAAAAAAAAAAAAE=" + `</base64></value></param>` +
			`<param><value>10</value></param>` + // integer as an untyped string
			`<param><value></value></param>` + // empty untyped placemark
			`<value>` + app + `</value>` + // <value> without <param>
			`</params></methodCall>`
	}
	tests := []struct {
		name, body string
		want       Value
	}{
		{"sloppy put", sloppyPut, num(0)},
		{"typed int as string, ttl as double", `<methodCall><methodName>put</methodName><params>
			<param><value><string>AAAAAAAAAAAAAAAAAAAAAAAAAAE=</string></value></param>
			<param><value><base64>
d29ybGQ=
</base64></value></param>
			<param><value><double>60.0</double></value></param>
			<param><value><string>x</string></value></param></params></methodCall>`, num(0)},
		{"get with latin-1 application", getCall("caf\xe9"),
			ArrayValue(ArrayValue(b64([]byte("hello")), b64([]byte("world"))), b64([]byte{}))},
	}
	b := gatewaytest.NewModel()
	h := newTestServer(b).Handler()
	for _, tt := range tests {
		for _, path := range []string{"/", "/RPC2"} {
			if tt.name != "get with latin-1 application" && path == "/RPC2" {
				continue // puts are not repeated
			}
			got := result(t, post(t, h, path, []byte(tt.body)))
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("%s on %s (-want +got):\n%s", tt.name, path, d)
			}
		}
	}
	rep, err := b.Get(t.Context(), dht.Get{Key: dht.Key(key), MaxVals: 10})
	if err != nil || len(rep.Values) != 2 {
		t.Fatalf("backend holds %+v, %v; want the two sloppy puts", rep, err)
	}
}

// TestHTTP10 sends a hand-written HTTP/1.0 request over a raw connection.
func TestHTTP10(t *testing.T) {
	b := gatewaytest.NewModel()
	ts := httptest.NewServer(newTestServer(b).Handler())
	defer ts.Close()
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /RPC2 HTTP/1.0\r\nUser-Agent: ancient\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n%s", len(sloppyPut), sloppyPut)
	raw, err := io.ReadAll(conn) // HTTP/1.0: the server closes after the reply
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(raw, []byte("HTTP/1.0 200")) {
		t.Fatalf("reply starts %q, want HTTP/1.0 200", raw[:min(len(raw), 40)])
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	mr, err := ParseMethodResponse(body)
	if err != nil {
		t.Fatal(err)
	}
	if got := result(t, mr); !cmp.Equal(got, num(0)) {
		t.Fatalf("put = %+v", got)
	}
	if len(b.Clients()) != 1 || b.Clients()[0] != "127.0.0.1" {
		t.Fatalf("writes charged to %v, want [127.0.0.1]", b.Clients())
	}
}

func TestHTTPLimits(t *testing.T) {
	cfg := DefaultConfig()
	h := New(gatewaytest.NewModel(), cfg).Handler()
	big := bytes.Repeat([]byte(" "), int(cfg.MaxBodyBytes)+1)

	// Declared too large: refused before the body is read.
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(big))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("declared oversized body: status %d, want 413", rec.Code)
	}
	// Undeclared (chunked) and too large: cut off at the limit.
	req = httptest.NewRequest(http.MethodPost, "/", io.MultiReader(bytes.NewReader(big), strings.NewReader("<x/>")))
	req.ContentLength = -1
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked oversized body: status %d, want 413", rec.Code)
	}
	// Exactly at the limit is fine (padding after the call).
	body := append(EncodeMethodCall(&MethodCall{Method: "put", Params: []Value{b64(nil), b64(nil), num(1), str("")}}), big...)
	body = body[:cfg.MaxBodyBytes]
	if got := result(t, post(t, h, "/", body)); !cmp.Equal(got, num(0)) {
		t.Errorf("put at the size limit = %+v", got)
	}
	// Only POST.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/RPC2", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "POST" {
		t.Errorf("GET: status %d Allow %q, want 405 POST", rec.Code, rec.Header().Get("Allow"))
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	for name, mut := range map[string]func(*Config){
		"tiny body":         func(c *Config) { c.MaxBodyBytes = 10 },
		"no header timeout": func(c *Config) { c.ReadHeaderTimeout = 0 },
		"no read timeout":   func(c *Config) { c.ReadTimeout = 0 },
		"no write timeout":  func(c *Config) { c.WriteTimeout = 0 },
		"no idle timeout":   func(c *Config) { c.IdleTimeout = -1 },
		"call beyond write": func(c *Config) { c.CallTimeout = c.WriteTimeout },
		"no call timeout":   func(c *Config) { c.CallTimeout = 0 },
	} {
		c := DefaultConfig()
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestServeShutsDownOnCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	s := newTestServer(gatewaytest.NewModel())
	done := make(chan error, 1)
	go func() { done <- s.ServeListener(ctx, ln) }()
	resp, err := http.Post("http://"+ln.Addr().String()+"/RPC2", "text/xml",
		bytes.NewReader(EncodeMethodCall(&MethodCall{Method: "put", Params: []Value{b64(nil), b64(nil), num(1), str("")}})))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if mr, err := ParseMethodResponse(body); err != nil || mr.Fault != nil {
		t.Fatalf("put over TCP: %+v, %v", mr, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ServeListener after cancel: %v", err)
	}
}

// TestAPIPrefix: with Config.API set, paths under /api/ go to it, with the
// body cut at MaxBodyBytes; every other path, "/api" included, is XML-RPC.
func TestAPIPrefix(t *testing.T) {
	var got []string
	cfg := DefaultConfig()
	cfg.API = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		got = append(got, fmt.Sprintf("%s %v", r.URL.Path, err != nil))
	})
	h := New(gatewaytest.NewModel(), cfg).Handler()
	for _, path := range []string{"/api/v1/status", "/api/"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	big := httptest.NewRequest(http.MethodPost, "/api/v1/keys/00", strings.NewReader(strings.Repeat(" ", int(cfg.MaxBodyBytes)+1)))
	big.ContentLength = -1
	h.ServeHTTP(httptest.NewRecorder(), big)
	if d := cmp.Diff([]string{"/api/v1/status false", "/api/ false", "/api/v1/keys/00 true"}, got); d != "" {
		t.Errorf("requests the API saw (-want +got):\n%s", d)
	}
	for _, path := range []string{"/", "/RPC2", "/api", "/apix/"} {
		mr := post(t, h, path, EncodeMethodCall(&MethodCall{Method: "get", Params: []Value{b64(sha("k")), num(1), b64(nil), str("")}}))
		if mr.Fault != nil {
			t.Errorf("%s: %+v", path, mr.Fault)
		}
	}
}

// TestGetFast: get_fast and get_details_fast answer as get and
// get_details do and ask the backend for a fast read (spec RD-14); get and
// get_details never do; bad arguments fault as get's do.
func TestGetFast(t *testing.T) {
	b := gatewaytest.NewModel()
	h := newTestServer(b).Handler()
	key := sha("fast key")
	result(t, call(t, h, "put", b64(key), b64([]byte("v1")), num(3600), str("test")))
	for _, m := range [][2]string{{"get", "get_fast"}, {"get_details", "get_details_fast"}} {
		want := result(t, call(t, h, m[0], b64(key), num(10), b64(nil), str("test")))
		got := result(t, call(t, h, m[1], b64(key), num(10), b64(nil), str("test")))
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("%s answers otherwise than %s (-%s +%s):\n%s", m[1], m[0], m[0], m[1], d)
		}
	}
	if d := cmp.Diff([]bool{false, true, false, true}, b.FastGets()); d != "" {
		t.Fatalf("fast reads asked of the backend by get, get_fast, get_details, get_details_fast (-want +got):\n%s", d)
	}
	mr := call(t, h, "get_fast", b64(key), num(0), b64(nil), str("test"))
	if mr.Fault == nil || !strings.Contains(mr.Fault.String, "maxvals must be positive") {
		t.Fatalf("get_fast with maxvals 0: %+v", mr)
	}
	if mr := call(t, h, "get_fast", b64(key), num(10), b64(nil)); mr.Fault == nil || mr.Fault.Code != FaultBadParams {
		t.Fatalf("get_fast without its application: %+v", mr)
	}
	if n := len(b.FastGets()); n != 4 {
		t.Fatalf("refused calls reached the backend: %d gets", n)
	}
}
