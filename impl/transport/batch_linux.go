//go:build linux

package transport

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// On Linux the UDP transport reads with recvmmsg(2) and sends batches with
// sendmmsg(2): one system call for every datagram queued on the socket, and
// one for every datagram of a SendBatch. The calls go through the socket's
// syscall.RawConn, so they wait in Go's network poller like the net
// package's own reads and writes, and Close interrupts them.
//
// The headers, I/O vectors and address slots are allocated once (the
// reader's) or pooled (the senders'), and addresses are parsed straight
// into netip values: a datagram costs no allocation in the transport.
// golang.org/x/net's ipv4.PacketConn.ReadBatch does the same system call
// but returns every sender as a new *net.UDPAddr (two allocations per
// datagram), and wants one as every destination.

// mmsghdr is struct mmsghdr of <sys/socket.h>: a message header and the
// byte count the kernel fills in. Go lays it out as C does (the struct is
// padded to Msghdr's alignment).
type mmsghdr struct {
	Hdr unix.Msghdr
	Len uint32
}

// sendChunk is the most datagrams one sendmmsg carries; a longer batch is
// sent in chunks. Linux caps a call at UIO_MAXIOV (1024) messages.
const sendChunk = 64

// batchIO holds the socket's raw handle and the reader's buffers.
type batchIO struct {
	rc syscall.RawConn
	// inet6 is true for an AF_INET6 socket, which reaches IPv4 peers
	// through IPv4-mapped addresses.
	inet6 bool

	// The reader's slots, one per datagram of a read; used only by the
	// reader goroutine.
	rbufs  [][]byte
	rnames []unix.RawSockaddrInet6
	riovs  []unix.Iovec
	rhdrs  []mmsghdr
	rds    []Datagram
	// recv is the reader's call, made once so that a read allocates no
	// closure; it leaves its results in rn and rerr.
	recv func(fd uintptr) bool
	rn   int
	rerr syscall.Errno
}

// sendSlots are the headers, vectors and addresses of one sendmmsg.
type sendSlots struct {
	hdrs  [sendChunk]mmsghdr
	iovs  [sendChunk]unix.Iovec
	names [sendChunk]unix.RawSockaddrInet6
	// send is the call, made once per slots; count is its input, n and
	// err its results.
	send  func(fd uintptr) bool
	count int
	n     int
	err   syscall.Errno
}

var sendSlotPool = sync.Pool{New: func() any {
	s := new(sendSlots)
	s.send = func(fd uintptr) bool {
		for {
			r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.hdrs[0])), uintptr(s.count), 0, 0, 0)
			switch e {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false // the send buffer is full: wait until writable
			}
			s.n, s.err = int(r), e
			return true
		}
	}
	return s
}}

func (u *UDP) openBatch(readBatch int) error {
	rc, err := u.conn.SyscallConn()
	if err != nil {
		return fmt.Errorf("transport: raw socket: %w", err)
	}
	var sa unix.Sockaddr
	var serr error
	if err := rc.Control(func(fd uintptr) { sa, serr = unix.Getsockname(int(fd)) }); err != nil {
		return fmt.Errorf("transport: raw socket: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("transport: getsockname: %w", serr)
	}
	_, inet6 := sa.(*unix.SockaddrInet6)
	b := &u.batch
	*b = batchIO{
		rc:     rc,
		inet6:  inet6,
		rbufs:  make([][]byte, readBatch),
		rnames: make([]unix.RawSockaddrInet6, readBatch),
		riovs:  make([]unix.Iovec, readBatch),
		rhdrs:  make([]mmsghdr, readBatch),
		rds:    make([]Datagram, readBatch),
	}
	// One allocation for all slots; each is one byte longer than the
	// limit, so that an oversize datagram shows up as n > MaxDatagram
	// instead of being silently truncated.
	all := make([]byte, readBatch*(MaxDatagram+1))
	for i := range readBatch {
		b.rbufs[i] = all[i*(MaxDatagram+1) : (i+1)*(MaxDatagram+1) : (i+1)*(MaxDatagram+1)]
		b.riovs[i].Base = &b.rbufs[i][0]
		b.riovs[i].SetLen(MaxDatagram + 1)
	}
	b.recv = func(fd uintptr) bool {
		for {
			r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.rhdrs[0])), uintptr(len(b.rhdrs)), 0, 0, 0)
			switch e {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false // wait in the poller until the socket is readable
			}
			b.rn, b.rerr = int(r), e
			return true
		}
	}
	return nil
}

