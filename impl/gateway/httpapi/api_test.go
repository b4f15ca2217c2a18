package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway"
	"github.com/opendht-go/opendht/impl/gateway/gatewaytest"
	"github.com/opendht-go/opendht/impl/gateway/xmlrpc"
)

// Reference: spec/CLIENT-API.md (the client interface this API encodes) for
// every test in this file.

func b64(b []byte) string    { return base64.StdEncoding.EncodeToString(b) }
func sha(s string) []byte    { h := dht.SHA1([]byte(s)); return h[:] }
func hexKey(s string) string { return hex.EncodeToString(sha(s)) }

// do serves one request as the client at 192.0.2.1 (httptest's remote
// address) and checks what every answer must be: JSON, with the headers.
func do(t *testing.T, h http.Handler, method, target, body string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, rd))
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, target, ct)
	}
	if method != http.MethodHead && !json.Valid(rec.Body.Bytes()) {
		t.Errorf("%s %s: body is not JSON: %q", method, target, rec.Body.String())
	}
	return rec
}

// decode reads a response body strictly into v.
func decode(t *testing.T, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("response %q: %v", rec.Body.String(), err)
	}
}

// mustWrite expects a write answered with status 0.
func mustWrite(t *testing.T, h http.Handler, method, target, body string) {
	t.Helper()
	rec := do(t, h, method, target, body)
	var wr WriteResponse
	decode(t, rec, &wr)
	if rec.Code != http.StatusOK || wr != (WriteResponse{Status: 0, Result: "success"}) {
		t.Fatalf("%s %s %s: %d %+v", method, target, body, rec.Code, wr)
	}
}

func mustGet(t *testing.T, h http.Handler, target string) GetResponse {
	t.Helper()
	rec := do(t, h, http.MethodGet, target, "")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", target, rec.Code, rec.Body.String())
	}
	var gr GetResponse
	decode(t, rec, &gr)
	return gr
}

func TestScenario(t *testing.T) {
	b := gatewaytest.NewModel()
	h := New(b, DefaultConfig())
	path := "/api/v1/keys/" + hexKey("my key")

	mustWrite(t, h, "POST", path, `{"value":"`+b64([]byte("v1"))+`"}`) // put, ttl 3600 by default
	mustWrite(t, h, "POST", path, `{"value":"`+b64([]byte("v2"))+`","ttl":600,"secret":"`+b64([]byte("pw"))+`","application":"test"}`)
	mustWrite(t, h, "POST", path, `{"value":"`+b64([]byte("v3"))+`","ttl":60,"secret_hash":"`+b64(sha("pw3"))+`"}`)

	got := mustGet(t, h, path)
	want := GetResponse{Values: []Value{
		{Value: b64([]byte("v1")), TTLRemaining: 3600, HashAlg: "", SecretHash: ""},
		{Value: b64([]byte("v2")), TTLRemaining: 600, HashAlg: "SHA", SecretHash: b64(sha("pw"))},
		{Value: b64([]byte("v3")), TTLRemaining: 60, HashAlg: "SHA", SecretHash: b64(sha("pw3"))},
	}}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("get (-want +got):\n%s", d)
	}

	// rm by value (the gateway hashes it) and by value hash.
	mustWrite(t, h, "DELETE", path, `{"value":"`+b64([]byte("v2"))+`","secret":"`+b64([]byte("pw"))+`","ttl":600}`)
	mustWrite(t, h, "DELETE", path, `{"value_hash":"`+b64(sha("v3"))+`","secret":"`+b64([]byte("pw3"))+`"}`)
	got = mustGet(t, h, path+"?maxvals=5")
	want = GetResponse{Values: []Value{{Value: b64([]byte("v1")), TTLRemaining: 3600}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("get after rm (-want +got):\n%s", d)
	}

	// A key nobody wrote: no values, an empty list rather than null.
	if rec := do(t, h, "GET", "/api/v1/keys/00ff", ""); rec.Body.String() != `{"values":[],"placemark":""}`+"\n" {
		t.Fatalf("empty get = %s", rec.Body.String())
	}
	// Every write is charged to the connection's address (FST-5).
	if d := cmp.Diff([]dht.ClientID{"192.0.2.1", "192.0.2.1", "192.0.2.1", "192.0.2.1", "192.0.2.1"}, b.Clients()); d != "" {
		t.Fatalf("writes charged to (-want +got):\n%s", d)
	}
	// HEAD is a GET without a body.
	if rec := do(t, h, "HEAD", path, ""); rec.Code != http.StatusOK {
		t.Fatalf("HEAD: %d", rec.Code)
	}
}

