package wire

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"

	"github.com/opendht-go/opendht/impl/dht"
)

func genPeer() *rapid.Generator[Peer] {
	return rapid.Custom(func(t *rapid.T) Peer {
		var p Peer
		copy(p.ID[:], rapid.SliceOfN(rapid.Byte(), 20, 20).Draw(t, "id"))
		port := uint16(rapid.IntRange(0, 65535).Draw(t, "port"))
		switch rapid.IntRange(0, 2).Draw(t, "family") {
		case 0:
			p.Addr = netip.AddrPortFrom(netip.AddrFrom4([4]byte(rapid.SliceOfN(rapid.Byte(), 4, 4).Draw(t, "v4"))), port)
		case 1:
			ip := netip.AddrFrom16([16]byte(rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, "v6")))
			if ip.Is4In6() {
				ip = ip.Unmap()
			}
			p.Addr = netip.AddrPortFrom(ip, port)
		}
		return p
	})
}

func genMessage() *rapid.Generator[Message] {
	peers := rapid.SliceOfN(genPeer(), 0, 8)
	return rapid.Custom(func(t *rapid.T) Message {
		n := rapid.Uint64().Draw(t, "nonce")
		var key dht.Key
		copy(key[:], rapid.SliceOfN(rapid.Byte(), 20, 20).Draw(t, "key"))
		var h1, h2 dht.Hash
		copy(h1[:], rapid.SliceOfN(rapid.Byte(), 20, 20).Draw(t, "h1"))
		copy(h2[:], rapid.SliceOfN(rapid.Byte(), 20, 20).Draw(t, "h2"))
		u64s := rapid.SliceOfN(rapid.Uint64(), 0, 20)
		switch rapid.IntRange(1, 17).Draw(t, "type") {
		case 17:
			return &Proto{Payload: rapid.SliceOfN(rapid.Byte(), 0, 1000).Draw(t, "payload")}
		case 14:
			var m SyncDigest
			m.Nonce = n
			for i := range m.Digests {
				m.Digests[i] = rapid.Uint64().Draw(t, "digest")
			}
			return &m
		case 15:
			parts := rapid.Uint8Range(1, 10).Draw(t, "parts")
			return &SyncList{Nonce: n, Bucket: rapid.Uint8Range(0, SyncBuckets-1).Draw(t, "bucket"), Part: rapid.Uint8Range(0, parts-1).Draw(t, "part"), Parts: parts, Entries: u64s.Draw(t, "entries")}
		case 16:
			return &SyncWant{Nonce: n, Entries: u64s.Draw(t, "entries")}
		case 10:
			it := Item{Kind: ItemPut, Key: key, TTL: rapid.Int64().Draw(t, "ttl"), Expiry: rapid.Int64().Draw(t, "expiry"), Client: rapid.StringN(0, 20, 64).Draw(t, "client")}
			if rapid.Bool().Draw(t, "rm") {
				it.Kind, it.ValueHash, it.Secret = ItemRemove, h1, rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "secret")
			} else {
				it.Value, it.SecretHash = rapid.SliceOfN(rapid.Byte(), 0, 1024).Draw(t, "value"), h2
			}
			return &Write{ReqID: n, Replica: rapid.Bool().Draw(t, "replica"), Gateway: genPeer().Draw(t, "gw"), Item: it}
		case 11:
			return &WriteAck{ReqID: n, Status: rapid.Uint8().Draw(t, "status")}
		case 12:
			m := &Read{ReqID: n, Replica: rapid.Bool().Draw(t, "replica"), Fast: rapid.Bool().Draw(t, "fast"), Gateway: genPeer().Draw(t, "gw"), Key: key,
				MaxVals: rapid.Uint16().Draw(t, "maxvals"), Placemark: rapid.SliceOfN(rapid.Byte(), 0, 100).Draw(t, "pm")}
			if rapid.Bool().Draw(t, "direct") { // a direct read is a fast one, never a replica's
				m.Direct, m.Fast, m.Replica = true, true, false
			}
			return m
		case 13:
			vals := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) ReadValue {
				return ReadValue{Value: rapid.SliceOfN(rapid.Byte(), 0, 100).Draw(t, "v"), TTLRemaining: rapid.Int64().Draw(t, "ttl"), SecretHash: h1}
			}), 0, 5).Draw(t, "values")
			return &ReadResp{ReqID: n, Values: vals, Placemark: rapid.SliceOfN(rapid.Byte(), 0, 100).Draw(t, "pm"), Replicas: peers.Draw(t, "replicas")}
		case 1:
			return &Ping{Nonce: n}
		case 2:
			return &Pong{Nonce: n}
		case 3:
			return &LeafReq{Nonce: n, Leaves: peers.Draw(t, "leaves")}
		case 4:
			return &LeafResp{Nonce: n, Leaves: peers.Draw(t, "leaves")}
		case 5:
			return &RowReq{Nonce: n, Row: rapid.Uint8().Draw(t, "row")}
		case 6:
			return &RowResp{Nonce: n, Row: rapid.Uint8().Draw(t, "row"), Entries: peers.Draw(t, "entries")}
		case 7:
			return &Route{Nonce: n, Key: key, Kind: RouteKind(rapid.IntRange(1, 4).Draw(t, "kind")), Origin: genPeer().Draw(t, "origin"),
				ReqID: rapid.Uint64().Draw(t, "req"), Hops: rapid.Uint8().Draw(t, "hops"), Payload: rapid.SliceOfN(rapid.Byte(), 0, 600).Draw(t, "payload")}
		case 8:
			return &RouteAck{Nonce: n}
		default:
			return &RootIs{ReqID: n, Key: key, Hops: rapid.Uint8().Draw(t, "hops"), Leaves: peers.Draw(t, "leaves")}
		}
	})
}

