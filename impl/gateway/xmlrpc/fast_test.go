package xmlrpc

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// canonicalBodies are calls as clients send them: this package's encoder,
// Python's xmlrpc.client (newlines between elements and inside base64),
// and hand-written variants with untyped strings and whitespace.
func canonicalBodies() []string {
	put := EncodeMethodCall(&MethodCall{Method: "put", Params: []Value{
		Base64Value([]byte("0123456789abcdefghij")), Base64Value(make([]byte, 1024)), IntValue(3600), StringValue("app")}})
	get := EncodeMethodCall(&MethodCall{Method: "get_details", Params: []Value{
		Base64Value([]byte("k")), IntValue(10), Base64Value(nil), StringValue("")}})
	cas := EncodeMethodCall(&MethodCall{Method: "cas", Params: []Value{
		Base64Value([]byte("0123456789abcdefghij")), IntValue(1 << 40), Base64Value([]byte("v")), IntValue(3600), StringValue("app")}})
	read := EncodeMethodCall(&MethodCall{Method: "read", Params: []Value{Base64Value([]byte("k")), StringValue("app")}})
	return []string{
		string(put),
		string(get),
		"<?xml version='1.0'?>\n<methodCall>\n<methodName>put</methodName>\n<params>\n<param>\n<value><base64>\nqvTGHdzF6KLavt4PO0gs2a6pQ00=\n</base64></value>\n</param>\n<param>\n<value><base64>\nd29ybGQ=\n</base64></value>\n</param>\n<param>\n<value><int>3600</int></value>\n</param>\n<param>\n<value><string>demo</string></value>\n</param>\n</params>\n</methodCall>\n",
		`<methodCall><methodName> rm </methodName><params><param><value>untyped text</value></param><param><value> <i4> +42 </i4> </value></param><param><value><i8>-7</i8></value></param><param><value></value></param></params></methodCall>`,
		`<?xml version="1.0" encoding="UTF-8"?><methodCall><methodName>get</methodName></methodCall>`,
		`<methodCall><methodName>get</methodName><params></params></methodCall>`,
		string(cas),
		string(read),
		"<?xml version='1.0'?>\n<methodCall>\n<methodName>cas</methodName>\n<params>\n<param>\n<value><base64>\nqvTGHdzF6KLavt4PO0gs2a6pQ00=\n</base64></value>\n</param>\n<param>\n<value><string>18446744073709551614</string></value>\n</param>\n<param>\n<value><base64>\nd29ybGQ=\n</base64></value>\n</param>\n<param>\n<value><int>3600</int></value>\n</param>\n<param>\n<value><string>demo</string></value>\n</param>\n</params>\n</methodCall>\n",
		`<methodCall><methodName>m</methodName><params><param><value><struct> <member> <name>a b</name> <value><boolean> 1 </boolean></value> </member><member><name></name><value><struct></struct></value></member></struct></value></param></params></methodCall>`,
	}
}

// TestCanonicalCallAgrees: the plain bodies clients send take the fast
// path, and it reads them exactly as the full parser does.
func TestCanonicalCallAgrees(t *testing.T) {
	for i, body := range canonicalBodies() {
		fast, ok := parseCanonicalCall([]byte(body))
		if !ok {
			t.Errorf("body %d does not take the fast path:\n%s", i, body)
			continue
		}
		full, err := parseMethodCallXML([]byte(body))
		if err != nil {
			t.Fatalf("body %d: full parser: %v", i, err)
		}
		if d := cmp.Diff(full, fast); d != "" {
			t.Errorf("body %d: fast path differs (-full +fast):\n%s", i, d)
		}
	}
	// What the fast path leaves to the full parser.
	for _, body := range []string{
		`<methodCall><methodName>get</methodName><params><param><value><string>a &amp; b</string></value></param></params></methodCall>`,
		`<!-- c --><methodCall><methodName>get</methodName></methodCall>`,
		`<methodCall><methodName>get</methodName><param><value>x</value></param></methodCall>`,
		"<methodCall><methodName>get</methodName>\r\n</methodCall>",
		`<methodCall><methodName>get</methodName><params><param><value><double>1</double></value></param></params></methodCall>`,
		`<methodCall><methodName>cas</methodName><params><param><value><boolean>true</boolean></value></param></params></methodCall>`,
		`<methodCall><methodName>m</methodName><params><param><value><struct><member><value>1</value><name>a</name></member></struct></value></param></params></methodCall>`,
		`<methodCall><methodName>get</methodName><params><param><value><int>12x</int></value></param></params></methodCall>`,
		`<methodCall><methodName>get</methodName><params><param><value><base64>!!</base64></value></param></params></methodCall>`,
		`<?xml version="1.0" encoding="ISO-8859-1"?><methodCall><methodName>g` + "\xe9" + `</methodName></methodCall>`,
		`<methodCall attr="1"><methodName>get</methodName></methodCall>`,
		`<methodCall><methodName>get</methodName></methodCall><x/>`,
		`<methodCall><methodName>get</methodName>`,
	} {
		if _, ok := parseCanonicalCall([]byte(body)); ok {
			t.Errorf("fast path took %q", body)
		}
	}
}

