package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/client"
	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/driver"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/porttest"
	"github.com/opendht-go/opendht/impl/redir"
	"github.com/opendht-go/opendht/impl/store"
	"github.com/opendht-go/opendht/model"
)

// cluster starts n nodes over loopback UDP with XML-RPC gateways and
// returns an env whose client reaches all of them once the ring takes puts.
func cluster(t *testing.T, n int) env {
	t.Helper()
	if testing.Short() {
		t.Skip("a real cluster over loopback")
	}
	var boot []netip.AddrPort
	var gws []string
	for i := range n {
		cfg := driver.ServerConfig{Node: node.DefaultConfig(), Store: store.DefaultConfig(t.TempDir()), Bootstrap: boot,
			Listen: fmt.Sprintf("127.0.0.1:%d", porttest.UDP(t)), XMLRPC: fmt.Sprintf("127.0.0.1:%d", porttest.TCP(t))}
		s, err := driver.Start(context.Background(), cfg)
		if err != nil {
			t.Fatalf("start node %d: %v", i, err)
		}
		t.Cleanup(func() { _ = s.Close() })
		if i == 0 {
			boot = []netip.AddrPort{s.Self().Addr}
		}
		gws = append(gws, s.XMLRPCAddr())
	}
	c, err := client.New(client.DefaultConfig(gws...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for { // the ring is forming: wait until a put is taken
		if err := c.Put(ctx, client.TextKey("ready"), []byte("1"), time.Minute); err == nil {
			break
		} else if ctx.Err() != nil {
			t.Fatalf("the cluster never took a put: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cfg := redir.DefaultConfig()
	cfg.TTL = 30 * time.Second
	return env{client: c, cfg: cfg, ns: "test-" + t.Name(), duration: 3 * time.Second, seed: 14}
}

// TestRendezvousAcrossJoinAndLeave: a receiver's trigger sits at the server
// ReDiR names for its id, and a sender's packets reach it through that
// server (the successor of id among the servers, by the oracle); a server
// that joins just at id takes over, and when it leaves the first one is
// responsible again (RZ-8, RZ-10). Then a run with churn must deliver.
func TestRendezvousAcrossJoinAndLeave(t *testing.T) {
	e := cluster(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rng := rand.New(rand.NewPCG(1, 2))
	oracle := model.NewRedirOracle()
	var servers []*i3Server
	for range 3 {
		s, err := startI3Server(ctx, e, randomKey(rng), rng)
		if err != nil {
			t.Fatal(err)
		}
		defer s.leave(context.Background())
		servers = append(servers, s)
		oracle.Join(s.id, nil)
	}
	settleServers(t, ctx, servers)
	id := randomKey(rng)
	rc, err := newI3Receiver(e, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.conn.Close()
	sd, err := newI3Sender(e)
	if err != nil {
		t.Fatal(err)
	}
	defer sd.conn.Close()
	seq := uint64(0)
	phase := func(name string) {
		t.Helper()
		want, _ := oracle.Successor(id)
		at, err := rc.insertTrigger(ctx)
		if err != nil || at != want {
			t.Fatalf("%s: trigger inserted at %s (%v), oracle says %s", name, at, err, want)
		}
		for range 10 {
			seq++
			to, err := sd.send(ctx, id, seq)
			if err != nil || to != want {
				t.Fatalf("%s: packet %d sent to %s (%v), oracle says %s", name, seq, to, err, want)
			}
			srv := waitReceived(t, rc, seq)
			if srv != want {
				t.Fatalf("%s: packet %d forwarded by %s, oracle says %s", name, seq, srv, want)
			}
		}
	}
	phase("three servers")
	joiner, err := startI3Server(ctx, e, id, rng) // responsible for id from now on
	if err != nil {
		t.Fatal(err)
	}
	oracle.Join(joiner.id, nil)
	settleServers(t, ctx, append(servers, joiner))
	phase("after a join at id")
	if err := joiner.leave(ctx); err != nil {
		t.Fatal(err)
	}
	oracle.Leave(joiner.id)
	// The leave is an rm of the joiner's records: the DHT promises that no
	// get returns them only once the rm has settled (RD-8), and until then
	// a get may still merge a replica's copy (RD-7 promises presence, not
	// absence). A sender's lookup may name the departed server meanwhile;
	// wait until lookups agree with the oracle, within the settle time.
	want, _ := oracle.Successor(id)
	deadline := time.Now().Add(45 * time.Second)
	for agreed := 0; agreed < 5; { // five in a row: a get may ask other replicas each time
		res, err := sd.r.Lookup(ctx, sd.ns, id)
		if err == nil && res.ID == want {
			agreed++
			continue
		}
		agreed = 0
		if time.Now().After(deadline) {
			t.Fatalf("45 s after the leave, lookups of %x still name %x (%v), oracle says %x", id[:4], res.ID[:4], err, want[:4])
		}
		time.Sleep(200 * time.Millisecond)
	}
	phase("after it left")

	e.churn = 500 * time.Millisecond
	res, err := runRendezvous(ctx, e, rendezvousOpts{servers: 4, rate: 20})
	t.Log(res.Line())
	if err != nil || !res.OK() {
		t.Fatalf("rendezvous under churn: %v %s", err, res.Line())
	}
}

func settleServers(t *testing.T, ctx context.Context, ss []*i3Server) {
	t.Helper()
	var ms []*redir.Member
	for _, s := range ss {
		ms = append(ms, s.member)
	}
	if err := settle(ctx, ms); err != nil {
		t.Fatal(err)
	}
}

func waitReceived(t *testing.T, rc *i3Receiver, seq uint64) dht.Key {
	t.Helper()
	for range 500 {
		if srv, ok := rc.received(seq); ok {
			return srv
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("packet %d never arrived", seq)
	return dht.Key{}
}

// TestMulticastReachesEveryMember: a group of 16 members; every message
// from the source reaches every member down the tree of the ReDiR
// hierarchy; then members join and leave, half of the departures vanishing
// without leaving, and at least 90% of the members present throughout a
// message must still get it.
func TestMulticastReachesEveryMember(t *testing.T) {
	e := cluster(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := runMulticast(ctx, e, multicastOpts{members: 16, interval: 500 * time.Millisecond, drain: 3 * time.Second, vanish: 0})
	t.Log(res.Line())
	if err != nil || !res.OK() || res.delivered != res.eligible || res.maxDepth < 1 {
		t.Fatalf("multicast: %v %s", err, res.Line())
	}
	e.ns += "-churn"
	e.churn = 500 * time.Millisecond
	res, err = runMulticast(ctx, e, multicastOpts{members: 16, interval: 500 * time.Millisecond, drain: 3 * time.Second, vanish: 0.5})
	t.Log(res.Line())
	if err != nil || res.joins == 0 || res.leaves == 0 || ratio(res.delivered, res.eligible) < 0.9 {
		t.Fatalf("multicast under churn: %v %s", err, res.Line())
	}
}

// TestPlacelabSamplesReachTheResponsibleServer: samples keyed by location
// are filed by exactly the server the oracle names (RZ-8), then the whole
// application runs and must meet its own check.
func TestPlacelabSamplesReachTheResponsibleServer(t *testing.T) {
	e := cluster(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rng := rand.New(rand.NewPCG(3, 4))
	oracle := model.NewRedirOracle()
	var servers []*plServer
	var ms []*redir.Member
	for range 6 {
		s, err := startPlServer(ctx, e, randomKey(rng), rng)
		if err != nil {
			t.Fatal(err)
		}
		defer s.leave(context.Background())
		servers, ms = append(servers, s), append(ms, s.member)
		oracle.Join(s.id, nil)
	}
	if err := settle(ctx, ms); err != nil {
		t.Fatal(err)
	}
	r := e.redir()
	for i := range uint64(40) {
		cell := fmt.Sprintf("%.2f,%.2f", rng.Float64()*180-90, rng.Float64()*360-180)
		want, _ := oracle.Successor(cellKey(cell))
		if at, err := submit(ctx, r, e.ns, i, cell); err != nil || at != want {
			t.Fatalf("sample %d (%s) sent to %s (%v), oracle says %s", i, cell, at, err, want)
		}
		waitFiled(t, servers, i, want)
	}
	e.ns += "-run"
	res, err := runPlacelab(ctx, e, placelabOpts{servers: 5, clients: 2, rate: 10})
	t.Log(res.Line())
	if err != nil || !res.OK() || res.correct != res.samples {
		t.Fatalf("placelab: %v %s", err, res.Line())
	}
}

func waitFiled(t *testing.T, servers []*plServer, id uint64, want dht.Key) {
	t.Helper()
	for range 500 {
		var at []dht.Key
		for _, s := range servers {
			s.mu.Lock()
			if _, ok := s.samples[id]; ok {
				at = append(at, s.id)
			}
			s.mu.Unlock()
		}
		if len(at) == 1 && at[0] == want {
			return
		}
		if len(at) > 0 {
			t.Fatalf("sample %d filed at %v, oracle says %s", id, at, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("sample %d never filed", id)
}

// TestUsage: bad command lines exit 2 and say why.
func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"nope"}, {"multicast", "--members", "x"}, {"placelab", "extra"}, {"rendezvous", "--protocol", "smtp"}, {"multicast", "--ttl", "1ms"}, {"multicast", "--start-level", "16"}} {
		var out, errb bytes.Buffer
		if rc := run(args, &out, &errb); rc != 2 || errb.Len() == 0 {
			t.Errorf("redirapps %s: exit %d, stderr %q", strings.Join(args, " "), rc, errb.String())
		}
	}
}
