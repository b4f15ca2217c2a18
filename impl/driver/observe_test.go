package driver_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/driver"
	"github.com/opendht-go/opendht/impl/gateway/httpapi"
	"github.com/opendht-go/opendht/impl/gateway/sunrpc"
	"github.com/opendht-go/opendht/impl/metrics"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/porttest"
	"github.com/opendht-go/opendht/impl/store"
)

// startObserved starts n nodes on loopback with metrics, the status page
// and an HTTP gateway each; node 0 starts the ring.
func startObserved(t *testing.T, n int) []*driver.Server {
	t.Helper()
	return startNodes(t, n, func(_ int, cfg *driver.ServerConfig) {
		cfg.XMLRPC = fmt.Sprintf("127.0.0.1:%d", porttest.TCP(t))
		cfg.Metrics, cfg.StatusPage = metrics.New(), true
	})
}

// putUntilOK puts through s until the ring has formed and the put is
// acknowledged.
func putUntilOK(t *testing.T, s *driver.Server, key dht.Key, value string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		st, err := s.Put(ctx, dht.Put{Client: "127.0.0.1", Key: key, Value: []byte(value), TTL: 600})
		cancel()
		if err == nil && st == dht.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("put never succeeded: %v %v", st, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func httpGet(t *testing.T, url string) (int, string, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// waitJoined waits until every server reports a full leaf set of the
// others.
func waitJoined(t *testing.T, servers []*driver.Server) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, s := range servers {
		for {
			st, _ := s.APIStatus(context.Background())
			if st.Joined && st.LeafSetPeers == len(servers)-1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %s: leaf set never filled: %+v", s.Self(), st)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// TestMetricsAndStatusPageOnTheGateway: every node serves its metrics at
// /metrics and its status page at / on the HTTP gateway's port, and
// /api/v1/ answers the API's index (JOIN-5: joined is visible).
func TestMetricsAndStatusPageOnTheGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets and seconds of settling")
	}
	servers := startObserved(t, 3)
	waitJoined(t, servers)
	for i := range 5 {
		putUntilOK(t, servers[1], dht.Key{byte(i), 1}, "v")
	}
	ctx := context.Background()
	if _, err := servers[1].Get(ctx, dht.Get{Key: dht.Key{0, 1}, MaxVals: 10}); err != nil {
		t.Fatal(err)
	}
	base := "http://" + servers[1].XMLRPCAddr()
	// The loop publishes its counts every 100 ms.
	time.Sleep(300 * time.Millisecond)
	code, ctype, body := httpGet(t, base+"/metrics")
	if code != 200 || !strings.HasPrefix(ctype, "text/plain") {
		t.Fatalf("/metrics: %d %s", code, ctype)
	}
	for _, want := range []string{
		`opendht_calls_total{method="put",status="ok"} 5`,
		`opendht_calls_total{method="get",status="ok"} 1`,
		`opendht_call_duration_seconds_count{method="put"} 5`,
		"opendht_joined 1",
		"opendht_leaf_set_peers 2",
		`opendht_build_info{goversion="go`,
		`opendht_datagrams_dropped_total{reason="queue_full"} 0`,
		`opendht_datagrams_dropped_total{reason="unsolicited"} `,
		`opendht_messages_total{direction="in",type="pong"} `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, name := range []string{`opendht_datagrams_total{direction="in"}`, `opendht_datagrams_total{direction="out"}`, "opendht_messages_sent_total", "opendht_fsync_duration_seconds_count", "opendht_routing_table_peers"} {
		if v := metricValue(body, name); v <= 0 {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}
	if msgs, out := metricValue(body, "opendht_messages_sent_total"), metricValue(body, `opendht_datagrams_total{direction="out"}`); msgs < out {
		t.Errorf("%v messages sent in %v datagrams: a datagram carries at least one", msgs, out)
	}
	// The root of a key stores for the client: some node holds bytes
	// charged to 127.0.0.1.
	held := 0.0
	for _, s := range servers {
		_, _, b := httpGet(t, "http://"+s.XMLRPCAddr()+"/metrics")
		held += metricValue(b, `opendht_store_client_bytes{client="127.0.0.1"}`)
	}
	if held <= 0 {
		t.Errorf("no node reports bytes stored for client 127.0.0.1")
	}

	code, ctype, page := httpGet(t, base+"/")
	if code != 200 || !strings.HasPrefix(ctype, "text/html") {
		t.Fatalf("GET /: %d %s", code, ctype)
	}
	for _, s := range []*driver.Server{servers[0], servers[2]} {
		if !strings.Contains(page, s.Self().Addr.String()) {
			t.Errorf("the status page does not list leaf set peer %s", s.Self().Addr)
		}
	}
	for _, want := range []string{"joined", "put calls", "Routing table"} {
		if !strings.Contains(page, want) {
			t.Errorf("the status page lacks %q", want)
		}
	}
	code, _, idx := httpGet(t, base+httpapi.Prefix)
	var ix httpapi.IndexReply
	if code != 200 || json.Unmarshal([]byte(idx), &ix) != nil || ix.Version != httpapi.Version {
		t.Fatalf("GET %s: %d %s", httpapi.Prefix, code, idx)
	}
	if code, _, body := httpGet(t, base+"/nothing"); code != 404 || !strings.Contains(body, "status page is at /") {
		t.Fatalf("GET /nothing: %d %q", code, body)
	}
}

// metricValue returns the value of the sample whose line starts with
// name (with its labels), or -1.
func metricValue(body, name string) float64 {
	for line := range strings.Lines(body) {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			var v float64
			if _, err := fmt.Sscan(rest, &v); err == nil {
				return v
			}
		}
	}
	return -1
}

// TestShutdownDrainsTheHTTPGateway: a call in progress when Shutdown
// starts (its body half sent) is answered; new connections are refused;
// the store is closed afterwards.
func TestShutdownDrainsTheHTTPGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets")
	}
	s := startObserved(t, 1)[0]
	addr := s.XMLRPCAddr()
	body := `<?xml version="1.0"?><methodCall><methodName>put</methodName><params>` +
		`<param><value><base64>AAAAAAAAAAAAAAAAAAAAAAAAAAA=</base64></value></param>` +
		`<param><value><base64>dmFsdWU=</base64></value></param>` +
		`<param><value><int>600</int></value></param><param><value><string>t</string></value></param></params></methodCall>`
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	half := len(body) / 2
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:half])
	done := make(chan error, 1)
	// Give the server the request's headers before it starts to shut down:
	// a connection that has sent nothing yet counts as idle.
	time.Sleep(100 * time.Millisecond)
	go func() { done <- s.Shutdown(context.Background()) }()
	for {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			break // the listener is closed: shutdown has begun
		}
		nc.Close()
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) with a call in progress", err)
	default:
	}
	if _, err := io.WriteString(c, body[half:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("the call in progress got no answer: %v", err)
	}
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(answer), "<int>0</int>") {
		t.Fatalf("the call in progress: %d %s", resp.StatusCode, answer)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.Store().Tick(dht.Time(time.Now().Unix())); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("the store after Shutdown: %v, want closed", err)
	}
}

