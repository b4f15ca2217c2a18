package node_test

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/linearizability"
)

// TestScenarioScripts runs the cluster scenarios written as scripts under
// testdata/scenarios/, in the manner of etcd raft's interaction tests: each
// command drives a simulated cluster and its output is compared with the
// expected output in the file. `go test -tags variants ./impl/node -run
// TestScenarioScripts -rewrite` rewrites the expected output after a
// deliberate change (read the diff before committing it).
//
// Commands (nodes are named by their place in a key's replica set: member
// 0 is the key's root; the gateway is a node outside the set):
//
//	cluster nodes=N seed=S        a new cluster, settled for a minute
//	variant name=NAME             plant a mistake of variants.go in every node
//	run for=DURATION              let simulated time pass
//	partition key=K members=I,J   cut those members of K's set off from everyone
//	heal                          end every partition
//	crash key=K member=I          kill a member (its disk is kept)
//	put key=K value=V [secret=S] [ttl=SECONDS]
//	puts key=K prefix=P n=N       N puts of P-00, P-01, ...
//	rm key=K value=V secret=S
//	get key=K maxvals=M [crash-member-after-first-page=I]
//	                              a paged get; prints the values sorted, and repeats
//	check                         judge the history so far with porcupine (CheckDHT)
//	                              and the set checker (CheckEventual)
//
// Keys are small integers (testKeyN). Statuses print as ok, over capacity
// or try again.
func TestScenarioScripts(t *testing.T) {
	if testing.Short() {
		t.Skip("simulated minutes of 12-node clusters")
	}
	datadriven.Walk(t, "testdata/scenarios", func(t *testing.T, path string) {
		var c *cluster
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if c == nil && d.Cmd != "cluster" {
				d.Fatalf(t, "the first command must be cluster")
			}
			key := func() dht.Key {
				var k int
				d.ScanArgs(t, "key", &k)
				return testKeyN(k)
			}
			member := func(k dht.Key, name string) *simNode {
				var i int
				d.ScanArgs(t, name, &i)
				return c.byCloseness(k)[i]
			}
			switch d.Cmd {
			case "cluster":
				var n int
				var seed uint64
				d.ScanArgs(t, "nodes", &n)
				d.ScanArgs(t, "seed", &seed)
				c = newCluster(t, seed, n, node.DefaultConfig())
				c.net.RunFor(time.Minute)
				return fmt.Sprintf("%d nodes", len(c.live()))
			case "variant":
				var name string
				d.ScanArgs(t, "name", &name)
				v, ok := node.Variants[name]
				if !ok {
					d.Fatalf(t, "unknown variant %q", name)
				}
				c.variant = v
				for _, sn := range c.nodes {
					plant(t, sn.n, sn.st, v)
				}
				return "planted " + name
			case "run":
				var s string
				d.ScanArgs(t, "for", &s)
				dur, err := time.ParseDuration(s)
				if err != nil {
					d.Fatalf(t, "for=%s: %v", s, err)
				}
				c.net.RunFor(dur)
				return "ok"
			case "partition":
				k := key()
				var idx []int
				d.ScanArgs(t, "members", &idx)
				var cut []netip.AddrPort
				set := c.byCloseness(k)
				for _, i := range idx {
					cut = append(cut, set[i].addr)
				}
				if err := c.net.Partition(cut); err != nil {
					d.Fatalf(t, "%v", err)
				}
				c.faults = append(c.faults, linearizability.Interval{From: c.net.Now(), To: c.net.Now().Add(24 * time.Hour)})
				return "ok"
			case "heal":
				c.net.Heal()
				for i := range c.faults {
					if c.faults[i].To.After(c.net.Now()) {
						c.faults[i].To = c.net.Now()
					}
				}
				return "ok"
			case "crash":
				member(key(), "member").crash()
				c.faults = append(c.faults, linearizability.Interval{From: c.net.Now(), To: c.net.Now().Add(24 * time.Hour)})
				return "ok"
			case "put", "puts":
				k := key()
				gw := c.gatewayFor(k, c.cfg.Replicas+1)
				var secret []byte
				if d.HasArg("secret") {
					var s string
					d.ScanArgs(t, "secret", &s)
					secret = []byte(s)
				}
				ttl := int64(3600)
				if d.HasArg("ttl") {
					d.ScanArgs(t, "ttl", &ttl)
				}
				var values []string
				if d.Cmd == "put" {
					var v string
					d.ScanArgs(t, "value", &v)
					values = []string{v}
				} else {
					var prefix string
					var n int
					d.ScanArgs(t, "prefix", &prefix)
					d.ScanArgs(t, "n", &n)
					for i := range n {
						values = append(values, fmt.Sprintf("%s-%02d", prefix, i))
					}
				}
				counts := map[string]int{}
				for _, v := range values {
					counts[statusName(c.put(gw, k, []byte(v), secret, ttl))]++
				}
				return describeCounts(counts)
			case "rm":
				k := key()
				var v, secret string
				d.ScanArgs(t, "value", &v)
				d.ScanArgs(t, "secret", &secret)
				return statusName(c.remove(c.gatewayFor(k, c.cfg.Replicas+1), k, []byte(v), []byte(secret), 3600))
			case "get":
				k := key()
				var maxvals int
				d.ScanArgs(t, "maxvals", &maxvals)
				var between func(int)
				if d.HasArg("crash-member-after-first-page") {
					victim := member(k, "crash-member-after-first-page")
					between = func(page int) {
						if page == 0 {
							victim.crash()
							c.faults = append(c.faults, linearizability.Interval{From: c.net.Now(), To: c.net.Now().Add(24 * time.Hour)})
						}
					}
				}
				got, err := c.pagedGet(c.gatewayFor(k, c.cfg.Replicas+1), k, maxvals, between)
				if err != nil {
					return "error: " + err.Error()
				}
				var vals []string
				seen := map[string]int{}
				for _, v := range got {
					if seen[string(v.Value)]++; seen[string(v.Value)] == 1 {
						vals = append(vals, string(v.Value))
					}
				}
				slices.Sort(vals)
				var repeats []string
				for v, n := range seen {
					if n > 1 {
						repeats = append(repeats, v)
					}
				}
				slices.Sort(repeats)
				return fmt.Sprintf("%d values, repeated: %v\n%s", len(vals), repeats, wrap(vals, 6))
			case "check":
				res, err := linearizability.CheckDHT(c.hist, c.faults, linearizability.DefaultDHTConfig())
				if err != nil {
					d.Fatalf(t, "CheckDHT: %v", err)
				}
				var out []string
				if v := res.AsViolations(); len(v) > 0 {
					out = append(out, fmt.Sprintf("porcupine: %d violations, first: %s", len(v), v[0].Property))
				} else {
					out = append(out, "porcupine: ok")
				}
				if v := checkScenario(c.hist, c.faults); len(v) > 0 {
					out = append(out, fmt.Sprintf("eventual: %d violations, first: %s", len(v), v[0].Property))
				} else {
					out = append(out, "eventual: ok")
				}
				return strings.Join(out, "\n")
			}
			d.Fatalf(t, "unknown command %q", d.Cmd)
			return ""
		})
	})
}

func statusName(st dht.Status) string {
	switch st {
	case dht.StatusOK:
		return "ok"
	case dht.StatusOverCapacity:
		return "over capacity"
	}
	return "try again"
}

func describeCounts(counts map[string]int) string {
	var parts []string
	for _, s := range []string{"ok", "over capacity", "try again"} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%s: %d", s, counts[s]))
		}
	}
	return strings.Join(parts, ", ")
}

// wrap lays words out n to a line.
func wrap(words []string, n int) string {
	var lines []string
	for len(words) > 0 {
		k := min(n, len(words))
		lines = append(lines, strings.Join(words[:k], " "))
		words = words[k:]
	}
	return strings.Join(lines, "\n")
}
