package driver

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/opendht-go/opendht/impl/transport"
	"github.com/opendht-go/opendht/impl/wire"
	"pgregory.net/rapid"
)

// TestPackTurn: whatever a turn sends, the datagrams packTurn makes fit
// the limit, a bundle carries at least two messages, every address gets
// exactly its messages in the order the node sent them, and no two
// consecutive datagrams to one address could have been one (the packing
// is greedy: a bundle closes only when the next message does not fit).
// Replay a failure with the -rapid.seed or -rapid.failfile it prints.
func TestPackTurn(t *testing.T) {
	addrs := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:7850"), netip.MustParseAddrPort("127.0.0.1:7860"),
		netip.MustParseAddrPort("[::1]:7850"), netip.MustParseAddrPort("10.0.0.1:1")}
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(0, 40).Draw(rt, "messages")
		var enc []byte
		var es []encoded
		want := map[netip.AddrPort][][]byte{}
		for i := range n {
			to := addrs[rapid.IntRange(0, len(addrs)-1).Draw(rt, "to")]
			size := rapid.OneOf(rapid.IntRange(5, 60), rapid.IntRange(5, wire.MaxDatagram)).Draw(rt, "size")
			// A message: a plain header, then its index (one byte), then filler.
			m := []byte{'O', 'D', wire.Version, uint8(wire.TPing)}
			m = binary.AppendUvarint(m, uint64(i))
			for len(m) < size {
				m = append(m, byte(i))
			}
			m = m[:size]
			start := len(enc)
			enc = append(enc, m...)
			es = append(es, encoded{to, start, len(enc)})
			want[to] = append(want[to], m)
		}
		_, ds := packTurn(enc, es, nil, nil)
		got := map[netip.AddrPort][][]byte{}
		var prev map[netip.AddrPort]transport.Datagram = map[netip.AddrPort]transport.Datagram{}
		for i, d := range ds {
			if len(d.Payload) > wire.MaxDatagram {
				rt.Fatalf("datagram %d has %d bytes", i, len(d.Payload))
			}
			parts := [][]byte{d.Payload}
			if wire.IsBundle(d.Payload) {
				var err error
				if parts, err = wire.SplitBundle(nil, d.Payload); err != nil {
					rt.Fatalf("datagram %d: a malformed bundle: %v", i, err)
				}
				if len(parts) < 2 {
					rt.Fatalf("datagram %d: a bundle of %d message", i, len(parts))
				}
			}
			if p, ok := prev[d.Addr]; ok {
				first := parts[0]
				if fits(p.Payload, first) {
					rt.Fatalf("datagrams to %s: %d bytes then one starting with a message of %d bytes that would have fit", d.Addr, len(p.Payload), len(first))
				}
			}
			prev[d.Addr] = d
			got[d.Addr] = append(got[d.Addr], parts...)
		}
		for _, a := range addrs {
			if len(got[a]) != len(want[a]) {
				rt.Fatalf("%s: %d messages delivered, %d sent", a, len(got[a]), len(want[a]))
			}
			for i := range want[a] {
				if !bytes.Equal(got[a][i], want[a][i]) {
					rt.Fatalf("%s: message %d is %x, want %x", a, i, got[a][i], want[a][i])
				}
			}
		}
	})
}

// fits reports whether message m could have joined datagram d (a bundle,
// or a plain message that would have become one) within the limit.
func fits(d, m []byte) bool {
	size := len(d)
	if !wire.IsBundle(d) {
		size = wire.BundleHeaderSize + wire.BundledSize(len(d))
	}
	return size+wire.BundledSize(len(m)) <= wire.MaxDatagram
}
