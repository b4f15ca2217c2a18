package node

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/wire"
)

// TestReceiveOwnedActsAsReceive: a datagram handed over with ReceiveOwned
// (read in place) makes the node do exactly what Receive (copied) makes
// it do, for every kind of message a put or a get brings.
func TestReceiveOwnedActsAsReceive(t *testing.T) {
	addr := netip.MustParseAddrPort("10.9.0.1:5850")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func() *Node {
		cfg := DefaultConfig()
		cfg.Replicas, cfg.WriteAcks, cfg.ReadQuorum = 1, 0, 1
		cfg.Overlay.Seed = 7
		n := New(cfg, wire.Peer{ID: IDFor(addr), Addr: addr}, Disk{ReplyCap: 1 << 16, Registers: map[dht.Key][]byte{}}, nil)
		n.Join(now, nil)
		n.Ready()
		return n
	}
	copied, owned := mk(), mk()
	peer := wire.Peer{ID: dht.Key{0xab}, Addr: netip.MustParseAddrPort("10.9.0.2:5850")}
	item := wire.Item{Kind: wire.ItemPut, Key: dht.Key{1}, Value: []byte("value"), TTL: 60, Client: "10.0.0.9"}
	for _, m := range []wire.Message{
		&wire.Ping{Nonce: 1},
		&wire.Write{ReqID: 2, Gateway: peer, Item: item},
		&wire.Write{ReqID: 3, Replica: true, Gateway: peer, Item: item},
		&wire.Read{ReqID: 4, Gateway: peer, Key: dht.Key{1}, MaxVals: 10, Placemark: []byte("p")},
		&wire.ReadResp{ReqID: 5, Values: []wire.ReadValue{{Value: []byte("v")}}},
		&wire.Proto{Payload: []byte{1, 2, 3}},
	} {
		b, err := wire.Encode(nil, wire.Envelope{From: peer, Msg: m})
		if err != nil {
			t.Fatal(err)
		}
		copied.Receive(now, peer.Addr, b)
		owned.ReceiveOwned(now, peer.Addr, append([]byte(nil), b...))
		want, got := copied.Ready(), owned.Ready()
		if diff := cmp.Diff(want, got, cmpopts.EquateComparable(netip.AddrPort{}), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("after a %T: ReceiveOwned differs from Receive (-Receive +ReceiveOwned):\n%s", m, diff)
		}
		if copied.Stats() != owned.Stats() {
			t.Errorf("after a %T: stats %+v with Receive, %+v with ReceiveOwned", m, copied.Stats(), owned.Stats())
		}
	}
}
