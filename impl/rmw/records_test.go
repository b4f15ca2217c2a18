package rmw

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/opendht-go/opendht/impl/dht"
)

var rewriteRecords = flag.Bool("rewrite-records", false, "rewrite the golden acceptor records of the newest format (testdata/records/v1)")

// goldenAcceptors are the acceptor states kept as golden records: one
// file per state and per record format, under testdata/records/<format>.
var goldenAcceptors = map[string]acceptor{
	"promise-only": {Promise: ballot{N: 1_700_000_000_000, ID: dht.Key{0xaa, 1}, Inc: 7}},
	"accepted": {
		Promise:  ballot{N: 1_700_000_000_500, ID: dht.Key{0xbb, 2}, Inc: 1<<64 - 1},
		Accepted: ballot{N: 1_700_000_000_400, ID: dht.Key{0xcc, 3}, Inc: 3},
		State: cpState{Version: 3, Value: []byte("three"), Expiry: 1_700_003_600_400,
			Tag: tag{0x11, 3}, Life: tag{0x11, 1}, Hist: []tag{{0x11, 1}, {0x13, 2}, {0x11, 3}}, HistTop: 3},
	},
	"expired-written-back": {
		Promise:  ballot{N: 1_700_000_100_000, ID: dht.Key{0xdd}, Inc: 9},
		Accepted: ballot{N: 1_700_000_100_000, ID: dht.Key{0xdd}, Inc: 9},
		State:    cpState{Life: tag{0x21, 1}, Hist: []tag{{0x21, 1}, {0x23, 2}}, HistTop: 2},
	},
	"largest-value": {
		Promise:  ballot{N: 1<<64 - 1, ID: dht.Key{0xff}, Inc: 1},
		Accepted: ballot{N: 1<<64 - 2, ID: dht.Key{0xfe}, Inc: 2},
		State: cpState{Version: 1<<64 - 2, Value: bytes.Repeat([]byte{0x5a}, dht.MaxValueLen), Expiry: -1,
			Tag: tag{0x31}, Life: tag{0x33}, Hist: []tag{{0x31}}, HistTop: 1<<64 - 2},
	},
	"longest-history": {
		Promise:  ballot{N: 5, ID: dht.Key{1}},
		Accepted: ballot{N: 5, ID: dht.Key{1}},
		State: cpState{Version: cpHistMax, Value: []byte{0}, Expiry: 1 << 50,
			Tag: tag{0x41, cpHistMax}, Life: tag{0x41}, Hist: longHist(), HistTop: cpHistMax},
	},
}

func longHist() []tag {
	h := make([]tag, cpHistMax)
	for i := range h {
		h[i] = tag{0x41, byte(i + 1)}
	}
	return h
}

// TestGoldenRecordsV0: the records written before records carried a
// format byte (format 0: the push message that carries the state, as the
// code of that time wrote them) still decode to the states they hold.
// These files are never rewritten.
func TestGoldenRecordsV0(t *testing.T) { checkGolden(t, "v0") }