// readBatch waits for at least one datagram and returns every datagram
// queued, up to the batch size. A payload longer than MaxDatagram is an
// oversize datagram (its tail was cut). The slices are reused by the next
// call.
func (u *UDP) readBatch() ([]Datagram, error) {
	b := &u.batch
	for i := range b.rhdrs {
		h := &b.rhdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&b.rnames[i]))
		h.Namelen = unix.SizeofSockaddrInet6
		h.Iov = &b.riovs[i]
		h.SetIovlen(1)
		h.Flags = 0
		b.rhdrs[i].Len = 0
	}
	if err := b.rc.Read(b.recv); err != nil {
		return nil, err
	}
	n := b.rn
	if b.rerr != 0 {
		return nil, fmt.Errorf("recvmmsg: %w", b.rerr)
	}
	u.readCalls.Add(1)
	ds := b.rds[:0]
	for i := range n {
		ln := int(b.rhdrs[i].Len)
		if b.rhdrs[i].Hdr.Flags&unix.MSG_TRUNC != 0 {
			ln = MaxDatagram + 1
		}
		ds = append(ds, Datagram{Addr: sockaddrPort(&b.rnames[i]), Payload: b.rbufs[i][:ln]})
	}
	return ds, nil
}

// sockaddrPort parses a sockaddr_in or sockaddr_in6 written by the kernel,
// with IPv4-mapped addresses unmapped.
func sockaddrPort(sa *unix.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), netPort(sa4.Port))
	case unix.AF_INET6:
		ip := netip.AddrFrom16(sa.Addr).Unmap()
		if sa.Scope_id != 0 && ip.Is6() {
			// A link-local peer: keep its interface, or replies go nowhere.
			ip = ip.WithZone(strconv.FormatUint(uint64(sa.Scope_id), 10))
		}
		return netip.AddrPortFrom(ip, netPort(sa.Port))
	}
	return netip.AddrPort{}
}

// netPort reads a port stored in network byte order.
func netPort(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// putSockaddr writes to into sa and returns its length; 0 if the socket's
// family cannot reach it (an IPv6 peer from an IPv4 socket).
func (b *batchIO) putSockaddr(sa *unix.RawSockaddrInet6, to netip.AddrPort) uint32 {
	ip := to.Addr()
	port := (*[2]byte)(unsafe.Pointer(&sa.Port))
	port[0], port[1] = byte(to.Port()>>8), byte(to.Port())
	if !b.inet6 {
		if !ip.Is4() && !ip.Is4In6() {
			return 0
		}
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		sa4.Family = unix.AF_INET
		sa4.Addr = ip.Unmap().As4()
		sa4.Zero = [8]byte{}
		return unix.SizeofSockaddrInet4
	}
	sa.Family = unix.AF_INET6
	sa.Flowinfo = 0
	sa.Addr = ip.As16() // IPv4 addresses come out IPv4-mapped
	sa.Scope_id = 0
	if z := ip.Zone(); z != "" {
		id, err := strconv.ParseUint(z, 10, 32)
		if err != nil {
			iface, ierr := net.InterfaceByName(z)
			if ierr != nil {
				return 0
			}
			id = uint64(iface.Index)
		}
		sa.Scope_id = uint32(id)
	}
	return unix.SizeofSockaddrInet6
}

// writeBatch sends ds (all checked with CheckSend) in order and returns how
// many the socket accepted. If that is fewer than len(ds), err is why
// ds[sent] was refused.
func (u *UDP) writeBatch(ds []Datagram) (sent int, err error) {
	b := &u.batch
	s := sendSlotPool.Get().(*sendSlots)
	defer sendSlotPool.Put(s)
	for sent < len(ds) {
		chunk := ds[sent:min(len(ds), sent+sendChunk)]
		for i, d := range chunk {
			nl := b.putSockaddr(&s.names[i], d.Addr)
			if nl == 0 {
				if i == 0 {
					return sent, unix.EAFNOSUPPORT
				}
				chunk = chunk[:i]
				break
			}
			h := &s.hdrs[i].Hdr
			*h = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&s.names[i])), Namelen: nl, Iov: &s.iovs[i]}
			h.SetIovlen(1)
			s.iovs[i] = unix.Iovec{}
			if len(d.Payload) > 0 {
				s.iovs[i].Base = &d.Payload[0]
			}
			s.iovs[i].SetLen(len(d.Payload))
		}
		s.count = len(chunk)
		werr := b.rc.Write(s.send)
		n, errno := s.n, s.err
		// The payloads were only lent to the kernel for the call.
		for i := range chunk {
			s.iovs[i].Base = nil
		}
		if werr != nil {
			return sent, werr
		}
		if errno != 0 {
			return sent, errno
		}
		if n <= 0 {
			return sent, unix.EIO // sendmmsg sends at least one or fails
		}
		sent += n
	}
	return sent, nil
}
