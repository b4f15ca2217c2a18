package sunrpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway/gatewaytest"
)

// golden builds an XDR encoding field by field, in the order the package
// doc gives for each type, without the codec under test: word appends a
// big-endian 32-bit word, bytes a counted opaque (or string) with zero
// padding, fixed an opaque[n] without a count.
type golden struct{ b []byte }

func (g *golden) word(v uint32) *golden { g.b = binary.BigEndian.AppendUint32(g.b, v); return g }
func (g *golden) fixed(p []byte) *golden {
	g.b = append(g.b, p...)
	g.b = append(g.b, make([]byte, (4-len(p)%4)%4)...)
	return g
}
func (g *golden) bytes(p []byte) *golden { return g.word(uint32(len(p))).fixed(p) }
func (g *golden) str(s string) *golden   { return g.bytes([]byte(s)) }

// TestWireLayout pins the field order of every argument and result type of
// both versions to the layout in the package doc: a codec that swaps two
// fields (as an earlier version did with a v3 put's secret hash and TTL)
// or encodes rm's value hash as a bare digest fails here.
func TestWireLayout(t *testing.T) {
	k := key("layout")
	sh := dht.SHA1([]byte("secret"))
	vh := dht.SHA1([]byte("value"))
	pm := dht.EncodePlacemark(9)
	for _, tc := range []struct {
		name string
		v    wireType
		want []byte
	}{
		{"v2 put", &PutArgsV2{Application: "app", ClientLibrary: "lib", Key: k, Value: []byte("value"), TTLSec: 3600},
			new(golden).str("app").str("lib").fixed(k[:]).bytes([]byte("value")).word(3600).b},
		{"v3 put", &PutArgs{Application: "app", ClientLibrary: "lib", Key: k, Value: []byte("value"),
			SecretHash: Hash{Algorithm: "SHA", Hash: sh[:]}, TTLSec: 3600},
			new(golden).str("app").str("lib").fixed(k[:]).bytes([]byte("value")).str("SHA").bytes(sh[:]).word(3600).b},
		{"get", &GetArgs{Application: "app", ClientLibrary: "lib", Key: k, MaxVals: 10, Placemark: pm},
			new(golden).str("app").str("lib").fixed(k[:]).word(10).bytes(pm).b},
		{"v2 get result", &GetResultV2{Values: [][]byte{[]byte("a"), []byte("bcdef")}, Placemark: pm},
			new(golden).word(2).bytes([]byte("a")).bytes([]byte("bcdef")).bytes(pm).b},
		{"v3 get result", &GetResult{Values: []GetValue{{Value: []byte("a"), TTLSecRem: 7},
			{Value: []byte("b"), TTLSecRem: 8, SecretHash: Hash{Algorithm: "SHA", Hash: sh[:]}}}},
			new(golden).word(2).bytes([]byte("a")).word(7).str("").bytes(nil).
				bytes([]byte("b")).word(8).str("SHA").bytes(sh[:]).bytes(nil).b},
		{"v3 rm", &RmArgs{Application: "app", ClientLibrary: "lib", Key: k, ValueHash: Hash{Algorithm: "SHA", Hash: vh[:]},
			SecretHashAlg: "SHA", Secret: []byte("secret"), TTLSec: 60},
			new(golden).str("app").str("lib").fixed(k[:]).str("SHA").bytes(vh[:]).str("SHA").bytes([]byte("secret")).word(60).b},
	} {
		if got := tc.v.MarshalXDR(); !bytes.Equal(got, tc.want) {
			t.Errorf("%s: encoded\n %x\nwant\n %x", tc.name, got, tc.want)
			continue
		}
		fresh := map[string]func() wireType{
			"v2 put": func() wireType { return new(PutArgsV2) }, "v3 put": func() wireType { return new(PutArgs) },
			"get": func() wireType { return new(GetArgs) }, "v2 get result": func() wireType { return new(GetResultV2) },
			"v3 get result": func() wireType { return new(GetResult) }, "v3 rm": func() wireType { return new(RmArgs) },
		}[tc.name]()
		if err := fresh.UnmarshalXDR(tc.want); err != nil {
			t.Errorf("%s: decoding the layout: %v", tc.name, err)
		} else if d := cmp.Diff(tc.v, fresh); d != "" {
			t.Errorf("%s: decoded (-want +got):\n%s", tc.name, d)
		}
	}
}

