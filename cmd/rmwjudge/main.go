// Command rmwjudge judges read-modify-write protocols: it runs each
// registered protocol (impl/rmw) under the same seeded fault schedules in
// the simulator and over real UDP on loopback, checks every history for
// linearizability with porcupine, and prints a table. A history that is
// not linearizable is saved as JSON with its HTML visualization.
//
//	go run ./cmd/rmwjudge                      # what make linearizability runs
//	go run ./cmd/rmwjudge -protocols naive -sim-runs 1 -udp-runs 0 -seed 7
//
// The exit status is 1 if a protocol named by -must-pass has a violation
// or a protocol named by -must-fail was never caught.
package main

import (
	"cmp"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/opendht-go/opendht/impl/rmw"
	"github.com/opendht-go/opendht/linearizability"
	"github.com/opendht-go/opendht/linearizability/judge"
)

func main() {
	judge.RunChildIfAsked() // a node process of a real-UDP run
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rmwjudge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	protocols := fs.String("protocols", strings.Join(rmw.Names(), ","), "protocols to judge, comma-separated (the registered ones: impl/rmw)")
	simRuns := fs.Int("sim-runs", 200, "simulator runs per protocol (seeds -seed, -seed+1, ...)")
	udpRuns := fs.Int("udp-runs", 2, "real-UDP runs per protocol")
	seed := fs.Uint64("seed", 1, "first seed")
	out := fs.String("out", "judge-out", "directory for the histories and visualizations of failed runs")
	parallel := fs.Int("parallel", 2, "simulator runs at once")
	verbose := fs.Bool("v", false, "print a line per run")
	mustPass := fs.String("must-pass", "caspaxos", "protocols that must be linearizable in every run (exit 1 otherwise)")
	mustFail := fs.String("must-fail", "naive,root", "protocols the judge must catch at least once (exit 1 otherwise)")
	rounds := fs.Int("rounds", 4, "fault rounds per run")
	variants := fs.Bool("variants", true, "unless -protocols is given, also judge the broken CASPaxos variants (negative controls; they must be caught)")
	variantRuns := fs.Int("variant-runs", 30, "simulator runs per variant")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	judge.RegisterVariants()
	names := strings.Split(*protocols, ",")
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "protocols" })
	if *variants && !explicit {
		for _, v := range judge.Variants {
			if !slices.Contains(names, v) {
				names = append(names, v)
			}
		}
		*mustFail += "," + strings.Join(judge.Variants, ",")
	}
	for _, n := range names {
		if !rmw.Known(n) {
			fmt.Fprintf(stderr, "rmwjudge: unknown protocol %q (known: %v)\n", n, rmw.Names())
			return 2
		}
	}
	if *simRuns < 0 || *udpRuns < 0 || *parallel < 1 || *rounds < 0 {
		fmt.Fprintln(stderr, "rmwjudge: runs and rounds must not be negative, parallel at least 1")
		return 2
	}
	type job struct {
		proto string
		seed  uint64
		udp   bool
	}
	var jobs []job
	for _, p := range names {
		n, udp := *simRuns, *udpRuns
		if slices.Contains(judge.Variants, p) && !explicit {
			n, udp = *variantRuns, 0
		}
		for i := range n {
			jobs = append(jobs, job{p, *seed + uint64(i), false})
		}
		for i := range udp {
			jobs = append(jobs, job{p, *seed + uint64(i), true})
		}
	}
	results := make([]judge.Result, len(jobs))
	errs := make([]error, len(jobs))
	var mu sync.Mutex
	done := 0
	work := make(chan int)
	var wg sync.WaitGroup
	runJobs := func(work chan int) {
		defer wg.Done()
		for i := range work {
			j := jobs[i]
			cfg := judge.DefaultConfig(j.proto, j.seed)
			cfg.OutDir, cfg.Rounds = *out, *rounds
			if j.udp {
				results[i], errs[i] = judge.RunUDP(judge.DefaultUDPConfig(j.proto, j.seed, *out))
			} else {
				results[i], errs[i] = judge.RunSim(cfg)
			}
			mu.Lock()
			done++
			r := results[i]
			if errs[i] != nil {
				fmt.Fprintf(stderr, "rmwjudge: %s %s seed %d: %v\n", j.proto, where(j.udp), j.seed, errs[i])
			} else if *verbose || !r.Linearizable() {
				fmt.Fprintf(stderr, "[%d/%d] %s %s seed=%d family=%s nodes=%d ops=%d ok=%d failed=%d unknown=%d refused=%d verdict=%s %s\n",
					done, len(jobs), r.Protocol, r.Where, r.Seed, r.Family, r.Nodes, r.Ops, r.OK, r.Failed, r.Unknown, r.Refused, r.Verdict, r.VisualPath)
			}
			mu.Unlock()
		}
	}
	for range *parallel {
		wg.Add(1)
		go runJobs(work)
	}
	// Simulator runs in parallel; real-UDP runs after them, one at a time:
	// they run on the wall clock, and a loaded machine only slows them.
	for i := range jobs {
		if !jobs[i].udp {
			work <- i
		}
	}
	close(work)
	wg.Wait()
	udpWork := make(chan int)
	wg.Add(1)
	go runJobs(udpWork)
	for i := range jobs {
		if jobs[i].udp {
			udpWork <- i
		}
	}
	close(udpWork)
	wg.Wait()

	// The table: one row per protocol, place and schedule family.
	type rowKey struct{ proto, where, family string }
	type row struct {
		runs, lin, viol, undecided, errors int
		firstSeed                          uint64
		firstVis                           string
		opsPerSec                          []float64
		p50, p99                           []time.Duration
		ops, unknown                       int
	}
	rows := map[rowKey]*row{}
	var keys []rowKey
	totals := map[string]*row{}
	for i, r := range results {
		j := jobs[i]
		k := rowKey{j.proto, where(j.udp), r.Family}
		if rows[k] == nil {
			rows[k] = &row{}
			keys = append(keys, k)
		}
		if totals[j.proto] == nil {
			totals[j.proto] = &row{}
		}
		for _, x := range []*row{rows[k], totals[j.proto]} {
			x.runs++
			switch {
			case errs[i] != nil:
				x.errors++
				continue
			case r.Verdict == linearizability.VerdictOK:
				x.lin++
			case r.Verdict == linearizability.VerdictIllegal:
				x.viol++
				if x.firstVis == "" {
					vis := r.VisualPath
					if r.ShrunkPath != "" { // the violation alone reads better
						vis = strings.TrimSuffix(r.ShrunkPath, ".json") + ".html"
					}
					x.firstSeed, x.firstVis = r.Seed, cmp.Or(vis, "(no -out)")
				}
			default:
				x.undecided++
			}
			x.opsPerSec = append(x.opsPerSec, r.OpsPerSec)
			x.p50 = append(x.p50, r.P50)
			x.p99 = append(x.p99, r.P99)
			x.ops += r.Ops
			x.unknown += r.Unknown
		}
	}
	slices.SortStableFunc(keys, func(a, b rowKey) int {
		return cmp.Or(cmp.Compare(a.proto, b.proto), cmp.Compare(b.where, a.where), cmp.Compare(slices.Index(judge.Families, a.family), slices.Index(judge.Families, b.family)))
	})
	tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "protocol\twhere\tschedule\thistories\tlinearizable\tviolations\tundecided\tops\tunknown\tops/s\tp50\tp99\tfirst failing seed\tvisualization")
	for _, k := range keys {
		x := rows[k]
		seedCol, vis := "-", "-"
		if x.viol > 0 {
			seedCol, vis = fmt.Sprint(x.firstSeed), x.firstVis
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%.1f\t%s\t%s\t%s\t%s\n", k.proto, k.where, k.family, x.runs, x.lin, x.viol, x.undecided+x.errors, x.ops, x.unknown,
			median(x.opsPerSec), medianDur(x.p50).Round(time.Millisecond), medianDur(x.p99).Round(time.Millisecond), seedCol, vis)
	}
	_ = tw.Flush()
	fmt.Fprintln(stdout)
	status := 0
	for _, p := range names {
		x := totals[p]
		fmt.Fprintf(stdout, "protocol=%s runs=%d linearizable=%d violations=%d\n", p, x.runs, x.lin, x.viol)
		if slices.Contains(strings.Split(*mustPass, ","), p) && (x.viol > 0 || x.undecided > 0 || x.errors > 0) {
			fmt.Fprintf(stderr, "rmwjudge: %s must be linearizable in every run: %d violations, %d undecided, %d errors\n", p, x.viol, x.undecided, x.errors)
			status = 1
		}
		if slices.Contains(strings.Split(*mustFail, ","), p) && x.runs > 0 && x.viol == 0 {
			fmt.Fprintf(stderr, "rmwjudge: the judge did not catch %s in %d runs\n", p, x.runs)
			status = 1
		}
	}
	return status
}

func where(udp bool) string {
	if udp {
		return "udp"
	}
	return "sim"
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianDur(xs []time.Duration) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
