package node_test

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/opendht-go/opendht/impl/client"
	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/porttest"
	"github.com/opendht-go/opendht/linearizability"
)

// The consistency runs of the replicated DHT (spec/SPEC.md section 13):
// histories recorded from simulated clusters under rapid-drawn faults and
// from real node processes over UDP are judged by every checker, and the
// planted mistakes of variants.go by their scenarios. make test runs a
// fixed subset; make consistency runs the whole of it (OPENDHT_CONSISTENCY
// below) and prints one line per checker and one per variant:
//
//	checker=NAME runs=N ops=N violations=N
//	variant=NAME runs=N caught=N

// checkers are the judges every history goes through. The set checker of
// linearizability/eventual.go is one; each must find no violation in a
// history of the correct node.
var checkers = []struct {
	name  string
	check func(h linearizability.History, faults []linearizability.Interval, final time.Time) []linearizability.Violation
}{
	{"eventual", func(h linearizability.History, faults []linearizability.Interval, final time.Time) []linearizability.Violation {
		return linearizability.CheckEventual(h, linearizability.EventualConfig{
			MaxTTL: dht.MaxTTL, Skew: 2 * time.Second, Settle: settleTime, FinalReads: final, Faults: faults,
		})
	}},
	{"no-repeats", checkNoRepeats},
	{"porcupine", checkPorcupine},
}

// checkPorcupine judges a history against the model of the replicated
// DHT (model/replicated.go) with porcupine: linearizability.CheckDHT. A key
// porcupine cannot decide in its time is reported as a violation too: a
// checker that gives up proves nothing.
func checkPorcupine(h linearizability.History, faults []linearizability.Interval, _ time.Time) []linearizability.Violation {
	res, err := linearizability.CheckDHT(h, faults, linearizability.DefaultDHTConfig())
	if err != nil {
		return []linearizability.Violation{{Property: "checker error", Detail: err.Error()}}
	}
	v := res.AsViolations()
	for _, k := range res.Undecided {
		v = append(v, linearizability.Violation{Property: "undecided", Detail: fmt.Sprintf("porcupine did not decide key %x in time", k[:4])})
	}
	return v
}

// checkNoRepeats is RD-9's "no item twice": a get that followed
// placemarks never received one item in two pages.
func checkNoRepeats(h linearizability.History, _ []linearizability.Interval, _ time.Time) []linearizability.Violation {
	var out []linearizability.Violation
	for _, e := range h {
		if e.Kind != linearizability.OpGet || e.Unknown {
			continue
		}
		seen := map[dht.ItemPos]bool{}
		for _, v := range e.Values {
			p := dht.PosOf(v)
			if seen[p] {
				out = append(out, linearizability.Violation{Property: "repeated item", Detail: fmt.Sprintf("client %d get of %x at %v received %q twice", e.Client, e.Key[:4], e.Call, v.Value)})
			}
			seen[p] = true
		}
	}
	return out
}

// tally counts what one checker saw over many runs.
type tally struct{ runs, ops, violations int }

type consistencyReport struct {
	mu       sync.Mutex
	checkers map[string]*tally
	variants map[string]*tally // runs and catches (in violations)
}

func newReport() *consistencyReport {
	return &consistencyReport{checkers: map[string]*tally{}, variants: map[string]*tally{}}
}

// judge runs every checker on a history and returns the violations, by
// checker.
func (r *consistencyReport) judge(h linearizability.History, faults []linearizability.Interval, final time.Time) map[string][]linearizability.Violation {
	out := map[string][]linearizability.Violation{}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range checkers {
		v := c.check(h, faults, final)
		t := r.checkers[c.name]
		if t == nil {
			t = &tally{}
			r.checkers[c.name] = t
		}
		t.runs++
		t.ops += len(h)
		t.violations += len(v)
		if len(v) > 0 {
			out[c.name] = v
		}
	}
	return out
}

