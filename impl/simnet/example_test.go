package simnet_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/opendht-go/opendht/impl/simnet"
)

// Two nodes exchange a ping and a pong over a simulated wide-area link,
// then a partition separates them.
func Example() {
	n, err := simnet.New(1, simnet.DefaultConfig())
	if err != nil {
		panic(err)
	}
	a := netip.MustParseAddrPort("10.0.0.1:5850")
	b := netip.MustParseAddrPort("10.0.0.2:5850")
	start := n.Now()
	var ea, eb *simnet.Endpoint
	ea, _ = n.Attach(a, func(from netip.AddrPort, p []byte) {
		fmt.Printf("%v got %q from %v after %v\n", a, p, from, n.Now().Sub(start).Round(time.Millisecond))
	})
	eb, _ = n.Attach(b, func(from netip.AddrPort, p []byte) {
		eb.Send(from, []byte("pong"))
	})
	ea.Send(b, []byte("ping"))
	n.RunFor(time.Second)

	n.Partition([]netip.AddrPort{a}, []netip.AddrPort{b})
	ea.Send(b, []byte("ping"))
	n.RunFor(time.Second)
	fmt.Println("dropped by the partition:", n.Stats(a).DroppedOut[simnet.DropPartition].Packets)
	// Output:
	// 10.0.0.1:5850 got "pong" from 10.0.0.2:5850 after 216ms
	// dropped by the partition: 1
}
