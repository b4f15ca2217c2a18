package xmlrpc

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway/gatewaytest"
)

func TestParseMethodCallForms(t *testing.T) {
	tests := []struct {
		name, body string
		want       MethodCall
	}{
		{"untyped string", `<methodCall><methodName>m</methodName><params><param><value> a b </value></param></params></methodCall>`,
			MethodCall{"m", []Value{str(" a b ")}}},
		{"empty untyped", `<methodCall><methodName>m</methodName><params><param><value/></param></params></methodCall>`,
			MethodCall{"m", []Value{str("")}}},
		{"bare params", `<methodCall><methodName>m</methodName><param><value><int>1</int></value></param><param><value><i4>-2</i4></value></param></methodCall>`,
			MethodCall{"m", []Value{num(1), num(-2)}}},
		{"no params", `<methodCall><methodName>m</methodName></methodCall>`, MethodCall{"m", nil}},
		{"empty params", `<methodCall><methodName>m</methodName><params/></methodCall>`, MethodCall{"m", nil}},
		{"base64 wrapped", "<methodCall><methodName>m</methodName><params><param><value><base64>aGVs\r\n bG8=\n</base64></value></param></params></methodCall>",
			MethodCall{"m", []Value{b64([]byte("hello"))}}},
		{"base64 unpadded", `<methodCall><methodName>m</methodName><params><param><value><base64>aGVsbG8</base64></value></param></params></methodCall>`,
			MethodCall{"m", []Value{b64([]byte("hello"))}}},
		{"booleans and i8", `<methodCall><methodName>m</methodName><params><param><value><boolean>1</boolean></value></param><param><value><boolean>false</boolean></value></param><param><value><i8>8589934592</i8></value></param></params></methodCall>`,
			MethodCall{"m", []Value{{Kind: Bool, Bool: true}, {Kind: Bool}, num(1 << 33)}}},
		{"array without data", `<methodCall><methodName>m</methodName><params><param><value><array><value>x</value></array></value></param></params></methodCall>`,
			MethodCall{"m", []Value{ArrayValue(str("x"))}}},
		{"nested array, whitespace", "<?xml version='1.0'?>\n<methodCall>\n <methodName>m</methodName>\n <params>\n  <param>\n   <value>\n    <array>\n     <data>\n      <value><array><data/></array></value>\n      <value><string>&lt;&amp;&gt;</string></value>\n     </data>\n    </array>\n   </value>\n  </param>\n </params>\n</methodCall>\n",
			MethodCall{"m", []Value{ArrayValue(Value{Kind: Array, Array: []Value{}}, str("<&>"))}}},
		{"struct and nil", `<methodCall><methodName>m</methodName><params><param><value><struct><member><name>a</name><value><nil/></value></member></struct></value></param></params></methodCall>`,
			MethodCall{"m", []Value{{Kind: Struct, Members: []Member{{Name: "a", Value: Value{Kind: Nil}}}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMethodCall([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(&tt.want, got, cmp.Comparer(func(a, b []byte) bool { return bytes.Equal(a, b) })); d != "" {
				t.Fatalf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestParseMethodCallRejects(t *testing.T) {
	deep := "<methodCall><methodName>m</methodName><params><param><value>" +
		strings.Repeat("<array><data><value>", MaxDepth+1) + strings.Repeat("</value></data></array>", MaxDepth+1) +
		"</value></param></params></methodCall>"
	many := "<methodCall><methodName>m</methodName><params><param><value><array><data>" +
		strings.Repeat("<value/>", MaxValues+1) + "</data></array></value></param></params></methodCall>"
	for name, body := range map[string]string{
		"empty":           "",
		"wrong root":      "<methodResponse/>",
		"no method name":  "<methodCall><params/></methodCall>",
		"unclosed":        "<methodCall><methodName>m</methodName>",
		"bad int":         "<methodCall><methodName>m</methodName><params><param><value><int>1x</int></value></param></params></methodCall>",
		"bad boolean":     "<methodCall><methodName>m</methodName><params><param><value><boolean>2</boolean></value></param></params></methodCall>",
		"bad base64":      "<methodCall><methodName>m</methodName><params><param><value><base64>!!</base64></value></param></params></methodCall>",
		"unknown type":    "<methodCall><methodName>m</methodName><params><param><value><blob>1</blob></value></param></params></methodCall>",
		"two values":      "<methodCall><methodName>m</methodName><params><param><value>a</value><value>b</value></param></params></methodCall>",
		"text and type":   "<methodCall><methodName>m</methodName><params><param><value>a<int>1</int></value></param></params></methodCall>",
		"trailing root":   "<methodCall><methodName>m</methodName></methodCall><methodCall/>",
		"long name":       "<methodCall><methodName>" + strings.Repeat("m", MaxMethodNameLen+1) + "</methodName></methodCall>",
		"too deep":        deep,
		"too many values": many,
	} {
		if _, err := ParseMethodCall([]byte(body)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", name, err)
		}
	}
}

func TestFaultRoundTrip(t *testing.T) {
	f := &Fault{Code: FaultBadParams, String: "value is longer than 1024 bytes <&>"}
	mr, err := ParseMethodResponse(EncodeFault(f))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(f, mr.Fault); d != "" || mr.Params != nil {
		t.Fatalf("(-want +got):\n%s", d)
	}
}

// genValue draws values whose text is valid XML character data.
func genValue(depth int) *rapid.Generator[Value] {
	text := rapid.StringOfN(rapid.SampledFrom([]rune("ab <>&'\"\n\r\té€𝄞")), 0, 20, -1)
	scalars := []*rapid.Generator[Value]{
		rapid.Map(text, StringValue),
		rapid.Map(rapid.SliceOfN(rapid.Byte(), 0, 100), Base64Value),
		rapid.Map(rapid.Int64(), IntValue),
		rapid.Map(rapid.Bool(), func(b bool) Value { return Value{Kind: Bool, Bool: b} }),
		rapid.Map(rapid.Float64Range(-1e300, 1e300), func(f float64) Value { return Value{Kind: Double, Double: f} }),
		rapid.Just(Value{Kind: Nil}),
	}
	if depth == 0 {
		return rapid.OneOf(scalars...)
	}
	inner := genValue(depth - 1)
	return rapid.OneOf(append(scalars,
		rapid.Map(rapid.SliceOfN(inner, 0, 4), func(vs []Value) Value { return Value{Kind: Array, Array: vs} }),
		rapid.Custom(func(t *rapid.T) Value {
			n := rapid.IntRange(0, 3).Draw(t, "members")
			v := Value{Kind: Struct, Members: []Member{}}
			for range n {
				v.Members = append(v.Members, Member{Name: text.Draw(t, "name"), Value: inner.Draw(t, "member")})
			}
			return v
		}),
	)...)
}

// equalValues treats nil and empty slices alike: the decoder cannot tell
// them apart.
var equalValues = cmp.Options{
	cmp.Comparer(func(a, b []byte) bool { return bytes.Equal(a, b) }),
	cmp.Transformer("array", func(vs []Value) []Value {
		if vs == nil {
			return []Value{}
		}
		return vs
	}),
	cmp.Transformer("members", func(ms []Member) []Member {
		if ms == nil {
			return []Member{}
		}
		return ms
	}),
}

// TestResponseRoundTrip: decode(encode(v)) == v, with XML's line-end
// normalisation taken into account (the encoder escapes \r, so even that
// survives), and encoding is stable.
func TestResponseRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := genValue(3).Draw(t, "value")
		enc := EncodeResponse(v)
		mr, err := ParseMethodResponse(enc)
		if err != nil {
			t.Fatalf("decode %q: %v", enc, err)
		}
		if len(mr.Params) != 1 || mr.Fault != nil {
			t.Fatalf("decoded %+v", mr)
		}
		if d := cmp.Diff(v, mr.Params[0], equalValues); d != "" {
			t.Fatalf("(-encoded +decoded):\n%s", d)
		}
		if again := EncodeResponse(mr.Params[0]); !bytes.Equal(again, enc) {
			t.Fatalf("re-encoding differs:\n%s\n%s", enc, again)
		}
	})
}

// FuzzParseMethodCall: the parser never panics, decode-encode-decode is
// stable, and dispatching whatever parses never panics either.
func FuzzParseMethodCall(f *testing.F) {
	f.Add([]byte(sloppyPut))
	f.Add(EncodeMethodCall(&MethodCall{Method: "put", Params: []Value{b64(sha("k")), b64([]byte("v")), num(3600), str("app")}}))
	f.Add(EncodeMethodCall(&MethodCall{Method: "put_removable", Params: []Value{b64(sha("k")), b64([]byte("v")), str("SHA"), b64(sha("s")), num(3600), str("app")}}))
	f.Add(EncodeMethodCall(&MethodCall{Method: "get_details", Params: []Value{b64(sha("k")), num(10), b64(nil), str("app")}}))
	f.Add(EncodeMethodCall(&MethodCall{Method: "rm", Params: []Value{b64(sha("k")), b64(sha("v")), str("SHA"), b64([]byte("s")), num(3600), str("app")}}))
	f.Add([]byte(`<methodCall><methodName>get</methodName><param><value>AAE=</value></param><param><value>10</value></param><param><value/></param><param><value>x</value></param></methodCall>`))
	f.Add(EncodeMethodCall(&MethodCall{Method: "cas", Params: []Value{b64(sha("k")), num(0), b64([]byte("v")), num(3600), str("app")}}))
	f.Add(EncodeMethodCall(&MethodCall{Method: "cas", Params: []Value{b64(sha("k")), str("18446744073709551615"), b64(nil), num(1), str("app")}}))
	f.Add(EncodeMethodCall(&MethodCall{Method: "read", Params: []Value{b64(sha("k")), str("app")}}))
	f.Add([]byte(`<methodCall><methodName>cas</methodName><param><value>AAE=</value></param><param><value>-1</value></param><param><value/></param><param><value><double>60</double></value></param><param><value>x</value></param></methodCall>`))
	f.Add([]byte(`<?xml version="1.0" encoding="ISO-8859-1"?><methodCall><methodName>m</methodName><params><param><value><struct><member><name>a</name><value><array><data><value><nil/></value><value><double>1.5</double></value></data></array></value></member></struct></value></param></params></methodCall>`))
	f.Add([]byte(`<methodCall><methodName>m</methodName><params><param><value><array><data><value><array><data>`))
	f.Add([]byte(`<methodCall><methodName>&bogus;</methodName></methodCall>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		mc, err := ParseMethodCall(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		enc := EncodeMethodCall(mc)
		mc2, err := ParseMethodCall(enc)
		if err != nil {
			t.Fatalf("re-decoding %q: %v", enc, err)
		}
		if d := cmp.Diff(mc, mc2, equalValues); d != "" {
			t.Fatalf("decode-encode-decode differs (-first +second):\n%s", d)
		}
		if !bytes.Equal(EncodeMethodCall(mc2), enc) {
			t.Fatalf("encoding is not stable")
		}
		// The model fails no call for its own reasons: a register call
		// either answers or is refused, and a refused cas changes nothing
		// (CAS-8).
		m := gatewaytest.NewModel()
		v, fault := Dispatch(t.Context(), m, "192.0.2.1", mc)
		if mc.Method != "cas" && mc.Method != "read" {
			return
		}
		if fault != nil && fault.Code != FaultBadParams {
			t.Fatalf("%s: fault %d %q from the model", mc.Method, fault.Code, fault.String)
		}
		if fault != nil || mc.Method != "cas" {
			for _, p := range mc.Params {
				kb := p.Bytes
				if p.Kind == String {
					kb, _ = DecodeBase64(p.Str)
				}
				k, err := dht.ParseKey(kb)
				if err != nil {
					continue
				}
				if r, _ := m.ReadRegister(t.Context(), k); r.Version != 0 {
					t.Fatalf("%s answered %+v %+v, yet the register of %x is %v", mc.Method, v, fault, k, r)
				}
			}
		}
	})
}