// TestGetPlacemarks: a short key is left-padded (LIM-1), and a reader
// follows placemarks through values that do not fit one reply (GET-4).
func TestGetPlacemarks(t *testing.T) {
	h := New(gatewaytest.NewModel(), DefaultConfig())
	var stored []string
	for i := range 5 {
		v := b64(bytes.Repeat([]byte{byte(0xf8 + i)}, 700)) // '+' and '/' in base64
		stored = append(stored, v)
		mustWrite(t, h, "POST", "/api/v1/keys/6b", `{"value":"`+v+`"}`)
	}
	padded := "/api/v1/keys/" + strings.Repeat("00", dht.KeyLen-1) + "6B"
	var got []string
	pm := ""
	for calls := 0; ; calls++ {
		if calls > 10 {
			t.Fatal("placemarks do not end")
		}
		gr := mustGet(t, h, padded+"?maxvals=10&placemark="+pm) // the placemark goes in unescaped
		for _, v := range gr.Values {
			got = append(got, v.Value)
		}
		if gr.Placemark == "" {
			break
		}
		if strings.ContainsAny(gr.Placemark, "+/=") {
			t.Fatalf("placemark %q is not URL-safe", gr.Placemark)
		}
		pm = gr.Placemark
	}
	if d := cmp.Diff(stored, got); d != "" {
		t.Fatalf("values (-want +got):\n%s", d)
	}
	// maxvals bounds a page too.
	gr := mustGet(t, h, padded+"?maxvals=1")
	if len(gr.Values) != 1 || gr.Placemark == "" {
		t.Fatalf("maxvals=1: %d values, placemark %q", len(gr.Values), gr.Placemark)
	}
	// The placemark re-encoded in the standard alphabet and put into the
	// query unescaped ('+' reads as a space) continues at the same place.
	pmBytes, err := base64.RawURLEncoding.DecodeString(gr.Placemark)
	if err != nil {
		t.Fatal(err)
	}
	next := mustGet(t, h, padded+"?maxvals=1&placemark="+gr.Placemark)
	for _, std := range []string{base64.StdEncoding.EncodeToString(pmBytes), strings.ReplaceAll(base64.StdEncoding.EncodeToString(pmBytes), "+", "%2B")} {
		if d := cmp.Diff(next, mustGet(t, h, padded+"?maxvals=1&placemark="+std)); d != "" {
			t.Fatalf("placemark as %q (-url-safe +std):\n%s", std, d)
		}
	}
}

// TestBase64Forms: standard and URL-safe alphabets, padded or not, and
// line breaks all read the same bytes.
func TestBase64Forms(t *testing.T) {
	val := []byte{0xfb, 0xff, 0xbf, 0x01} // std "+/+/AQ==", url "-_-_AQ=="
	forms := []string{
		base64.StdEncoding.EncodeToString(val),
		base64.RawStdEncoding.EncodeToString(val),
		base64.URLEncoding.EncodeToString(val),
		base64.RawURLEncoding.EncodeToString(val),
		"+/+/\nAQ==",
	}
	for _, f := range forms {
		b := gatewaytest.NewModel()
		h := New(b, DefaultConfig())
		mustWrite(t, h, "POST", "/api/v1/keys/abcd", fmt.Sprintf(`{"value":%q,"secret":%q}`, f, "cHc"))
		gr := mustGet(t, h, "/api/v1/keys/abcd")
		if len(gr.Values) != 1 || gr.Values[0].Value != b64(val) || gr.Values[0].SecretHash != b64(sha("pw")) {
			t.Errorf("form %q: stored %+v", f, gr.Values)
		}
	}
}

