package transport

import (
	"context"
	"errors"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"
)

// sendBatchUntil sends ds with SendBatch every retry interval until every
// payload has arrived on ch (matched by testPayload's id and seq), and
// returns what arrived.
func sendBatchUntil(t *testing.T, src *UDP, ds []Datagram, want int, ch <-chan received) map[[2]uint32]received {
	t.Helper()
	got := map[[2]uint32]received{}
	tick := time.NewTicker(retry)
	defer tick.Stop()
	for len(got) < want {
		err := src.SendBatch(ds)
		if err != nil && (errors.Is(err, ErrClosed) || errors.Is(err, ErrSendFailed)) {
			t.Fatalf("SendBatch: %v", err)
		}
	wait:
		for len(got) < want {
			select {
			case r := <-ch:
				id, seq, ok := parseTestPayload(r.payload)
				if !ok {
					t.Fatalf("corrupt datagram of %d bytes from %v", len(r.payload), r.from)
				}
				got[[2]uint32{id, seq}] = r
			case <-tick.C:
				break wait
			}
		}
	}
	return got
}

// SendBatch delivers every datagram of a batch intact, to each of its
// destinations, from the sender's address.
func TestUDPSendBatchDeliversEveryDatagram(t *testing.T) {
	h1, ch := collector()
	r1 := listen(t, "127.0.0.1:0", h1)
	r2 := listen(t, "127.0.0.1:0", h1)
	src := listen(t, "127.0.0.1:0", func(netip.AddrPort, []byte) {})
	// More than one sendmmsg carries, so the batch is cut in chunks.
	const n = 64 + 9 // sendChunk on Linux is 64
	var ds []Datagram
	for i := range uint32(n) {
		to := r1.LocalAddr()
		if i%3 == 0 {
			to = r2.LocalAddr()
		}
		ds = append(ds, Datagram{Addr: to, Payload: testPayload(i%3, i)})
	}
	got := sendBatchUntil(t, src, ds, n, ch)
	for k, r := range got {
		if r.from != src.LocalAddr() {
			t.Errorf("datagram %v came from %v, want %v", k, r.from, src.LocalAddr())
		}
	}
	if s := src.Stats(); s.PacketsSent < n || s.SendErrors != 0 {
		t.Errorf("sender stats %+v, want at least %d sent and no errors", s, n)
	}
}

// A datagram SendBatch must refuse (too large, bad address) is reported
// with Send's error and counted, and the others of the batch still go.
func TestUDPSendBatchRefusesBadDatagramsAndSendsTheRest(t *testing.T) {
	h, ch := collector()
	dst := listen(t, "127.0.0.1:0", h)
	src := listen(t, "127.0.0.1:0", func(netip.AddrPort, []byte) {})
	ds := []Datagram{
		{Addr: dst.LocalAddr(), Payload: testPayload(1, 0)},
		{Addr: dst.LocalAddr(), Payload: make([]byte, MaxDatagram+1)},
		{Addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0), Payload: []byte("x")},
		{Addr: dst.LocalAddr(), Payload: testPayload(1, 1)},
	}
	err := src.SendBatch(ds)
	if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrBadAddr) {
		t.Fatalf("SendBatch = %v, want both ErrTooLarge and ErrBadAddr", err)
	}
	if s := src.Stats(); s.OversizeSent != 1 || s.SendErrors != 1 || s.PacketsSent != 2 {
		t.Errorf("stats %+v, want 1 oversize, 1 send error, 2 sent", s)
	}
	sendBatchUntil(t, src, ds, 2, ch)
}

// A dual-stack socket sends a batch to IPv4 peers (as IPv4-mapped
// addresses on the wire), and they see it from an IPv4 address.
func TestUDPSendBatchFromDualStackToIPv4(t *testing.T) {
	h, ch := collector()
	dst := listen(t, "127.0.0.1:0", h)
	src := listen(t, ":0", func(netip.AddrPort, []byte) {})
	ds := []Datagram{{Addr: dst.LocalAddr(), Payload: testPayload(2, 0)}}
	got := sendBatchUntil(t, src, ds, 1, ch)
	want := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), src.LocalAddr().Port())
	if r := got[[2]uint32{2, 0}]; r.from != want {
		t.Errorf("IPv4 receiver saw the dual-stack sender as %v, want %v", r.from, want)
	}
}

