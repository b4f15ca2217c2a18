package redir

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/clock"
	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/model"
)

// figure is one row of the ReDiR figures: lookups in a namespace of a
// given size in the simulated DHT, with or without churn.
type figure struct {
	members  int
	churn    bool
	lookups  int
	meanGets float64
	p99Gets  int
	correct  float64 // fraction of lookups that returned the oracle's successor
}

func (f figure) String() string {
	c := "none"
	if f.churn {
		c = "yes"
	}
	return fmt.Sprintf("members=%-5d churn=%-4s lookups=%d gets_mean=%.2f gets_p99=%d true_successor=%.4f",
		f.members, c, f.lookups, f.meanGets, f.p99Gets, f.correct)
}

// figureRun simulates a namespace of n members in a DHT of 32 nodes (2
// replicas, puts visible after up to 2 s), default tree (b=2, L=16, l0=2),
// TTL 60 s and a refresh every 20 s, each member at its own phase. After
// two refresh rounds it runs 100 simulated seconds with 10 lookups of
// random keys a second from one client. With churn, every refresh period
// 5% of the members are replaced (half leave cleanly, half vanish) and one
// DHT node is replaced (losing its values). A lookup is correct if it
// returns the successor among the members of that moment.
func figureRun(t testing.TB, n int, churn bool, seed uint64) figure {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	clk := clock.NewManual(epoch)
	sim := NewSim(SimConfig{Nodes: 32, Replicas: 2, MaxPutDelay: 2 * time.Second, Seed: seed}, clk)
	cfg := DefaultConfig()
	cfg.TTL = time.Minute
	period := cfg.RefreshPeriod()
	members := mustNew(t, sim, cfg, clk) // the members' library
	finder := mustNew(t, sim, cfg, clk)  // the looking-up client's
	oracle := model.NewRedirOracle()
	type live struct {
		m     *Member
		phase time.Duration
	}
	byID := map[dht.Key]*live{}
	randKey := func() dht.Key {
		var k dht.Key
		for i := range k {
			k[i] = byte(rng.Uint32())
		}
		return k
	}
	join := func() {
		id := randKey()
		m, _, err := members.Register(ctx, "fig", id, nil)
		if err != nil {
			t.Fatalf("register: %v", err)
		}
		byID[id] = &live{m: m, phase: time.Duration(rng.Int64N(int64(period)))}
		oracle.Join(id, nil)
	}
	depart := func() {
		ids := oracle.Members()
		id := ids[rng.IntN(len(ids))]
		if rng.IntN(2) == 0 {
			if err := byID[id].m.Leave(ctx); err != nil {
				t.Fatalf("leave: %v", err)
			}
		}
		delete(byID, id)
		oracle.Leave(id)
	}
	for range n {
		join()
	}
	start := clk.Now()
	step := func() {
		clk.Advance(time.Second)
		now := clk.Now().Sub(start)
		for _, id := range oracle.Members() {
			l := byID[id]
			if (now-l.phase)%period < time.Second && now >= l.phase {
				if _, err := l.m.Refresh(ctx); err != nil {
					t.Fatalf("refresh: %v", err)
				}
			}
		}
	}
	for range 2 * int(period/time.Second) {
		step()
	}
	f := figure{members: n, churn: churn}
	var gets []int
	correct := 0
	perSecond := 0.05 * float64(n) / period.Seconds()
	for s := range 100 {
		if churn {
			for k := poisson(rng, perSecond); k > 0; k-- {
				depart()
				join()
			}
			if s%int(period/time.Second) == 0 {
				sim.ChurnNode()
			}
		}
		step()
		for range 10 {
			k := randKey()
			want, _ := oracle.Successor(k)
			res, err := finder.Lookup(ctx, "fig", k)
			gets = append(gets, res.Gets)
			if err == nil && res.ID == want {
				correct++
			}
		}
		if s%20 == 0 {
			sim.Expire()
		}
	}
	slices.Sort(gets)
	sum := 0
	for _, g := range gets {
		sum += g
	}
	f.lookups = len(gets)
	f.meanGets = float64(sum) / float64(len(gets))
	f.p99Gets = gets[(len(gets)*99+99)/100-1]
	f.correct = float64(correct) / float64(len(gets))
	return f
}

// poisson draws a Poisson count of mean lambda.
func poisson(rng *rand.Rand, lambda float64) int {
	n := 0
	for p := rng.ExpFloat64(); p < lambda; p += rng.ExpFloat64() {
		n++
	}
	return n
}

// TestFigures prints the figures of BENCHMARKS.md (go test -v): gets per
// lookup and the fraction of lookups that return the true successor, at
// 10 and 100 members, and 1,000 with OPENDHT_REDIR_FIGURES=1 (make
// redir-figures), with and without churn. Without churn every lookup must be exact (RZ-8) and no lookup may
// exceed L gets (RZ-9).
func TestFigures(t *testing.T) {
	sizes := []int{10, 100}
	if os.Getenv("OPENDHT_REDIR_FIGURES") == "1" {
		sizes = append(sizes, 1000)
	}
	for _, n := range sizes {
		for _, churn := range []bool{false, true} {
			f := figureRun(t, n, churn, 14)
			t.Log(f)
			if !churn && f.correct != 1 {
				t.Errorf("RZ-8: %s: a quiet namespace must answer every lookup exactly", f)
			}
			if f.p99Gets > DefaultConfig().Levels {
				t.Errorf("RZ-9: %s", f)
			}
		}
	}
}
