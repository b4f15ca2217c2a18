package node_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/testbed"
	"github.com/opendht-go/opendht/impl/testbed/testbedtest"
)

// TestConsistencyOnTestbed judges the replicated DHT on the wide-area
// testbed (impl/testbed): OPENDHT_TESTBED_NODES (8) processes of the
// opendht binary, each in its own network namespace, with the RTTs of a
// generated PlanetLab-like matrix (median 140 ms, seeded by the run), and
// the clients outside the namespaces. The workload and every checker are
// those of the real-UDP consistency runs (consistencyWorkload, checkers);
// the faults come from outside the processes, through the testbed: kill
// -9 and restart, a partition of a minority, 10% loss on every path, and
// a slow node (200 ms more each way, 20% of a core), one per round.
// make test runs one short run where the machine can (root, iproute2);
// make testbed-check runs OPENDHT_TESTBED_RUNS runs of
// OPENDHT_TESTBED_LOAD each and prints the checker=... lines.
// OPENDHT_TESTBED_NODE_ARGS passes more flags to every node (e.g.
// "--parallel-reads=false"), to judge a setting other than the default.
func TestConsistencyOnTestbed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes in network namespaces")
	}
	testbedtest.Require(t)
	runs := envInt(t, "OPENDHT_TESTBED_RUNS", 1)
	nodes := envInt(t, "OPENDHT_TESTBED_NODES", 8)
	first := envInt(t, "OPENDHT_TESTBED_SEED", 1)
	load := 20 * time.Second
	if v := envInt(t, "OPENDHT_TESTBED_LOAD_S", 0); v > 0 {
		load = time.Duration(v) * time.Second
	}
	if nodes < 8 {
		t.Fatalf("OPENDHT_TESTBED_NODES=%d: the workload has 8 clients, each with its own gateway: want 8 or more", nodes)
	}
	nodeArgs := strings.Fields(os.Getenv("OPENDHT_TESTBED_NODE_ARGS"))
	bin := testbedtest.Binary(t)
	rep := newReport()
	for run := range runs {
		seed := uint64(first + run)
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			replay := fmt.Sprintf("OPENDHT_TESTBED_NODE_ARGS=%q OPENDHT_TESTBED_SEED=%d OPENDHT_TESTBED_NODES=%d OPENDHT_TESTBED_LOAD_S=%d go test -tags variants ./impl/node -run 'TestConsistencyOnTestbed$' -v", strings.Join(nodeArgs, " "), seed, nodes, int(load.Seconds()))
			res, sched := testbedConsistencyRun(t, bin, seed, nodes, load, nodeArgs)
			t.Logf("testbed run seed=%d %s faults=%s", seed, res.stats, sched)
			fmt.Printf("testbed run=%d %s\n", seed, res.stats)
			for name, v := range rep.judge(res.hist, res.faults, res.final) {
				t.Errorf("checker %s: %d violations, first: %v (faults %s; replay: %s)", name, len(v), v[0], sched, replay)
			}
		})
	}
	for _, l := range rep.lines() {
		fmt.Println(l)
		t.Log(l)
	}
}

// testbedConsistencyRun starts a testbed, runs consistencyWorkload on its
// gateways with the testbed's faults, and returns the result and the
// faults injected.
func testbedConsistencyRun(t *testing.T, bin string, seed uint64, nodes int, load time.Duration, nodeArgs []string) (udpResult, string) {
	cfg := testbed.DefaultConfig(nodes)
	cfg.NodeArgs = nodeArgs
	cfg.Name, cfg.Subnet = testbedtest.Unique("tc")
	cfg.Binary, cfg.Dir, cfg.Seed = bin, t.TempDir(), seed
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	tb, err := testbed.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	// The load starts once the leaf sets stopped changing: RD-7 holds for a
	// quiet cluster whose replica sets agree, and the first third of the
	// load counts as quiet (before, two nodes may each be a key's root).
	if err := tb.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("testbed of %d nodes, shaper %s, rtt %s", nodes, tb.Shaper(), tb.RTT().Summary())
	var sched []string
	do := func(cmd string) {
		sched = append(sched, cmd)
		if _, err := tb.Exec(ctx, cmd); err != nil {
			t.Errorf("testbed %q: %v", cmd, err)
		}
	}
	res := consistencyWorkload(t, seed, tb.Gateways(), load, func(round int, rng *rand.Rand) {
		switch round % 4 {
		case 0:
			v := rng.IntN(nodes)
			do(fmt.Sprintf("kill %d", v))
			time.Sleep(time.Duration(2+rng.IntN(3)) * time.Second)
			do(fmt.Sprintf("restart %d", v))
		case 1:
			var side []string
			for _, i := range rng.Perm(nodes)[:1+rng.IntN(nodes/3)] {
				side = append(side, fmt.Sprint(i))
			}
			do("partition " + strings.Join(side, ","))
			time.Sleep(3 * time.Second)
			do("heal")
		case 2:
			do("loss 0.1")
			time.Sleep(3 * time.Second)
			do("loss 0")
		case 3:
			v := rng.IntN(nodes)
			do(fmt.Sprintf("slow %d delay 200ms cpu 20", v))
			time.Sleep(3 * time.Second)
			do(fmt.Sprintf("fast %d", v))
		}
	})
	s := tb.SwitchStats()
	res.stats += fmt.Sprintf(" shaper=%s delivered=%d lost=%d blocked=%d", tb.Shaper(), s.Delivered, s.Lost, s.Blocked)
	return res, strings.Join(sched, "; ")
}
