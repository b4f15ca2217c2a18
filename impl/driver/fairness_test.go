package driver_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/driver"
	"github.com/opendht-go/opendht/impl/gateway"
	"github.com/opendht-go/opendht/impl/gateway/httpapi"
	"github.com/opendht-go/opendht/impl/porttest"
)

// The fairness scenario. A small store that the flooder fills within a
// second or two; values that expire within seconds, so that space is
// freed, and shared out again by admission, every second of the run.
const (
	fairCapacity = 32 << 10 // C: 64 items of fairValueLen
	fairValueLen = 448      // b = 448 + 64 = 512 bytes charged per item (FST-1)
	fairTTL      = 4        // seconds, every put of the polite client
	// The flooder's TTLs cycle through 2..6 s (mean 4). With one TTL, the
	// items the flood stores in one burst all expire in one later second,
	// and space comes free in lumps every few seconds: the polite client
	// would wait for a lump, a matter of the scenario, not of fairness.
	floodMinTTL, floodTTLs = 2, 5
	// T: r_min = C/T = 8 items a second, more than the polite client asks,
	// so the commitment curve keeps admission going every second (FST-3)
	// even where expiry leaves a gap.
	fairMaxTTL = 8
	// Q (FST-6): more than the polite client can queue in W seconds, so a
	// stalled node makes it wait, not refuses it; the flooder overflows it.
	fairQueue = 32
	// W (FST-8). The store counts whole seconds, so a write waits between
	// W-1 and W seconds: 3 gives every write at least two seconds' expiries
	// at a node, and stays below the gateway's 5 s request timeout.
	fairQueueWait = 3
	floodConns    = 96 // the flooder's concurrent connections: three queues' worth
	politeRate    = 5  // the polite client's puts per second
	flooderIP     = "127.0.0.2"
	politeIP      = "127.0.0.3"
)

// fairCharge is b for one put of the scenario.
const fairCharge = fairValueLen + dht.ItemOverhead

// politeDemand is the storage the polite client holds when all its puts
// are served: politeRate puts a second, each live fairTTL seconds.
const politeDemand = politeRate * fairTTL * fairCharge

// fairSlack is what the flooder may hold beyond its max-min share. Expiry
// and admission run by the second, and a polite put waits up to about a
// second at each node for space, so the polite client's holding lags its
// demand by up to about two seconds of its puts; plus one item in flight.
const fairSlack = 2*politeRate*fairCharge + fairCharge

// slackFor is fairSlack where one of the flood's items is charged
// itemCharge instead of fairCharge: a large value's blocks are charged
// more than the polite client's small items (LV-8), and the item in
// flight is the flooder's.
func slackFor(itemCharge int64) int64 { return fairSlack - fairCharge + itemCharge }

// fairWarmup is how long the polite client needs to build its holding:
// one TTL, plus a second for admission.
const fairWarmup = (fairTTL + 1) * time.Second

// usageSample is one reading of a node's per-client charges (FST-10).
type usageSample struct {
	node          int
	at            time.Duration // since the polite client started
	flood, polite int64
	total         int64
}

// fairRun is what one run of the scenario measured.
type fairRun struct {
	politeSent, politeOK int
	politeCodes          map[int]int
	floodSent, floodOK   int64
	floodCodes           map[int]int
	samples              []usageSample
}

// fairnessProblems is the checker: it returns why a run is not fair per
// client, or nothing. With two clients on a node of capacity C, max-min
// fairness (FST-9) gives the polite client all it asks, min(demand, C/2),
// and the flooder the rest. So: the polite client's puts are (nearly) all
// accepted, and at every node, once the polite client has had time to
// build its holding, the flooder holds no more than C - min(demand, C/2)
// plus fairSlack. The store must also have been full at some point, or
// the run measured no contention at all.
func fairnessProblems(r fairRun) []string { return fairnessProblemsWith(r, fairSlack) }

