package node

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/store"
)

// startLocal starts n nodes on loopback UDP; node 0 starts the ring.
func startLocal(t *testing.T, n int) []*Server {
	t.Helper()
	var servers []*Server
	var boot []netip.AddrPort
	for i := range n {
		cfg := ServerConfig{Node: DefaultConfig(), Listen: "127.0.0.1:0", Store: store.DefaultConfig(t.TempDir()), Bootstrap: boot}
		// Port 0 cannot be advertised: pick free ports by binding first.
		cfg.Listen = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		s, err := Start(context.Background(), cfg)
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

// TestLoopbackPutGetRemove runs five nodes over real UDP on loopback: a
// put at one gateway is read at another, a remove at a third hides it.
func TestLoopbackPutGetRemove(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets and seconds of settling")
	}
	servers := startLocal(t, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key := dht.Key(IDFor(netip.MustParseAddrPort("1.2.3.4:5")))
	secret := []byte("s3cret")
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := servers[1].Put(ctx, dht.Put{Client: "127.0.0.1", Key: key, Value: []byte("hello"), TTL: 600, SecretHash: dht.SHA1(secret)})
		if err == nil && st == dht.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("put never succeeded: %v %v", st, err)
		}
		time.Sleep(200 * time.Millisecond) // the ring is still forming
	}
	rep, err := servers[3].Get(ctx, dht.Get{Key: key, MaxVals: 10})
	if err != nil || len(rep.Values) != 1 || string(rep.Values[0].Value) != "hello" {
		t.Fatalf("get at another gateway: %v %+v", err, rep)
	}
	st, err := servers[4].Remove(ctx, dht.Remove{Client: "127.0.0.1", Key: key, ValueHash: dht.SHA1([]byte("hello")), Secret: secret, TTL: 600})
	if err != nil || st != dht.StatusOK {
		t.Fatalf("remove: %v %v", st, err)
	}
	rep, err = servers[2].Get(ctx, dht.Get{Key: key, MaxVals: 10})
	if err != nil || len(rep.Values) != 0 {
		t.Fatalf("get after remove: %v %+v", err, rep)
	}
}