func (r *consistencyReport) lines() []string {
	var out []string
	for _, c := range checkers {
		if t := r.checkers[c.name]; t != nil {
			out = append(out, fmt.Sprintf("checker=%s runs=%d ops=%d violations=%d", c.name, t.runs, t.ops, t.violations))
		}
	}
	for _, sc := range scenarios {
		for _, name := range sc.variants {
			if t := r.variants[name]; t != nil {
				out = append(out, fmt.Sprintf("variant=%s runs=%d caught=%d", name, t.runs, t.violations))
			}
		}
	}
	return out
}

// envInt reads a count from the environment, def when unset.
func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q is not a count", name, v)
	}
	return n
}

// TestConsistency is make consistency (with OPENDHT_CONSISTENCY=1): 200
// simulated clusters under rapid-drawn faults and workloads (seeds 1 to
// OPENDHT_CONSISTENCY_SIM), every scenario variant on 10 seeds, and
// OPENDHT_CONSISTENCY_UDP (5) runs of 8 node processes over real UDP with
// kill -9, partitions and loss; it prints the summary lines. Without the
// variable it runs the fixed subset make test runs: 3 simulated
// schedules and one short real-UDP run.
func TestConsistency(t *testing.T) {
	if testing.Short() {
		t.Skip("simulated clusters and node processes")
	}
	full := os.Getenv("OPENDHT_CONSISTENCY") != ""
	simRuns, variantSeeds, udpRuns, udpLoad := 3, 0, 1, 12*time.Second
	if full {
		simRuns = envInt(t, "OPENDHT_CONSISTENCY_SIM", 200)
		variantSeeds = 10
		udpRuns = envInt(t, "OPENDHT_CONSISTENCY_UDP", 5)
		udpLoad = 30 * time.Second
	}
	rep := newReport()
	failed := false
	setFlag(t, "rapid.checks", "1")
	setFlag(t, "rapid.nofailfile", "true")
	setFlag(t, "rapid.seed", "1") // restored when the test ends
	for s := 1; s <= simRuns; s++ {
		// One schedule per seed, judged inside the property so that a
		// failure shrinks; only the first, unshrunk run is counted.
		if err := flag.Set("rapid.seed", strconv.Itoa(s)); err != nil {
			t.Fatal(err)
		}
		counted := false
		t.Run(fmt.Sprintf("sim%d", s), func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				c, final := faultCluster(rt, node.DefaultConfig(), false)
				var verdicts map[string][]linearizability.Violation
				if !counted {
					verdicts, counted = rep.judge(c.hist, c.faults, final), true
				} else {
					verdicts = judgeOnly(c.hist, c.faults, final)
				}
				for name, v := range verdicts {
					rt.Fatalf("checker %s: %d violations, first: %v (replay: OPENDHT_CONSISTENCY=1 go test -tags variants ./impl/node -run 'TestConsistency/sim%d$' -v)", name, len(v), v[0], s)
				}
			})
		})
		failed = failed || t.Failed()
	}
	for _, sc := range scenarios {
		for _, name := range sc.variants {
			for seed := uint64(1); seed <= uint64(variantSeeds); seed++ {
				problems, _, _, _ := runScenario(t, sc.run, seed, node.Variants[name])
				tl := rep.variants[name]
				if tl == nil {
					tl = &tally{}
					rep.variants[name] = tl
				}
				tl.runs++
				if len(problems) > 0 {
					tl.violations++
				} else {
					failed = true
					t.Errorf("variant %s not caught by %q at seed %d", name, sc.name, seed)
				}
			}
		}
	}
	for run := range udpRuns {
		res := udpConsistencyRun(t, uint64(run+1), udpLoad)
		t.Logf("udp run %d: %s", run+1, res.stats)
		fmt.Printf("udp run=%d %s\n", run+1, res.stats)
		for name, v := range rep.judge(res.hist, res.faults, res.final) {
			failed = true
			t.Errorf("udp run %d: checker %s: %d violations, first: %v", run+1, name, len(v), v[0])
		}
	}
	for _, l := range rep.lines() {
		fmt.Println(l)
		t.Log(l)
	}
	if failed {
		t.Fail()
	}
}