// fairnessProblemsWith is fairnessProblems with the flooder's slack given.
func fairnessProblemsWith(r fairRun, slack int64) []string {
	var out []string
	if r.politeSent == 0 {
		return []string{"the polite client sent nothing"}
	}
	if failed := r.politeSent - r.politeOK; failed*10 > r.politeSent { // more than 10%
		out = append(out, fmt.Sprintf("the polite client was refused %d of %d puts (HTTP codes %v)", failed, r.politeSent, r.politeCodes))
	}
	share := int64(fairCapacity) - min(int64(politeDemand), fairCapacity/2)
	var full bool
	var worst *usageSample
	for i, s := range r.samples {
		if s.total >= fairCapacity-2*fairCharge {
			full = true
		}
		if s.at < fairWarmup {
			continue
		}
		if s.flood > share+slack && (worst == nil || s.flood > worst.flood) {
			worst = &r.samples[i]
		}
	}
	if worst != nil {
		out = append(out, fmt.Sprintf("node %d at %v: the flooder holds %d bytes, more than its max-min share %d + slack %d (the polite client holds %d)",
			worst.node, worst.at.Round(time.Millisecond), worst.flood, share, slack, worst.polite))
	}
	if !full {
		out = append(out, "no node was ever full: the flood did not contend for storage, the run checks nothing")
	}
	return out
}

// clientFrom returns an HTTP client whose connections come from ip, so
// that the gateway sees a distinct client (every 127.x.y.z is local on
// Linux).
func clientFrom(ip string, conns int) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{
		Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns},
		Timeout:   30 * time.Second,
	}
}

// putJSON stores value under key through the JSON API at base and returns
// the HTTP status (0 when there was no answer).
func putJSON(ctx context.Context, c *http.Client, base string, key dht.Key, value []byte, ttl int) int {
	body := fmt.Sprintf(`{"value":%q,"ttl":%d}`, base64.StdEncoding.EncodeToString(value), ttl)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"keys/"+hex.EncodeToString(key[:]), strings.NewReader(body))
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

// fairValue is a distinct value for each run, client and put: a put of an
// identical item would only extend it (PUT-4) and be charged nothing new.
func fairValue(run string, client byte, n uint64) []byte {
	v := make([]byte, fairValueLen)
	v[0] = client
	binary.BigEndian.PutUint64(v[1:], n)
	copy(v[9:], run)
	return v
}

// startFairRing starts three nodes with the scenario's small stores; every
// node is in every key's replica set. Node 0 runs the gateways. The test
// is skipped with -short, and where the clients' loopback addresses
// (flooderIP, politeIP) cannot be bound.
func startFairRing(t *testing.T) []*driver.Server {
	t.Helper()
	if testing.Short() {
		t.Skip("real sockets and seconds of load")
	}
	for _, ip := range []string{flooderIP, politeIP} {
		ln, err := net.Listen("tcp", ip+":0")
		if err != nil {
			t.Skipf("cannot use loopback address %s as a client: %v", ip, err)
		}
		ln.Close()
	}
	servers := startNodes(t, 3, func(i int, cfg *driver.ServerConfig) {
		sc := &cfg.Store
		sc.Capacity, sc.MaxTTL, sc.QueueLimit, sc.QueueTimeout = fairCapacity, fairMaxTTL, fairQueue, fairQueueWait
		sc.NoSync = true // this test is about admission, not durability; fsyncs would only slow the flood
		if i == 0 {
			cfg.XMLRPC = fmt.Sprintf("127.0.0.1:%d", porttest.TCP(t))
		}
	})
	waitForRing(t, servers, 20*time.Second)
	return servers
}

// runFairness floods the store through the gateway at base from
// flooderIP, then adds the polite client from politeIP for politeFor, and
// samples every node's charges meanwhile.
// floodFunc is one write of the flooder, its n-th: it returns the HTTP
// status (0 when there was no answer).
type floodFunc func(ctx context.Context, c *http.Client, base, name string, n uint64) int

// floodSmall is the flooder of small values: one JSON put each.
func floodSmall(ctx context.Context, c *http.Client, base, name string, n uint64) int {
	return putJSON(ctx, c, base, dht.Key(dht.SHA1(fmt.Appendf(nil, "%s flood %d", name, n))), fairValue(name, 'f', n), floodMinTTL+int(n%floodTTLs))
}

func runFairness(t *testing.T, name string, servers []*driver.Server, base string, politeFor time.Duration) fairRun {
	return runFairnessWith(t, name, servers, base, politeFor, floodSmall)
}