// A client of the wrong protocol for a port is told so at once: a Sun
// RPC client on the HTTP port reads "this port speaks HTTP" (not a record
// too large after the HTTP server's header timeout), and an HTTP client on
// the Sun RPC port gets a 400 that names the port's protocol.
func TestWrongProtocolIsNamed(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets")
	}
	cfg := driver.ServerConfig{Node: node.DefaultConfig(), Store: store.DefaultConfig(t.TempDir()),
		Listen: fmt.Sprintf("127.0.0.1:%d", porttest.UDP(t)),
		XMLRPC: fmt.Sprintf("127.0.0.1:%d", porttest.TCP(t)), SunRPC: fmt.Sprintf("127.0.0.1:%d", porttest.TCP(t))}
	s, err := driver.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := sunrpc.DialContext(ctx, cfg.XMLRPC)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Null(ctx)
	c.Close()
	if !errors.Is(err, sunrpc.ErrSpeaksHTTP) {
		t.Fatalf("Sun RPC on the HTTP port: %v, want %v", err, sunrpc.ErrSpeaksHTTP)
	}
	resp, err := http.Post("http://"+cfg.SunRPC+"/", "text/xml", strings.NewReader("<methodCall/>"))
	if err != nil {
		t.Fatalf("HTTP on the Sun RPC port: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "this port speaks Sun RPC") {
		t.Fatalf("HTTP on the Sun RPC port: %d %q", resp.StatusCode, body)
	}
	// The HTTP port still serves HTTP.
	if code, _, _ := httpGet(t, "http://"+cfg.XMLRPC+"/api/v1/status"); code != 200 {
		t.Fatalf("status after the sniffing: %d", code)
	}
}