// judgeOnly runs every checker without counting.
func judgeOnly(h linearizability.History, faults []linearizability.Interval, final time.Time) map[string][]linearizability.Violation {
	out := map[string][]linearizability.Violation{}
	for _, c := range checkers {
		if v := c.check(h, faults, final); len(v) > 0 {
			out[c.name] = v
		}
	}
	return out
}

// udpResult is one run over real UDP.
type udpResult struct {
	hist   linearizability.History
	faults []linearizability.Interval
	final  time.Time
	stats  string
}

// faultsFile is how a test tells its node processes what the network does
// to them: lines "drop ADDR" (datagrams from ADDR are lost) and "loss P"
// (each datagram is lost with probability P). A child polls it.
type faultsFile struct {
	path string
}

func (f faultsFile) set(drop []string, loss float64) error {
	var b strings.Builder
	for _, a := range drop {
		fmt.Fprintf(&b, "drop %s\n", a)
	}
	fmt.Fprintf(&b, "loss %g\n", loss)
	tmp := f.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, f.path)
}

// childDropper polls path and answers ServerConfig.Drop from it.
func childDropper(ctx context.Context, path string) func(netip.AddrPort) bool {
	type state struct {
		drop map[netip.AddrPort]bool
		loss float64
	}
	var cur atomic.Pointer[state]
	cur.Store(&state{})
	read := func() {
		f, err := os.Open(path)
		if err != nil {
			return
		}
		defer f.Close()
		s := &state{drop: map[netip.AddrPort]bool{}}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), " ")
			switch k {
			case "drop":
				if a, err := netip.ParseAddrPort(v); err == nil {
					s.drop[a] = true
				}
			case "loss":
				s.loss, _ = strconv.ParseFloat(v, 64)
			}
		}
		cur.Store(s)
	}
	read()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
				read()
			}
		}
	}()
	return func(from netip.AddrPort) bool {
		s := cur.Load()
		return s.drop[from] || (s.loss > 0 && rand.Float64() < s.loss)
	}
}

// udpConsistencyRun runs 8 node processes on loopback, each with its
// XML-RPC gateway, and 8 clients (the Go client, over XML-RPC) that put
// with a secret, remove, and read keys page by page (small maxvals, every
// page at the next gateway) on 64 keys. The first third of the load runs
// without faults; then nodes are killed with SIGKILL and restarted from
// their disks, one at a time, while a partition and then datagram loss
// come and go. Then the faults heal, the cluster settles, and every key
// is read through every gateway.
func udpConsistencyRun(t *testing.T, seed uint64, load time.Duration) udpResult {
	dir := t.TempDir()
	ff := faultsFile{path: filepath.Join(dir, "faults")}
	if err := ff.set(nil, 0); err != nil {
		t.Fatal(err)
	}
	const nodes = 8
	var kids []*child
	var gws []string
	boot := ""
	for i := range nodes {
		c := &child{addr: fmt.Sprintf("127.0.0.1:%d", porttest.UDP(t)), boot: boot, dir: filepath.Join(dir, fmt.Sprint(i)),
			xmlrpc: fmt.Sprintf("127.0.0.1:%d", porttest.TCP(t)), faults: ff.path}
		c.start(t)
		kids = append(kids, c)
		gws = append(gws, c.xmlrpc)
		if i == 0 {
			boot = c.addr
			time.Sleep(100 * time.Millisecond)
		}
	}
	defer func() {
		for _, c := range kids {
			c.kill()
		}
	}()
	time.Sleep(4 * time.Second) // the ring forms
	// Faults: kill -9 and restart, one node at a time (never the first,
	// which the others bootstrap from); a partition of two nodes; loss.
	return consistencyWorkload(t, seed, gws, load, func(round int, rng *rand.Rand) {
		switch round % 3 {
		case 0:
			v := kids[1+rng.IntN(nodes-1)]
			v.kill()
			time.Sleep(time.Duration(2+rng.IntN(3)) * time.Second)
			v.start(t)
		case 1:
			a, b := kids[1+rng.IntN(nodes-1)], kids[1+rng.IntN(nodes-1)]
			_ = ff.set([]string{a.addr, b.addr}, 0) // the others lose what these two send
			time.Sleep(3 * time.Second)
			_ = ff.set(nil, 0)
		case 2:
			_ = ff.set(nil, 0.1)
			time.Sleep(3 * time.Second)
			_ = ff.set(nil, 0)
		}
	})
}

