package driver_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/wire"
)

// pingFrom encodes a ping from a stranger to the node.
func pingFrom(t *testing.T, from netip.AddrPort, nonce uint64) []byte {
	t.Helper()
	b, err := wire.Encode(nil, wire.Envelope{From: wire.Peer{ID: dht.Key{0xee, byte(nonce)}, Addr: from}, Msg: &wire.Ping{Nonce: nonce}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readPongs reads datagrams from c until one carries the pong of until,
// and returns the nonces of every pong it read and how many datagrams
// carried them.
func readPongs(t *testing.T, c *net.UDPConn, until uint64) (pongs map[uint64]int, datagrams map[uint64]int) {
	t.Helper()
	pongs, datagrams = map[uint64]int{}, map[uint64]int{}
	buf := make([]byte, 2048)
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second)) // a lost test, not a slow one
	for i := 0; pongs[until] == 0; i++ {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("waiting for the pong of %d: %v (pongs so far %v)", until, err, pongs)
		}
		parts := [][]byte{buf[:n]}
		if wire.IsBundle(buf[:n]) {
			if parts, err = wire.SplitBundle(nil, buf[:n]); err != nil {
				t.Fatalf("the node sent a malformed bundle: %v", err)
			}
		}
		for _, p := range parts {
			env, err := wire.Decode(p)
			if err != nil {
				t.Fatalf("the node sent a malformed datagram: %v", err)
			}
			if pong, ok := env.Msg.(*wire.Pong); ok {
				pongs[pong.Nonce]++
				datagrams[pong.Nonce] = i
			}
		}
	}
	return pongs, datagrams
}

// TestBundles: the node handles each datagram of a bundle as if it had
// arrived alone (two pings in one bundle are two pongs), sends what one
// turn has for one address in one bundle (the two pongs share a
// datagram), and drops a malformed bundle whole, counted as malformed:
// the valid ping inside it is not answered.
func TestBundles(t *testing.T) {
	servers := startObserved(t, 1)
	s := servers[0]
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	me := c.LocalAddr().(*net.UDPAddr).AddrPort()
	to := net.UDPAddrFromAddrPort(s.Self().Addr)
	send := func(b []byte) {
		t.Helper()
		if _, err := c.WriteToUDP(b, to); err != nil {
			t.Fatal(err)
		}
	}

	bundle, err := wire.AppendBundle(nil, pingFrom(t, me, 1), pingFrom(t, me, 2))
	if err != nil {
		t.Fatal(err)
	}
	send(bundle)
	pongs, datagrams := readPongs(t, c, 2)
	if pongs[1] != 1 || pongs[2] != 1 {
		t.Fatalf("pongs %v for a bundle of pings 1 and 2, want one each", pongs)
	}
	if datagrams[1] != datagrams[2] {
		t.Errorf("the pongs of one turn came in datagrams %d and %d, want one bundle", datagrams[1], datagrams[2])
	}

	before := s.MetricsSnapshot().DroppedMalformed
	// A bundle whose second datagram's length runs past its end: the
	// valid ping 3 before it must not be answered.
	bad := append(wire.AppendBundleHeader(nil), wire.AppendBundled(nil, pingFrom(t, me, 3))...)
	bad = append(bad, 200, 'O', 'D')
	send(bad)
	// Datagrams from one sender are handled in order: once the pong of
	// ping 4 is back, the bad bundle has been handled.
	send(pingFrom(t, me, 4))
	pongs, _ = readPongs(t, c, 4)
	if pongs[3] != 0 {
		t.Errorf("the ping inside a malformed bundle was answered")
	}
	if got := s.MetricsSnapshot().DroppedMalformed; got != before+1 {
		t.Errorf("malformed datagrams counted: %d after the bad bundle, %d before; want one more", got, before)
	}
}
