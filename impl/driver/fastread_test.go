package driver_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/client"
	"github.com/opendht-go/opendht/impl/driver"
	"github.com/opendht-go/opendht/impl/gateway/xmlrpc"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/porttest"
)

// TestFastReadsEndToEnd: a five-node DHT over loopback UDP, every node a
// gateway. A fast get (spec RD-14) through each path a client has, the Go
// client over XML-RPC (get_details_fast) and over HTTP (?read=fast), raw
// XML-RPC get_fast and HTTP read=fast, returns the values a default get
// returns once the puts settled, is executed by the node as a fast read
// (its FastGets count), and pages: every value once. A default get stays
// a quorum read (the count does not move).
func TestFastReadsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets and seconds of settling")
	}
	xmlAddrs := make([]string, 5)
	servers := startNodes(t, 5, func(i int, cfg *driver.ServerConfig) {
		xmlAddrs[i] = fmt.Sprintf("127.0.0.1:%d", porttest.TCP(t))
		cfg.XMLRPC = xmlAddrs[i]
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fastGets := func() int {
		total := 0
		for _, s := range servers {
			if err := s.Inspect(ctx, func(n *node.Node) { total += n.Stats().FastGets }); err != nil {
				t.Fatal(err)
			}
		}
		return total
	}
	clients := map[client.Protocol]*client.Client{}
	for _, p := range []client.Protocol{client.XMLRPC, client.HTTP} {
		cfg := client.DefaultConfig(xmlAddrs...)
		cfg.Protocol, cfg.PageSize = p, 2
		c, err := client.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients[p] = c
	}
	key := client.TextKey("fast reads end to end")
	var want []string
	for i := range 5 {
		v := fmt.Sprintf("value %d", i)
		deadline := time.Now().Add(20 * time.Second)
		for {
			err := clients[client.XMLRPC].Put(ctx, key, []byte(v), time.Hour)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("put never succeeded: %v", err)
			}
			time.Sleep(200 * time.Millisecond) // the ring is still forming
		}
		want = append(want, v)
	}
	time.Sleep(3 * time.Second) // every member holds every value: a fast get reads one of them
	text := func(vs []client.Value) string {
		var out []string
		for _, v := range vs {
			out = append(out, string(v.Data))
		}
		slices.Sort(out) // item order is by hash: compare as sets, repeats kept
		return strings.Join(out, ",")
	}
	for p, c := range clients {
		before := fastGets()
		got, err := c.Get(ctx, key, client.FastRead())
		if err != nil || text(got) != strings.Join(want, ",") {
			t.Fatalf("%s: fast get: %q %v, want %q", p, text(got), err, want)
		}
		if n := fastGets() - before; n != 3 { // five values, two a page
			t.Fatalf("%s: the nodes executed %d fast gets for three pages", p, n)
		}
		before = fastGets()
		if got, err := c.Get(ctx, key); err != nil || text(got) != strings.Join(want, ",") {
			t.Fatalf("%s: default get: %q %v", p, text(got), err)
		}
		if n := fastGets() - before; n != 0 {
			t.Fatalf("%s: a default get ran %d fast reads", p, n)
		}
	}
	// Raw XML-RPC get_fast and HTTP ?read=fast, as other clients send them.
	before := fastGets()
	body := xmlrpc.EncodeMethodCall(&xmlrpc.MethodCall{Method: "get_fast", Params: []xmlrpc.Value{
		xmlrpc.Base64Value(key[:]), xmlrpc.IntValue(10), xmlrpc.Base64Value(nil), xmlrpc.StringValue("test")}})
	resp, err := http.Post("http://"+xmlAddrs[3]+"/RPC2", "text/xml", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	mr, err := xmlrpc.ParseMethodResponse(b)
	if err != nil || mr.Fault != nil || len(mr.Params) != 1 || len(mr.Params[0].Array) != 2 || len(mr.Params[0].Array[0].Array) != len(want) {
		t.Fatalf("xml-rpc get_fast: %v %s", err, b)
	}
	var gr struct {
		Values []struct {
			Value string `json:"value"`
		} `json:"values"`
	}
	if code := apiCall(t, "GET", "http://"+xmlAddrs[4]+"/api/v1/keys/"+key.String()+"?read=fast", "", &gr); code != 200 || len(gr.Values) != len(want) {
		t.Fatalf("http read=fast: %d %+v", code, gr)
	}
	if v, _ := base64.StdEncoding.DecodeString(gr.Values[0].Value); !slices.Contains(want, string(v)) {
		t.Fatalf("http read=fast: a value %q never put", v)
	}
	if n := fastGets() - before; n != 2 {
		t.Fatalf("get_fast and read=fast ran %d fast gets, want 2", n)
	}
}
