package judge

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opendht-go/opendht/linearizability"
)

// The part of make linearizability that make test runs: fixed seeds, so a
// failure replays exactly (the log names the command).

// TestJudgeCASPaxos: caspaxos is linearizable under one seeded schedule
// of every family in the simulator: the protocol (RR-1, RR-2), its
// membership under partitions and churn (RR-3), acceptors restarted from
// their disks (RR-4), expiry written back (RR-5), and unknown outcomes only
// where the outcome is unknown (RR-6), judged by CAS-11.
func TestJudgeCASPaxos(t *testing.T) {
	for seed := uint64(1); seed <= uint64(len(Families)); seed++ {
		cfg := DefaultConfig("caspaxos", seed)
		cfg.OutDir = outDir(t)
		r, err := RunSim(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s seed=%d family=%s ops=%d ok=%d failed=%d unknown=%d refused=%d verdict=%s (replay: %s)", r.Protocol, seed, r.Family, r.Ops, r.OK, r.Failed, r.Unknown, r.Refused, r.Verdict, r.Replay())
		if !r.Linearizable() {
			t.Errorf("caspaxos is not linearizable at seed %d (%s): history %s, visualization %s; replay: %s", seed, r.Family, r.HistoryPath, r.VisualPath, r.Replay())
		}
		if r.OK < r.Ops/3 {
			t.Errorf("seed %d: only %d of %d operations answered ok: the protocol is not making progress", seed, r.OK, r.Ops)
		}
	}
}

// TestJudgeCatches is the judge's negative control: each broken design is
// caught. The simulator replays a seed exactly, so the seed recorded here
// catches it; a change to the protocols or the workload moves which seeds
// do, so the test goes on to the next seeds (up to 40) and logs the one
// that caught it: update the table when it says so.
func TestJudgeCatches(t *testing.T) {
	RegisterVariants()
	for _, c := range []struct {
		protocol string
		seed     uint64
	}{
		{"naive", 1},
		{"root", 1},
		{"caspaxos-minority-quorum", 12},
		{"caspaxos-no-read-writeback", 3},
		{"caspaxos-no-expiry-writeback", 24},
	} {
		caught := false
		for seed := c.seed; seed < c.seed+40 && !caught; seed++ {
			cfg := DefaultConfig(c.protocol, seed)
			cfg.OutDir = outDir(t)
			r, err := RunSim(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if r.Verdict == linearizability.VerdictIllegal {
				caught = true
				t.Logf("%s caught at seed %d (%s): %s", c.protocol, seed, r.Family, r.ShrunkPath)
				if seed != c.seed {
					t.Logf("the recorded seed %d no longer catches %s: record %d", c.seed, c.protocol, seed)
				}
			}
		}
		if !caught {
			t.Errorf("%s was not caught in 40 seeds from %d", c.protocol, c.seed)
		}
	}
}

// TestJudgeUDP: caspaxos over real UDP on loopback, with a partition, loss,
// a restart and a join, is linearizable; naive is caught the same way in
// make linearizability.
func TestJudgeUDP(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 30 s of wall time")
	}
	cfg := DefaultUDPConfig("caspaxos", 1, outDir(t))
	cfg.Rounds, cfg.FaultTime, cfg.QuietTime = 4, 4*time.Second, 2*time.Second // every kind once
	r, err := RunUDP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("udp: %v ops=%d ok=%d failed=%d unknown=%d refused=%d ops/s=%.0f p50=%v p99=%v verdict=%s", r.Schedule, r.Ops, r.OK, r.Failed, r.Unknown, r.Refused, r.OpsPerSec, r.P50, r.P99, r.Verdict)
	if !r.Linearizable() {
		t.Fatalf("caspaxos over UDP is not linearizable: %s, %s", r.HistoryPath, r.VisualPath)
	}
	if r.OK < 50 {
		t.Fatalf("only %d operations answered ok over UDP", r.OK)
	}
}

// TestMain lets this test binary be a node process of a real-UDP run.
func TestMain(m *testing.M) {
	RunChildIfAsked()
	os.Exit(m.Run())
}

// outDir keeps failing histories where the log says, or in a temporary
// directory.
func outDir(t *testing.T) string {
	if d := os.Getenv("JUDGE_OUT"); d != "" {
		return filepath.Join(d, t.Name())
	}
	return t.TempDir()
}
