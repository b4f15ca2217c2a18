package driver_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/client"
	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/driver"
	"github.com/opendht-go/opendht/impl/gateway/xmlrpc"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/porttest"
	"github.com/opendht-go/opendht/impl/store"
)

// TestAuthenticatedPutsEndToEnd runs immutable and signed puts (spec
// section 18) through every gateway protocol of a 3-node loopback cluster
// with the Go client, calls the XML-RPC methods and HTTP endpoints of
// those operations directly, tries the attacks of SG-9 through a gateway,
// and checks that the nodes counted each refusal by its reason.
func TestAuthenticatedPutsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets")
	}
	var boot []netip.AddrPort
	var servers []*driver.Server
	var xmlAddrs, sunAddrs []string
	for range 3 {
		x, s := fmt.Sprintf("127.0.0.1:%d", porttest.TCP(t)), fmt.Sprintf("127.0.0.1:%d", porttest.TCP(t))
		cfg := driver.ServerConfig{Node: node.DefaultConfig(), Listen: fmt.Sprintf("127.0.0.1:%d", porttest.UDP(t)),
			Store: store.DefaultConfig(t.TempDir()), Bootstrap: boot, XMLRPC: x, SunRPC: s}
		srv, err := driver.Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		closed := false
		t.Cleanup(func() {
			if !closed {
				_ = srv.Close()
			}
		})
		if boot == nil {
			boot = []netip.AddrPort{srv.Self().Addr}
		}
		servers, xmlAddrs, sunAddrs = append(servers, srv), append(xmlAddrs, x), append(sunAddrs, s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	for i, p := range []client.Protocol{client.XMLRPC, client.HTTP, client.SunRPC} {
		addr := xmlAddrs[i]
		if p == client.SunRPC {
			addr = sunAddrs[i]
		}
		cfg := client.DefaultConfig(addr)
		cfg.Protocol = p
		c, err := client.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		value := []byte("immutable via " + fmt.Sprint(p))
		var key dht.Key
		for deadline := time.Now().Add(30 * time.Second); ; { // the ring is forming
			key, err = c.PutImmutable(ctx, dht.ImmutableSHA256, value, time.Hour)
			if err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("%v: put immutable: %v", p, err)
		}
		if got, err := c.GetImmutable(ctx, dht.ImmutableSHA256, key); err != nil || !bytes.Equal(got, value) {
			t.Fatalf("%v: get immutable: %q %v", p, got, err)
		}
		if _, err := c.GetImmutable(ctx, dht.ImmutableSHA1, key); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("%v: the SHA-256 value read as SHA-1: %v", p, err)
		}
		name := []byte("status via " + fmt.Sprint(p))
		if _, err := c.PutSigned(ctx, priv, name, []byte("first"), time.Hour); err != nil {
			t.Fatalf("%v: put signed: %v", p, err)
		}
		r2, err := c.PutSigned(ctx, priv, name, []byte("second"), time.Hour)
		if err != nil || r2.Seq != 1 {
			t.Fatalf("%v: second put signed: seq %d %v", p, r2.Seq, err)
		}
		skey := client.SignedKey(priv.Public().(ed25519.PublicKey), name)
		if got, err := c.GetSigned(ctx, skey); err != nil || string(got.Value) != "second" || got.Seq != 1 {
			t.Fatalf("%v: get signed: %q seq %d %v", p, got.Value, got.Seq, err)
		}
		// SG-6: the first record again is refused with its reason.
		old := dht.Record{NameHash: dht.SHA1(name), Seq: 0, Expires: r2.Expires, Value: []byte("first")}
		old.Sign(priv)
		if err := c.PutRecord(ctx, old); err == nil {
			t.Fatalf("%v: a replayed old seq was accepted", p)
		}
		if _, err := c.RemoveSigned(ctx, priv, name, time.Hour); err != nil {
			t.Fatalf("%v: rm signed: %v", p, err)
		}
		if got, err := c.GetSigned(ctx, skey); err != nil || !got.Removed || got.Seq != 2 {
			t.Fatalf("%v: get after rm signed: %+v %v", p, got, err)
		}
	}

	// The XML-RPC methods of section 18, called directly.
	rpc := func(method string, params ...xmlrpc.Value) (*xmlrpc.MethodResponse, error) {
		body := xmlrpc.EncodeMethodCall(&xmlrpc.MethodCall{Method: method, Params: params})
		resp, err := http.Post("http://"+xmlAddrs[0]+"/RPC2", "text/xml", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return xmlrpc.ParseMethodResponse(b)
	}
	mr, err := rpc("put_immutable", xmlrpc.Base64Value([]byte("direct")), xmlrpc.StringValue("SHA1"), xmlrpc.IntValue(600), xmlrpc.StringValue("test"))
	if err != nil || mr.Fault != nil {
		t.Fatalf("put_immutable: %v %+v", err, mr)
	}
	k := dht.ImmutableKey(dht.ImmutableSHA1, []byte("direct"))
	mr, err = rpc("get_immutable", xmlrpc.Base64Value(k[:]), xmlrpc.StringValue("SHA1"), xmlrpc.StringValue("test"))
	if err != nil || mr.Fault != nil || len(mr.Params[0].Array) != 1 || string(mr.Params[0].Array[0].Bytes) != "direct" {
		t.Fatalf("get_immutable: %v %+v", err, mr)
	}
	pub := priv.Public().(ed25519.PublicKey)
	rec := dht.Record{NameHash: dht.SHA1([]byte("xml")), Seq: 5, Expires: dht.Time(time.Now().Unix() + 600), Value: []byte("signed over xml-rpc")}
	rec.Sign(priv)
	signedArgs := func(r dht.Record) []xmlrpc.Value {
		return []xmlrpc.Value{xmlrpc.Base64Value(pub), xmlrpc.Base64Value([]byte("xml")), xmlrpc.Base64Value(r.Value),
			xmlrpc.IntValue(int64(r.Seq)), xmlrpc.IntValue(int64(r.Expires)), xmlrpc.Base64Value(r.Signature), xmlrpc.StringValue("test")}
	}
	if mr, err = rpc("put_signed", signedArgs(rec)...); err != nil || mr.Fault != nil || mr.Params[0].Int != 0 {
		t.Fatalf("put_signed: %v %+v", err, mr)
	}
	forged := rec
	forged.Value = []byte("forged")
	if mr, err = rpc("put_signed", signedArgs(forged)...); err != nil || mr.Fault == nil || mr.Fault.String != dht.ErrRecordSignature.Error() {
		t.Fatalf("forged put_signed: %v %+v", err, mr)
	}
	sk := rec.Key()
	if mr, err = rpc("get_signed", xmlrpc.Base64Value(sk[:]), xmlrpc.StringValue("test")); err != nil || mr.Fault != nil {
		t.Fatalf("get_signed: %v %+v", err, mr)
	}

	// The HTTP endpoints of section 18.
	api := "http://" + xmlAddrs[1] + "/api/v1"
	var ip struct {
		Status int    `json:"status"`
		Key    string `json:"key"`
	}
	if code := apiCall(t, "POST", api+"/immutable?hash=SHA256", `{"value":"`+base64.StdEncoding.EncodeToString([]byte("over http"))+`","ttl":600}`, &ip); code != 200 {
		t.Fatalf("POST immutable: %d", code)
	}
	var ig struct{ Value string }
	if code := apiCall(t, "GET", api+"/immutable/"+ip.Key+"?hash=SHA256", "", &ig); code != 200 || ig.Value != base64.StdEncoding.EncodeToString([]byte("over http")) {
		t.Fatalf("GET immutable: %d %+v", code, ig)
	}
	var sr struct {
		Found bool   `json:"found"`
		Value string `json:"value"`
		Seq   string `json:"seq"`
	}
	if code := apiCall(t, "GET", api+"/signed/"+sk.String(), "", &sr); code != 200 || !sr.Found || sr.Seq != "5" {
		t.Fatalf("GET signed: %d %+v", code, sr)
	}
	body, _ := json.Marshal(map[string]any{"public_key": pub, "name": []byte("xml"), "value": []byte("forged"), "seq": 6,
		"expires": rec.Expires, "signature": rec.Signature})
	var e struct{ Error string }
	if code := apiCall(t, "POST", api+"/signed/"+sk.String(), string(body), &e); code != 400 || e.Error != dht.ErrRecordSignature.Error() {
		t.Fatalf("forged POST signed: %d %+v", code, e)
	}

	// Every node counts what it refused; the gateways refused the forged
	// records before they travelled, the roots the stale ones (SG-9).
	var refused [len(dht.Refusals)]int
	for _, s := range servers {
		_ = s.Close()
	}
	for _, s := range servers {
		for i, n := range s.Node().Stats().Refused {
			refused[i] += n
		}
	}
	if sig, stale := refused[dht.RefusalIndex(dht.ErrRecordSignature)], refused[dht.RefusalIndex(dht.ErrRecordStale)]; sig < 2 || stale < 3 {
		t.Fatalf("refusals counted: forged signature %d (want >= 2), stale %d (want >= 3): %v", sig, stale, refused)
	}
	t.Logf("refusals by reason: %v", refused)
}
