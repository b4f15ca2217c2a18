package xmlrpc

import (
	"bytes"
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway"
	"github.com/opendht-go/opendht/impl/gateway/gatewaytest"
)

// Reference: spec/SPEC.md section 11 (CAS-3, CAS-7, CAS-8, CAS-11) for
// every test in this file.

func casResult(ok bool, version int64, value []byte) Value {
	return Value{Kind: Struct, Members: []Member{
		{Name: "ok", Value: Value{Kind: Bool, Bool: ok}},
		{Name: "version", Value: num(version)},
		{Name: "value", Value: b64(value)},
	}}
}

func readResult(version int64, value []byte) Value {
	return Value{Kind: Struct, Members: []Member{
		{Name: "version", Value: num(version)},
		{Name: "value", Value: b64(value)},
	}}
}

// TestRegisterScenario: create, update, a stale cas that fails and shows
// the current register, reads, and a deletion (CAS-3, CAS-6, CAS-7).
func TestRegisterScenario(t *testing.T) {
	h := newTestServer(gatewaytest.NewModel()).Handler()
	key := b64(sha("register"))
	app := str("test")
	steps := []struct {
		method string
		params []Value
		want   Value
	}{
		{"read", []Value{key, app}, readResult(0, []byte{})},
		{"cas", []Value{key, num(0), b64([]byte("a")), num(600), app}, casResult(true, 1, []byte("a"))},
		{"cas", []Value{key, num(1), b64([]byte("b")), num(600), app}, casResult(true, 2, []byte("b"))},
		{"cas", []Value{key, num(1), b64([]byte("c")), num(600), app}, casResult(false, 2, []byte("b"))},
		{"read", []Value{key, app}, readResult(2, []byte("b"))},
		// The expected version as a string and as an <i8>-sized int.
		{"cas", []Value{key, str("2"), b64([]byte("c")), num(600), app}, casResult(true, 3, []byte("c"))},
		{"cas", []Value{key, num(1 << 40), b64([]byte("d")), num(600), app}, casResult(false, 3, []byte("c"))},
		// Deletion: the empty value keeps counting versions (CAS-6).
		{"cas", []Value{key, num(3), b64(nil), num(600), app}, casResult(true, 4, []byte{})},
		{"read", []Value{key, app}, readResult(4, []byte{})},
		// Registers are not items (CAS-1).
		{"get", []Value{key, num(10), b64(nil), app}, ArrayValue(Value{Kind: Array, Array: []Value{}}, b64([]byte{}))},
	}
	for i, s := range steps {
		got := result(t, call(t, h, s.method, s.params...))
		if d := cmp.Diff(s.want, got); d != "" {
			t.Fatalf("step %d %s (-want +got):\n%s", i, s.method, d)
		}
	}
}

// TestExpectedForms: the expected version as every integer form a client
// may send, in the bodies such clients write.
func TestExpectedForms(t *testing.T) {
	for _, form := range []string{
		"<int>1</int>", "<i4>1</i4>", "<i8>1</i8>", "<string>1</string>", "1", "<string> +1 </string>", "<double>1.0</double>",
	} {
		b := gatewaytest.NewModel()
		h := newTestServer(b).Handler()
		result(t, call(t, h, "cas", b64(sha("k")), num(0), b64([]byte("x")), num(60), str("")))
		body := `<?xml version="1.0"?><methodCall><methodName>cas</methodName><params>` +
			`<param><value><base64>` + b64String(sha("k")) + `</base64></value></param>` +
			`<param><value>` + form + `</value></param>` +
			`<param><value><base64>eQ==</base64></value></param>` +
			`<param><value><int>60</int></value></param><param><value><string>app</string></value></param></params></methodCall>`
		got := result(t, post(t, h, "/", []byte(body)))
		if d := cmp.Diff(casResult(true, 2, []byte("y")), got); d != "" {
			t.Errorf("expected as %s (-want +got):\n%s", form, d)
		}
	}
}

func b64String(b []byte) string {
	var buf bytes.Buffer
	encodeValue(&buf, Base64Value(b))
	s := strings.TrimPrefix(buf.String(), "<value><base64>")
	return strings.TrimSuffix(s, "</base64></value>")
}

