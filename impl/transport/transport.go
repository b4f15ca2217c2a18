// Package transport carries the overlay's messages: best-effort datagrams
// between nodes named by IP address and port, over real UDP (ListenUDP) or
// inside the deterministic network simulator (impl/simnet), behind one
// small interface.
//
// # The contract of a Transport
//
// A Transport is as unreliable as UDP and no more helpful: a datagram sent
// may be lost, delivered twice, or delivered after datagrams sent later.
// It is never corrupted, truncated or merged with another one, and it
// arrives from the address it was sent from. Everything above (timeouts,
// retransmission, RTT estimation, de-duplication) is the overlay's job, as
// in Bamboo, which ran its own congestion-controlled messaging over UDP.
//
//   - Send hands one datagram to the network and returns without waiting
//     for the peer. It may wait briefly for the local send buffer, never for
//     the network. Datagrams larger than MaxDatagram are refused before
//     anything is sent.
//   - A peer that is down, unknown or unreachable is not an error the node
//     must stop for: the datagram is simply lost (Send usually returns nil;
//     if the local stack refuses it, the error wraps ErrSendFailed). Only
//     ErrClosed means the transport is unusable.
//   - The Handler given when the transport is created is called once per
//     received datagram, by the transport's own driver (a reader goroutine
//     for UDP, the simulator's goroutine for simnet), never concurrently
//     with itself for one transport. The payload slice is valid only during
//     the call; a handler that keeps bytes must copy them. A handler should
//     return quickly: while it runs, that transport receives nothing.
//   - Addresses are netip.AddrPort values with IPv4 addresses unmapped
//     (1.2.3.4, never ::ffff:1.2.3.4), so that the same peer is always the
//     same map key.
//   - Send is safe for concurrent use. Close stops reception and makes
//     later Sends fail with ErrClosed; calling it twice is harmless.
//
// # Batches
//
// System calls are a large part of what a datagram costs a node. The UDP
// transport on Linux reads every datagram queued on its socket with one
// recvmmsg, into buffers it reuses, and a BatchSender (the UDP transport)
// sends several datagrams with one sendmmsg: a node's driver hands
// SendBatch every datagram of one step. Batches change nothing in the
// contract above: each datagram of a batch is checked, sent, lost or
// refused on its own, and a Handler is still called once per datagram. A
// BatchHandler (ListenUDPBatch) receives the datagrams of one read in one
// call, so that a driver can pass them on together.
package transport

import (
	"errors"
	"net/netip"
)

// MaxDatagram is the largest payload a Transport sends, in bytes. 1400
// bytes plus the IPv6 (40) and UDP (8) headers fit a 1500-byte Ethernet
// MTU with room left for a tunnel or VPN header, so datagrams are not
// fragmented on common paths; and it carries a maximum-size value (1024
// bytes, LIM-2) with its key, secret hash and routing header in one packet.
const MaxDatagram = 1400

// Errors returned by Send. ErrTooLarge and ErrBadAddr are mistakes of the
// caller; ErrSendFailed is a condition of the network, to be treated as a
// lost datagram. None of them leaves the transport unusable; ErrClosed
// means it was closed.
var (
	ErrTooLarge   = errors.New("transport: datagram larger than MaxDatagram")
	ErrBadAddr    = errors.New("transport: invalid destination address")
	ErrClosed     = errors.New("transport: closed")
	ErrSendFailed = errors.New("transport: send failed")
)

// Addr names a node on the network: an IP address (v4 or v6) and a UDP
// port.
type Addr = netip.AddrPort

// Handler receives one datagram. from is the sender's address; payload is
// valid only until the handler returns.
type Handler func(from netip.AddrPort, payload []byte)

// Transport sends best-effort datagrams; see the package documentation for
// the full contract.
type Transport interface {
	// LocalAddr returns the address this transport receives on. For a UDP
	// socket bound to a wildcard address (":0", "[::]:5850") it is the
	// wildcard, which peers cannot use: a node must learn or be told the
	// address others reach it at.
	LocalAddr() netip.AddrPort
	// Send sends one datagram of at most MaxDatagram bytes to to. It does
	// not keep payload after it returns.
	Send(to netip.AddrPort, payload []byte) error
	// Close stops the transport. After it returns, the handler is not
	// called any more. It must not be called from the handler itself (the
	// UDP transport waits for the handler to return); a node that decides
	// to stop while handling a datagram cancels its context instead.
	Close() error
}

// CheckSend applies the checks every Transport makes before sending: the
// size limit and a usable destination (valid address, non-zero port).
// Implementations call it first so that they refuse the same datagrams.
func CheckSend(to netip.AddrPort, payload []byte) error {
	if len(payload) > MaxDatagram {
		return ErrTooLarge
	}
	if !to.IsValid() || to.Port() == 0 || to.Addr().IsUnspecified() {
		return ErrBadAddr
	}
	return nil
}
