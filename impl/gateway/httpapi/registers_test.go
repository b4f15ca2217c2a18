package httpapi

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway"
	"github.com/opendht-go/opendht/impl/gateway/gatewaytest"
)

// Reference: spec/SPEC.md section 11 (CAS-3, CAS-6, CAS-7, CAS-8,
// CAS-11) for every test in this file.

func mustCAS(t *testing.T, h http.Handler, target, body string) CASResponse {
	t.Helper()
	rec := do(t, h, "POST", target, body)
	if rec.Code != http.StatusOK {
		t.Fatalf("POST %s %s: %d %s", target, body, rec.Code, rec.Body.String())
	}
	var cr CASResponse
	decode(t, rec, &cr)
	return cr
}

func mustRead(t *testing.T, h http.Handler, target string) RegisterResponse {
	t.Helper()
	rec := do(t, h, "GET", target, "")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", target, rec.Code, rec.Body.String())
	}
	var rr RegisterResponse
	decode(t, rec, &rr)
	return rr
}

func TestRegisterScenario(t *testing.T) {
	h := New(gatewaytest.NewModel(), DefaultConfig())
	path := "/api/v1/registers/" + hexKey("my register")
	a, b := b64([]byte("a")), b64([]byte("b"))

	if got := mustRead(t, h, path); got != (RegisterResponse{Version: 0, Value: ""}) {
		t.Fatalf("absent register = %+v", got)
	}
	if rec := do(t, h, "GET", path, ""); rec.Body.String() != `{"version":0,"value":""}`+"\n" {
		t.Fatalf("absent register = %s", rec.Body.String())
	}
	for i, s := range []struct {
		body string
		want CASResponse
	}{
		{`{"expected":0,"value":"` + a + `","ttl":600,"application":"test"}`, CASResponse{true, 1, a}},
		{`{"expected":1,"value":"` + b + `"}`, CASResponse{true, 2, b}},
		{`{"expected":1,"value":"` + a + `"}`, CASResponse{false, 2, b}}, // stale: the current register
		{`{"expected":"2","value":"` + a + `"}`, CASResponse{true, 3, a}},
		{`{"expected":3,"value":""}`, CASResponse{true, 4, ""}}, // deleted: a tombstone (CAS-6)
		{`{"expected":3,"value":null}`, CASResponse{false, 4, ""}},
	} {
		if got := mustCAS(t, h, path, s.body); got != s.want {
			t.Fatalf("cas %d %s = %+v, want %+v", i, s.body, got, s.want)
		}
	}
	if got := mustRead(t, h, path); got != (RegisterResponse{Version: 4, Value: ""}) {
		t.Fatalf("deleted register = %+v", got)
	}
	// Registers are not items (CAS-1), and HEAD is a read without a body.
	if gr := mustGet(t, h, "/api/v1/keys/"+hexKey("my register")); len(gr.Values) != 0 {
		t.Fatalf("a register shows as values: %+v", gr.Values)
	}
	if rec := do(t, h, "HEAD", path, ""); rec.Code != http.StatusOK {
		t.Fatalf("HEAD: %d", rec.Code)
	}
}

