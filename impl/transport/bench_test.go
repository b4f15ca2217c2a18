package transport

import (
	"context"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// benchWindow is how many datagrams a benchmark sends before it waits for
// the receiver to have them all: about one node step's worth (a put is
// about 9 datagrams across the cluster), and few enough that loopback
// never drops one.
const benchWindow = 8

// benchPair opens a sender and a receiver on loopback. The receiver's
// handler only counts, so the figures are the transport's own cost.
func benchPair(b *testing.B) (src, dst *UDP, got, want *atomic.Uint64, wake chan struct{}) {
	b.Helper()
	got, want = new(atomic.Uint64), new(atomic.Uint64)
	wake = make(chan struct{}, 1)
	dst, err := ListenUDP(context.Background(), "127.0.0.1:0", func(netip.AddrPort, []byte) {
		if got.Add(1) >= want.Load() {
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	src, err = ListenUDP(context.Background(), "127.0.0.1:0", func(netip.AddrPort, []byte) {})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { src.Close(); dst.Close() })
	return src, dst, got, want, wake
}

// runWindows sends b.N datagrams of size bytes in windows of benchWindow
// with send, waiting after each window until the receiver has handled it.
// A window the network lost (never seen on loopback with these sizes) is
// given up after a second and reported.
func runWindows(b *testing.B, size int, send func(src *UDP, to netip.AddrPort, window [][]byte)) {
	src, dst, got, want, wake := benchPair(b)
	payloads := make([][]byte, benchWindow)
	for i := range payloads {
		payloads[i] = make([]byte, size)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	for sent := 0; sent < b.N; {
		n := min(benchWindow, b.N-sent)
		sent += n
		want.Store(uint64(sent))
		send(src, dst.LocalAddr(), payloads[:n])
		for got.Load() < uint64(sent) {
			select {
			case <-wake:
			case <-time.After(time.Second):
				b.Logf("lost datagrams: %d sent, %d received", sent, got.Load())
				got.Store(uint64(sent))
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "datagrams/s")
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/datagram")
	if st := dst.Stats(); st.ReadCalls > 0 {
		b.ReportMetric(float64(st.PacketsReceived)/float64(st.ReadCalls), "datagrams/read")
	}
}

// BenchmarkUDPSendReceive measures one datagram's trip through the UDP
// transport on loopback, sent with Send: ns/op and allocs/op are per
// datagram, sender and receiver together.
func BenchmarkUDPSendReceive(b *testing.B) {
	for _, size := range []int{64, 1200} {
		b.Run(sizeName(size), func(b *testing.B) {
			runWindows(b, size, func(src *UDP, to netip.AddrPort, window [][]byte) {
				for _, p := range window {
					if err := src.Send(to, p); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// processCPU is the CPU time (user and system) this process has used, in
// nanoseconds: what a datagram costs the machine, whereas ns/op also counts
// the time both goroutines sat waiting for each other.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkUDPSendBatchReceive is BenchmarkUDPSendReceive with each
// window of datagrams sent in one SendBatch.
func BenchmarkUDPSendBatchReceive(b *testing.B) {
	for _, size := range []int{64, 1200} {
		b.Run(sizeName(size), func(b *testing.B) {
			ds := make([]Datagram, benchWindow)
			runWindows(b, size, func(src *UDP, to netip.AddrPort, window [][]byte) {
				ds = ds[:0]
				for _, p := range window {
					ds = append(ds, Datagram{Addr: to, Payload: p})
				}
				if err := src.SendBatch(ds); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

func sizeName(n int) string {
	if n >= 1000 {
		return "1200B"
	}
	return "64B"
}
