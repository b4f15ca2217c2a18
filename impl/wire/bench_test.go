package wire

import (
	"net/netip"
	"testing"

	"github.com/opendht-go/opendht/impl/dht"
)

// benchMessages are one message of each kind a put or a get sends, sized
// as under the cluster benchmark's load (1 kB values, replica sets of 4).
func benchMessages() []struct {
	name string
	msg  Message
} {
	peer := func(i byte) Peer {
		return Peer{ID: dht.Key{i, 2, 3}, Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 7850+uint16(i))}
	}
	value := make([]byte, 1024)
	for i := range value {
		value[i] = byte(i)
	}
	put := Item{Kind: ItemPut, Key: dht.Key{9}, Value: value, SecretHash: dht.Hash{7}, TTL: 3600, Client: "127.0.0.1"}
	write := &Write{ReqID: 1 << 40, Gateway: peer(1), Item: put}
	inner, err := Encode(nil, Envelope{From: peer(1), Msg: &Read{ReqID: 5, Gateway: peer(1), Key: dht.Key{9}, MaxVals: 128}})
	if err != nil {
		panic(err)
	}
	return []struct {
		name string
		msg  Message
	}{
		{"Ping", &Ping{Nonce: 1 << 50}},
		{"RouteAck", &RouteAck{Nonce: 1 << 50}},
		{"RouteRead", &Route{Nonce: 1 << 50, Key: dht.Key{9}, Kind: RouteApp, Origin: peer(1), ReqID: 77, Hops: 2, Payload: inner}},
		{"WritePut1kB", write},
		{"WriteAck", &WriteAck{ReqID: 1 << 40, Status: 0}},
		{"Read", &Read{ReqID: 1 << 40, Replica: true, Gateway: peer(1), Key: dht.Key{9}, MaxVals: 128}},
		{"ReadResp1kB", &ReadResp{ReqID: 1 << 40, Values: []ReadValue{{Value: value, TTLRemaining: 3000, SecretHash: dht.Hash{7}}},
			Replicas: []Peer{peer(1), peer(2), peer(3), peer(4)}}},
		{"LeafReq16", &LeafReq{Nonce: 1, Leaves: []Peer{peer(1), peer(2), peer(3), peer(4), peer(5), peer(6), peer(7), peer(8),
			peer(9), peer(10), peer(11), peer(12), peer(13), peer(14), peer(15), peer(16)}}},
		{"SyncList100", &SyncList{Nonce: 1, Bucket: 3, Part: 0, Parts: 1, Entries: make([]uint64, 100)}},
	}
}

// BenchmarkEncode appends one datagram to a reused buffer, as a node's
// driver does.
func BenchmarkEncode(b *testing.B) {
	from := Peer{ID: dht.Key{1}, Addr: netip.MustParseAddrPort("127.0.0.1:7850")}
	for _, m := range benchMessages() {
		b.Run(m.name, func(b *testing.B) {
			buf := make([]byte, 0, MaxDatagram)
			env := Envelope{From: from, Msg: m.msg}
			b.ReportAllocs()
			for b.Loop() {
				out, err := Encode(buf[:0], env)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(out)))
			}
		})
	}
}

// BenchmarkDecode parses one datagram of each kind with Decode and with
// DecodeShared.
func BenchmarkDecode(b *testing.B) {
	b.Run("copy", func(b *testing.B) { benchDecode(b, Decode) })
	b.Run("shared", func(b *testing.B) { benchDecode(b, DecodeShared) })
}

func benchDecode(b *testing.B, decode func([]byte) (Envelope, error)) {
	from := Peer{ID: dht.Key{1}, Addr: netip.MustParseAddrPort("127.0.0.1:7850")}
	for _, m := range benchMessages() {
		b.Run(m.name, func(b *testing.B) {
			dg, err := Encode(nil, Envelope{From: from, Msg: m.msg})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(dg)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decode(dg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
