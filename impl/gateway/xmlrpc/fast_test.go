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
	return []string{
		string(put),
		string(get),
		"<?xml version='1.0'?>\n<methodCall>\n<methodName>put</methodName>\n<params>\n<param>\n<value><base64>\nqvTGHdzF6KLavt4PO0gs2a6pQ00=\n</base64></value>\n</param>\n<param>\n<value><base64>\nd29ybGQ=\n</base64></value>\n</param>\n<param>\n<value><int>3600</int></value>\n</param>\n<param>\n<value><string>demo</string></value>\n</param>\n</params>\n</methodCall>\n",
		`<methodCall><methodName> rm </methodName><params><param><value>untyped text</value></param><param><value> <i4> +42 </i4> </value></param><param><value><i8>-7</i8></value></param><param><value></value></param></params></methodCall>`,
		`<?xml version="1.0" encoding="UTF-8"?><methodCall><methodName>get</methodName></methodCall>`,
		`<methodCall><methodName>get</methodName><params></params></methodCall>`,
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
		`<methodCall><methodName>get</methodName><params><param><value><array><data></data></array></value></param></params></methodCall>`,
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