// An IPv4 socket cannot reach an IPv6 peer: that datagram fails like a
// refused Send, and the batch's other datagrams still go.
func TestUDPSendBatchIPv6PeerFromIPv4Socket(t *testing.T) {
	h, ch := collector()
	dst := listen(t, "127.0.0.1:0", h)
	src := listen(t, "127.0.0.1:0", func(netip.AddrPort, []byte) {})
	ds := []Datagram{
		{Addr: netip.MustParseAddrPort("[::1]:9"), Payload: []byte("x")},
		{Addr: dst.LocalAddr(), Payload: testPayload(3, 0)},
	}
	if err := src.SendBatch(ds); !errors.Is(err, ErrSendFailed) {
		t.Fatalf("SendBatch to an IPv6 peer from an IPv4 socket = %v, want ErrSendFailed", err)
	}
	sendBatchUntil(t, src, ds[1:], 1, ch)
}

func TestUDPSendBatchAfterClose(t *testing.T) {
	src := listen(t, "127.0.0.1:0", func(netip.AddrPort, []byte) {})
	src.Close()
	err := src.SendBatch([]Datagram{{Addr: netip.MustParseAddrPort("127.0.0.1:9"), Payload: []byte("x")}})
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("SendBatch after Close = %v, want ErrClosed", err)
	}
}

// Datagrams that queued on the socket while the handler was busy come in
// one read, to one call of a BatchHandler.
func TestUDPReadsQueuedDatagramsInOneCall(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads take one datagram each outside Linux")
	}
	release := make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	total := make(chan int, 64)
	dst, err := ListenUDPBatch(context.Background(), "127.0.0.1:0", func(ds []Datagram) {
		mu.Lock()
		sizes = append(sizes, len(ds))
		mu.Unlock()
		total <- len(ds)
		<-release
	}, DefaultUDPConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	defer close(release)
	src := listen(t, "127.0.0.1:0", func(netip.AddrPort, []byte) {})
	// The first datagram occupies the handler; loopback queues the next
	// ten before SendBatch returns.
	if err := src.Send(dst.LocalAddr(), []byte("first")); err != nil {
		t.Fatal(err)
	}
	<-total
	var ds []Datagram
	for i := range uint32(10) {
		ds = append(ds, Datagram{Addr: dst.LocalAddr(), Payload: testPayload(4, i)})
	}
	if err := src.SendBatch(ds); err != nil {
		t.Fatal(err)
	}
	release <- struct{}{}
	if n := <-total; n != 10 {
		mu.Lock()
		t.Errorf("the handler got batches of %v datagrams, want the 10 queued ones in one call", sizes)
		mu.Unlock()
	}
}

// SendBatch on a Transport that cannot batch sends each datagram with
// Send and joins the errors.
func TestSendBatchFallsBackToSend(t *testing.T) {
	f := &recordingTransport{}
	to := netip.MustParseAddrPort("127.0.0.1:9")
	err := SendBatch(f, []Datagram{{Addr: to, Payload: []byte("a")}, {Addr: to, Payload: make([]byte, MaxDatagram+1)}, {Addr: to, Payload: []byte("b")}})
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("SendBatch = %v, want ErrTooLarge for the oversize datagram", err)
	}
	if len(f.sent) != 2 || string(f.sent[0]) != "a" || string(f.sent[1]) != "b" {
		t.Errorf("sent %q, want [a b]", f.sent)
	}
}

type recordingTransport struct{ sent [][]byte }

func (f *recordingTransport) LocalAddr() netip.AddrPort { return netip.AddrPort{} }
func (f *recordingTransport) Close() error              { return nil }
func (f *recordingTransport) Send(to netip.AddrPort, p []byte) error {
	if err := CheckSend(to, p); err != nil {
		return err
	}
	f.sent = append(f.sent, append([]byte(nil), p...))
	return nil
}

func TestUDPConfigReadBatchLimits(t *testing.T) {
	for _, n := range []int{-1, maxReadBatch + 1} {
		c := DefaultUDPConfig()
		c.ReadBatch = n
		if c.Validate() == nil {
			t.Errorf("ReadBatch %d accepted", n)
		}
	}
}
