package wire

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/opendht-go/opendht/impl/dht"
)

func bundleParts(t testing.TB) [][]byte {
	from := Peer{ID: dht.Key{1}, Addr: netip.MustParseAddrPort("127.0.0.1:5850")}
	var parts [][]byte
	for _, m := range []Message{&RouteAck{Nonce: 1 << 40}, &WriteAck{ReqID: 7, Status: 1},
		&Read{ReqID: 9, Replica: true, Gateway: from, Key: dht.Key{3}, MaxVals: 10}, &Ping{Nonce: 3}} {
		b, err := Encode(nil, Envelope{From: from, Msg: m})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, b)
	}
	return parts
}

// A bundle yields its datagrams, in order, byte for byte, each of which
// decodes as it would have alone.
func TestBundleRoundTrip(t *testing.T) {
	parts := bundleParts(t)
	b, err := AppendBundle([]byte("prefix"), parts...)
	if err != nil {
		t.Fatal(err)
	}
	b = b[len("prefix"):]
	if !IsBundle(b) {
		t.Fatalf("IsBundle(%x) = false", b)
	}
	for _, p := range parts {
		if IsBundle(p) {
			t.Fatalf("IsBundle of a plain datagram %x", p)
		}
	}
	want := BundleHeaderSize
	for _, p := range parts {
		want += BundledSize(len(p))
	}
	if len(b) != want {
		t.Fatalf("bundle is %d bytes, BundledSize says %d", len(b), want)
	}
	got, err := SplitBundle([][]byte{[]byte("kept")}, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(parts)+1 || string(got[0]) != "kept" {
		t.Fatalf("SplitBundle gave %d datagrams after %q, want %d after \"kept\"", len(got)-1, got[0], len(parts))
	}
	for i, p := range parts {
		if !bytes.Equal(got[i+1], p) {
			t.Errorf("datagram %d: %x, want %x", i, got[i+1], p)
		}
		if _, err := Decode(got[i+1]); err != nil {
			t.Errorf("datagram %d does not decode: %v", i, err)
		}
	}
	// A core that is handed a bundle by mistake counts it as a datagram
	// it does not know.
	if _, err := Decode(b); !errors.Is(err, ErrUnknownType) {
		t.Errorf("Decode of a bundle: %v, want ErrUnknownType", err)
	}
}

// A malformed bundle is refused as a whole: an error, and nothing
// appended.
func TestSplitBundleRefusesMalformed(t *testing.T) {
	parts := bundleParts(t)
	good, err := AppendBundle(nil, parts...)
	if err != nil {
		t.Fatal(err)
	}
	nested := append(AppendBundleHeader(nil), AppendBundled(nil, good)...)
	big := AppendBundleHeader(nil)
	for len(big) <= MaxDatagram {
		big = AppendBundled(big, parts[0])
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", AppendBundleHeader(nil), ErrMalformed},
		{"not a bundle", parts[0], ErrMalformed},
		{"wrong version", append([]byte{'O', 'D', Version + 1, uint8(TBundle)}, good[4:]...), ErrMalformed},
		{"length past the end", append(AppendBundleHeader(nil), 9, 'O', 'D', Version, 1), ErrMalformed},
		{"datagram shorter than a header", append(AppendBundleHeader(nil), 3, 'O', 'D', Version), ErrMalformed},
		{"length cut", append(good[:len(good):len(good)], 0x80), ErrMalformed},
		{"trailing garbage", append(good[:len(good):len(good)], 1, 2), ErrMalformed},
		{"nested", nested, ErrMalformed},
		{"larger than a datagram", big, ErrTooLarge},
	} {
		dst := [][]byte{[]byte("kept")}
		got, err := SplitBundle(dst, tc.b)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
		if len(got) != 1 || string(got[0]) != "kept" {
			t.Errorf("%s: SplitBundle appended %d datagrams to a refused bundle", tc.name, len(got)-1)
		}
	}
}

// AppendBundle builds only what SplitBundle accepts.
func TestAppendBundleRefuses(t *testing.T) {
	parts := bundleParts(t)
	good, _ := AppendBundle(nil, parts...)
	many := make([][]byte, 0, 400)
	for range 400 {
		many = append(many, parts[0])
	}
	for _, tc := range []struct {
		name string
		ds   [][]byte
		want error
	}{
		{"none", nil, ErrMalformed},
		{"a bundle", [][]byte{parts[0], good}, ErrMalformed},
		{"too short", [][]byte{{'O', 'D'}}, ErrMalformed},
		{"too large", many, ErrTooLarge},
	} {
		b, err := AppendBundle([]byte("x"), tc.ds...)
		if !errors.Is(err, tc.want) || string(b) != "x" {
			t.Errorf("%s: %q, %v; want \"x\", %v", tc.name, b, err, tc.want)
		}
	}
}

// FuzzSplitBundle: any bytes are refused with dst untouched, or split into
// datagrams that each could travel in a bundle and that re-bundle to the
// same split (split-bundle-split is stable), within the bytes given.
func FuzzSplitBundle(f *testing.F) {
	parts := bundleParts(f)
	good, err := AppendBundle(nil, parts...)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(AppendBundleHeader(nil))
	f.Add(parts[0])
	f.Fuzz(func(t *testing.T, b []byte) {
		ds, err := SplitBundle(nil, b)
		if err != nil {
			if ds != nil {
				t.Fatalf("refused bundle (%v) yielded %d datagrams", err, len(ds))
			}
			return
		}
		if len(ds) == 0 {
			t.Fatal("accepted a bundle of nothing")
		}
		total := 0
		for i, d := range ds {
			if len(d) < minBundled || IsBundle(d) {
				t.Fatalf("datagram %d (%x) cannot travel in a bundle", i, d)
			}
			total += len(d)
		}
		if total > len(b) {
			t.Fatalf("%d bytes of datagrams out of a %d-byte bundle", total, len(b))
		}
		b2, err := AppendBundle(nil, ds...)
		if err != nil {
			t.Fatalf("re-bundle: %v", err)
		}
		ds2, err := SplitBundle(nil, b2)
		if err != nil {
			t.Fatalf("split of the re-bundle: %v", err)
		}
		if len(ds2) != len(ds) {
			t.Fatalf("re-bundle splits into %d datagrams, not %d", len(ds2), len(ds))
		}
		for i := range ds {
			if !bytes.Equal(ds[i], ds2[i]) {
				t.Fatalf("datagram %d changed: %x -> %x", i, ds[i], ds2[i])
			}
		}
	})
}

func BenchmarkSplitBundle(b *testing.B) {
	bundle, err := AppendBundle(nil, bundleParts(b)...)
	if err != nil {
		b.Fatal(err)
	}
	dst := make([][]byte, 0, 8)
	b.ReportAllocs()
	for b.Loop() {
		dst, _ = SplitBundle(dst[:0], bundle)
	}
}
