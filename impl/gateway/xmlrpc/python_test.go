package xmlrpc

import (
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway/gatewaytest"
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

# Registers (cas, read): a struct with ok, version and value.
rkey = xc.Binary(hashlib.sha1(b"my register").digest())
r = s.read(rkey, app)
assert r["version"] == 0 and r["value"].data == b"", r
r = s.cas(rkey, 0, xc.Binary(b"one"), 3600, app)
assert r["ok"] is True and r["version"] == 1 and r["value"].data == b"one", r
r = s.cas(rkey, 0, xc.Binary(b"two"), 3600, app)
assert r["ok"] is False and r["version"] == 1 and r["value"].data == b"one", r
# Python cannot send an int beyond 2^31-1: a decimal string carries any version.
r = s.cas(rkey, str(r["version"]), xc.Binary(b"two"), 3600, app)
assert r["ok"] is True and r["version"] == 2 and r["value"].data == b"two", r
r = s.read(rkey, app)
assert r["version"] == 2 and r["value"].data == b"two", r
try:
    s.cas(rkey, str(2**64 - 1), xc.Binary(b"x"), 3600, app)
    raise SystemExit("no fault for expected 2^64-1")
except xc.Fault as f:
    assert f.faultString == "expected version is out of range", f.faultString
assert s.read(rkey, app)["version"] == 2

# Versions beyond 32 bits arrive as <i8>, read as int.
big = xc.ServerProxy(sys.argv[2])
r = big.read(rkey, app)
assert r["version"] == 2**40 + 1, r
r = big.cas(rkey, str(2**40), xc.Binary(b"x"), 3600, app)
assert r["ok"] is True and r["version"] == 2**40 + 1, r

# An unknown outcome is its own fault.
unknown = xc.ServerProxy(sys.argv[3])
try:
    unknown.cas(rkey, 0, xc.Binary(b"x"), 3600, app)
    raise SystemExit("no fault for an unknown outcome")
except xc.Fault as f:
    assert f.faultCode == -32000, f.faultCode
    assert f.faultString.startswith("outcome unknown: read the register before trying again"), f.faultString
print("ok")
`

// TestPythonClient runs Python's own xmlrpc.client against the gateway.
// Reference: spec/CLIENT-API.md (user-guide clients); spec/SPEC.md section 11
// for cas and read.
func TestPythonClient(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not on PATH: skipping the test with Python's xmlrpc.client")
	}
	b := gatewaytest.NewModel()
	ts := httptest.NewServer(newTestServer(b).Handler())
	defer ts.Close()
	big := dht.Versioned{Version: 1<<40 + 1, Value: []byte("x")}
	bigTS := httptest.NewServer(newTestServer(&registers{res: dht.CASResult{OK: true, Versioned: big}, v: big}).Handler())
	defer bigTS.Close()
	unknownTS := httptest.NewServer(newTestServer(&gatewaytest.Unknown{}).Handler())
	defer unknownTS.Close()
	out, err := exec.CommandContext(t.Context(), py, "-c", pythonClient, ts.URL+"/RPC2", bigTS.URL, unknownTS.URL).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("python client: %v\n%s", err, out)
	}
	for _, c := range b.Clients() {
		if c != "127.0.0.1" {
			t.Fatalf("write charged to %q, want 127.0.0.1", c)
		}
	}
}
