package driver_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/driver"
	"github.com/opendht-go/opendht/impl/gateway/httpapi"
	"github.com/opendht-go/opendht/impl/gateway/sunrpc"
	"github.com/opendht-go/opendht/impl/gateway/xmlrpc"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/porttest"
	"github.com/opendht-go/opendht/impl/store"
)

// startLocal starts n nodes on loopback UDP; node 0 starts the ring.
func startLocal(t *testing.T, n int) []*driver.Server { return startNodes(t, n, nil) }

// TestLoopbackPutGetRemove runs five nodes over real UDP on loopback: a
// put at one gateway is read at another, a remove at a third hides it.
func TestLoopbackPutGetRemove(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets and seconds of settling")
	}
	servers := startLocal(t, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key := dht.Key(node.IDFor(netip.MustParseAddrPort("1.2.3.4:5")))
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
// clients reach them: Sun RPC (put, get, rm), XML-RPC (get of what Sun RPC
// put) and the HTTP/JSON API on the XML-RPC port (get, put, rm, status,
// errors, and a hand-written request as curl sends it).
func TestGatewaysOnNode(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets")
	}
	var boot []netip.AddrPort
	var sunAddr, xmlAddr string
	var gw *driver.Server
	for i := range 3 {
		cfg := driver.ServerConfig{Node: node.DefaultConfig(), Listen: fmt.Sprintf("127.0.0.1:%d", porttest.UDP(t)), Store: store.DefaultConfig(t.TempDir()), Bootstrap: boot}
		if i == 2 {
			sunAddr, xmlAddr = fmt.Sprintf("127.0.0.1:%d", porttest.TCP(t)), fmt.Sprintf("127.0.0.1:%d", porttest.TCP(t))
			cfg.SunRPC, cfg.XMLRPC = sunAddr, xmlAddr
		}
		s, err := driver.Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		if i == 0 {
			boot = []netip.AddrPort{s.Self().Addr}
		}
		gw = s
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
		SecretHash: sunrpc.Hash{Algorithm: "SHA", Hash: func() []byte { h := dht.SHA1([]byte("pw")); return h[:] }()}}
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
	checkJSONAPI(t, gw, key)
	st, err := c.Remove(ctx, sunrpc.RmArgs{Application: "test", ClientLibrary: "go", Key: key, ValueHash: sunrpc.Hash{Algorithm: "SHA", Hash: func() []byte { h := dht.SHA1([]byte("via sun rpc")); return h[:] }()}, SecretHashAlg: "SHA", Secret: []byte("pw"), TTLSec: 600})
	if err != nil || st != dht.StatusOK {
		t.Fatalf("sun rpc rm: %v %v", st, err)
	}
	res, err = c.Get(ctx, sunrpc.GetArgs{Application: "test", ClientLibrary: "go", Key: key, MaxVals: 10})
	if err != nil || len(res.Values) != 0 {
		t.Fatalf("get after rm: %v %+v", err, res)
	}
}

// apiCall sends one request to the JSON API at addr and decodes the JSON
// answer into v; it returns the HTTP status.
func apiCall(t *testing.T, method, url, body string, v any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%s %s: Content-Type %q: %s", method, url, resp.Header.Get("Content-Type"), raw)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s %s: %v in %s", method, url, err, raw)
	}
	return resp.StatusCode
}

// checkJSONAPI drives the HTTP/JSON API of node gw over TCP, on its
// XML-RPC port. key holds "via sun rpc", removable with secret "pw".
func checkJSONAPI(t *testing.T, gw *driver.Server, key dht.Key) {
	t.Helper()
	base := "http://" + gw.XMLRPCAddr() + httpapi.Prefix
	keyURL := base + "keys/" + hex.EncodeToString(key[:])
	std := base64.StdEncoding.EncodeToString
	pwHash := dht.SHA1([]byte("pw"))

	// A get sees what Sun RPC put, with its details.
	var gr httpapi.GetResponse
	if code := apiCall(t, "GET", keyURL+"?maxvals=10", "", &gr); code != 200 || len(gr.Values) != 1 ||
		gr.Values[0].Value != std([]byte("via sun rpc")) || gr.Values[0].HashAlg != "SHA" || gr.Values[0].SecretHash != std(pwHash[:]) {
		t.Fatalf("JSON get: %d %+v", code, gr)
	}
	// A put, seen by a get, removed by value.
	var wr httpapi.WriteResponse
	if code := apiCall(t, "POST", keyURL, `{"value":"`+std([]byte("via json"))+`","ttl":600,"secret":"`+std([]byte("pw2"))+`","application":"test"}`, &wr); code != 200 || wr.Status != 0 {
		t.Fatalf("JSON put: %d %+v", code, wr)
	}
	gr = httpapi.GetResponse{}
	if code := apiCall(t, "GET", keyURL, "", &gr); code != 200 || len(gr.Values) != 2 ||
		gr.Values[0].Value != std([]byte("via json")) && gr.Values[1].Value != std([]byte("via json")) {
		t.Fatalf("JSON get after put: %d %+v", code, gr)
	}
	if code := apiCall(t, "DELETE", keyURL, `{"value":"`+std([]byte("via json"))+`","secret":"`+std([]byte("pw2"))+`","ttl":600}`, &wr); code != 200 || wr.Status != 0 {
		t.Fatalf("JSON rm: %d %+v", code, wr)
	}
	// A bad request is refused with the original text.
	var er httpapi.ErrorResponse
	if code := apiCall(t, "POST", keyURL, `{"value":"`+std(make([]byte, 1025))+`"}`, &er); code != 400 || er.Error != "value is longer than 1024 bytes" {
		t.Fatalf("JSON put of a long value: %d %+v", code, er)
	}
	// The status describes this node; its peer counts catch up with the
	// ring within a tick or so.
	var st httpapi.Status
	for deadline := time.Now().Add(20 * time.Second); ; {
		st = httpapi.Status{}
		if code := apiCall(t, "GET", base+"status", "", &st); code != 200 || st.Version != "v1" || st.NodeID != gw.Self().ID.String() ||
			st.Address != gw.Self().Addr.String() || st.Store.CapacityBytes != store.DefaultConfig("").Capacity || st.Store.UsedBytes <= 0 {
			t.Fatalf("JSON status: %d %+v", code, st)
		}
		if st.Joined && st.LeafSetPeers == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("JSON status never shows the two other nodes: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("status: %+v", st)

	// By hand, as curl sends it: `curl http://host/api/v1/keys/KEY` and
	// `curl -d '{...}' http://host/api/v1/keys/KEY` (form content type).
	conn, err := net.Dial("tcp", gw.XMLRPCAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	other := dht.SHA1([]byte("curl test"))
	path := httpapi.Prefix + "keys/" + hex.EncodeToString(other[:])
	body := `{"value":"` + std([]byte("by hand")) + `"}`
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nContent-Length: %d\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n%s",
		path, gw.XMLRPCAddr(), len(body), body)
	fmt.Fprintf(conn, "GET %s?maxvals=10 HTTP/1.1\r\nHost: %s\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nConnection: close\r\n\r\n", path, gw.XMLRPCAddr())
	rd := bufio.NewReader(conn)
	for i, want := range []string{`{"status":0,"result":"success"}`, std([]byte("by hand"))} {
		resp, err := http.ReadResponse(rd, nil)
		if err != nil {
			t.Fatalf("raw request %d: %v", i, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(raw), want) {
			t.Fatalf("raw request %d: %d %s, want 200 with %s", i, resp.StatusCode, raw, want)
		}
	}
}