// TestRegisterErrors: every malformed request gets a 400 (or its status)
// naming the problem, and changes nothing (CAS-8).
func TestRegisterErrors(t *testing.T) {
	path := "/api/v1/registers/" + hexKey("k")
	v := b64([]byte("v"))
	big := b64(make([]byte, 1025))
	tests := []struct {
		name, method, target, body string
		code                       int
		text                       string // the error contains it
	}{
		{"key not hex", "POST", "/api/v1/registers/xyz1", `{"expected":0,"value":""}`, 400, "key must be 2 to 40 hex digits"},
		{"key too long", "GET", "/api/v1/registers/" + strings.Repeat("ab", 21), "", 400, "key is longer than 20 bytes"},
		{"key empty", "GET", "/api/v1/registers/", "", 400, "key must be 2 to 40 hex digits"},
		{"sub path", "GET", path + "/x", "", 404, "no endpoint"},
		{"no key", "GET", "/api/v1/registers", "", 404, "registers/{key}"},
		{"delete", "DELETE", path, `{}`, 405, "method DELETE not allowed here: use GET, HEAD, POST"},
		{"read query", "GET", path + "?version=1", "", 400, "takes no query parameters"},
		{"cas query", "POST", path + "?ttl=1", `{"expected":0,"value":""}`, 400, "takes no query parameters"},
		{"expected missing", "POST", path, `{"value":"` + v + `"}`, 400, "expected is required"},
		{"expected null", "POST", path, `{"expected":null,"value":"` + v + `"}`, 400, "expected is required"},
		{"expected max", "POST", path, `{"expected":18446744073709551615,"value":"` + v + `"}`, 400, "expected version is out of range"},
		{"expected max string", "POST", path, `{"expected":"18446744073709551615","value":"` + v + `"}`, 400, "expected version is out of range"},
		{"expected beyond", "POST", path, `{"expected":18446744073709551616,"value":"` + v + `"}`, 400, "expected version is out of range"},
		{"expected negative", "POST", path, `{"expected":-1,"value":"` + v + `"}`, 400, "expected version is out of range"},
		{"expected fraction", "POST", path, `{"expected":1.5,"value":"` + v + `"}`, 400, "expected must be a whole number"},
		{"expected float", "POST", path, `{"expected":1.0,"value":"` + v + `"}`, 400, "in digits, got 1.0"},
		{"expected exponent", "POST", path, `{"expected":1e3,"value":"` + v + `"}`, 400, "expected must be a whole number"},
		{"expected text", "POST", path, `{"expected":"one","value":"` + v + `"}`, 400, "expected must be a whole number"},
		{"expected bool", "POST", path, `{"expected":true,"value":"` + v + `"}`, 400, "expected must be a whole number"},
		{"expected object", "POST", path, `{"expected":{},"value":"` + v + `"}`, 400, "expected must be a whole number"},
		{"value missing", "POST", path, `{"expected":0}`, 400, "value is required"},
		{"value too long", "POST", path, `{"expected":0,"value":"` + big + `"}`, 400, "value is longer than 1024 bytes"},
		{"value not base64", "POST", path, `{"expected":0,"value":"!!"}`, 400, "value is not base64"},
		{"value a number", "POST", path, `{"expected":0,"value":5}`, 400, `field "value" must be a base64 string, got number`},
		{"ttl zero", "POST", path, `{"expected":0,"value":"","ttl":0}`, 400, "ttl must be positive"},
		{"ttl fraction", "POST", path, `{"expected":0,"value":"","ttl":0.5}`, 400, "ttl must be a whole number"},
		{"typo", "POST", path, `{"expected":0,"value":"","tll":5}`, 400, `unknown field "tll" (the fields are "expected", "value", "ttl", "application")`},
		{"put field", "POST", path, `{"expected":0,"value":"","secret":"cHc"}`, 400, `unknown field "secret"`},
		{"body empty", "POST", path, ``, 400, "request body is empty"},
		{"body array", "POST", path, `[0]`, 400, "must be a JSON object"},
		{"body two objects", "POST", path, `{"expected":0,"value":""}{}`, 400, "one JSON object and nothing after it"},
		{"application a number", "POST", path, `{"expected":0,"value":"","application":1}`, 400, `field "application" must be a string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New(gatewaytest.NewModel(), DefaultConfig())
			rec := do(t, h, tt.method, tt.target, tt.body)
			var er ErrorResponse
			decode(t, rec, &er)
			if rec.Code != tt.code || !strings.Contains(er.Error, tt.text) || er.Outcome != "" {
				t.Fatalf("%d %+v, want %d containing %q", rec.Code, er, tt.code, tt.text)
			}
			if got := mustRead(t, h, path); got.Version != 0 {
				t.Fatalf("a refused request changed the register: %+v", got)
			}
		})
	}
	// The texts of CAS-8 are exactly the original ones.
	h := New(gatewaytest.NewModel(), DefaultConfig())
	for _, tc := range []struct {
		body string
		want error
	}{
		{`{"expected":18446744073709551615,"value":""}`, dht.ErrBadExpected},
		{`{"expected":0,"value":"` + big + `"}`, dht.ErrValueTooLong},
		{`{"expected":0,"value":"","ttl":-1}`, dht.ErrBadTTL},
	} {
		var er ErrorResponse
		decode(t, do(t, h, "POST", path, tc.body), &er)
		if er.Error != tc.want.Error() {
			t.Errorf("%s: error %q, want exactly %q", tc.body, er.Error, tc.want)
		}
	}
}

// registers answers every register call with fixed results or errors, and
// records the cas it receives.
type registers struct {
	gatewaytest.Failing
	res  dht.CASResult
	v    dht.Versioned
	err  error
	seen []dht.CAS
}

func (r *registers) CAS(_ context.Context, c dht.CAS) (dht.CASResult, error) {
	r.seen = append(r.seen, c)
	return r.res, r.err
}

func (r *registers) ReadRegister(context.Context, dht.Key) (dht.Versioned, error) { return r.v, r.err }

// noRegisters is a Backend that is not a RegisterBackend.
type noRegisters struct{ gateway.Backend }

// TestRegisterOutcomes: a cas whose outcome is unknown is a 504 that says
// so, apart from a failed cas (500); a read that times out is a plain 504;
// a node without registers is a 501 (CAS-11).
func TestRegisterOutcomes(t *testing.T) {
	path := "/api/v1/registers/00"
	for _, tc := range []struct {
		name    string
		b       gateway.Backend
		method  string
		code    int
		text    string // the error starts with it
		outcome string
	}{
		{"cas unknown", &gatewaytest.Unknown{}, "POST", 504, "outcome unknown: read the register before trying again (cas: node: outcome unknown", "unknown"},
		{"cas deadline", &registers{err: context.DeadlineExceeded}, "POST", 504, "outcome unknown: read the register before trying again (cas: context deadline exceeded)", "unknown"},
		{"cas timeout error", &registers{err: timeoutErr{}}, "POST", 504, "outcome unknown", "unknown"},
		{"cas failing", gatewaytest.Failing{}, "POST", 500, "cas failed: node: shutting down", ""},
		{"cas refused by the backend", &registers{err: dht.ErrBadExpected}, "POST", 400, "expected version is out of range", ""},
		{"read unknown", &gatewaytest.Unknown{}, "GET", 504, "read failed: node: outcome unknown", ""},
		{"read failing", gatewaytest.Failing{}, "GET", 500, "read failed: node: shutting down", ""},
		{"cas without registers", noRegisters{gatewaytest.NewModel()}, "POST", 501, "registers (cas, read) are not supported by this gateway's node", ""},
		{"read without registers", noRegisters{gatewaytest.NewModel()}, "GET", 501, "registers (cas, read) are not supported", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := ""
			if tc.method == "POST" {
				body = `{"expected":0,"value":""}`
			}
			rec := do(t, New(tc.b, DefaultConfig()), tc.method, path, body)
			var er ErrorResponse
			decode(t, rec, &er)
			if rec.Code != tc.code || !strings.HasPrefix(er.Error, tc.text) || er.Outcome != tc.outcome {
				t.Fatalf("%d %+v, want %d starting %q, outcome %q", rec.Code, er, tc.code, tc.text, tc.outcome)
			}
		})
	}
}

// TestVersionsRoundTrip: versions up to 2^64-1 go out as exact JSON
// numbers, and expected versions up to 2^64-2 come in exactly, as numbers
// or strings.
func TestVersionsRoundTrip(t *testing.T) {
	for _, v := range []uint64{0, 1, 1 << 53, 1<<53 + 1, math.MaxInt64, math.MaxInt64 + 1, math.MaxUint64 - 1, math.MaxUint64} {
		b := &registers{res: dht.CASResult{OK: true, Versioned: dht.Versioned{Version: v}}, v: dht.Versioned{Version: v}}
		h := New(b, DefaultConfig())
		text := strconv.FormatUint(v, 10)
		if rec := do(t, h, "GET", "/api/v1/registers/00", ""); rec.Body.String() != `{"version":`+text+`,"value":""}`+"\n" {
			t.Errorf("read of version %d: %s", v, rec.Body.String())
		}
		if v == math.MaxUint64 {
			continue // not an expected version (CAS-8)
		}
		for _, expected := range []string{text, `"` + text + `"`} {
			if got := mustCAS(t, h, "/api/v1/registers/00", `{"expected":`+expected+`,"value":""}`); got.Version != v {
				t.Errorf("cas answering version %d: %+v", v, got)
			}
		}
		if d := cmp.Diff([]uint64{v, v}, []uint64{b.seen[0].Expected, b.seen[1].Expected}); d != "" {
			t.Errorf("expected versions passed on (-sent +received):\n%s", d)
		}
	}
}
