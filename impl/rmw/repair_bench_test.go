package rmw

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
)

// benchRegisters gives every host of net the same n registers, accepted
// long ago and live for a day: nothing to forget, nothing to push. The
// hosts share the records' bytes (LoadState copies them).
func benchRegisters(net *fakeNet, n int) {
	ms := uint64(net.now.UnixMilli()) - 1000
	owner := net.hosts[0]
	for i := range n {
		var k dht.Key
		binary.BigEndian.PutUint64(k[:], uint64(i)*0x9e3779b97f4a7c15)
		b := ballot{N: ms, ID: owner.self.ID, Inc: 1}
		rec := encodeAcceptor(acceptor{Promise: b, Accepted: b, State: cpState{
			Version: 1, Value: []byte("v"), Expiry: net.now.UnixMilli() + 86_400_000, Tag: tag{1}, Life: tag{1}, Hist: []tag{{1}}, HistTop: 1}})
		for _, h := range net.hosts {
			h.state[k], h.disk[k] = rec, rec
		}
	}
}

// withoutEpochs hides the fake host's MembershipEpoch: the protocol must
// check every register's replica set every round.
type withoutEpochs struct{ Host }

// BenchmarkRepairRoundIdle: one repair round of a node that holds n
// registers, none of which needs repair ("epochs": the host reports
// membership epochs, as a MembershipHost; "no-epochs": it does not).
func BenchmarkRepairRoundIdle(b *testing.B) {
	for _, epochs := range []bool{true, false} {
		for _, n := range []int{10_000, 1_000_000} {
			name := fmt.Sprintf("epochs/%d", n)
			if !epochs {
				name = fmt.Sprintf("no-epochs/%d", n)
			}
			b.Run(name, func(b *testing.B) {
				net := newFakeNet(b, "caspaxos", 4, 4, 2*time.Second, 1)
				benchRegisters(net, n)
				h := net.hosts[0]
				if !epochs {
					h.proto = NewCASPaxos(withoutEpochs{h}, CASPaxosOptions{})
				}
				p := h.proto.(*caspaxos)
				// The first round scans the state and pushes every state
				// (a restart owes them all); the members acknowledge.
				p.sync(net.now)
				for len(net.queue) > 0 {
					q := net.queue
					net.queue, net.sent = nil, nil
					for _, pk := range q {
						pk.to.proto.Receive(net.now, pk.from.self, pk.msg)
					}
				}
				if len(p.rep.owed) != 0 {
					b.Fatalf("%d registers still owed after the first round", len(p.rep.owed))
				}
				net.sent = nil
				b.ResetTimer()
				for range b.N {
					p.sync(net.now)
				}
				b.StopTimer()
				if len(net.queue) != 0 {
					b.Fatalf("an idle round sent %d messages", len(net.queue))
				}
			})
		}
	}
}
