package simhost

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/simnet"
)

// TestHostRunsANodeAndSurvivesACrash: a one-node ring on a simulated host
// acknowledges a put only once its fsync is reported (DUR-1: HoldSyncs
// holds the answer back), serves it, keeps it across a crash and restart,
// and answers a call in flight at a crash with ErrCrashed.
func TestHostRunsANodeAndSurvivesACrash(t *testing.T) {
	net, err := simnet.New(1, simnet.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	cfg := node.DefaultConfig()
	cfg.Replicas, cfg.WriteAcks, cfg.ReadQuorum = 1, 0, 1
	addr := netip.MustParseAddrPort("10.0.0.1:5850")
	h := New(net, addr, Config{Node: cfg, FsyncLatency: func() time.Duration { return time.Millisecond }})
	if err := h.Start(Start{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	net.RunFor(5 * time.Second)
	key := dht.Key{9}
	var got *node.Completion
	h.HoldSyncs(true)
	h.Call(func(now time.Time) uint64 {
		return h.Node().Put(now, dht.Put{Client: "c", Key: key, Value: []byte("v"), TTL: 3600})
	}, func(c node.Completion) { got = &c })
	net.RunFor(time.Second)
	if got != nil {
		t.Fatalf("a put was answered while its fsync was held: %+v", *got)
	}
	h.HoldSyncs(false)
	net.RunFor(time.Second)
	if got == nil || got.Err != nil || got.Status != dht.StatusOK {
		t.Fatalf("put after the fsync: %+v", got)
	}
	h.Crash()
	if err := h.Start(Start{Seed: 2}); err != nil {
		t.Fatal(err)
	}
	net.RunFor(5 * time.Second)
	var read *node.Completion
	h.Call(func(now time.Time) uint64 { return h.Node().Get(now, dht.Get{Key: key, MaxVals: 10}) }, func(c node.Completion) { read = &c })
	net.RunFor(5 * time.Second)
	if read == nil || read.Err != nil || len(read.Values) != 1 || string(read.Values[0].Value) != "v" {
		t.Fatalf("get after a crash and restart: %+v", read)
	}
	var lost *node.Completion
	h.HoldSyncs(true)
	h.Call(func(now time.Time) uint64 {
		return h.Node().Put(now, dht.Put{Client: "c", Key: key, Value: []byte("w"), TTL: 3600})
	}, func(c node.Completion) { lost = &c })
	h.Crash()
	if lost == nil || !errors.Is(lost.Err, ErrCrashed) {
		t.Fatalf("a call in flight at a crash: %+v, want ErrCrashed", lost)
	}
}