// TestTTL: the default, the clamp of TTL-1 and the forms of a number.
func TestTTL(t *testing.T) {
	for _, tc := range []struct {
		ttl  string
		want int64
	}{
		{``, DefaultTTL},
		{`,"ttl":null`, DefaultTTL},
		{`,"ttl":1`, 1},
		{`,"ttl":3600.0`, 3600},
		{`,"ttl":3.6e3`, 3600},
		{`,"ttl":604801`, dht.MaxTTL},
		{`,"ttl":9223372036854775807`, dht.MaxTTL},
		{`,"ttl":1e300`, dht.MaxTTL},
	} {
		h := New(gatewaytest.NewModel(), DefaultConfig())
		mustWrite(t, h, "POST", "/api/v1/keys/0102", `{"value":""`+tc.ttl+`}`)
		if gr := mustGet(t, h, "/api/v1/keys/0102"); len(gr.Values) != 1 || gr.Values[0].TTLRemaining != tc.want {
			t.Errorf("ttl %q: got %+v, want ttl_remaining %d", tc.ttl, gr.Values, tc.want)
		}
	}
}

// TestErrors: every malformed request gets its status and a JSON error
// naming the problem, and reaches no backend (LIM-7).
func TestErrors(t *testing.T) {
	key := "/api/v1/keys/" + hexKey("k")
	v := b64([]byte("v"))
	big := func(n int) string { return b64(bytes.Repeat([]byte{1}, n)) }
	secret := b64([]byte("pw"))
	tests := []struct {
		name, method, target, body string
		code                       int
		text                       string // the error contains it
	}{
		// The key.
		{"key not hex", "GET", "/api/v1/keys/xyz1", "", 400, "key must be 2 to 40 hex digits"},
		{"key odd", "GET", "/api/v1/keys/abc", "", 400, "key must be 2 to 40 hex digits"},
		{"key one digit", "POST", "/api/v1/keys/a", `{"value":""}`, 400, "key must be 2 to 40 hex digits"},
		{"key empty", "GET", "/api/v1/keys/", "", 400, "key must be 2 to 40 hex digits"},
		{"key too long", "POST", "/api/v1/keys/" + strings.Repeat("ab", 21), `{"value":""}`, 400, "key is longer than 20 bytes"},
		{"key with escapes", "GET", "/api/v1/keys/%00%01", "", 400, "key must be 2 to 40 hex digits"},
		// Put bodies.
		{"value too long", "POST", key, `{"value":"` + big(1025) + `"}`, 400, "value is longer than 1024 bytes"},
		{"value missing", "POST", key, `{"ttl":60}`, 400, "value is required"},
		{"value not base64", "POST", key, `{"value":"!!"}`, 400, "value is not base64"},
		{"value bad padding", "POST", key, `{"value":"YQ="}`, 400, "value is not base64"},
		{"value mixed alphabets", "POST", key, `{"value":"+-AA"}`, 400, "value is not base64"},
		{"value a number", "POST", key, `{"value":7}`, 400, `field "value" must be a base64 string, got number`},
		{"typo", "POST", key, `{"value":"` + v + `","tll":60}`, 400, `unknown field "tll"`},
		{"ttl zero", "POST", key, `{"value":"` + v + `","ttl":0}`, 400, "ttl must be positive"},
		{"ttl negative", "POST", key, `{"value":"` + v + `","ttl":-5}`, 400, "ttl must be positive"},
		{"ttl huge negative", "POST", key, `{"value":"` + v + `","ttl":-1e300}`, 400, "ttl must be positive"},
		{"ttl fraction", "POST", key, `{"value":"` + v + `","ttl":1.5}`, 400, "ttl must be a whole number"},
		{"ttl string", "POST", key, `{"value":"` + v + `","ttl":"3600"}`, 400, "ttl must be a whole number"},
		{"ttl object", "POST", key, `{"value":"` + v + `","ttl":{}}`, 400, "ttl must be a whole number"},
		{"secret and hash", "POST", key, `{"value":"` + v + `","secret":"` + secret + `","secret_hash":"` + b64(sha("pw")) + `"}`, 400, "give secret or secret_hash, not both"},
		{"secret hash short", "POST", key, `{"value":"` + v + `","secret_hash":"` + big(19) + `"}`, 400, "secret hash must be 20 bytes"},
		{"secret hash long", "POST", key, `{"value":"` + v + `","secret_hash":"` + big(21) + `"}`, 400, "secret hash must be 20 bytes"},
		{"secret hash zero", "POST", key, `{"value":"` + v + `","secret_hash":"` + b64(make([]byte, 20)) + `"}`, 400, "must not be all zero"},
		{"put secret too long", "POST", key, `{"value":"` + v + `","secret":"` + big(41) + `"}`, 400, "secret is longer than 40 bytes"},
		{"application a number", "POST", key, `{"value":"` + v + `","application":1}`, 400, `field "application" must be a string`},
		{"body empty", "POST", key, ``, 400, "request body is empty"},
		{"body blank", "POST", key, " \n", 400, "request body is empty"},
		{"body array", "POST", key, `[1]`, 400, "must be a JSON object"},
		{"body null", "POST", key, `null`, 400, "must be a JSON object"},
		{"body not json", "POST", key, `{value: 1}`, 400, "not valid JSON"},
		{"body cut", "POST", key, `{"value":"` + v, 400, "not valid JSON"},
		{"body two objects", "POST", key, `{"value":""}{"value":""}`, 400, "one JSON object and nothing after it"},
		{"body trailing junk", "POST", key, `{"value":""} x`, 400, "one JSON object and nothing after it"},
		{"post query", "POST", key + "?ttl=60", `{"value":""}`, 400, "takes no query parameters"},
		// Gets.
		{"maxvals zero", "GET", key + "?maxvals=0", "", 400, "maxvals must be positive"},
		{"maxvals negative", "GET", key + "?maxvals=-3", "", 400, "maxvals must be positive"},
		{"maxvals huge negative", "GET", key + "?maxvals=-99999999999999999999", "", 400, "maxvals must be a whole number"},
		{"maxvals text", "GET", key + "?maxvals=ten", "", 400, "maxvals must be a whole number"},
		{"maxvals twice", "GET", key + "?maxvals=1&maxvals=2", "", 400, `"maxvals" given 2 times`},
		{"query typo", "GET", key + "?maxval=3", "", 400, `unknown query parameter "maxval"`},
		{"read unknown", "GET", key + "?read=quick", "", 400, `read must be quorum`},
		{"read empty", "GET", key + "?read=", "", 400, `read must be quorum`},
		{"read twice", "GET", key + "?read=fast&read=fast", "", 400, `"read" given 2 times`},
		{"query escape", "GET", key + "?maxvals=%zz", "", 400, "query is malformed"},
		{"placemark garbage", "GET", key + "?placemark=eHl6", "", 400, "placemark is malformed"},
		{"placemark not base64", "GET", key + "?placemark=!!", "", 400, "placemark is malformed"},
		{"placemark too long", "GET", key + "?placemark=" + strings.Repeat("A", 200), "", 400, "placemark is malformed"},
		// Removes.
		{"rm no secret", "DELETE", key, `{"value":"` + v + `"}`, 400, "secret is required"},
		{"rm secret too long", "DELETE", key, `{"value":"` + v + `","secret":"` + big(41) + `"}`, 400, "secret is longer than 40 bytes"},
		{"rm value hash short", "DELETE", key, `{"value_hash":"` + big(10) + `","secret":"` + secret + `"}`, 400, "value hash must be 20 bytes"},
		{"rm value too long", "DELETE", key, `{"value":"` + big(1025) + `","secret":"` + secret + `"}`, 400, "value is longer than 1024 bytes"},
		{"rm both", "DELETE", key, `{"value":"` + v + `","value_hash":"` + b64(sha("v")) + `","secret":"` + secret + `"}`, 400, "give value or value_hash, not both"},
		{"rm neither", "DELETE", key, `{"secret":"` + secret + `"}`, 400, "value_hash (or value) is required"},
		{"rm ttl", "DELETE", key, `{"value":"` + v + `","secret":"` + secret + `","ttl":0}`, 400, "ttl must be positive"},
		{"rm put field", "DELETE", key, `{"value":"` + v + `","secret":"` + secret + `","secret_hash":"x"}`, 400, `unknown field "secret_hash"`},
		{"rm no body", "DELETE", key, ``, 400, "request body is empty"},
		// Methods and paths.
		{"put method", "PUT", key, `{"value":""}`, 405, "method PUT not allowed here: use GET, HEAD, POST, DELETE"},
		{"status post", "POST", "/api/v1/status", `{}`, 405, "use GET, HEAD"},
		{"status query", "GET", "/api/v1/status?verbose=1", "", 400, "takes no query parameters"},
		{"other version", "GET", "/api/v2/status", "", 404, "the API is under /api/v1/"},
		{"keys without key", "GET", "/api/v1/keys", "", 404, "no endpoint"},
		{"key sub path", "GET", "/api/v1/keys/abcd/values", "", 404, "no endpoint"},
		{"unknown endpoint", "GET", "/api/v1/nodes", "", 404, "no endpoint"},
		{"api root", "GET", "/api/", "", 404, "no endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := gatewaytest.NewModel()
			rec := do(t, New(b, DefaultConfig()), tt.method, tt.target, tt.body)
			var er ErrorResponse
			decode(t, rec, &er)
			if rec.Code != tt.code || !strings.Contains(er.Error, tt.text) {
				t.Fatalf("%d %q, want %d containing %q", rec.Code, er.Error, tt.code, tt.text)
			}
			if tt.code == 405 && rec.Header().Get("Allow") == "" {
				t.Errorf("405 without an Allow header")
			}
			if len(b.Clients()) != 0 {
				t.Fatalf("a rejected request reached the backend")
			}
		})
	}
}