// TestRoundTrip: decode(encode(m)) == m for every message type.
func TestRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		env := Envelope{From: genPeer().Draw(t, "from"), Msg: genMessage().Draw(t, "msg")}
		b, err := Encode(nil, env)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("decode %x: %v", b, err)
		}
		if diff := cmp.Diff(env, got, cmpopts.EquateEmpty(), cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
			t.Fatalf("round trip (-sent +decoded):\n%s", diff)
		}
		// Every strict prefix is refused, never misread.
		for i := range len(b) {
			if _, err := Decode(b[:i]); err == nil {
				t.Fatalf("prefix of %d/%d bytes decoded", i, len(b))
			}
		}
	})
}

// TestLimitsBeforeAllocation: counts and lengths over their limits, or
// larger than the bytes left, are refused without allocating for them.
func TestLimitsBeforeAllocation(t *testing.T) {
	head := func(typ Type) []byte {
		b := []byte{'O', 'D', Version, byte(typ)}
		b = append(b, make([]byte, 20)...) // from ID
		return append(b, 0)                // no address
	}
	huge := append(head(TLeafReq), 1, 0xff, 0xff, 0xff, 0xff, 0x0f) // nonce 1, 2^32-1 peers
	if _, err := Decode(huge); !errors.Is(err, ErrMalformed) {
		t.Fatalf("huge peer count: %v", err)
	}
	allocs := testing.AllocsPerRun(100, func() { _, _ = Decode(huge) })
	if allocs > 10 { // the error value only; 2^32 peers would be gigabytes
		t.Fatalf("decoding a hostile count allocated %v times", allocs)
	}
	short := append(head(TLeafReq), 1, 60) // 60 peers announced, none present
	if _, err := Decode(short); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short peer list: %v", err)
	}
	bigPayload := append(head(TRoute), 1)
	bigPayload = append(bigPayload, make([]byte, 20)...)
	bigPayload = append(bigPayload, 3, 0, 0, 0, 0xff, 0x0f) // kind, origin, reqid, hops, len 2047
	if _, err := Decode(bigPayload); !errors.Is(err, ErrMalformed) {
		t.Fatalf("payload over limit: %v", err)
	}
	if _, err := Decode(make([]byte, MaxDatagram+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversize datagram: %v", err)
	}
	if _, err := Decode([]byte{'O', 'D', 9, 1}); !errors.Is(err, ErrVersion) {
		t.Fatalf("version: %v", err)
	}
	if _, err := Decode([]byte{'O', 'D', Version, 200}); !errors.Is(err, ErrUnknownType) {
		t.Fatalf("type: %v", err)
	}
	if _, err := Encode(nil, Envelope{Msg: &Route{Kind: RouteApp, Payload: make([]byte, MaxDatagram)}}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("encode oversize: %v", err)
	}
}