func runFairnessWith(t *testing.T, name string, servers []*driver.Server, base string, politeFor time.Duration, flood floodFunc) fairRun {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	flooder, polite := clientFrom(flooderIP, floodConns), clientFrom(politeIP, 64)
	defer flooder.CloseIdleConnections()
	defer polite.CloseIdleConnections()

	var mu sync.Mutex
	run := fairRun{politeCodes: map[int]int{}, floodCodes: map[int]int{}}
	var floodSeq atomic.Uint64
	var floodWG sync.WaitGroup
	for range floodConns {
		floodWG.Add(1)
		go func() {
			defer floodWG.Done()
			for ctx.Err() == nil {
				n := floodSeq.Add(1)
				code := flood(ctx, flooder, base, name, n)
				if ctx.Err() != nil {
					return // cut off at the end of the run: no outcome
				}
				mu.Lock()
				run.floodSent++
				run.floodCodes[code]++
				if code == http.StatusOK {
					run.floodOK++
				}
				mu.Unlock()
			}
		}()
	}
	// Let the flood fill the store before the polite client starts, so that
	// every one of its puts meets a full node.
	// (A precondition, not a speed check: a loaded machine may take a while.)
	for deadline := time.Now().Add(30 * time.Second); servers[0].Store().Committed() < fairCapacity-2*fairCharge; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			stop()
			floodWG.Wait()
			t.Fatalf("%s: the flood did not fill node 0 in 30 s: %d of %d bytes", name, servers[0].Store().Committed(), fairCapacity)
		}
	}

	start := time.Now()
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for at := time.Duration(0); at < politeFor; at = time.Since(start) {
			for i, s := range servers {
				u := s.Store().Usage()
				run.samples = append(run.samples, usageSample{node: i, at: at, flood: u[flooderIP], polite: u[politeIP], total: s.Store().Committed()})
			}
			<-tick.C
		}
	}()
	var politeWG sync.WaitGroup
	tick := time.NewTicker(time.Second / politeRate)
	for n := uint64(0); time.Since(start) < politeFor; n++ {
		politeWG.Add(1)
		go func() { // at a fixed rate, whatever the latency
			defer politeWG.Done()
			// A client takes "try again" (503, status 2) at its word, as
			// every client of the API does: a transient outcome on a loaded
			// machine (a copy that timed out) is not a refusal, which is
			// 507 (status 1, FST-3) and what this test is about.
			key := dht.Key(dht.SHA1(fmt.Appendf(nil, "%s polite %d", name, n)))
			code := 0
			for attempt := 0; attempt < 4; attempt++ {
				if code = putJSON(context.Background(), polite, base, key, fairValue(name, 'p', n), fairTTL); code != http.StatusServiceUnavailable && code != 0 {
					break
				}
				time.Sleep(time.Second) // the Retry-After of a try-again
			}
			mu.Lock()
			run.politeSent++
			run.politeCodes[code]++
			if code == http.StatusOK {
				run.politeOK++
			}
			mu.Unlock()
		}()
		<-tick.C
	}
	tick.Stop()
	politeWG.Wait()
	<-sampled
	stop()
	floodWG.Wait()
	return run
}

// logRun prints the measured figures.
func logRun(t *testing.T, name string, r fairRun) {
	t.Helper()
	t.Logf("%s: polite %d/%d accepted %v; flood %d/%d accepted %v", name, r.politeOK, r.politeSent, r.politeCodes, r.floodOK, r.floodSent, r.floodCodes)
	for node := range 3 {
		var maxFlood, minFlood, maxPolite, minPolite, sumFlood, sumPolite, n int64
		minFlood, minPolite = fairCapacity, fairCapacity
		for _, s := range r.samples {
			if s.node != node || s.at < fairWarmup {
				continue
			}
			maxFlood, minFlood = max(maxFlood, s.flood), min(minFlood, s.flood)
			maxPolite, minPolite = max(maxPolite, s.polite), min(minPolite, s.polite)
			sumFlood, sumPolite, n = sumFlood+s.flood, sumPolite+s.polite, n+1
		}
		if n > 0 {
			t.Logf("%s: node %d after %v (%d samples): flooder holds %d..%d bytes (mean %d), polite %d..%d (mean %d); capacity %d, polite demand %d, flooder's share %d + slack %d",
				name, node, fairWarmup, n, minFlood, maxFlood, sumFlood/n, minPolite, maxPolite, sumPolite/n,
				fairCapacity, politeDemand, fairCapacity-min(politeDemand, fairCapacity/2), fairSlack)
		}
	}
}

