package rmw

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/wire"
)

// cpCmp compares messages: an empty value, history or peer list decodes
// as nil.
var cpCmp = []cmp.Option{
	cmpopts.EquateEmpty(),
	cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b }),
}

func genKey() *rapid.Generator[dht.Key] {
	return rapid.Custom(func(t *rapid.T) dht.Key {
		var k dht.Key
		copy(k[:], rapid.SliceOfN(rapid.Byte(), len(k), len(k)).Draw(t, "key"))
		return k
	})
}

func genTag() *rapid.Generator[tag] {
	return rapid.Custom(func(t *rapid.T) tag {
		var x tag
		copy(x[:], rapid.SliceOfN(rapid.Byte(), len(x), len(x)).Draw(t, "tag"))
		return x
	})
}

func genBallot() *rapid.Generator[ballot] {
	return rapid.Custom(func(t *rapid.T) ballot {
		return ballot{N: rapid.Uint64().Draw(t, "n"), ID: genKey().Draw(t, "id")}
	})
}

// genAddr draws IPv4, IPv6 and IPv4-mapped IPv6 addresses (no zone).
func genAddr() *rapid.Generator[netip.AddrPort] {
	return rapid.Custom(func(t *rapid.T) netip.AddrPort {
		port := rapid.Uint16().Draw(t, "port")
		var a netip.Addr
		switch rapid.IntRange(0, 2).Draw(t, "family") {
		case 0:
			a = netip.AddrFrom4([4]byte(rapid.SliceOfN(rapid.Byte(), 4, 4).Draw(t, "v4")))
		case 1:
			a = netip.AddrFrom16([16]byte(rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, "v6")))
		default:
			v4 := netip.AddrFrom4([4]byte(rapid.SliceOfN(rapid.Byte(), 4, 4).Draw(t, "v4")))
			a = netip.AddrFrom16(v4.As16())
		}
		return netip.AddrPortFrom(a, port)
	})
}

func genState() *rapid.Generator[cpState] {
	return rapid.Custom(func(t *rapid.T) cpState {
		s := cpState{
			Version: rapid.Uint64().Draw(t, "version"),
			Value:   rapid.SliceOfN(rapid.Byte(), 0, dht.MaxValueLen).Draw(t, "value"),
			Expiry:  rapid.Int64().Draw(t, "expiry"),
			Tag:     genTag().Draw(t, "tag"),
			Life:    genTag().Draw(t, "life"),
			HistTop: rapid.Uint64().Draw(t, "histtop"),
		}
		for range rapid.IntRange(0, cpHistMax).Draw(t, "hist") {
			s.Hist = append(s.Hist, genTag().Draw(t, "htag"))
		}
		return s
	})
}

// genMsg draws any message: every kind, every field set.
func genMsg() *rapid.Generator[cpMsg] {
	return rapid.Custom(func(t *rapid.T) cpMsg {
		m := cpMsg{
			Kind:     uint8(rapid.IntRange(cpLookup, cpPushAck).Draw(t, "kind")),
			Op:       rapid.Uint64().Draw(t, "op"),
			Key:      genKey().Draw(t, "key"),
			Ballot:   genBallot().Draw(t, "ballot"),
			Nack:     rapid.Uint8().Draw(t, "nack"),
			Promised: genBallot().Draw(t, "promised"),
			Accepted: genBallot().Draw(t, "accepted"),
			State:    genState().Draw(t, "state"),
		}
		for range rapid.IntRange(0, cpMaxPeers).Draw(t, "peers") {
			m.Peers = append(m.Peers, wire.Peer{ID: genKey().Draw(t, "peer"), Addr: genAddr().Draw(t, "addr")})
		}
		return m
	})
}

// TestCodecRoundTrip: every message decodes to itself.
func TestCodecRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := genMsg().Draw(t, "msg")
		got, err := decodeCP(m.encode())
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if d := cmp.Diff(m, got, cpCmp...); d != "" {
			t.Fatalf("decode(encode(m)) != m (-want +got):\n%s", d)
		}
	})
}

// TestCodecFitsDatagram: the messages the protocol sends fit in one
// protocol payload at their largest. A state travels in promises,
// accepts and pushes (never with peers), peers in lookup replies (never
// with a state); every number is drawn at its widest varint.
func TestCodecFitsDatagram(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		wide := func() ballot {
			return ballot{N: rapid.Uint64Range(1<<63, 1<<64-1).Draw(t, "n"), ID: genKey().Draw(t, "id")}
		}
		m := cpMsg{
			Kind:     uint8(rapid.SampledFrom([]int{cpPromise, cpAccept, cpPush, cpAccepted, cpPrepare}).Draw(t, "kind")),
			Op:       rapid.Uint64Range(1<<63, 1<<64-1).Draw(t, "op"),
			Key:      genKey().Draw(t, "key"),
			Ballot:   wide(),
			Nack:     nackHigher,
			Promised: wide(),
			Accepted: wide(),
			State: cpState{
				Version: rapid.Uint64Range(1<<63, 1<<64-1).Draw(t, "version"),
				Value:   rapid.SliceOfN(rapid.Byte(), dht.MaxValueLen, dht.MaxValueLen).Draw(t, "value"),
				Expiry:  rapid.SampledFrom([]int64{-1 << 63, 1<<63 - 1}).Draw(t, "expiry"),
				HistTop: 1<<64 - 1,
			},
		}
		for range histRoom(dht.MaxValueLen) {
			m.State.Hist = append(m.State.Hist, genTag().Draw(t, "ht"))
		}
		if b := m.encode(); len(b) > wire.MaxProtoPayload {
			t.Fatalf("kind %d with a full state: %d bytes > %d", m.Kind, len(b), wire.MaxProtoPayload)
		}
		look := cpMsg{Kind: cpLookupResp, Op: m.Op, Key: m.Key}
		for range cpMaxPeers {
			look.Peers = append(look.Peers, wire.Peer{ID: genKey().Draw(t, "peer"), Addr: genAddr().Draw(t, "addr")})
		}
		if b := look.encode(); len(b) > wire.MaxProtoPayload {
			t.Fatalf("lookup reply with %d peers: %d bytes > %d", cpMaxPeers, len(b), wire.MaxProtoPayload)
		}
	})
}

