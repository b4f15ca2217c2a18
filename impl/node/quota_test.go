package node_test

import (
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/linearizability"
)

// TestReplicaOverQuotaReachesGateway: a write that its root admits but
// every other replica refuses for its account's quota (AC-5) is answered
// status 3 at once (AC-7), instead of waiting for acknowledgements that
// never come and answering try again. The replicas are filled to the
// account's quota behind the root's back, so that only they refuse: each
// node enforces the quota on what it holds itself (AC-6), from the
// identity the gateway wrote, which it believes (AC-10).
func TestReplicaOverQuotaReachesGateway(t *testing.T) {
	c := newCluster(t, 11, 6, node.DefaultConfig())
	c.net.RunFor(30 * time.Second)
	acct := dht.AccountClient("alpha", "alice").WithQuota(5000)
	key := testKeyN(7)
	set := c.byCloseness(key)[:c.cfg.Replicas]
	root := set[0]
	for _, sn := range set[1:] {
		for j := range 5 { // 5 x 1000 bytes: the whole quota
			op := dht.Op{Kind: dht.OpPut, ID: 1<<60 + uint64(j), Put: dht.Put{Client: acct, Key: testKeyN(1000 + j),
				Value: make([]byte, 1000-dht.ItemOverhead), TTL: 3600}}
			res, err := sn.st.Step(op, dht.Time(sn.clk.Now().Unix()))
			if err != nil || res.Err != nil || len(res.Completed) != 1 || res.Completed[0].Status != dht.StatusOK {
				t.Fatalf("filling node %d: %+v %v", sn.i, res, err)
			}
		}
	}
	gw := c.nodes[0]
	if gw == root {
		gw = c.nodes[1]
	}
	before := root.st.Usage()[acct.Charged()]
	e := linearizability.Event{Kind: linearizability.OpPut, Key: key, Value: []byte("one more"), TTL: 600}
	d, ok := c.call(gw, e, func(now time.Time) uint64 {
		return gw.n.Put(now, dht.Put{Client: acct, Key: key, Value: []byte("one more"), TTL: 600})
	})
	if !ok || d.Status != dht.StatusOverQuota {
		t.Fatalf("AC-7: a put every replica but the root refused for quota answered %+v (ok %v), want status 3", d, ok)
	}
	if after := root.st.Usage()[acct.Charged()]; after != before+dht.ChargedBytes(len("one more")) {
		t.Fatalf("the root should hold the write (its outcome is unknown, RD-3): charge %d -> %d", before, after)
	}
	for _, sn := range set[1:] {
		if u := sn.st.Usage()[acct.Charged()]; u > 5000 {
			t.Fatalf("INV-9: node %d charges the account %d bytes, over its quota", sn.i, u)
		}
	}
}