// TestErrorTextsAreTheOriginal: the texts are exactly the XML-RPC faults'.
func TestErrorTextsAreTheOriginal(t *testing.T) {
	h := New(gatewaytest.NewModel(), DefaultConfig())
	for _, tc := range []struct {
		method, target, body string
		want                 error
	}{
		{"POST", "/api/v1/keys/" + strings.Repeat("00", 21), `{"value":""}`, dht.ErrKeyTooLong},
		{"POST", "/api/v1/keys/00", `{"value":"` + b64(make([]byte, 1025)) + `"}`, dht.ErrValueTooLong},
		{"DELETE", "/api/v1/keys/00", `{"value":"","secret":"` + b64(make([]byte, 41)) + `"}`, dht.ErrSecretTooLong},
		{"GET", "/api/v1/keys/00?maxvals=0", "", dht.ErrBadMaxVals},
		{"POST", "/api/v1/keys/00", `{"value":"","ttl":0}`, dht.ErrBadTTL},
	} {
		var er ErrorResponse
		decode(t, do(t, h, tc.method, tc.target, tc.body), &er)
		if er.Error != tc.want.Error() {
			t.Errorf("%s %s: error %q, want exactly %q", tc.method, tc.target, er.Error, tc.want)
		}
	}
}

// TestHTTPLimits: a body beyond the limit is refused with 413, declared or
// not, and one at the limit is read.
func TestHTTPLimits(t *testing.T) {
	cfg := DefaultConfig()
	b := gatewaytest.NewModel()
	h := New(b, cfg)
	big := strings.Repeat(" ", int(cfg.MaxBodyBytes)+1)
	rec := do(t, h, "POST", "/api/v1/keys/00", big)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("declared oversized body: %d, want 413", rec.Code)
	}
	req := httptest.NewRequest("POST", "/api/v1/keys/00", io.MultiReader(strings.NewReader(big), strings.NewReader(`{"value":""}`)))
	req.ContentLength = -1
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge || !json.Valid(rec.Body.Bytes()) {
		t.Errorf("chunked oversized body: %d %q, want 413 and JSON", rec.Code, rec.Body.String())
	}
	body := `{"value":""}` + big
	mustWrite(t, h, "POST", "/api/v1/keys/00", body[:cfg.MaxBodyBytes])
	if len(b.Clients()) != 1 {
		t.Fatalf("%d writes reached the backend, want 1", len(b.Clients()))
	}
}