// chargeAll is a gateway.Backend that charges every write to one client,
// as a gateway that lost track of who its clients are would.
type chargeAll struct {
	gateway.Backend
	client dht.ClientID
}

func (c chargeAll) Put(ctx context.Context, p dht.Put) (dht.Status, error) {
	p.Client = c.client
	return c.Backend.Put(ctx, p)
}

// TestFairnessPerClientThroughGateway: the gateway identifies a client by
// the IP address of its connection and carries that identity to every
// replica, where Fair Space-Time admission shares storage per client
// (FST-5, FST-9, and RD-10 for the replicated DHT). A flooder on 48 connections and a polite client at 5
// puts a second share a three-node DHT through node 0's HTTP/JSON API:
// the polite client must be served and the flooder must hold no more
// than its max-min share at any node. The negative control charges every
// write to one client, and the checker must see the polite client starve.
func TestFairnessPerClientThroughGateway(t *testing.T) {
	servers := startFairRing(t)

	fair := runFairness(t, "per client", servers, "http://"+servers[0].XMLRPCAddr()+httpapi.Prefix, 7*time.Second)
	logRun(t, "per client", fair)
	if problems := fairnessProblems(fair); len(problems) > 0 {
		t.Errorf("storage is not shared fairly per client:\n  %s", strings.Join(problems, "\n  "))
	}

	// Negative control: the same load through a gateway that charges
	// every write to the flooder's address.
	unfair := httptest.NewServer(httpapi.New(chargeAll{servers[0], flooderIP}, httpapi.DefaultConfig()))
	defer unfair.Close()
	starved := runFairness(t, "one client", servers, unfair.URL+httpapi.Prefix, 2*time.Second)
	logRun(t, "one client", starved)
	problems := fairnessProblems(starved)
	t.Logf("negative control: the checker reports %q", problems)
	if len(problems) == 0 || !strings.Contains(strings.Join(problems, " "), "polite client was refused") {
		t.Errorf("charging every write to one client went unnoticed: %v", problems)
	}
}

// TestFairnessCheckerCatches is the checker's negative control on made-up
// runs: each kind of unfairness is reported, and a fair run is not.
func TestFairnessCheckerCatches(t *testing.T) {
	share := int64(fairCapacity - politeDemand)
	steady := func(flood, polite int64) []usageSample {
		var out []usageSample
		for at := time.Duration(0); at < fairWarmup+2*time.Second; at += 500 * time.Millisecond {
			for node := range 3 {
				out = append(out, usageSample{node: node, at: at, flood: flood, polite: polite, total: flood + polite})
			}
		}
		return out
	}
	fair := fairRun{politeSent: 35, politeOK: 35, samples: steady(share, politeDemand)}
	if p := fairnessProblems(fair); len(p) != 0 {
		t.Fatalf("a fair run is reported: %v", p)
	}
	for _, tc := range []struct {
		name string
		run  fairRun
		want string
	}{
		{"polite refused", fairRun{politeSent: 35, politeOK: 30, samples: fair.samples}, "polite client was refused 5 of 35"},
		{"flooder takes the polite share", fairRun{politeSent: 35, politeOK: 35, samples: steady(fairCapacity-2*fairCharge, 2*fairCharge)}, "more than its max-min share"},
		{"no contention", fairRun{politeSent: 35, politeOK: 35, samples: steady(share/2, politeDemand)}, "no node was ever full"},
		{"nothing sent", fairRun{}, "sent nothing"},
	} {
		if p := strings.Join(fairnessProblems(tc.run), "; "); !strings.Contains(p, tc.want) {
			t.Errorf("%s: the checker reports %q, want %q", tc.name, p, tc.want)
		}
	}
}