// FuzzDecode: any bytes decode to an error or to a message whose
// encoding decodes to the same message (decode-encode-decode is stable).
func FuzzDecode(f *testing.F) {
	for _, m := range []Message{&Ping{Nonce: 7}, &LeafReq{Nonce: 1, Leaves: []Peer{{ID: dht.Key{1}, Addr: netip.MustParseAddrPort("127.0.0.1:5850")}}},
		&Route{Nonce: 3, Kind: RouteApp, Payload: []byte("x")}, &RootIs{ReqID: 9}} {
		b, err := Encode(nil, Envelope{Msg: m})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := Decode(b)
		if err != nil {
			return
		}
		b2, err := Encode(nil, env)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		env2, err := Decode(b2)
		if err != nil {
			t.Fatalf("decode of re-encoding: %v", err)
		}
		b3, _ := Encode(nil, env2)
		if !bytes.Equal(b2, b3) {
			t.Fatalf("decode-encode-decode not stable:\n%x\n%x", b2, b3)
		}
	})
}

// FuzzDecodeShared: DecodeShared accepts exactly what Decode accepts and
// yields the same message.
func FuzzDecodeShared(f *testing.F) {
	for _, m := range []Message{&Ping{Nonce: 7}, &Route{Nonce: 3, Kind: RouteApp, Payload: []byte("x")},
		&Write{ReqID: 1, Item: Item{Kind: ItemPut, Value: []byte("v"), Client: "c"}}, &Write{ReqID: 2, Item: Item{Kind: ItemRemove, Secret: []byte("s")}},
		&ReadResp{ReqID: 4, Values: []ReadValue{{Value: []byte("v")}}, Placemark: []byte("p")}, &Proto{Payload: []byte("p")}} {
		b, err := Encode(nil, Envelope{Msg: m})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, werr := Decode(b)
		got, gerr := DecodeShared(b)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("Decode error %v, DecodeShared error %v", werr, gerr)
		}
		if diff := cmp.Diff(want, got, cmpopts.EquateComparable(netip.AddrPort{})); diff != "" {
			t.Fatalf("DecodeShared differs from Decode (-Decode +DecodeShared):\n%s", diff)
		}
	})
}

// Decode copies every byte string out of the datagram, so a driver may
// reuse its buffer; DecodeShared's message reads through to it.
func TestDecodeCopiesAndDecodeSharedShares(t *testing.T) {
	w := &Write{ReqID: 1, Item: Item{Kind: ItemPut, Value: []byte("value"), Client: "10.0.0.1"}}
	for _, tc := range []struct {
		name   string
		decode func([]byte) (Envelope, error)
		shares bool
	}{{"Decode", Decode, false}, {"DecodeShared", DecodeShared, true}} {
		b, err := Encode(nil, Envelope{Msg: w})
		if err != nil {
			t.Fatal(err)
		}
		env, err := tc.decode(b)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for i := range b {
			b[i] = 'X'
		}
		got := env.Msg.(*Write).Item
		if changed := string(got.Value) != "value"; changed != tc.shares {
			t.Errorf("%s: value after overwriting the datagram is %q; shares memory = %v, want %v", tc.name, got.Value, changed, tc.shares)
		}
		if got.Client != "10.0.0.1" {
			t.Errorf("%s: client after overwriting the datagram is %q: strings must never share", tc.name, got.Client)
		}
	}
}

// A Read's flags byte: without Fast it is the boolean byte of earlier
// releases (0 or 1), so their reads decode the same; Fast is bit 1; any
// other bit is malformed, and so is Direct (bit 2) without Fast or with
// Replica (spec RD-14).
func TestReadFlags(t *testing.T) {
	enc := func(m *Read) []byte {
		b, err := Encode(nil, Envelope{Msg: m})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	plain, replica := enc(&Read{ReqID: 7}), enc(&Read{ReqID: 7, Replica: true})
	// Header (4), sender ID (20), no address (1), request id (1): the flags.
	const at = 4 + 20 + 1 + 1
	if plain[at] != 0 || replica[at] != 1 {
		t.Fatalf("flags of a read without Fast: %d and %d, want the boolean bytes 0 and 1", plain[at], replica[at])
	}
	for _, m := range []*Read{{ReqID: 7, Fast: true}, {ReqID: 7, Fast: true, Replica: true}, {ReqID: 7, Fast: true, Direct: true}} {
		env, err := Decode(enc(m))
		if err != nil {
			t.Fatal(err)
		}
		if got := env.Msg.(*Read); got.Fast != m.Fast || got.Replica != m.Replica || got.Direct != m.Direct {
			t.Fatalf("decoded %+v, want %+v", got, m)
		}
	}
	for _, flags := range []byte{8, 4, 5, 7, 0x80} { // unknown; Direct alone, with Replica, with both
		bad := slices.Clone(plain)
		bad[at] = flags
		if _, err := Decode(bad); !errors.Is(err, ErrMalformed) {
			t.Fatalf("a read with flags %#x: %v, want ErrMalformed", flags, err)
		}
	}
}