// FuzzCanonicalCall: whatever the fast path reads, the full parser reads
// the same way.
func FuzzCanonicalCall(f *testing.F) {
	for _, b := range canonicalBodies() {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := parseCanonicalCall(body)
		if !ok {
			return
		}
		full, err := parseMethodCallXML(body)
		if err != nil {
			t.Fatalf("fast path read a body the full parser refuses (%v):\n%q", err, body)
		}
		if d := cmp.Diff(full, fast); d != "" {
			t.Fatalf("fast path differs (-full +fast):\n%s\nbody %q", d, body)
		}
	})
}

func BenchmarkParseMethodCall(b *testing.B) {
	body := EncodeMethodCall(&MethodCall{Method: "put", Params: []Value{Base64Value(make([]byte, 20)),
		Base64Value([]byte(strings.Repeat("v", 1024))), IntValue(3600), StringValue("bench")}})
	for _, c := range []struct {
		name  string
		parse func([]byte) (*MethodCall, error)
	}{{"fast", ParseMethodCall}, {"xml", parseMethodCallXML}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := c.parse(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// canonicalResponses are replies as gateways send them.
func canonicalResponses() []string {
	details := EncodeResponse(ArrayValue(ArrayValue(
		ArrayValue(Base64Value(make([]byte, 1024)), IntValue(3600), StringValue(""), Base64Value(nil)),
		ArrayValue(Base64Value([]byte("v")), IntValue(7), StringValue("SHA"), Base64Value(make([]byte, 20)))),
		Base64Value([]byte{1, 0, 0, 0, 0, 0, 0, 0, 9})))
	return []string{
		string(details),
		string(EncodeResponse(IntValue(0))),
		string(EncodeResponse(ArrayValue(ArrayValue(), Base64Value(nil)))),
		string(EncodeResponse(Value{Kind: Struct, Members: []Member{{Name: "ok", Value: Value{Kind: Bool, Bool: true}},
			{Name: "version", Value: VersionValue(1 << 40)}, {Name: "value", Value: Base64Value([]byte("v"))}}})),
		string(EncodeResponse(Value{Kind: Struct, Members: []Member{{Name: "ok", Value: Value{Kind: Bool}},
			{Name: "version", Value: VersionValue(1<<63 + 1)}, {Name: "value", Value: Base64Value(nil)}}})),
		string(EncodeResponse(Value{Kind: Struct, Members: []Member{{Name: "version", Value: VersionValue(0)}, {Name: "value", Value: Base64Value(nil)}}})),
		"<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><struct>\n<member>\n<name>ok</name>\n<value><boolean>0</boolean></value>\n</member>\n<member>\n<name>version</name>\n<value><i8>4294967296</i8></value>\n</member>\n</struct></value>\n</param>\n</params>\n</methodResponse>\n",
		"<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><array><data>\n<value><array><data>\n<value><base64>\nd29ybGQ=\n</base64></value>\n</data></array></value>\n<value><base64>\n</base64></value>\n</data></array></value>\n</param>\n</params>\n</methodResponse>\n",
	}
}

// TestCanonicalResponseAgrees: plain replies take the fast path and read
// as the full parser reads them; faults and other forms do not.
func TestCanonicalResponseAgrees(t *testing.T) {
	for i, body := range canonicalResponses() {
		fast, ok := parseCanonicalResponse([]byte(body))
		if !ok {
			t.Errorf("reply %d does not take the fast path:\n%s", i, body)
			continue
		}
		full, err := parseMethodResponseXML([]byte(body))
		if err != nil {
			t.Fatalf("reply %d: full parser: %v", i, err)
		}
		if d := cmp.Diff(full, fast); d != "" {
			t.Errorf("reply %d: fast path differs (-full +fast):\n%s", i, d)
		}
	}
	for _, body := range []string{
		string(EncodeFault(&Fault{Code: FaultBadParams, String: "value is longer than 1024 bytes"})),
		`<methodResponse><params><param><value><nil/></value></param></params></methodResponse>`,
		`<methodResponse><params><param><value><array><data><value><array><data><value><array><data><value><array><data><value><array><data><value><array><data><value><array><data><value><array><data></data></array></value></data></array></value></data></array></value></data></array></value></data></array></value></data></array></value></data></array></value></data></array></value></param></params></methodResponse>`,
	} {
		if _, ok := parseCanonicalResponse([]byte(body)); ok {
			t.Errorf("fast path took %q", body)
		}
	}
}

// FuzzCanonicalResponse: whatever the fast path reads, the full parser
// reads the same way.
func FuzzCanonicalResponse(f *testing.F) {
	for _, b := range canonicalResponses() {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := parseCanonicalResponse(body)
		if !ok {
			return
		}
		full, err := parseMethodResponseXML(body)
		if err != nil {
			t.Fatalf("fast path read a reply the full parser refuses (%v):\n%q", err, body)
		}
		if d := cmp.Diff(full, fast); d != "" {
			t.Fatalf("fast path differs (-full +fast):\n%s\nbody %q", d, body)
		}
	})
}
