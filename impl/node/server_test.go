package node

import (
	"bytes"
	"context"
	"crypto/sha1"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway/sunrpc"
	"github.com/opendht-go/opendht/impl/gateway/xmlrpc"
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

// TestGatewaysOnNode: a three-node DHT whose gateways are reached the way
// original clients reach them: Sun RPC (put, get, rm) and XML-RPC (get of
// what Sun RPC put, a fault for a too-long key).
func TestGatewaysOnNode(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets")
	}
	var boot []netip.AddrPort
	var sunAddr, xmlAddr string
	for i := range 3 {
		cfg := ServerConfig{Node: DefaultConfig(), Listen: fmt.Sprintf("127.0.0.1:%d", freePort(t)), Store: store.DefaultConfig(t.TempDir()), Bootstrap: boot}
		if i == 2 {
			sunAddr, xmlAddr = fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t)), fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
			cfg.SunRPC, cfg.XMLRPC = sunAddr, xmlAddr
		}
		s, err := Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		if i == 0 {
			boot = []netip.AddrPort{s.Self().Addr}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := sunrpc.DialContext(ctx, sunAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	key := dht.Key(sha1.Sum([]byte("gateway test")))
	args := sunrpc.PutArgs{Application: "test", ClientLibrary: "go", Key: key, Value: []byte("via sun rpc"), TTLSec: 600,
		SecretHash: sunrpc.SecretHash{Algorithm: "SHA", Hash: func() []byte { h := dht.SHA1([]byte("pw")); return h[:] }()}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := c.Put(ctx, args)
		if err == nil && st == dht.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sun rpc put: %v %v", st, err)
		}
		time.Sleep(200 * time.Millisecond) // the ring is forming
	}
	res, err := c.Get(ctx, sunrpc.GetArgs{Application: "test", ClientLibrary: "go", Key: key, MaxVals: 10})
	if err != nil || len(res.Values) != 1 || string(res.Values[0].Value) != "via sun rpc" {
		t.Fatalf("sun rpc get: %v %+v", err, res)
	}
	// XML-RPC get of the same key.
	call := xmlrpc.EncodeMethodCall(&xmlrpc.MethodCall{Method: "get", Params: []xmlrpc.Value{
		xmlrpc.Base64Value(key[:]), xmlrpc.IntValue(10), xmlrpc.Base64Value(nil), xmlrpc.StringValue("test")}})
	resp, err := http.Post("http://"+xmlAddr+"/RPC2", "text/xml", bytes.NewReader(call))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	mr, err := xmlrpc.ParseMethodResponse(body)
	if err != nil || mr.Fault != nil || len(mr.Params) != 1 || len(mr.Params[0].Array) != 2 || len(mr.Params[0].Array[0].Array) != 1 ||
		string(mr.Params[0].Array[0].Array[0].Bytes) != "via sun rpc" {
		t.Fatalf("xml-rpc get: %v %s", err, body)
	}
	st, err := c.Remove(ctx, sunrpc.RmArgs{Application: "test", ClientLibrary: "go", Key: key, ValueHash: dht.SHA1([]byte("via sun rpc")), SecretHashAlg: "SHA", Secret: []byte("pw"), TTLSec: 600})
	if err != nil || st != dht.StatusOK {
		t.Fatalf("sun rpc rm: %v %v", st, err)
	}
	res, err = c.Get(ctx, sunrpc.GetArgs{Application: "test", ClientLibrary: "go", Key: key, MaxVals: 10})
	if err != nil || len(res.Values) != 0 {
		t.Fatalf("get after rm: %v %+v", err, res)
	}
}