// TestRegisterFaults: every malformed cas or read gets a fault naming the
// problem, with the original texts, and changes nothing (CAS-8).
func TestRegisterFaults(t *testing.T) {
	key := b64(sha("k"))
	val := b64([]byte("v"))
	app := str("test")
	tests := []struct {
		name   string
		method string
		params []Value
		text   string // the fault string contains it
	}{
		{"cas arity", "cas", []Value{key, num(0), val, num(60)}, "cas takes 5 arguments (key, expected, value, ttl_sec, application), got 4"},
		{"read arity", "read", []Value{key}, "read takes 2 arguments (key, application), got 1"},
		{"key too long", "cas", []Value{b64(make([]byte, 21)), num(0), val, num(60), app}, "key is longer than 20 bytes"},
		{"read key too long", "read", []Value{b64(make([]byte, 21)), app}, "key is longer than 20 bytes"},
		{"read key type", "read", []Value{num(1), app}, "argument 1 (key): want base64, got int"},
		{"value too long", "cas", []Value{key, num(0), b64(make([]byte, 1025)), num(60), app}, "value is longer than 1024 bytes"},
		{"ttl zero", "cas", []Value{key, num(0), val, num(0), app}, "ttl must be positive"},
		{"ttl negative", "cas", []Value{key, num(0), val, num(-1), app}, "ttl must be positive"},
		{"expected max", "cas", []Value{key, str("18446744073709551615"), val, num(60), app}, "expected version is out of range"},
		{"expected beyond uint64", "cas", []Value{key, str("18446744073709551616"), val, num(60), app}, "expected version is out of range"},
		{"expected negative", "cas", []Value{key, num(-1), val, num(60), app}, "expected version is out of range"},
		{"expected negative string", "cas", []Value{key, str("-3"), val, num(60), app}, "expected version is out of range"},
		{"expected negative double", "cas", []Value{key, Value{Kind: Double, Double: -2}, val, num(60), app}, "expected version is out of range"},
		{"expected text", "cas", []Value{key, str("three"), val, num(60), app}, `argument 2 (expected): want an int or a decimal string, got "three"`},
		{"expected fraction", "cas", []Value{key, Value{Kind: Double, Double: 1.5}, val, num(60), app}, "argument 2 (expected): want an int or a decimal string, got double"},
		{"expected base64", "cas", []Value{key, b64([]byte{1}), val, num(60), app}, "argument 2 (expected): want an int or a decimal string, got base64"},
		{"value type", "cas", []Value{key, num(0), num(5), num(60), app}, "argument 3 (value): want base64, got int"},
		{"application type", "read", []Value{key, num(7)}, "argument 2 (application): want string, got int"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := gatewaytest.NewModel()
			h := newTestServer(b).Handler()
			mr := call(t, h, tt.method, tt.params...)
			if mr.Fault == nil {
				t.Fatalf("no fault, got %+v", mr.Params)
			}
			if mr.Fault.Code != FaultBadParams || !strings.Contains(mr.Fault.String, tt.text) {
				t.Fatalf("fault %d %q, want %d containing %q", mr.Fault.Code, mr.Fault.String, FaultBadParams, tt.text)
			}
			// Nothing changed: the register is still absent.
			if got := result(t, call(t, h, "read", key, app)); !cmp.Equal(got, readResult(0, []byte{})) {
				t.Fatalf("after a refused call the register is %+v", got)
			}
		})
	}
	// The texts of CAS-8 are exactly the original ones.
	h := newTestServer(gatewaytest.NewModel()).Handler()
	for _, tc := range []struct {
		params []Value
		want   error
	}{
		{[]Value{key, str("18446744073709551615"), val, num(60), app}, dht.ErrBadExpected},
		{[]Value{key, num(0), b64(make([]byte, 1025)), num(60), app}, dht.ErrValueTooLong},
		{[]Value{key, num(0), val, num(0), app}, dht.ErrBadTTL},
	} {
		if mr := call(t, h, "cas", tc.params...); mr.Fault == nil || mr.Fault.String != tc.want.Error() {
			t.Errorf("fault %+v, want exactly %q", mr.Fault, tc.want)
		}
	}
}

// registers answers every register call with fixed results or errors.
type registers struct {
	gatewaytest.Failing
	res dht.CASResult
	v   dht.Versioned
	err error
}

func (r *registers) CAS(context.Context, dht.CAS) (dht.CASResult, error) { return r.res, r.err }
func (r *registers) ReadRegister(context.Context, dht.Key) (dht.Versioned, error) {
	return r.v, r.err
}

// noRegisters is a Backend that is not a RegisterBackend.
type noRegisters struct{ gateway.Backend }