// stub answers every write with one status, or fails with err.
type stub struct {
	status dht.Status
	err    error
	mu     sync.Mutex
	gets   []dht.Get
}

func (s *stub) Put(context.Context, dht.Put) (dht.Status, error)       { return s.status, s.err }
func (s *stub) Remove(context.Context, dht.Remove) (dht.Status, error) { return s.status, s.err }
func (s *stub) Get(_ context.Context, g dht.Get) (dht.GetReply, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets = append(s.gets, g)
	return dht.GetReply{}, s.err
}

// TestWriteStatuses: the statuses of ST-1 map to HTTP codes, and "try
// again" says when.
func TestWriteStatuses(t *testing.T) {
	for _, tc := range []struct {
		status dht.Status
		code   int
		want   WriteResponse
		retry  string
	}{
		{dht.StatusOK, 200, WriteResponse{Status: 0, Result: "success"}, ""},
		{dht.StatusOverCapacity, 507, WriteResponse{Status: 1, Result: "over capacity", Error: "over capacity"}, ""},
		{dht.StatusTryAgain, 503, WriteResponse{Status: 2, Result: "try again", Error: "try again"}, "1"},
	} {
		h := New(&stub{status: tc.status}, DefaultConfig())
		for _, req := range [][2]string{
			{"POST", `{"value":""}`},
			{"DELETE", `{"value":"","secret":""}`},
		} {
			rec := do(t, h, req[0], "/api/v1/keys/00", req[1])
			var wr WriteResponse
			decode(t, rec, &wr)
			if rec.Code != tc.code || wr != tc.want || rec.Header().Get("Retry-After") != tc.retry {
				t.Errorf("%s with status %d: %d %+v Retry-After %q, want %d %+v %q",
					req[0], tc.status, rec.Code, wr, rec.Header().Get("Retry-After"), tc.code, tc.want, tc.retry)
			}
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "no answer from the DHT" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// TestBackendFailures: a failing DHT is 500, a slow one 504, and an
// argument the backend refuses is still the client's 400.
func TestBackendFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    gateway.Backend
		code int
		text string
	}{
		{"down", gatewaytest.Failing{}, 500, "failed: node: shutting down"},
		{"deadline", &stub{err: fmt.Errorf("waiting: %w", context.DeadlineExceeded)}, 504, "context deadline exceeded"},
		{"timeout error", &stub{err: timeoutErr{}}, 504, "no answer from the DHT"},
		{"refused argument", &stub{err: fmt.Errorf("node: %w", dht.ErrBadTTL)}, 400, "ttl must be positive"},
	} {
		h := New(tc.b, DefaultConfig())
		for _, req := range [][3]string{
			{"POST", "/api/v1/keys/00", `{"value":""}`},
			{"DELETE", "/api/v1/keys/00", `{"value":"","secret":""}`},
			{"GET", "/api/v1/keys/00", ""},
		} {
			rec := do(t, h, req[0], req[1], req[2])
			var er ErrorResponse
			decode(t, rec, &er)
			if rec.Code != tc.code || !strings.Contains(er.Error, tc.text) {
				t.Errorf("%s: %s: %d %q, want %d containing %q", tc.name, req[0], rec.Code, er.Error, tc.code, tc.text)
			}
		}
	}
}

// TestMaxValsCap: a huge maxvals is lowered to the cap, not refused.
func TestMaxValsCap(t *testing.T) {
	s := &stub{}
	cfg := DefaultConfig()
	h := New(s, cfg)
	for _, q := range []string{"", "?maxvals=3", "?maxvals=1001", "?maxvals=99999999999999999999999"} {
		mustGet(t, h, "/api/v1/keys/00"+q)
	}
	var got []int
	for _, g := range s.gets {
		got = append(got, g.MaxVals)
	}
	if d := cmp.Diff([]int{DefaultMaxVals, 3, cfg.MaxValsCap, cfg.MaxValsCap}, got); d != "" {
		t.Fatalf("maxvals passed on (-want +got):\n%s", d)
	}
}

func TestStatus(t *testing.T) {
	h := New(gatewaytest.NewModel(), DefaultConfig())
	var st Status
	decode(t, do(t, h, "GET", "/api/v1/status", ""), &st)
	if st != (Status{Version: "v1"}) {
		t.Errorf("status without a source = %+v, want the version only", st)
	}

	want := Status{NodeID: strings.Repeat("ab", 20), Address: "127.0.0.1:5850", Joined: true, LeafSetPeers: 7, RoutingTablePeers: 12,
		UptimeSeconds: 42, Store: StoreStatus{CapacityBytes: 1 << 30, UsedBytes: 1234, QueuedWrites: 2}}
	cfg := DefaultConfig()
	cfg.Status = func(context.Context) (Status, error) { return want, nil }
	rec := do(t, New(gatewaytest.NewModel(), cfg), "GET", "/api/v1/status", "")
	st = Status{}
	decode(t, rec, &st)
	want.Version = "v1"
	if rec.Code != 200 || st != want {
		t.Errorf("status = %d %+v, want %+v", rec.Code, st, want)
	}
	for _, field := range []string{`"node_id"`, `"address"`, `"leaf_set_peers"`, `"routing_table_peers"`, `"uptime_seconds"`, `"capacity_bytes"`, `"used_bytes"`, `"queued_writes"`} {
		if !strings.Contains(rec.Body.String(), field) {
			t.Errorf("status %s lacks %s", rec.Body.String(), field)
		}
	}

	cfg.Status = func(context.Context) (Status, error) { return Status{}, errors.New("node: server stopped") }
	rec = do(t, New(gatewaytest.NewModel(), cfg), "GET", "/api/v1/status", "")
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), "server stopped") {
		t.Errorf("failing status = %d %s", rec.Code, rec.Body.String())
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	for name, mut := range map[string]func(*Config){
		"tiny body":       func(c *Config) { c.MaxBodyBytes = 100 },
		"no call timeout": func(c *Config) { c.CallTimeout = 0 },
		"no maxvals":      func(c *Config) { c.MaxValsCap = 0 },
	} {
		c := DefaultConfig()
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestSharedPortWithXMLRPC serves the API the way a node does, on the
// XML-RPC gateway's port over real TCP: paths under /api/ are JSON, every
// other path is XML-RPC, both on the same data, and writes are charged to
// the connection's address either way.
func TestSharedPortWithXMLRPC(t *testing.T) {
	b := gatewaytest.NewModel()
	xc := xmlrpc.DefaultConfig()
	xc.API = New(b, DefaultConfig())
	srv := httptest.NewServer(xmlrpc.New(b, xc).Handler())
	defer srv.Close()

	key := sha("shared")
	resp, err := http.Post(srv.URL+"/api/v1/keys/"+hex.EncodeToString(key), "application/json", strings.NewReader(`{"value":"`+b64([]byte("json"))+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != `{"status":0,"result":"success"}`+"\n" {
		t.Fatalf("JSON put: %d %s", resp.StatusCode, body)
	}
	for _, path := range []string{"/", "/RPC2", "/api"} {
		call := xmlrpc.EncodeMethodCall(&xmlrpc.MethodCall{Method: "get", Params: []xmlrpc.Value{
			xmlrpc.Base64Value(key), xmlrpc.IntValue(10), xmlrpc.Base64Value(nil), xmlrpc.StringValue("test")}})
		resp, err := http.Post(srv.URL+path, "text/xml", bytes.NewReader(call))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		mr, err := xmlrpc.ParseMethodResponse(body)
		if err != nil || mr.Fault != nil || len(mr.Params) != 1 || len(mr.Params[0].Array[0].Array) != 1 ||
			string(mr.Params[0].Array[0].Array[0].Bytes) != "json" {
			t.Fatalf("XML-RPC get on %s of the JSON put: %v %s", path, err, body)
		}
	}
	// A JSON error on the shared port is still JSON.
	resp, err = http.Get(srv.URL + "/api/v1/keys/zz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/json" || !json.Valid(body) {
		t.Fatalf("bad key on the shared port: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if d := cmp.Diff([]dht.ClientID{"127.0.0.1"}, b.Clients()); d != "" {
		t.Fatalf("writes charged to (-want +got):\n%s", d)
	}
}

// TestPlacemarkForms: a placemark reads the same in every base64 form,
// also with the standard alphabet's '+' unescaped in the query.
func TestPlacemarkForms(t *testing.T) {
	pm := dht.EncodePlacemark(0xfbeffbeffbeffbef)
	std := base64.StdEncoding.EncodeToString(pm)
	if !strings.Contains(std, "+") {
		t.Fatalf("placemark %q has no '+': the test checks nothing", std)
	}
	for _, q := range []string{
		"placemark=" + base64.RawURLEncoding.EncodeToString(pm),
		"placemark=" + base64.URLEncoding.EncodeToString(pm),
		"placemark=" + std,
		"placemark=" + strings.ReplaceAll(strings.ReplaceAll(std, "+", "%2B"), "/", "%2F"),
	} {
		g, err := decodeGet(dht.Key{}, q, 1000)
		if err != nil || !bytes.Equal(g.Placemark, pm) {
			t.Errorf("%s: %x, %v; want %x", q, g.Placemark, err, pm)
		}
	}
}

// TestNullValue: a Go client marshals a nil []byte as null: for "value" it
// is the empty value, while an absent value is still an error.
func TestNullValue(t *testing.T) {
	h := New(gatewaytest.NewModel(), DefaultConfig())
	mustWrite(t, h, "POST", "/api/v1/keys/00", `{"value":null,"secret":"cHc"}`)
	if gr := mustGet(t, h, "/api/v1/keys/00"); len(gr.Values) != 1 || gr.Values[0].Value != "" {
		t.Fatalf("stored %+v, want one empty value", gr.Values)
	}
	mustWrite(t, h, "DELETE", "/api/v1/keys/00", `{"value":null,"secret":"cHc","ttl":null}`)
	if gr := mustGet(t, h, "/api/v1/keys/00"); len(gr.Values) != 0 {
		t.Fatalf("after rm: %+v", gr.Values)
	}
	var er ErrorResponse
	decode(t, do(t, h, "POST", "/api/v1/keys/00", `{"secret":null}`), &er)
	if er.Error != "value is required" {
		t.Fatalf("absent value: %q", er.Error)
	}
}

// GET /api/v1/, the address the README gives, answers what the API
// offers instead of 404.
func TestIndexListsTheEndpoints(t *testing.T) {
	h := New(gatewaytest.NewModel(), DefaultConfig())
	rec := do(t, h, "GET", "/api/v1/", "")
	var ix IndexReply
	decode(t, rec, &ix)
	if rec.Code != 200 || ix.Version != Version {
		t.Fatalf("GET /api/v1/: %d %+v", rec.Code, ix)
	}
	for _, want := range []string{"GET /api/v1/keys/{key}?maxvals=N&placemark=P", "POST /api/v1/registers/{key}", "GET /api/v1/status"} {
		if _, ok := ix.Endpoints[want]; !ok {
			t.Errorf("the index lacks %q: %v", want, ix.Endpoints)
		}
	}
	if rec := do(t, h, "POST", "/api/v1/", "{}"); rec.Code != 405 {
		t.Fatalf("POST /api/v1/: %d, want 405", rec.Code)
	}
}

// TestFastRead: ?read=fast asks the backend for a fast read (spec RD-14)
// and answers as a default get; read=quorum and no read parameter ask for
// the default; other values are refused before the backend is asked.
func TestFastRead(t *testing.T) {
	b := gatewaytest.NewModel()
	h := New(b, DefaultConfig())
	mustWrite(t, h, "POST", "/api/v1/keys/00", `{"value":"djE="}`)
	want := mustGet(t, h, "/api/v1/keys/00")
	for _, q := range []string{"?read=fast", "?read=quorum", "?maxvals=5&read=fast"} {
		if got := mustGet(t, h, "/api/v1/keys/00"+q); !cmp.Equal(want, got) {
			t.Fatalf("GET %s: %+v, want %+v", q, got, want)
		}
	}
	if rec := do(t, h, "GET", "/api/v1/keys/00?read=Fast", ""); rec.Code != 400 {
		t.Fatalf("read=Fast: %d, want 400", rec.Code)
	}
	if d := cmp.Diff([]bool{false, true, false, true}, b.FastGets()); d != "" {
		t.Fatalf("fast reads asked of the backend (-want +got):\n%s", d)
	}
}
