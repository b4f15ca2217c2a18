package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// UDPConfig configures a UDP transport.
type UDPConfig struct {
	// ReadBuffer is the socket receive buffer (SO_RCVBUF) in bytes; 0 keeps
	// the operating system's default. Linux silently caps it at
	// net.core.rmem_max.
	ReadBuffer int
	// WriteBuffer is the socket send buffer (SO_SNDBUF) in bytes; 0 keeps
	// the operating system's default.
	WriteBuffer int
	// ReadBatch is the most datagrams one system call reads (recvmmsg on
	// Linux; elsewhere every read takes one). 0 means DefaultReadBatch.
	ReadBatch int
	// Logger receives read errors and buffer-size warnings; nil discards
	// them.
	Logger *slog.Logger
}

// DefaultReadBatch is the read batch of DefaultUDPConfig: 32 datagrams
// (45 kB of buffers) is more than a node receives between two wake-ups
// under load, so one system call drains the socket, and little memory
// for a transport per node.
const DefaultReadBatch = 32

// maxReadBatch bounds ReadBatch: Linux reads at most UIO_MAXIOV (1024)
// messages per call.
const maxReadBatch = 1024

// DefaultUDPConfig returns the configuration ListenUDP uses.
func DefaultUDPConfig() UDPConfig {
	return UDPConfig{
		// 4 MiB, about 4,000 full datagrams (the kernel charges ~1 kB of
		// overhead each): enough that a node briefly busy with a GC pause
		// or a slow disk does not drop a burst of replication traffic.
		ReadBuffer: 4 << 20,
		// 1 MiB: sends are small and leave at once; this only absorbs a
		// burst of replica pushes without making Send wait.
		WriteBuffer: 1 << 20,
		ReadBatch:   DefaultReadBatch,
	}
}

// Validate rejects a configuration the transport cannot use.
func (c UDPConfig) Validate() error {
	switch {
	case c.ReadBuffer < 0:
		return fmt.Errorf("transport: read buffer must not be negative bytes, got %d", c.ReadBuffer)
	case c.WriteBuffer < 0:
		return fmt.Errorf("transport: write buffer must not be negative bytes, got %d", c.WriteBuffer)
	case c.ReadBatch < 0 || c.ReadBatch > maxReadBatch:
		return fmt.Errorf("transport: read batch must be 0 to %d datagrams, got %d", maxReadBatch, c.ReadBatch)
	}
	return nil
}

// Stats counts what a transport did since it was opened. The UDP transport
// and the simulator's endpoints (impl/simnet) both report it.
type Stats struct {
	// PacketsSent and BytesSent count datagrams the socket accepted.
	PacketsSent, BytesSent uint64
	// PacketsReceived and BytesReceived count datagrams handed to the
	// handler.
	PacketsReceived, BytesReceived uint64
	// SendErrors counts Sends refused with ErrSendFailed or ErrBadAddr.
	SendErrors uint64
	// OversizeSent counts Sends refused with ErrTooLarge.
	OversizeSent uint64
	// OversizeReceived counts received datagrams larger than MaxDatagram,
	// dropped without calling the handler.
	OversizeReceived uint64
	// ReadErrors counts failed socket reads other than the one that ends
	// the reader at Close.
	ReadErrors uint64
	// ReadCalls counts the reader's successful system calls:
	// PacketsReceived / ReadCalls is the mean datagrams per read.
	ReadCalls uint64
}

// Datagram is one datagram: its peer (the destination of a datagram to
// send, the sender of one received) and its payload.
type Datagram struct {
	Addr    netip.AddrPort
	Payload []byte
}

// BatchHandler receives the datagrams one read of the socket returned, in
// the order they arrived (one or more). The slice and the payloads are
// valid only until the handler returns.
type BatchHandler func(ds []Datagram)

// BatchSender is a Transport that sends several datagrams in one system
// call. SendBatch sends to a BatchSender through it, to any other Transport
// one Send at a time.
type BatchSender interface {
	Transport
	// SendBatch sends every datagram of ds, each as Send would: one
	// refused does not stop the others. It returns nil if the socket took
	// them all, else the errors of those refused, joined (errors.Is finds
	// ErrTooLarge, ErrBadAddr, ErrSendFailed), or ErrClosed. It does not
	// keep ds or the payloads after it returns.
	SendBatch(ds []Datagram) error
}