// TestRegisterOutcomes: a cas whose outcome is unknown gets its own fault,
// apart from a failed one; a read that times out is a plain failure (it
// changed nothing); a node without registers says so; a refusal the
// backend makes is still the client's fault (CAS-8, CAS-11).
func TestRegisterOutcomes(t *testing.T) {
	casCall := []Value{b64(sha("k")), num(0), b64([]byte("v")), num(60), str("")}
	readCall := []Value{b64(sha("k")), str("")}
	for _, tc := range []struct {
		name     string
		b        gateway.Backend
		method   string
		params   []Value
		code     int64
		text     string // the fault string starts with it
		contains string
	}{
		{"cas unknown", &gatewaytest.Unknown{}, "cas", casCall, FaultOutcomeUnknown,
			"outcome unknown: read the register before trying again (cas: ", "node: outcome unknown"},
		{"cas deadline", &registers{err: context.DeadlineExceeded}, "cas", casCall, FaultOutcomeUnknown,
			"outcome unknown: read the register before trying again", "deadline exceeded"},
		{"read unknown", &gatewaytest.Unknown{}, "read", readCall, FaultInternal, "read failed: ", "node: outcome unknown"},
		{"cas failing", gatewaytest.Failing{}, "cas", casCall, FaultInternal, "cas failed: ", "shutting down"},
		{"read failing", gatewaytest.Failing{}, "read", readCall, FaultInternal, "read failed: ", "shutting down"},
		{"cas refused by the backend", &registers{err: dht.ErrBadExpected}, "cas", casCall, FaultBadParams, "expected version is out of range", ""},
		{"cas without registers", noRegisters{gatewaytest.NewModel()}, "cas", casCall, FaultUnknownMethod,
			"cas: registers (cas, read) are not supported by this gateway's node", ""},
		{"read without registers", noRegisters{gatewaytest.NewModel()}, "read", readCall, FaultUnknownMethod,
			"read: registers (cas, read) are not supported", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mr := call(t, newTestServer(tc.b).Handler(), tc.method, tc.params...)
			if mr.Fault == nil || mr.Fault.Code != tc.code || !strings.HasPrefix(mr.Fault.String, tc.text) ||
				!strings.Contains(mr.Fault.String, tc.contains) {
				t.Fatalf("fault %+v, want %d starting %q containing %q", mr.Fault, tc.code, tc.text, tc.contains)
			}
		})
	}
}

// TestVersionEncoding: a version is an <int> while it fits in 32 bits, an
// <i8> up to 2^63-1, then a decimal string; each reads back exactly.
func TestVersionEncoding(t *testing.T) {
	for _, tc := range []struct {
		version uint64
		wire    string
	}{
		{0, "<int>0</int>"},
		{math.MaxInt32, "<int>2147483647</int>"},
		{math.MaxInt32 + 1, "<i8>2147483648</i8>"},
		{math.MaxInt64, "<i8>9223372036854775807</i8>"},
		{math.MaxInt64 + 1, "<string>9223372036854775808</string>"},
		{math.MaxUint64 - 1, "<string>18446744073709551614</string>"},
	} {
		b := &registers{res: dht.CASResult{OK: true, Versioned: dht.Versioned{Version: tc.version, Value: []byte("v")}},
			v: dht.Versioned{Version: tc.version}}
		h := newTestServer(b).Handler()
		for _, mc := range []*MethodCall{
			{Method: "cas", Params: []Value{b64(sha("k")), str("18446744073709551613"), b64(nil), num(1), str("")}},
			{Method: "read", Params: []Value{b64(sha("k")), str("")}},
		} {
			req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(EncodeMethodCall(mc)))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if want := "<name>version</name><value>" + tc.wire + "</value>"; !strings.Contains(rec.Body.String(), want) {
				t.Errorf("%s of version %d: %s, want %s", mc.Method, tc.version, rec.Body.String(), want)
			}
			mr, err := ParseMethodResponse(rec.Body.Bytes())
			if err != nil || mr.Fault != nil {
				t.Fatalf("%s: %v %+v", mc.Method, err, mr)
			}
			got := mr.Params[0].Members[len(mr.Params[0].Members)-2].Value
			if d := cmp.Diff(VersionValue(tc.version), got); d != "" {
				t.Errorf("%s of version %d (-sent +read):\n%s", mc.Method, tc.version, d)
			}
		}
	}
}
