package node_test

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/simhost"
	"github.com/opendht-go/opendht/linearizability"
)

// gatewayOp issues one client operation at gateway g and runs the network
// until it completes or timeout passes (then its outcome is unknown, as
// for a client that gave up); it reports whether it completed.
func (c *cluster) gatewayOp(g *simNode, kind linearizability.OpKind, key dht.Key, value []byte, timeout time.Duration) bool {
	secret := []byte("s")
	e := linearizability.Event{Client: g.i, Kind: kind, Key: key, Value: value, TTL: 3600, SecretHash: dht.SHA1(secret), Call: c.net.Now()}
	var start func(now time.Time) uint64
	switch kind {
	case linearizability.OpPut:
		start = func(now time.Time) uint64 {
			return g.n.Put(now, dht.Put{Client: "127.0.0.1", Key: key, Value: value, TTL: 3600, SecretHash: dht.SHA1(secret)})
		}
	case linearizability.OpRemove:
		start = func(now time.Time) uint64 {
			return g.n.Remove(now, dht.Remove{Client: "127.0.0.1", Key: key, ValueHash: dht.SHA1(value), Secret: secret, TTL: 3600})
		}
	case linearizability.OpGet:
		e.TTL, e.SecretHash = 0, dht.Hash{}
		start = func(now time.Time) uint64 { return g.n.Get(now, dht.Get{Key: key, MaxVals: 100}) }
	}
	c.hist = append(c.hist, e)
	k := len(c.hist) - 1
	answered, gaveUp := false, false
	g.call(start, func(d node.Completion) {
		if gaveUp {
			return // the client stopped waiting
		}
		answered = true
		h := &c.hist[k]
		if !errors.Is(d.Err, simhost.ErrCrashed) {
			h.Return = c.net.Now()
		}
		if d.Err != nil {
			h.Unknown = true
			return
		}
		h.Status, h.Values = d.Status, d.Values
	})
	done := c.net.RunUntil(func() bool { return answered }, c.net.Now().Add(timeout))
	if !done {
		gaveUp = true
		c.hist[k].Unknown = true
	}
	return done && !c.hist[k].Unknown
}

// killRestartRun is the real-process kill -9 test (kill_test.go) in the
// simulator: six nodes and a gateway on the given port (the port makes the
// node IDs, so the shape of the ring); the gateway runs sequential puts and
// removes while two nodes in turn crash and restart under the same ID from
// their disks. Then every key is read through the gateway. It returns what
// went wrong: final reads without an answer, routes that looped, and
// eventual-consistency violations.
func killRestartRun(t fataler, seed uint64, port uint16) []string {
	c := newClusterOn(t, seed, port, 6, node.DefaultConfig())
	gw := c.addNode(6)
	c.net.RunFor(3 * time.Second) // the ring forms
	i := 0
	do := func() {
		c.gatewayOp(gw, linearizability.OpPut, testKeyN(i%4), []byte(fmt.Sprintf("v%d", i)), 20*time.Second)
		if i%5 == 4 {
			c.gatewayOp(gw, linearizability.OpRemove, testKeyN((i-4)%4), []byte(fmt.Sprintf("v%d", i-4)), 20*time.Second)
		}
		i++
	}
	for round := range 2 {
		for range 15 {
			do()
		}
		victim := c.nodes[1+2*round]
		from := c.net.Now()
		victim.crash()
		for range 15 {
			do()
		}
		victim.start()
		c.net.RunFor(2 * time.Second)
		c.faults = append(c.faults, linearizability.Interval{From: from, To: c.net.Now()})
	}
	c.net.RunFor(8 * time.Second) // rejoin and anti-entropy
	final := c.net.Now()
	var bad []string
	for k := range 4 {
		// The real test's client gives up after 20 s; a gateway must answer
		// well within that (three attempts of 5 s).
		if !c.gatewayOp(gw, linearizability.OpGet, testKeyN(k), nil, 20*time.Second) {
			bad = append(bad, fmt.Sprintf("no answer to a get of key %d (%s) at %v", k, testKeyN(k).String()[:8], gw.n.Overlay()))
		}
	}
	for _, sn := range c.nodes {
		if l := sn.n.Overlay().Stats().RoutesLooped; l > 0 {
			bad = append(bad, fmt.Sprintf("%v: %d routes dropped at the hop limit (a loop)", sn.n.Overlay(), l))
		}
	}
	for _, v := range linearizability.CheckEventual(c.hist, linearizability.EventualConfig{MaxTTL: dht.MaxTTL, Skew: 2 * time.Second, Settle: 5 * time.Second, FinalReads: final, Faults: c.faults}) {
		bad = append(bad, v.String())
	}
	return bad
}

// TestGatewayReachesEveryKeyAfterKillRestart: after two nodes of a
// seven-node ring crashed and came back under their old IDs, a gateway
// answers a get of every key. The seeds are rings in which a gateway used
// to get no answer for one key, for as long as the ring kept its shape: its
// routing ping-ponged the request between two nodes until the hop limit
// (the leaf set of a ring of 5-7 nodes took the wrong arc for its range,
// and a prefix hop may go farther from the key), and every retry took the
// same path. OPENDHT_KILL_SEEDS=n runs n more rings (make test-long).
func TestGatewayReachesEveryKeyAfterKillRestart(t *testing.T) {
	seeds := []uint64{20, 37, 51, 57, 71, 72, 87, 90}
	if v := os.Getenv("OPENDHT_KILL_SEEDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("OPENDHT_KILL_SEEDS=%q: %v", v, err)
		}
		for s := range uint64(n) {
			seeds = append(seeds, 1000+s)
		}
	}
	for _, s := range seeds {
		port := uint16(20000 + s%40000)
		if bad := killRestartRun(t, s, port); len(bad) > 0 {
			for _, b := range bad[:min(len(bad), 5)] {
				t.Log(b)
			}
			t.Errorf("seed %d (port %d): %d problems, first: %s", s, port, len(bad), bad[0])
		}
	}
	if !t.Failed() {
		t.Logf("%d rings, each with two nodes killed and restarted: every key answered, no loop", len(seeds))
	}
}
