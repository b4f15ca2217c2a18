package node_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/linearizability"
)

// TestNoAckBeforeDurable (DUR-1 across the DHT): a put is acknowledged to
// its client only once the root and enough replicas have it on disk. The
// copies go out while the root's own fsync is in flight, so with the root's
// disk stalled the replicas store the item, yet nothing is acknowledged;
// once the fsync completes, the put is. The same with a replica's disk
// stalled and write acks needing every replica.
func TestNoAckBeforeDurable(t *testing.T) {
	for _, stall := range []string{"root", "replica"} {
		t.Run(stall, func(t *testing.T) {
			if msg := noAckBeforeDurable(t, stall, false); msg != "" {
				t.Error(msg)
			}
		})
	}
	// Negative control: a root that acknowledges before its own fsync is
	// caught.
	if msg := noAckBeforeDurable(t, "root", true); msg == "" {
		t.Error("a root acknowledging before its fsync was not caught")
	} else {
		t.Logf("negative control caught: %s", msg)
	}
}

// noAckBeforeDurable runs the scenario and returns what went wrong, or "".
func noAckBeforeDurable(t *testing.T, stall string, bugAckEarly bool) string {
	cfg := node.DefaultConfig()
	cfg.Replicas, cfg.WriteAcks = 3, 2
	c := newCluster(t, 7, 5, cfg)
	if bugAckEarly {
		for _, sn := range c.nodes {
			plant(t, sn.n, sn.st, node.Variant{AckBeforeDurable: true})
		}
	}
	c.net.RunFor(20 * time.Second) // the ring forms
	key := testKeyN(1)
	order := closestTo(key, c.live())
	var stalled []*simNode
	if stall == "root" {
		stalled = order[:1]
	} else {
		stalled = order[1:3] // both other replicas: the root cannot get 2 acks
	}
	for _, sn := range stalled {
		sn.h.HoldSyncs(true)
	}
	for i := range 10 {
		c.op(linearizability.OpPut, key, []byte(fmt.Sprintf("v%d", i)), nil, 3600)
	}
	// Less than the replica timeout (2 s), after which the root
	// would answer "try again".
	c.net.RunFor(time.Second)
	for i, e := range c.hist {
		if !e.Return.IsZero() && e.Status == dht.StatusOK && !e.Unknown {
			return fmt.Sprintf("put %d acknowledged while the %s's fsyncs are stalled", i, stall)
		}
	}
	// The copies went out all the same: a replica holds the items.
	rep, err := order[1].st.Get(dht.Get{Key: key, MaxVals: 100}, dht.Time(order[1].clk.Now().Unix()))
	if stall == "root" && (err != nil || len(rep.Values) == 0) {
		return fmt.Sprintf("no copy reached a replica while the root's fsync was in flight (%v)", err)
	}
	for _, sn := range stalled {
		sn.h.HoldSyncs(false)
	}
	c.net.RunFor(10 * time.Second)
	acked := 0
	for _, e := range c.hist {
		if !e.Return.IsZero() && e.Status == dht.StatusOK && !e.Unknown {
			acked++
		}
	}
	if acked != len(c.hist) {
		return fmt.Sprintf("%d of %d puts acknowledged after the %s's fsyncs completed", acked, len(c.hist), stall)
	}
	t.Logf("%s stalled: 0 acknowledged while stalled, %d of %d after", stall, acked, len(c.hist))
	return ""
}
