package node_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/node"
)

// getDelays puts one value under each of keys keys, lets the cluster
// settle, then gets each key count times in all, one get at a time at a
// random gateway, and returns how long each get took (simulated time).
// Every get must return its key's value (RD-7).
func getDelays(t *testing.T, c *cluster, keys, count int) []time.Duration {
	for k := range keys {
		if st := c.put(c.nodes[c.rng.IntN(len(c.nodes))], testKeyN(1000+k), []byte(fmt.Sprint("v", k)), nil, 3600); st != dht.StatusOK {
			t.Fatalf("put %d: status %v", k, st)
		}
	}
	c.net.RunFor(10 * time.Second)
	var ds []time.Duration
	for i := range count {
		k := i % keys
		sn := c.nodes[c.rng.IntN(len(c.nodes))]
		var got *node.Completion
		start := c.net.Now()
		sn.call(func(now time.Time) uint64 { return sn.n.Get(now, dht.Get{Key: testKeyN(1000 + k), MaxVals: 10}) }, func(x node.Completion) { got = &x })
		c.net.RunUntil(func() bool { return got != nil }, start.Add(time.Minute))
		if got == nil || got.Err != nil || len(got.Values) != 1 || string(got.Values[0].Value) != fmt.Sprint("v", k) {
			t.Fatalf("get %d of key %d at node %d: %+v", i, k, sn.i, got)
		}
		ds = append(ds, c.net.Now().Sub(start))
	}
	return ds
}

// TestParallelReadsLowerGetLatency (RD-13, RD-7): on identical simulated
// clusters of 16 nodes (one-way latencies 10-130 ms), gets with parallel
// reads return every acknowledged value, as without, and take at least
// 15% less time on average. The negative control compares parallel reads
// with themselves: the check must find no gain.
func TestParallelReadsLowerGetLatency(t *testing.T) {
	measure := func(parallel bool) time.Duration {
		cfg := node.DefaultConfig()
		cfg.ParallelReads = parallel
		c := newCluster(t, 5, 16, cfg)
		c.net.RunFor(time.Minute)
		ds := getDelays(t, c, 30, 300)
		var sum time.Duration
		for _, d := range ds {
			sum += d
		}
		slices.Sort(ds)
		t.Logf("parallel reads %v: 300 gets, mean %v p50 %v p99 %v", parallel, (sum / 300).Round(time.Millisecond),
			ds[150].Round(time.Millisecond), ds[297].Round(time.Millisecond))
		return sum / 300
	}
	gain := func(base, with time.Duration) float64 { return 1 - float64(with)/float64(base) }
	off, on := measure(false), measure(true)
	if g := gain(off, on); g < 0.15 {
		t.Fatalf("parallel reads lowered the mean get latency by %.0f%%, want at least 15%%", 100*g)
	}
	t.Run("negative control: no change", func(t *testing.T) {
		if g := gain(on, measure(true)); g >= 0.15 {
			t.Fatalf("the check credited parallel reads with %.0f%% over themselves", 100*g)
		}
	})
}
