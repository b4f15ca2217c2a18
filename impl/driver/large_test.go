package driver_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/client"
	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/driver"
	"github.com/opendht-go/opendht/impl/gateway/httpapi"
	"github.com/opendht-go/opendht/impl/largevalue"
	"github.com/opendht-go/opendht/impl/porttest"
)

// startRing starts n nodes with default stores, each with its gateways,
// and waits until every leaf set is whole.
func startRing(t *testing.T, n int) []*driver.Server {
	t.Helper()
	servers := startNodes(t, n, func(_ int, cfg *driver.ServerConfig) {
		cfg.Store.NoSync = true // the test is about large values, not durability
		cfg.XMLRPC = fmt.Sprintf("127.0.0.1:%d", porttest.TCP(t))
	})
	waitForRing(t, servers, 20*time.Second)
	return servers
}

func randomValue(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 3))
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b
}

// chunked hides a reader's length, so that the body goes chunked.
type chunked struct{ io.Reader }

// TestLargeValuesEndToEnd: on a ring of four real nodes over UDP, a large
// value streamed into one node's HTTP API reads back whole from another
// node's, and through the Go client over XML-RPC; a value the client
// writes over XML-RPC reads through the HTTP API. Every block is stored
// at W+1 replicas and charged to the writing client (spec/SPEC.md section
// 17: LV-1..LV-4, LV-8).
func TestLargeValuesEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets")
	}
	servers := startRing(t, 4)
	api := func(i int) string { return "http://" + servers[i].XMLRPCAddr() + httpapi.Prefix + "large/" }
	ctx := context.Background()

	data := randomValue(1<<20+5, 1)
	name := client.TextKey("e2e large")
	req, _ := http.NewRequest(http.MethodPut, api(0)+name.String()+"?ttl=600", chunked{bytes.NewReader(data)})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %s %s", resp.Status, body)
	}
	resp, err = http.Get(api(2) + name.String())
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("GET at another node: %s, %d bytes, %v", resp.Status, len(got), err)
	}

	c, err := client.New(client.DefaultConfig(servers[1].XMLRPCAddr(), servers[3].XMLRPCAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var buf bytes.Buffer
	if _, err := c.GetLarge(ctx, name, &buf); err != nil || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("the client read %d bytes of the HTTP API's value: %v", buf.Len(), err)
	}
	small := randomValue(200*1024, 2)
	info, err := c.PutLargeRemovable(ctx, client.TextKey("e2e client"), bytes.NewReader(small), []byte("pw"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(api(2) + client.TextKey("e2e client").String())
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, small) || resp.Header.Get(httpapi.VersionHeader) != info.Version.String() {
		t.Fatalf("the HTTP API read %d bytes of the client's value (%s)", len(got), resp.Status)
	}

	// LV-8: each block is charged to the client at every replica that
	// acknowledged it, at least W+1 = 3 of the 4.
	var charged int64
	for _, s := range servers {
		charged += s.Store().Usage()["127.0.0.1"]
	}
	blocks := int64(len(data)+1023)/1024 + int64(len(small)+1023)/1024
	if least := 3 * (int64(len(data)+len(small)) + blocks*dht.ItemOverhead); charged < least {
		t.Errorf("the client is charged %d bytes over the ring, less than W+1 copies of its blocks (%d)", charged, least)
	}
	if err := c.RemoveLarge(ctx, client.TextKey("e2e client"), []byte("pw")); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(api(0) + client.TextKey("e2e client").String()); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET after remove: %v %v", resp.Status, err)
	}
}

// floodLarge is a flooder of large values: 8 KiB each (eight blocks and
// a root) through /api/v1/large/, all charged to its address (LV-8).
func floodLarge(ctx context.Context, c *http.Client, base, name string, n uint64) int {
	key := dht.Key(dht.SHA1(fmt.Appendf(nil, "%s large flood %d", name, n)))
	// The root lives ttl - 2 s (LV-6): ttls of 4..8 s.
	ttl := min(floodMinTTL+2+int(n%floodTTLs), fairMaxTTL)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, fmt.Sprintf("%slarge/%s?ttl=%d", base, key, ttl), bytes.NewReader(randomValue(8<<10, n)))
	if err != nil {
		panic(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestFairnessWithLargeValues: a client that floods large values is
// charged the sum of their blocks at every replica, so Fair Space-Time
// still holds it to its max-min share and a polite client of small values
// is served (LV-8, FST-9, RD-10). The fairness checker's own negative
// control is TestFairnessPerClientThroughGateway's.
func TestFairnessWithLargeValues(t *testing.T) {
	servers := startFairRing(t)
	run := runFairnessWith(t, "large flood", servers, "http://"+servers[0].XMLRPCAddr()+httpapi.Prefix, 7*time.Second, floodLarge)
	logRun(t, "large flood", run)
	if run.floodOK == 0 {
		t.Logf("no large value of the flood was stored whole: its blocks still filled the nodes")
	}
	if problems := fairnessProblemsWith(run, slackFor(largevalue.BlockSize+dht.ItemOverhead)); len(problems) > 0 {
		t.Errorf("storage is not shared fairly when one client writes large values:\n  %s", strings.Join(problems, "\n  "))
	}
}
