package xmlrpc

import (
	"github.com/opendht-go/opendht/impl/gateway/gatewaytest"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
)

// pythonClient is a user-guide style client: SHA-1 of a text key,
// xmlrpc.client.Binary for every byte string, ttl 3600, maxvals 10, and a
// get loop that follows placemarks. Values of 700 bytes make the reply cap
// split the get, and make Python wrap its base64 lines.
const pythonClient = `
import hashlib, sys, xmlrpc.client as xc

s = xc.ServerProxy(sys.argv[1])
key = xc.Binary(hashlib.sha1(b"my text key").digest())
app = "python-test"

def get_all(method):
    out, pm = [], xc.Binary(b"")
    for _ in range(20):
        vals, pm = getattr(s, method)(key, 10, pm, app)
        out.extend(vals)
        if len(pm.data) == 0:
            return out
    raise SystemExit("placemarks never end")

plain = [bytes([65 + i]) * 700 for i in range(3)]
for v in plain:
    assert s.put(key, xc.Binary(v), 3600, app) == 0, "put"
secret = b"my secret"
removable = b"remove me"
assert s.put_removable(key, xc.Binary(removable), "SHA",
                       xc.Binary(hashlib.sha1(secret).digest()), 3600, app) == 0, "put_removable"

got = [v.data for v in get_all("get")]
assert got == plain + [removable], got

details = get_all("get_details")
assert [d[0].data for d in details] == plain + [removable]
assert all(d[1] == 3600 for d in details), [d[1] for d in details]
assert details[0][2] == "" and details[-1][2] == "SHA", [d[2] for d in details]
assert details[-1][3].data == hashlib.sha1(secret).digest()

assert s.rm(key, xc.Binary(hashlib.sha1(removable).digest()), "SHA",
            xc.Binary(secret), 3600, app) == 0, "rm"
assert [v.data for v in get_all("get")] == plain

try:
    s.put(xc.Binary(b"k" * 21), xc.Binary(b"v"), 3600, app)
    raise SystemExit("no fault for a long key")
except xc.Fault as f:
    assert f.faultString == "key is longer than 20 bytes", f.faultString
try:
    s.put(key, xc.Binary(b"v" * 1025), 3600, app)
    raise SystemExit("no fault for a long value")
except xc.Fault as f:
    assert f.faultString == "value is longer than 1024 bytes", f.faultString
print("ok")
`

// TestPythonClient runs Python's own xmlrpc.client against the gateway.
// Reference: OPENDHT.md §2 (user-guide clients).
func TestPythonClient(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not on PATH: skipping the test with Python's xmlrpc.client")
	}
	b := gatewaytest.NewModel()
	ts := httptest.NewServer(newTestServer(b).Handler())
	defer ts.Close()
	out, err := exec.CommandContext(t.Context(), py, "-c", pythonClient, ts.URL+"/RPC2").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("python client: %v\n%s", err, out)
	}
	for _, c := range b.Clients() {
		if c != "127.0.0.1" {
			t.Fatalf("write charged to %q, want 127.0.0.1", c)
		}
	}
}