// SendBatch sends ds through t: in one system call per batch when t is a
// BatchSender (as *UDP is), else with one Send per datagram. A node's
// driver calls it with every datagram of one step.
func SendBatch(t Transport, ds []Datagram) error {
	if bs, ok := t.(BatchSender); ok {
		return bs.SendBatch(ds)
	}
	var errs []error
	for _, d := range ds {
		if err := t.Send(d.Addr, d.Payload); err != nil {
			if errors.Is(err, ErrClosed) {
				return ErrClosed
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// UDP is a Transport over one UDP socket, IPv4 or IPv6. One reader
// goroutine reads every datagram queued on the socket at once (up to
// UDPConfig.ReadBatch, with recvmmsg on Linux) into buffers it reuses, and
// hands them to the handler: a payload is overwritten by a later read.
type UDP struct {
	conn    *net.UDPConn
	local   netip.AddrPort
	handler BatchHandler
	log     *slog.Logger
	batch   batchIO

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
	closing   chan struct{} // closed when Close starts
	done      chan struct{} // closed when the reader has returned
	stopCtx   func() bool   // unregisters the context watcher

	packetsSent, bytesSent         atomic.Uint64
	packetsReceived, bytesReceived atomic.Uint64
	sendErrors                     atomic.Uint64
	oversizeSent, oversizeReceived atomic.Uint64
	readErrors                     atomic.Uint64
	readCalls                      atomic.Uint64
}

var _ BatchSender = (*UDP)(nil)

// ListenUDP opens a UDP transport on addr ("127.0.0.1:5850", "[::1]:5850",
// ":0" for any port on every address, IPv4 and IPv6) with the default
// configuration, and starts its reader, which calls h for every datagram
// received. The transport closes itself when ctx is cancelled.
func ListenUDP(ctx context.Context, addr string, h Handler) (*UDP, error) {
	return ListenUDPConfig(ctx, addr, h, DefaultUDPConfig())
}

// ListenUDPConfig is ListenUDP with a configuration.
func ListenUDPConfig(ctx context.Context, addr string, h Handler, cfg UDPConfig) (*UDP, error) {
	if h == nil {
		return nil, errors.New("transport: handler must not be nil")
	}
	return ListenUDPBatch(ctx, addr, func(ds []Datagram) {
		for _, d := range ds {
			h(d.Addr, d.Payload)
		}
	}, cfg)
}

// ListenUDPBatch is ListenUDPConfig with a handler that takes every
// datagram of one read in one call, so that a driver can hand them on
// together (one channel send, one copy) rather than one by one. The
// contract of Handler holds for it: never called concurrently with itself,
// payloads valid only during the call.
func ListenUDPBatch(ctx context.Context, addr string, h BatchHandler, cfg UDPConfig) (*UDP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errors.New("transport: handler must not be nil")
	}
	if cfg.ReadBatch == 0 {
		cfg.ReadBatch = DefaultReadBatch
	}
	pc, err := (&net.ListenConfig{}).ListenPacket(ctx, "udp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen on %q: %w", addr, err)
	}
	conn := pc.(*net.UDPConn)
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ReadBuffer > 0 {
		if err := conn.SetReadBuffer(cfg.ReadBuffer); err != nil {
			logger.Warn("transport: cannot set UDP read buffer", "bytes", cfg.ReadBuffer, "err", err)
		}
	}
	if cfg.WriteBuffer > 0 {
		if err := conn.SetWriteBuffer(cfg.WriteBuffer); err != nil {
			logger.Warn("transport: cannot set UDP write buffer", "bytes", cfg.WriteBuffer, "err", err)
		}
	}
	la := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	u := &UDP{
		conn:    conn,
		local:   netip.AddrPortFrom(la.Addr().Unmap(), la.Port()),
		handler: h,
		log:     logger,
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	if err := u.openBatch(cfg.ReadBatch); err != nil {
		conn.Close()
		return nil, err
	}
	u.stopCtx = context.AfterFunc(ctx, func() { u.Close() })
	go u.read()
	return u, nil
}

// LocalAddr returns the address the socket is bound to.
func (u *UDP) LocalAddr() netip.AddrPort { return u.local }

// Send sends one datagram. It is safe for concurrent use.
func (u *UDP) Send(to netip.AddrPort, payload []byte) error {
	if u.closed.Load() {
		return ErrClosed
	}
	if err := CheckSend(to, payload); err != nil {
		if errors.Is(err, ErrTooLarge) {
			u.oversizeSent.Add(1)
		} else {
			u.sendErrors.Add(1)
		}
		return err
	}
	n, err := u.conn.WriteToUDPAddrPort(payload, to)
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			return ErrClosed
		}
		u.sendErrors.Add(1)
		return fmt.Errorf("%w: to %v: %w", ErrSendFailed, to, err)
	}
	u.packetsSent.Add(1)
	u.bytesSent.Add(uint64(n))
	return nil
}

// SendBatch sends every datagram of ds, with one system call per up to 64
// datagrams on Linux; see BatchSender. It is safe for concurrent use.
func (u *UDP) SendBatch(ds []Datagram) error {
	if u.closed.Load() {
		return ErrClosed
	}
	var errs []error
	valid := ds
	for i, d := range ds {
		if err := CheckSend(d.Addr, d.Payload); err != nil {
			if errors.Is(err, ErrTooLarge) {
				u.oversizeSent.Add(1)
			} else {
				u.sendErrors.Add(1)
			}
			errs = append(errs, fmt.Errorf("datagram %d to %v: %w", i, d.Addr, err))
		}
	}
	if errs != nil {
		// Rare: a caller's mistake. Send the others.
		valid = make([]Datagram, 0, len(ds))
		for _, d := range ds {
			if CheckSend(d.Addr, d.Payload) == nil {
				valid = append(valid, d)
			}
		}
	}
	for len(valid) > 0 {
		n, err := u.writeBatch(valid)
		for _, d := range valid[:n] {
			u.packetsSent.Add(1)
			u.bytesSent.Add(uint64(len(d.Payload)))
		}
		if err == nil {
			break
		}
		if u.closed.Load() || errors.Is(err, net.ErrClosed) {
			return ErrClosed
		}
		u.sendErrors.Add(1)
		errs = append(errs, fmt.Errorf("%w: to %v: %w", ErrSendFailed, valid[n].Addr, err))
		valid = valid[n+1:]
	}
	return errors.Join(errs...)
}

// Close closes the socket and waits for the reader to return (and so for
// a handler call in progress to finish). It must not be called from the
// handler; cancel the context given to ListenUDP instead.
func (u *UDP) Close() error {
	u.closeOnce.Do(func() {
		u.closed.Store(true)
		close(u.closing)
		u.stopCtx()
		u.closeErr = u.conn.Close()
	})
	<-u.done
	return u.closeErr
}

// Done is closed when the transport has stopped: after Close, or after the
// context given to ListenUDP was cancelled and the reader has returned.
func (u *UDP) Done() <-chan struct{} { return u.done }

// Stats returns a snapshot of the counters. Each counter is read
// atomically; the snapshot as a whole is not, while traffic flows.
func (u *UDP) Stats() Stats {
	return Stats{
		PacketsSent:      u.packetsSent.Load(),
		BytesSent:        u.bytesSent.Load(),
		PacketsReceived:  u.packetsReceived.Load(),
		BytesReceived:    u.bytesReceived.Load(),
		SendErrors:       u.sendErrors.Load(),
		OversizeSent:     u.oversizeSent.Load(),
		OversizeReceived: u.oversizeReceived.Load(),
		ReadErrors:       u.readErrors.Load(),
		ReadCalls:        u.readCalls.Load(),
	}
}

// read is the reader goroutine: the transport's driver.
func (u *UDP) read() {
	defer close(u.done)
	var backoff time.Duration
	for {
		ds, err := u.readBatch()
		if err != nil {
			if u.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// A read error on a UDP socket is transient (for example a
			// memory shortage); back off so a persistent one does not spin.
			u.readErrors.Add(1)
			backoff = min(max(2*backoff, time.Millisecond), time.Second)
			u.log.Warn("transport: UDP read failed", "local", u.local, "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-u.closing:
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		backoff = 0
		// Drop oversize datagrams in place, and unmap IPv4 senders.
		keep := ds[:0]
		var bytes uint64
		for _, d := range ds {
			if len(d.Payload) > MaxDatagram {
				u.oversizeReceived.Add(1)
				continue
			}
			d.Addr = netip.AddrPortFrom(d.Addr.Addr().Unmap(), d.Addr.Port())
			bytes += uint64(len(d.Payload))
			keep = append(keep, d)
		}
		if u.closed.Load() {
			return
		}
		if len(keep) == 0 {
			continue
		}
		u.packetsReceived.Add(uint64(len(keep)))
		u.bytesReceived.Add(bytes)
		u.handler(keep)
	}
}