// consistencyWorkload runs the clients of a consistency run against the
// gateways gws: a third of load without faults, then fault rounds (each
// injects a fault, waits and undoes it) until load has passed, then a
// settle period and final paged reads of every key through every gateway.
// The history is recorded from the clients' side.
func consistencyWorkload(t *testing.T, seed uint64, gws []string, load time.Duration, fault func(round int, rng *rand.Rand)) udpResult {
	rng := rand.New(rand.NewPCG(seed, 0xc0))
	var (
		mu     sync.Mutex
		hist   linearizability.History
		faults []linearizability.Interval
	)
	record := func(e linearizability.Event) {
		mu.Lock()
		hist = append(hist, e)
		mu.Unlock()
	}
	const keys = 64
	key := func(i int) dht.Key { return dht.Key(dht.SHA1(fmt.Appendf(nil, "consistency-%d-%d", seed, i))) }
	secret := []byte("consistency")
	var acked [2]atomic.Int64 // acknowledged writes without faults, and with
	var faulty atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for ci := range 8 {
		cfg := client.DefaultConfig(gws[ci:]...)
		cfg.Gateways = append(cfg.Gateways, gws[:ci]...) // its own gateway first, the others to fail over to
		cfg.CallTimeout, cfg.MaxAttempts = 10*time.Second, 3
		cfg.Application = fmt.Sprintf("consistency-%d", ci)
		cl, err := client.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		crng := rand.New(rand.NewPCG(seed, uint64(ci)))
		wg.Go(func() {
			var mine []string
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				k := crng.IntN(keys)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				switch r := crng.IntN(10); {
				case r < 6:
					v := fmt.Sprintf("c%d-%d", ci, n)
					e := linearizability.Event{Client: ci, Kind: linearizability.OpPut, Key: key(k), Value: []byte(v), SecretHash: dht.SHA1(secret), TTL: 3600, Call: time.Now()}
					err := cl.PutRemovable(ctx, key(k), []byte(v), secret, time.Hour)
					e.Return = time.Now()
					writeOutcome(&e, err)
					record(e)
					if err == nil {
						mine = append(mine, fmt.Sprintf("%d|%s", k, v))
						acked[b2i(faulty.Load())].Add(1)
					}
				case r < 7 && len(mine) > 0:
					i := crng.IntN(len(mine))
					ks, v, _ := strings.Cut(mine[i], "|")
					mine = append(mine[:i], mine[i+1:]...)
					kk, _ := strconv.Atoi(ks)
					e := linearizability.Event{Client: ci, Kind: linearizability.OpRemove, Key: key(kk), Value: []byte(v), SecretHash: dht.SHA1(secret), TTL: 3600, Call: time.Now()}
					err := cl.Remove(ctx, key(kk), []byte(v), secret, time.Hour)
					e.Return = time.Now()
					writeOutcome(&e, err)
					record(e)
					if err == nil {
						acked[b2i(faulty.Load())].Add(1)
					}
				default:
					// One get in three is a fast read (RD-14), judged by
					// every rule but RD-7.
					e := pagedClientGet(ctx, cl, ci, key(k), 1+crng.IntN(4), crng.IntN(3) == 0)
					if !e.Unknown {
						record(e)
					}
				}
				cancel()
			}
		})
	}
	clean := load / 3
	time.Sleep(clean)
	cleanAcks := acked[0].Load()
	faultStart := time.Now()
	faulty.Store(true)
	deadline := faultStart.Add(load - clean)
	for round := 0; time.Now().Before(deadline); round++ {
		from := time.Now()
		fault(round, rng)
		time.Sleep(time.Second)
		mu.Lock()
		faults = append(faults, linearizability.Interval{From: from, To: time.Now().Add(2 * time.Second)})
		mu.Unlock()
	}
	faultTime := time.Since(faultStart)
	close(stop)
	wg.Wait()
	faulty.Store(false)
	time.Sleep(settleTime)
	final := time.Now()
	// Every key through every gateway, page by page: one sequential
	// reader per gateway, all at once (over wide-area RTTs one after the
	// other would take minutes).
	reader, err := client.New(client.Config{Gateways: gws, Protocol: client.XMLRPC, Application: "consistency-final",
		CallTimeout: 10 * time.Second, MaxAttempts: 8, InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, DownFor: time.Second, Conns: 4, PageSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	var readers sync.WaitGroup
	for g := range gws {
		readers.Go(func() {
			for k := range keys { // the client spreads the pages over the gateways
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				e := pagedClientGet(ctx, reader, 100+g, key(k), 3, false)
				cancel()
				if e.Unknown {
					t.Errorf("run %d: final read of key %d failed", seed, k)
					continue
				}
				record(e)
			}
		})
	}
	readers.Wait()
	puts := 0
	for _, e := range hist {
		if e.Kind == linearizability.OpPut && !e.Unknown && e.Status == dht.StatusOK {
			puts++
		}
	}
	cleanRate := float64(cleanAcks) / clean.Seconds()
	faultRate := float64(acked[1].Load()) / faultTime.Seconds()
	stats := fmt.Sprintf("nodes=%d ops=%d acked_puts=%d writes_per_s_clean=%.0f writes_per_s_faults=%.0f ratio=%.2f",
		len(gws), len(hist), puts, cleanRate, faultRate, faultRate/max(cleanRate, 1))
	return udpResult{hist: hist, faults: faults, final: final, stats: stats}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// writeOutcome records a client write's answer: status 0, or status 1 or
// 2 (an unknown outcome, RD-3), or no answer at all.
func writeOutcome(e *linearizability.Event, err error) {
	switch {
	case err == nil:
		e.Status = dht.StatusOK
	case errors.Is(err, client.ErrOverCapacity):
		e.Status = dht.StatusOverCapacity
	case errors.Is(err, client.ErrTryAgain):
		e.Status = dht.StatusTryAgain
	default:
		e.Unknown = true
	}
}

// pagedClientGet reads every value of key page by page through the Go
// client, as one get of the history, every page a fast read if fast
// (RD-14); Unknown when a page failed.
func pagedClientGet(ctx context.Context, cl *client.Client, id int, key dht.Key, maxvals int, fast bool) linearizability.Event {
	e := linearizability.Event{Client: id, Kind: linearizability.OpGet, Key: key, Call: time.Now(), Fast: fast}
	var opts []client.GetOption
	if fast {
		opts = append(opts, client.FastRead())
	}
	var pm []byte
	for pages := 0; pages < 10000; pages++ {
		p, err := cl.GetPage(ctx, key, maxvals, pm, opts...)
		if err != nil {
			e.Unknown = true
			return e
		}
		for _, v := range p.Values {
			e.Values = append(e.Values, dht.Value{Value: v.Data, SecretHash: v.SecretHash, TTLRemaining: int64(v.TTL / time.Second)})
		}
		if len(p.Placemark) == 0 {
			e.Return = time.Now()
			return e
		}
		pm = p.Placemark
	}
	e.Unknown = true
	return e
}
