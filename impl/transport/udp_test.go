package transport

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// These tests run over real loopback sockets. Loopback UDP may lose
// datagrams when a receive buffer fills, so every exchange is retried on a
// ticker until it completes (liveness only: nothing asserts how long it
// took; a broken transport shows up as the test binary's timeout).

const retry = 20 * time.Millisecond

type received struct {
	from    netip.AddrPort
	payload []byte
}

// collector is a handler that copies every datagram into a channel.
func collector() (Handler, chan received) {
	ch := make(chan received, 1024)
	return func(from netip.AddrPort, payload []byte) {
		ch <- received{from, bytes.Clone(payload)}
	}, ch
}

func listen(t *testing.T, addr string, h Handler) *UDP {
	t.Helper()
	u, err := ListenUDP(context.Background(), addr, h)
	if err != nil {
		t.Fatalf("ListenUDP(%q): %v", addr, err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// listenIPv6 skips the test when the host has no IPv6 loopback.
func listenIPv6(t *testing.T, addr string, h Handler) *UDP {
	t.Helper()
	u, err := ListenUDP(context.Background(), addr, h)
	if err != nil {
		t.Skipf("IPv6 loopback unavailable on this host (ListenUDP(%q): %v); IPv6 not tested", addr, err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// sendUntil sends payload from src to dst every retry interval until a
// datagram satisfying match arrives on ch, and returns it.
func sendUntil(t *testing.T, src *UDP, dst netip.AddrPort, payload []byte, ch <-chan received, match func(received) bool) received {
	t.Helper()
	tick := time.NewTicker(retry)
	defer tick.Stop()
	for {
		if err := src.Send(dst, payload); err != nil {
			t.Fatalf("Send(%v): %v", dst, err)
		}
		for {
			select {
			case r := <-ch:
				if match(r) {
					return r
				}
				continue
			case <-tick.C:
			}
			break
		}
	}
}

// listenEcho opens a transport that replies "echo:"+payload to every
// datagram and reports each sender to seen (if not nil).
func listenEcho(t *testing.T, addr string, listenFn func(*testing.T, string, Handler) *UDP, seen func(netip.AddrPort)) *UDP {
	t.Helper()
	ready := make(chan struct{})
	var self *UDP
	self = listenFn(t, addr, func(from netip.AddrPort, payload []byte) {
		<-ready // self is set
		if seen != nil {
			seen(from)
		}
		self.Send(from, append([]byte("echo:"), payload...))
	})
	close(ready)
	return self
}

func roundTrip(t *testing.T, clientAddr, serverAddr string, listenFn func(*testing.T, string, Handler) *UDP) {
	server := listenEcho(t, serverAddr, listenFn, nil)
	h, ch := collector()
	client := listenFn(t, clientAddr, h)
	want := []byte("echo:ping")
	r := sendUntil(t, client, server.LocalAddr(), []byte("ping"), ch, func(r received) bool { return bytes.Equal(r.payload, want) })
	if r.from != server.LocalAddr() {
		t.Errorf("reply came from %v, want the server's address %v", r.from, server.LocalAddr())
	}
	if s := client.Stats(); s.PacketsSent == 0 || s.BytesSent != 4*s.PacketsSent || s.PacketsReceived == 0 {
		t.Errorf("client stats %+v do not show the exchange", s)
	}
}

func TestUDPRoundTripIPv4(t *testing.T) {
	roundTrip(t, "127.0.0.1:0", "127.0.0.1:0", listen)
}

func TestUDPRoundTripIPv6(t *testing.T) {
	roundTrip(t, "[::1]:0", "[::1]:0", listenIPv6)
}

// A dual-stack socket (":0") sees IPv4 peers as plain IPv4 addresses, not
// as ::ffff:a.b.c.d, so a peer has one address whichever socket hears it.
func TestUDPDualStackReportsIPv4PeersUnmapped(t *testing.T) {
	var seen atomic.Value
	server := listenEcho(t, ":0", listen, func(from netip.AddrPort) { seen.Store(from) })
	if !server.LocalAddr().Addr().IsUnspecified() {
		t.Fatalf("\":0\" bound to %v, want a wildcard address", server.LocalAddr())
	}
	h, ch := collector()
	client := listen(t, "127.0.0.1:0", h)
	dst := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), server.LocalAddr().Port())
	sendUntil(t, client, dst, []byte("hi"), ch, func(r received) bool { return string(r.payload) == "echo:hi" })
	if from := seen.Load().(netip.AddrPort); from != client.LocalAddr() {
		t.Errorf("dual-stack server saw the IPv4 client as %v, want %v", from, client.LocalAddr())
	}
}

func TestUDPMaxDatagramIsSentAndOversizeIsRefused(t *testing.T) {
	h, ch := collector()
	server := listen(t, "127.0.0.1:0", h)
	client := listen(t, "127.0.0.1:0", func(netip.AddrPort, []byte) {})
	big := bytes.Repeat([]byte{0xab}, MaxDatagram+1)
	if err := client.Send(server.LocalAddr(), big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Send of %d bytes: %v, want ErrTooLarge", len(big), err)
	}
	if s := client.Stats(); s.OversizeSent != 1 || s.PacketsSent != 0 {
		t.Fatalf("after an oversize Send: stats %+v, want OversizeSent 1 and nothing sent", s)
	}
	full := big[:MaxDatagram]
	r := sendUntil(t, client, server.LocalAddr(), full, ch, func(received) bool { return true })
	if !bytes.Equal(r.payload, full) {
		t.Fatalf("a MaxDatagram payload arrived as %d bytes, want %d intact", len(r.payload), len(full))
	}
}

func TestUDPDropsOversizeDatagramsFromTheNetwork(t *testing.T) {
	h, ch := collector()
	server := listen(t, "127.0.0.1:0", h)
	raw, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	dst := net.UDPAddrFromAddrPort(server.LocalAddr())
	big := bytes.Repeat([]byte{1}, MaxDatagram+1)
	tick := time.NewTicker(retry)
	defer tick.Stop()
	for server.Stats().OversizeReceived == 0 {
		if _, err := raw.WriteToUDP(big, dst); err != nil {
			t.Fatal(err)
		}
		if _, err := raw.WriteToUDP([]byte("small"), dst); err != nil {
			t.Fatal(err)
		}
		<-tick.C
	}
	server.Close()
	close(ch)
	for r := range ch {
		if len(r.payload) > MaxDatagram {
			t.Fatalf("handler got a %d-byte datagram", len(r.payload))
		}
	}
}

func TestUDPRefusesBadAddresses(t *testing.T) {
	u := listen(t, "127.0.0.1:0", func(netip.AddrPort, []byte) {})
	for _, to := range []netip.AddrPort{
		{},
		netip.MustParseAddrPort("127.0.0.1:0"),
		netip.MustParseAddrPort("0.0.0.0:5850"),
		netip.MustParseAddrPort("[::]:5850"),
	} {
		if err := u.Send(to, []byte("x")); !errors.Is(err, ErrBadAddr) {
			t.Errorf("Send(%v): %v, want ErrBadAddr", to, err)
		}
	}
}

// A peer that is gone, or of another address family, costs a lost datagram,
// not the transport: it keeps working afterwards.
func TestUDPUnreachablePeerIsALostDatagram(t *testing.T) {
	gone := listen(t, "127.0.0.1:0", func(netip.AddrPort, []byte) {})
	goneAddr := gone.LocalAddr()
	gone.Close()
	server := listenEcho(t, "127.0.0.1:0", listen, nil)
	h, ch := collector()
	client := listen(t, "127.0.0.1:0", h)
	for range 3 {
		if err := client.Send(goneAddr, []byte("anyone?")); err != nil {
			t.Fatalf("Send to a closed port: %v, want nil (a lost datagram)", err)
		}
	}
	err := client.Send(netip.MustParseAddrPort("[::1]:5850"), []byte("v6?"))
	if err != nil && !errors.Is(err, ErrSendFailed) {
		t.Fatalf("Send from an IPv4 socket to an IPv6 peer: %v, want nil or ErrSendFailed", err)
	}
	sendUntil(t, client, server.LocalAddr(), []byte("still there"), ch, func(r received) bool {
		return string(r.payload) == "echo:still there"
	})
}

func TestUDPCloseStopsTheReader(t *testing.T) {
	calls := atomic.Int64{}
	u := listen(t, "127.0.0.1:0", func(netip.AddrPort, []byte) { calls.Add(1) })
	if err := u.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-u.Done():
	default:
		t.Fatal("Close returned before the reader stopped")
	}
	if err := u.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := u.Send(u.LocalAddr(), []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close: %v, want ErrClosed", err)
	}
	before := calls.Load()
	if other, err := net.Dial("udp", u.LocalAddr().String()); err == nil {
		other.Write([]byte("late"))
		other.Close()
	}
	if calls.Load() != before {
		t.Fatal("handler called after Close returned")
	}
}

func TestUDPContextCancelCloses(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	u, err := ListenUDP(ctx, "127.0.0.1:0", func(netip.AddrPort, []byte) {})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	<-u.Done()
	if err := u.Send(u.LocalAddr(), []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after the context was cancelled: %v, want ErrClosed", err)
	}
}

func TestUDPConfigValidate(t *testing.T) {
	if err := DefaultUDPConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for _, c := range []UDPConfig{{ReadBuffer: -1}, {WriteBuffer: -1}} {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
		if _, err := ListenUDPConfig(context.Background(), "127.0.0.1:0", func(netip.AddrPort, []byte) {}, c); err == nil {
			t.Errorf("ListenUDPConfig accepted %+v", c)
		}
	}
	if _, err := ListenUDP(context.Background(), "127.0.0.1:0", nil); err == nil {
		t.Error("ListenUDP accepted a nil handler")
	}
	if _, err := ListenUDP(context.Background(), "not an address", func(netip.AddrPort, []byte) {}); err == nil {
		t.Error("ListenUDP accepted a malformed address")
	}
}

// Many goroutines share one sending transport (and several transports send
// at once) while the receiver checks that every datagram arrives whole:
// the race detector watches Send, the counters and Close.
func TestUDPConcurrentSenders(t *testing.T) {
	const senders, perSender = 8, 200
	var (
		mu      sync.Mutex
		got     = map[[2]uint32]bool{}
		dups    int
		calls   int
		finSeen = make(chan uint32, senders*4)
	)
	server := listen(t, "127.0.0.1:0", func(from netip.AddrPort, p []byte) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		id, seq, ok := parseTestPayload(p)
		if !ok {
			t.Errorf("corrupt datagram of %d bytes from %v", len(p), from)
			return
		}
		if seq == fin {
			select {
			case finSeen <- id:
			default:
			}
			return
		}
		if got[[2]uint32{id, seq}] {
			dups++
		}
		got[[2]uint32{id, seq}] = true
	})
	shared := listen(t, "127.0.0.1:0", func(netip.AddrPort, []byte) {})
	own := make([]*UDP, senders/2)
	for i := range own {
		own[i] = listen(t, "127.0.0.1:0", func(netip.AddrPort, []byte) {})
	}
	var wg sync.WaitGroup
	for id := range uint32(senders) {
		src := shared
		if id%2 == 1 {
			src = own[id/2]
		}
		wg.Go(func() {
			for seq := range uint32(perSender) {
				if err := src.Send(server.LocalAddr(), testPayload(id, seq)); err != nil {
					t.Errorf("sender %d: Send: %v", id, err)
					return
				}
			}
		})
	}
	wg.Wait()
	// Every sender's data precedes its fin marker; resend the markers until
	// all arrived, so the receiver has drained what the network delivered.
	done := map[uint32]bool{}
	tick := time.NewTicker(retry)
	defer tick.Stop()
	for len(done) < senders {
		for id := range uint32(senders) {
			if !done[id] {
				src := shared
				if id%2 == 1 {
					src = own[id/2]
				}
				src.Send(server.LocalAddr(), testPayload(id, fin))
			}
		}
	wait:
		for {
			select {
			case id := <-finSeen:
				done[id] = true
			case <-tick.C:
				break wait
			}
		}
	}
	server.Close()
	mu.Lock()
	defer mu.Unlock()
	sent := shared.Stats().PacketsSent
	for _, o := range own {
		sent += o.Stats().PacketsSent
	}
	if sent < senders*perSender {
		t.Errorf("senders' stats count %d datagrams, want at least %d", sent, senders*perSender)
	}
	if s := server.Stats(); s.PacketsReceived != uint64(calls) {
		t.Errorf("receiver counted %d datagrams but the handler ran %d times", s.PacketsReceived, calls)
	}
	if len(got) > senders*perSender {
		t.Errorf("received %d distinct datagrams, more than the %d sent", len(got), senders*perSender)
	}
	t.Logf("%d of %d datagrams arrived (%d duplicates) over loopback", len(got), senders*perSender, dups)
}

const fin = ^uint32(0)

// testPayload is id, seq and a filler derived from both, of a length that
// varies up to MaxDatagram, so that truncation or mixing is detected.
func testPayload(id, seq uint32) []byte {
	n := 8 + int(id*7919+seq*104729)%(MaxDatagram-8+1)
	p := make([]byte, n)
	binary.BigEndian.PutUint32(p[0:], id)
	binary.BigEndian.PutUint32(p[4:], seq)
	for i := 8; i < n; i++ {
		p[i] = byte(int(id) + int(seq)*3 + i)
	}
	return p
}

func parseTestPayload(p []byte) (id, seq uint32, ok bool) {
	if len(p) < 8 {
		return 0, 0, false
	}
	id, seq = binary.BigEndian.Uint32(p[0:]), binary.BigEndian.Uint32(p[4:])
	return id, seq, bytes.Equal(p, testPayload(id, seq))
}
