package node_test

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/rmw"
	"github.com/opendht-go/opendht/impl/simhost"
	"github.com/opendht-go/opendht/impl/simnet"
)

// callNow makes one request at h, runs the network for d and returns the
// completion (nil if none came).
func callNow(net *simnet.Network, h *simhost.Host, d time.Duration, start func(n *node.Node, now time.Time) uint64) *node.Completion {
	var got *node.Completion
	h.Call(func(now time.Time) uint64 { return start(h.Node(), now) }, func(c node.Completion) { got = &c })
	net.RunFor(d)
	return got
}

func putAt(net *simnet.Network, h *simhost.Host, v string) *node.Completion {
	return callNow(net, h, 10*time.Second, func(n *node.Node, now time.Time) uint64 {
		return n.Put(now, dht.Put{Client: "c", Key: dht.Key{7}, Value: []byte(v), TTL: 3600})
	})
}

// TestJoiningNodeExecutesNothing checks section 16: a node whose bootstrap
// node never answers is joining (JOIN-2) and its gateway answers try again
// to puts and rms, a timeout to gets, and refuses register operations,
// storing nothing (JOIN-3); a first node is joined at once (JOIN-1); a
// node that joins answers normally; a node whose every neighbour died is
// joining again and answers try again (JOIN-4), until it rejoins.
func TestJoiningNodeExecutesNothing(t *testing.T) {
	net, err := simnet.New(3, simnet.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	cfg := node.DefaultConfig()
	cfg.Replicas, cfg.WriteAcks, cfg.ReadQuorum = 2, 1, 1
	host := func(a string) *simhost.Host {
		return simhost.New(net, netip.MustParseAddrPort(a), simhost.Config{Node: cfg, FsyncLatency: func() time.Duration { return time.Millisecond }})
	}
	nowhere := netip.MustParseAddrPort("10.9.9.9:5850")

	lone := host("10.0.0.2:5850")
	if err := lone.Start(simhost.Start{Boot: []netip.AddrPort{nowhere}, Seed: 2}); err != nil {
		t.Fatal(err)
	}
	net.RunFor(30 * time.Second)
	if lone.Node().Overlay().Joined() {
		t.Fatal("a node whose bootstrap node does not exist joined")
	}
	if got := putAt(net, lone, "v"); got == nil || got.Err != nil || got.Status != dht.StatusTryAgain {
		t.Fatalf("JOIN-3: put at a joining node: %+v, want status 2", got)
	}
	rm := callNow(net, lone, 10*time.Second, func(n *node.Node, now time.Time) uint64 {
		return n.Remove(now, dht.Remove{Client: "c", Key: dht.Key{7}, ValueHash: dht.SHA1([]byte("v")), Secret: []byte("s"), TTL: 60})
	})
	if rm == nil || rm.Err != nil || rm.Status != dht.StatusTryAgain {
		t.Fatalf("JOIN-3: rm at a joining node: %+v, want status 2", rm)
	}
	get := callNow(net, lone, 10*time.Second, func(n *node.Node, now time.Time) uint64 {
		return n.Get(now, dht.Get{Key: dht.Key{7}, MaxVals: 10})
	})
	var te interface{ Timeout() bool }
	if get == nil || !errors.Is(get.Err, node.ErrJoining) || !errors.As(get.Err, &te) || !te.Timeout() {
		t.Fatalf("JOIN-3: get at a joining node: %+v, want ErrJoining, a timeout", get)
	}
	cas := callNow(net, lone, 10*time.Second, func(n *node.Node, now time.Time) uint64 {
		return n.CAS(now, dht.CAS{Key: dht.Key{8}, Expected: 0, Value: []byte("x"), TTL: 60})
	})
	if cas == nil || !errors.Is(cas.Err, rmw.ErrRefused) {
		t.Fatalf("JOIN-3: cas at a joining node: %+v, want a refusal", cas)
	}
	if b := lone.Store().Committed(); b != 0 {
		t.Fatalf("JOIN-3: a joining node stored %d bytes", b)
	}
	lone.Close()

	first := host("10.0.0.1:5850")
	if err := first.Start(simhost.Start{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if !first.Node().Overlay().Joined() {
		t.Fatal("JOIN-1: a node without a bootstrap list is not joined at once")
	}
	if got := putAt(net, first, "a"); got == nil || got.Status != dht.StatusOK {
		t.Fatalf("JOIN-1: put at the first node: %+v", got)
	}
	second := host("10.0.0.3:5850")
	if err := second.Start(simhost.Start{Boot: []netip.AddrPort{first.Addr()}, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	net.RunFor(10 * time.Second)
	if !second.Node().Overlay().Joined() {
		t.Fatal("JOIN-2: a node with a live bootstrap node did not join")
	}
	if got := putAt(net, second, "b"); got == nil || got.Status != dht.StatusOK {
		t.Fatalf("put at a joined node: %+v", got)
	}

	first.Crash()
	net.RunFor(5 * time.Minute)
	if second.Node().Overlay().Joined() {
		t.Fatalf("JOIN-4: the last node of a ring whose only neighbour died is still joined: %v", second.Node().Overlay())
	}
	if got := putAt(net, second, "c"); got == nil || got.Status != dht.StatusTryAgain {
		t.Fatalf("JOIN-4: put at a node alone again: %+v, want status 2", got)
	}
	if err := first.Start(simhost.Start{Seed: 4}); err != nil {
		t.Fatal(err)
	}
	net.RunFor(2 * time.Minute)
	if !second.Node().Overlay().Joined() {
		t.Fatal("JOIN-2: the node did not rejoin within JoinRetryMax of its bootstrap node's return")
	}
	if got := putAt(net, second, "d"); got == nil || got.Status != dht.StatusOK {
		t.Fatalf("put after rejoining: %+v", got)
	}
}