// TestCodecRejects: limits are enforced and a message is exact.
func TestCodecRejects(t *testing.T) {
	good := cpMsg{Kind: cpPromise, Op: 7, State: cpState{Version: 1, Value: []byte("x")}}
	long := good
	long.State.Value = make([]byte, dht.MaxValueLen+1)
	hist := good
	hist.State.Hist = make([]tag, cpHistMax+1)
	peers := cpMsg{Kind: cpLookupResp}
	for range cpMaxPeers + 1 {
		peers.Peers = append(peers.Peers, wire.Peer{Addr: netip.MustParseAddrPort("10.0.0.1:1")})
	}
	noAddr := cpMsg{Kind: cpLookupResp, Peers: []wire.Peer{{}}}
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"kind 0", append([]byte{0}, good.encode()[1:]...)},
		{"kind 9", append([]byte{cpPushAck + 1}, good.encode()[1:]...)},
		{"truncated", good.encode()[:len(good.encode())-1]},
		{"trailing byte", append(good.encode(), 0)},
		{"value too long", long.encode()},
		{"too much history", hist.encode()},
		{"too many peers", peers.encode()},
		{"peer without an address", noAddr.encode()},
	} {
		if m, err := decodeCP(c.b); err == nil {
			t.Errorf("%s: decoded to %+v, want an error", c.name, m)
		}
	}
}

// TestAcceptorRecordRoundTrip: what an acceptor saves it reads back, and
// no state is the zero acceptor.
func TestAcceptorRecordRoundTrip(t *testing.T) {
	if a, err := decodeAcceptor(nil); err != nil || !cmp.Equal(a, acceptor{}, cpCmp...) {
		t.Fatalf("decodeAcceptor(nil) = %+v, %v; want the zero acceptor", a, err)
	}
	rapid.Check(t, func(t *rapid.T) {
		a := acceptor{Promise: genBallot().Draw(t, "promise"), Accepted: genBallot().Draw(t, "accepted"), State: genState().Draw(t, "state")}
		b := encodeAcceptor(a)
		if len(b) == 0 {
			t.Fatalf("an acceptor encodes to no bytes: indistinguishable from no state")
		}
		got, err := decodeAcceptor(b)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if d := cmp.Diff(a, got, cpCmp...); d != "" {
			t.Fatalf("decodeAcceptor(encodeAcceptor(a)) != a (-want +got):\n%s", d)
		}
	})
}

// FuzzDecodeCP: decoding bytes from the network never panics, and a
// message that decodes is stable: it re-encodes to bytes that decode to
// the same message, and that encoding is canonical (encoding it again
// gives the same bytes).
func FuzzDecodeCP(f *testing.F) {
	seeds := []cpMsg{
		{Kind: cpLookup, Op: 1, Key: dht.Key{1}},
		{Kind: cpLookupResp, Op: 1, Peers: []wire.Peer{
			{ID: dht.Key{2}, Addr: netip.MustParseAddrPort("10.0.0.1:4222")},
			{ID: dht.Key{3}, Addr: netip.MustParseAddrPort("[fd00::1]:4222")},
			{ID: dht.Key{4}, Addr: netip.MustParseAddrPort("[::ffff:10.0.0.2]:1")},
		}},
		{Kind: cpPrepare, Op: 2, Ballot: ballot{N: 1_700_000_000_000, ID: dht.Key{5}}},
		{Kind: cpPromise, Op: 2, Ballot: ballot{N: 9}, Accepted: ballot{N: 8}, State: cpState{Version: 3, Value: []byte("v"), Expiry: 1 << 40, Tag: tag{1}, Life: tag{2}, Hist: []tag{{2}, {3}, {1}}, HistTop: 3}},
		{Kind: cpPromise, Nack: nackHigher, Promised: ballot{N: 1<<64 - 1}},
		{Kind: cpAccept, State: cpState{Value: bytes.Repeat([]byte{0xff}, dht.MaxValueLen), Expiry: -1}},
		{Kind: cpAccepted, Nack: nackStale},
		{Kind: cpPush, Accepted: ballot{N: 5}, State: cpState{Version: 1}},
	}
	for _, m := range seeds {
		f.Add(m.encode())
	}
	f.Add([]byte{})
	f.Add([]byte{cpLookupResp, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeCP(b)
		if err != nil {
			return
		}
		if len(m.State.Value) > dht.MaxValueLen || len(m.State.Hist) > cpHistMax || len(m.Peers) > cpMaxPeers {
			t.Fatalf("decoded beyond the limits: value %d, history %d, peers %d", len(m.State.Value), len(m.State.Hist), len(m.Peers))
		}
		enc := m.encode()
		m2, err := decodeCP(enc)
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v\nmessage %+v", err, m)
		}
		if d := cmp.Diff(m, m2, cpCmp...); d != "" {
			t.Fatalf("decode(encode(decode(b))) != decode(b) (-first +second):\n%s", d)
		}
		if enc2 := m2.encode(); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not canonical:\n%x\n%x", enc, enc2)
		}
	})
}