// TestGoldenRecordsV1: records of format 1 decode to the states they
// hold, and today's code writes them byte for byte (-rewrite-records
// writes them again: only for a new format, never over an old one).
func TestGoldenRecordsV1(t *testing.T) {
	dir := filepath.Join("testdata", "records", "v1")
	if *rewriteRecords {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, a := range goldenAcceptors {
			if err := os.WriteFile(filepath.Join(dir, name+".bin"), encodeAcceptor(a), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	checkGolden(t, "v1")
	for name, a := range goldenAcceptors {
		b, _ := os.ReadFile(filepath.Join(dir, name+".bin"))
		if enc := encodeAcceptor(a); !bytes.Equal(enc, b) {
			t.Errorf("%s: today's encoding differs from the golden format 1 record:\n%x\n%x", name, enc, b)
		}
	}
}

func checkGolden(t *testing.T, format string) {
	t.Helper()
	for name, want := range goldenAcceptors {
		b, err := os.ReadFile(filepath.Join("testdata", "records", format, name+".bin"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := decodeAcceptor(b)
		if err != nil {
			t.Fatalf("%s/%s: decode: %v", format, name, err)
		}
		if d := cmp.Diff(want, got, cpCmp...); d != "" {
			t.Errorf("%s/%s: (-want +got):\n%s", format, name, d)
		}
	}
}

// encodeFormat0 writes a record as the code before format 1 did.
func encodeFormat0(a acceptor) []byte {
	return (&cpMsg{Kind: cpPush, Promised: a.Promise, Accepted: a.Accepted, State: a.State}).encode()
}

// TestRecordsUpgradeFromFormat0: a ring whose disks hold format 0 records
// (a node upgraded in place) serves its registers as before, and what it
// writes from then on is format 1.
func TestRecordsUpgradeFromFormat0(t *testing.T) {
	net, gw := newProposerNet(t)
	wantReg(t, "cas(0)", net.call(gw, casOp(0, "a", 3600)), true, 1, "a")
	wantReg(t, "cas(1)", net.call(gw, casOp(1, "b", 3600)), true, 2, "b")
	for _, h := range net.hosts {
		for k, v := range h.disk {
			a, err := decodeAcceptor(v)
			if err != nil {
				t.Fatal(err)
			}
			h.disk[k] = encodeFormat0(a)
			if h.disk[k][0] != recordFormat0 {
				t.Fatalf("a format 0 record begins with %d", h.disk[k][0])
			}
		}
		h.restart("caspaxos")
	}
	wantReg(t, "read after the upgrade", net.call(gw, readOp), true, 2, "b")
	wantReg(t, "cas(2) after the upgrade", net.call(gw, casOp(2, "c", 3600)), true, 3, "c")
	for _, h := range net.members(regKey) {
		if b := h.disk[regKey]; len(b) == 0 || b[0] != recordFormat1 {
			t.Errorf("host %d: record after a write begins with %v, want format %d", h.i, b[:min(len(b), 1)], recordFormat1)
		}
	}
}

// TestRecordsRejected: a record that is malformed, or of a format this
// code does not know, is an error that says so, never a state.
func TestRecordsRejected(t *testing.T) {
	good := encodeAcceptor(goldenAcceptors["accepted"])
	old := encodeFormat0(goldenAcceptors["accepted"])
	for _, c := range []struct {
		name, want string
		b          []byte
	}{
		{"empty", "empty", []byte{}},
		{"unknown format", "unknown format 2", append([]byte{2}, good[1:]...)},
		{"format 1 truncated", "format 1", good[:len(good)-1]},
		{"format 1 trailing byte", "trailing", append(slices.Clone(good), 0)},
		{"format 0 truncated", "format 0", old[:len(old)-1]},
		{"format 1 value too long", "value", func() []byte {
			a := goldenAcceptors["accepted"]
			a.State.Value = make([]byte, dht.MaxValueLen+1)
			return encodeAcceptor(a)
		}()},
		{"format 1 history too long", "history", func() []byte {
			a := goldenAcceptors["accepted"]
			a.State.Hist = make([]tag, cpHistMax+1)
			return encodeAcceptor(a)
		}()},
	} {
		a, err := decodeAcceptor(c.b)
		if err == nil || !errors.Is(err, errCPRecord) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %+v, %v; want an error about %q", c.name, a, err, c.want)
		}
	}
}

// FuzzDecodeAcceptor: decoding a record never panics; one that decodes
// stays within the limits and is stable: it re-encodes (format 1) to
// bytes that decode to the same state, canonically.
func FuzzDecodeAcceptor(f *testing.F) {
	for _, a := range goldenAcceptors {
		f.Add(encodeAcceptor(a))
		f.Add(encodeFormat0(a))
	}
	f.Add([]byte{})
	f.Add([]byte{recordFormat1})
	f.Add([]byte{recordFormat1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := decodeAcceptor(b)
		if err != nil {
			if !errors.Is(err, errCPRecord) {
				t.Fatalf("error %v does not wrap errCPRecord", err)
			}
			return
		}
		if len(a.State.Value) > dht.MaxValueLen || len(a.State.Hist) > cpHistMax {
			t.Fatalf("decoded beyond the limits: value %d, history %d", len(a.State.Value), len(a.State.Hist))
		}
		enc := encodeAcceptor(a)
		a2, err := decodeAcceptor(enc)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if d := cmp.Diff(a, a2, cpCmp...); d != "" {
			t.Fatalf("decode(encode(decode(b))) != decode(b) (-first +second):\n%s", d)
		}
		if enc2 := encodeAcceptor(a2); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not canonical:\n%x\n%x", enc, enc2)
		}
	})
}
