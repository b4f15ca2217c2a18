package rmw

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
)

// benchRegisters fills h with n registers whose states were accepted
// long ago and live for a day: nothing to forget, nothing new to push.
func benchRegisters(net *fakeNet, h *fakeHost, n int) {
	ms := uint64(net.now.UnixMilli()) - 1000
	for i := range n {
		var k dht.Key
		binary.BigEndian.PutUint64(k[:], uint64(i)*0x9e3779b97f4a7c15)
		b := ballot{N: ms, ID: h.self.ID, Inc: 1}
		rec := encodeAcceptor(acceptor{Promise: b, Accepted: b, State: cpState{
			Version: 1, Value: []byte("v"), Expiry: net.now.UnixMilli() + 86_400_000, Tag: tag{1}, Life: tag{1}, Hist: []tag{{1}}, HistTop: 1}})
		h.state[k], h.disk[k] = rec, rec
	}
}

// BenchmarkRepairRoundIdle: one repair round of a node that holds n
// registers, none of which needs repair.
func BenchmarkRepairRoundIdle(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			net := newFakeNet(b, "caspaxos", 4, 4, 2*time.Second, 1)
			h := net.hosts[0]
			benchRegisters(net, h, n)
			p := h.proto.(*caspaxos)
			// The first round pushes every state (nothing is known to be
			// pushed yet); the rounds measured find nothing to do.
			p.sync(net.now)
			net.queue, net.sent = nil, nil
			b.ResetTimer()
			for range b.N {
				p.syncRound = 1 // not a re-push round (one in cpRePush)
				p.sync(net.now)
			}
			b.StopTimer()
			if len(net.queue) != 0 {
				b.Fatalf("an idle round sent %d messages", len(net.queue))
			}
		})
	}
}
