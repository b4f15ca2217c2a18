package rmw

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/opendht-go/opendht/impl/dht"
)

var rewriteRecords = flag.Bool("rewrite-records", false, "rewrite the golden acceptor records of the current format under testdata/records")

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
// format byte (format 0: the push message that carries the state) still
// decode to the states they hold.
func TestGoldenRecordsV0(t *testing.T) {
	dir := filepath.Join("testdata", "records", "v0")
	if *rewriteRecords {
		for name, a := range goldenAcceptors {
			if err := os.WriteFile(filepath.Join(dir, name+".bin"), encodeAcceptor(a), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, want := range goldenAcceptors {
		b, err := os.ReadFile(filepath.Join(dir, name+".bin"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := decodeAcceptor(b)
		if err != nil {
			t.Fatalf("%s: decode: %v", name, err)
		}
		if d := cmp.Diff(want, got, cpCmp...); d != "" {
			t.Errorf("%s: (-want +got):\n%s", name, d)
		}
	}
}