// TestVersion2 serves version 2 beside version 3 on one connection: a v2
// put is a plain put (PUT-2) that v3 reads with its details, a v2 get
// returns bare values of both versions' puts and follows placemarks
// (GET-4), and v2 refuses what its bounds refuse.
func TestVersion2(t *testing.T) {
	b := gatewaytest.NewModel()
	c := dial(t, startServer(t, b, DefaultConfig()))
	ctx := testCtx(t)
	if err := c.NullVersion(ctx, Version2); err != nil {
		t.Fatalf("v2 NULL: %v", err)
	}
	k := key("v2")
	sh := dht.SHA1([]byte("s"))
	var want [][]byte
	for i := range 3 {
		v := bytes.Repeat([]byte{'a' + byte(i)}, 600)
		want = append(want, v)
		if st, err := c.PutV2(ctx, PutArgsV2{Application: "old", ClientLibrary: "rpcgen", Key: k, Value: v, TTLSec: 600}); err != nil || st != dht.StatusOK {
			t.Fatalf("v2 put %d: %v %v", i, st, err)
		}
	}
	want = append(want, []byte("removable"))
	if st, err := c.Put(ctx, PutArgs{Key: k, Value: []byte("removable"), SecretHash: Hash{"SHA", sh[:]}, TTLSec: 600}); err != nil || st != dht.StatusOK {
		t.Fatalf("v3 put: %v %v", st, err)
	}
	var got [][]byte
	var pm []byte
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("v2 placemarks do not end")
		}
		res, err := c.GetV2(ctx, GetArgs{Key: k, MaxVals: 1, Placemark: pm})
		if err != nil {
			t.Fatalf("v2 get: %v", err)
		}
		got = append(got, res.Values...)
		if pm = res.Placemark; len(pm) == 0 {
			break
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("v2 get (-want +got):\n%s", d)
	}
	details := getAll(t, c, k, 10)
	for i, v := range details[:3] {
		if v.SecretHash.Algorithm != "" || len(v.SecretHash.Hash) != 0 || v.TTLSecRem != 600 {
			t.Errorf("v2 put %d read by v3: %+v, want a plain put with ttl 600", i, v.SecretHash)
		}
	}
	if _, err := c.PutV2(ctx, PutArgsV2{Key: k, Value: make([]byte, dht.MaxValueLen+1), TTLSec: 1}); !errors.Is(err, ErrGarbageArgs) {
		t.Errorf("v2 put of 1025 bytes: %v, want GARBAGE_ARGS", err)
	}
	if _, err := c.GetV2(ctx, GetArgs{Key: k}); !errors.Is(err, ErrGarbageArgs) {
		t.Errorf("v2 get with maxvals 0: %v, want GARBAGE_ARGS", err)
	}
	if _, err := c.Call(ctx, Version2, ProcRm, RmArgs{Key: k, ValueHash: sha1Hash([]byte("removable")),
		SecretHashAlg: "SHA", Secret: []byte("s"), TTLSec: 600}.MarshalXDR()); !errors.Is(err, ErrProcUnavail) {
		t.Errorf("v2 rm: %v, want PROC_UNAVAIL", err)
	}
	if n := len(getAll(t, c, k, 10)); n != 4 {
		t.Errorf("%d values after the refused calls, want 4", n)
	}
}

// TestHashForms: a plain v3 put may name "SHA" or nothing with an empty
// hash (clients did both); "SHA1" names SHA-1 too (LIM-4); an rm's value
// hash may leave its algorithm empty; other algorithms are refused.
func TestHashForms(t *testing.T) {
	b := gatewaytest.NewModel()
	c := dial(t, startServer(t, b, DefaultConfig()))
	ctx := testCtx(t)
	k := key("forms")
	sh := dht.SHA1([]byte("s"))
	for name, h := range map[string]Hash{"empty": {}, "SHA, no hash": {Algorithm: "SHA"}, "SHA1, no hash": {Algorithm: "SHA1"},
		"SHA1": {Algorithm: "SHA1", Hash: sh[:]}} {
		if st, err := c.Put(ctx, PutArgs{Key: k, Value: []byte(name), SecretHash: h, TTLSec: 60}); err != nil || st != dht.StatusOK {
			t.Errorf("put with %s: %v %v", name, st, err)
		}
	}
	for _, v := range getAll(t, c, k, 10) {
		removable := string(v.Value) == "SHA1"
		if got := len(v.SecretHash.Hash) == 20 && v.SecretHash.Algorithm == "SHA"; got != removable {
			t.Errorf("%q read back with secret hash %+v", v.Value, v.SecretHash)
		}
	}
	if _, err := c.Remove(ctx, RmArgs{Key: k, ValueHash: Hash{Algorithm: "MD5", Hash: sh[:]}, SecretHashAlg: "SHA", Secret: []byte("s"), TTLSec: 60}); !errors.Is(err, ErrGarbageArgs) {
		t.Errorf("rm with an MD5 value hash: %v, want GARBAGE_ARGS", err)
	}
	if _, err := c.Remove(ctx, RmArgs{Key: k, ValueHash: Hash{Algorithm: "SHA", Hash: sh[:19]}, SecretHashAlg: "SHA", Secret: []byte("s"), TTLSec: 60}); !errors.Is(err, ErrGarbageArgs) {
		t.Errorf("rm with a 19-byte value hash: %v, want GARBAGE_ARGS", err)
	}
	vh := dht.SHA1([]byte("SHA1"))
	if st, err := c.Remove(ctx, RmArgs{Key: k, ValueHash: Hash{Hash: vh[:]}, SecretHashAlg: "SHA1", Secret: []byte("s"), TTLSec: 60}); err != nil || st != dht.StatusOK {
		t.Fatalf("rm with SHA1 names: %v %v", st, err)
	}
	for _, v := range getAll(t, c, k, 10) {
		if string(v.Value) == "SHA1" {
			t.Error("removed value still returned")
		}
	}
}
