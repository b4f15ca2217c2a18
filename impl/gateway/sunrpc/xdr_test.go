package sunrpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"github.com/opendht-go/opendht/impl/gateway/gatewaytest"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opendht-go/opendht/impl/dht"
)

// wireType is what every argument and result type implements.
type wireType interface {
	UnmarshalXDR([]byte) error
	MarshalXDR() []byte
}

// wireTypes returns fresh values of every argument and result type.
func wireTypes() map[string]func() wireType {
	return map[string]func() wireType{
		"put":     func() wireType { return new(PutArgs) },
		"put2":    func() wireType { return new(PutArgsV2) },
		"getres2": func() wireType { return new(GetResultV2) },
		"get":     func() wireType { return new(GetArgs) },
		"getres":  func() wireType { return new(GetResult) },
		"rm":      func() wireType { return new(RmArgs) },
	}
}

func samples() [][]byte {
	sh := dht.SHA1([]byte("secret"))
	return [][]byte{
		nil,
		PutArgs{Application: "app", ClientLibrary: "lib", Key: key("a"), Value: []byte("hello"), TTLSec: 3600,
			SecretHash: Hash{Algorithm: "SHA", Hash: sh[:]}}.MarshalXDR(),
		PutArgs{Key: key("b"), Value: bytes.Repeat([]byte{1}, dht.MaxValueLen), TTLSec: -1}.MarshalXDR(),
		GetArgs{Application: "a", Key: key("c"), MaxVals: 10, Placemark: dht.EncodePlacemark(7)}.MarshalXDR(),
		GetResult{Values: []GetValue{{Value: []byte("v"), TTLSecRem: 5}, {Value: []byte("w"),
			SecretHash: Hash{Algorithm: "SHA", Hash: sh[:]}}}, Placemark: []byte{1}}.MarshalXDR(),
		PutArgsV2{Application: "old", Key: key("e"), Value: []byte("v2"), TTLSec: 60}.MarshalXDR(),
		GetResultV2{Values: [][]byte{[]byte("x"), nil}, Placemark: []byte{1, 2}}.MarshalXDR(),
		RmArgs{Key: key("d"), ValueHash: sha1Hash([]byte("v")), SecretHashAlg: "SHA", Secret: []byte("secret"), TTLSec: 9}.MarshalXDR(),
		{0xff, 0xff, 0xff, 0xff},
		{0, 0, 0, 1, 'a', 1, 0, 0},
	}
}

// checkStable is the decode-encode-decode property: whatever decodes
// re-encodes to the very same bytes (the encoding is canonical) and
// decodes again to an equal value.
func checkStable(t *testing.T, name string, newT func() wireType, b []byte) {
	v := newT()
	if v.UnmarshalXDR(b) != nil {
		return
	}
	enc := v.MarshalXDR()
	if !bytes.Equal(enc, b) {
		t.Fatalf("%s: re-encoding differs:\n in  %x\n out %x", name, b, enc)
	}
	w := newT()
	if err := w.UnmarshalXDR(enc); err != nil {
		t.Fatalf("%s: re-decoding failed: %v", name, err)
	}
	if d := cmp.Diff(v, w); d != "" {
		t.Fatalf("%s: decode-encode-decode differs (-first +second):\n%s", name, d)
	}
}

func TestDecodeEncodeDecode(t *testing.T) {
	decoded := 0
	for _, b := range samples() {
		for name, newT := range wireTypes() {
			checkStable(t, name, newT, b)
			if newT().UnmarshalXDR(b) == nil {
				decoded++
			}
		}
	}
	if decoded < 4 {
		t.Fatalf("only %d samples decoded; the property checked nothing", decoded)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := PutArgs{Key: key("a"), Value: []byte("abc"), TTLSec: 1}.MarshalXDR()
	for name, b := range map[string][]byte{
		"trailing":    append(bytes.Clone(good), 0, 0, 0, 0),
		"truncated":   good[:len(good)-1],
		"bad padding": func() []byte { b := bytes.Clone(good); b[8+20+4+3] = 1; return b }(),
		"value 1025":  PutArgs{Key: key("a"), Value: make([]byte, 1025)}.MarshalXDR(),
		"app 256":     PutArgs{Application: string(make([]byte, 256))}.MarshalXDR(),
		"alg 21":      PutArgs{SecretHash: Hash{Algorithm: string(make([]byte, 21))}}.MarshalXDR(),
		"hash 41":     PutArgs{SecretHash: Hash{Hash: make([]byte, 41)}}.MarshalXDR(),
	} {
		var a PutArgs
		if err := a.UnmarshalXDR(b); !errors.Is(err, ErrGarbage) {
			t.Errorf("%s: %v, want ErrGarbage", name, err)
		}
	}
	if _, err := decodeStatus([]byte{0, 0, 0, 3}); err == nil {
		t.Error("status 3 accepted")
	}
}

// TestLimitsBeforeAllocation: lengths and counts near 2^32 are refused
// without allocating what they claim.
func TestLimitsBeforeAllocation(t *testing.T) {
	huge := binary.BigEndian.AppendUint32(nil, 0xfffffff0)
	inputs := map[string]func() error{
		"opaque": func() error {
			var r xdrReader
			r.b = huge
			r.opaque(1<<31, "x")
			return r.done()
		},
		"array": func() error { return new(GetResult).UnmarshalXDR(append(bytes.Clone(huge), make([]byte, 64)...)) },
		"record": func() error {
			_, err := readRecord(bytes.NewReader(binary.BigEndian.AppendUint32(nil, 0x7fffffff)), 1<<16, nil)
			return err
		},
	}
	for name, f := range inputs {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := f()
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
			t.Errorf("%s: allocated %d bytes before refusing", name, n)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, b := range samples() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for name, newT := range wireTypes() {
			checkStable(t, name, newT, b)
		}
		decodeStatus(b)
	})
}

// FuzzServer feeds arbitrary call messages to the server: it never panics,
// and whatever it answers is a well-formed reply to the same xid.
func FuzzServer(f *testing.F) {
	hdr := callHeader{xid: 9, rpcvers: rpcVersion, prog: Program, vers: Version}
	for _, b := range samples() {
		for _, proc := range []uint32{0, ProcNull, ProcPut, ProcGet, ProcRm, 9} {
			for _, vers := range []uint32{Version2, Version3} {
				h := hdr
				h.proc, h.vers = proc, vers
				f.Add(encodeCall(h, b))
			}
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 3})
	s := New(gatewaytest.NewModel(), DefaultConfig())
	f.Fuzz(func(t *testing.T, msg []byte) {
		reply, ok := s.handle(context.Background(), "127.0.0.1", msg)
		if !ok {
			return
		}
		xid := binary.BigEndian.Uint32(msg)
		if _, err := decodeReply(xid, reply); errors.Is(err, ErrBadReply) {
			t.Fatalf("malformed reply %x to %x: %v", reply, msg, err)
		}
	})
}

// FuzzRecord reads arbitrary streams as records: never more than the limit.
func FuzzRecord(f *testing.F) {
	f.Add([]byte{0x80, 0, 0, 1, 7})
	f.Add([]byte{0, 0, 0, 1, 7, 0x80, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		const max = 1024
		r := bytes.NewReader(b)
		for {
			rec, err := readRecord(r, max, nil)
			if err != nil {
				return
			}
			if len(rec) > max {
				t.Fatalf("record of %d bytes, limit %d", len(rec), max)
			}
		}
	})
}
