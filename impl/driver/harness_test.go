package driver_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/driver"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/porttest"
	"github.com/opendht-go/opendht/impl/store"
)

// startNodes starts n nodes on loopback UDP, each on a free port with a
// default store of its own; node 0 starts the ring and the others join
// through it. configure, if not nil, sets what a test needs beyond that
// in node i's configuration (gateways, store limits, metrics). The nodes
// close when the test ends.
func startNodes(t *testing.T, n int, configure func(i int, cfg *driver.ServerConfig)) []*driver.Server {
	t.Helper()
	var servers []*driver.Server
	var boot []netip.AddrPort
	for i := range n {
		// Port 0 cannot be advertised: pick free ports by binding first.
		cfg := driver.ServerConfig{Node: node.DefaultConfig(), Listen: fmt.Sprintf("127.0.0.1:%d", porttest.UDP(t)),
			Store: store.DefaultConfig(t.TempDir()), Bootstrap: boot}
		if configure != nil {
			configure(i, &cfg)
		}
		s, err := driver.Start(context.Background(), cfg)
		if err != nil {
			t.Fatalf("start node %d: %v", i, err)
		}
		t.Cleanup(func() { _ = s.Close() })
		servers = append(servers, s)
		if i == 0 {
			boot = []netip.AddrPort{s.Self().Addr}
		}
	}
	return servers
}

// waitForRing waits, at most within, until every node has joined and
// has all the others in its leaf set: in rings this small every node is
// then in every key's replica set.
func waitForRing(t *testing.T, servers []*driver.Server, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(50 * time.Millisecond) {
		formed := true
		for _, s := range servers {
			st, _ := s.APIStatus(context.Background())
			formed = formed && st.Joined && st.LeafSetPeers >= len(servers)-1
		}
		if formed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the %d nodes did not form a ring within %v", len(servers), within)
		}
	}
}
