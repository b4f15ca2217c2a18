// Package judge runs read-modify-write protocols (impl/rmw) under seeded
// fault schedules, in the deterministic simulator and over real UDP on
// loopback, records their clients' histories and judges them with the
// porcupine checker of package linearizability. cmd/rmwjudge prints its
// table (make linearizability); a fixed subset runs in make test.
package judge

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/opendht-go/opendht/impl/client"
	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/rmw"
	"github.com/opendht-go/opendht/impl/simnet"
	"github.com/opendht-go/opendht/linearizability"
)

// Run is what every run of the judge has, in the simulator or over UDP.
type Run struct {
	Protocol string
	Seed     uint64
	// Rounds of the fault schedule: each injects one fault for FaultTime,
	// then heals and runs QuietTime without faults.
	Rounds               int
	FaultTime, QuietTime time.Duration
	// Clients run read-modify-write loops on Keys registers.
	Clients, Keys int
	// OutDir receives the history (JSON) and the porcupine visualization
	// (HTML) of a run that is not linearizable, and the same of the
	// violation alone (Shrink); KeepAll keeps every history.
	OutDir  string
	KeepAll bool
	// CheckTimeout bounds porcupine (0: 2 minutes).
	CheckTimeout time.Duration
	// NodeConfig adjusts the nodes' configuration (nil: defaults).
	NodeConfig func(*node.Config)
}

// Config is a run in the simulator.
type Config struct {
	Run
	// Nodes is the ring's size at the start (0: drawn from 12-20 by the
	// seed).
	Nodes int
	// Family is the kind of fault every round injects (see Families);
	// "" or "mixed" draws each round's kind from the seed.
	Family string
}

// Families are the fault schedules the judge runs: each injects one kind
// of fault per round (mixed: any kind, drawn per round).
var Families = []string{"partition", "one-way", "loss", "crash", "churn", "mixed"}

// FamilyOf is the schedule family the judge gives a seed.
func FamilyOf(seed uint64) string { return Families[seed%uint64(len(Families))] }

// DefaultConfig is the run the judge makes for a protocol and seed.
func DefaultConfig(protocol string, seed uint64) Config {
	return Config{Family: FamilyOf(seed), Run: Run{
		Protocol: protocol, Seed: seed, Rounds: 4,
		FaultTime: 15 * time.Second, QuietTime: 10 * time.Second,
		Clients: 6, Keys: 2,
	}}
}

// Result is what a run found.
type Result struct {
	Protocol string
	Seed     uint64
	Where    string // "sim" or "udp"
	Nodes    int
	// Family is the schedule family; Schedule lists the faults injected.
	Family   string
	Schedule []string
	// Operations by outcome; Failed counts cas answered "failed".
	Ops, OK, Failed, Unknown, Refused int
	Verdict                           linearizability.Verdict
	// HistoryPath and VisualPath name the saved files ("" if none);
	// ShrunkPath the violation alone (linearizability.Shrink), whose
	// visualization is beside it (.html).
	HistoryPath, VisualPath, ShrunkPath string
	// OpsPerSec counts answered operations per second of the workload
	// (simulated seconds in the simulator); P50 and P99 are their
	// latencies.
	OpsPerSec float64
	P50, P99  time.Duration
	Wall      time.Duration
}

// Linearizable reports whether the verdict is ok.
func (r Result) Linearizable() bool { return r.Verdict == linearizability.VerdictOK }

// Replay is the command that runs this result's run again.
func (r Result) Replay() string {
	if r.Where == "udp" {
		return fmt.Sprintf("go run ./cmd/rmwjudge -protocols %s -sim-runs 0 -udp-runs 1 -seed %d", r.Protocol, r.Seed)
	}
	return fmt.Sprintf("go run ./cmd/rmwjudge -protocols %s -sim-runs 1 -udp-runs 0 -seed %d", r.Protocol, r.Seed)
}

// Skew is the bound S of CAS-11 the runs are judged with: node clocks are
// up to 200 ms off and drift by up to 50 ppm, registers expire by the
// millisecond, and the history's clock is the simulator's.
const Skew = time.Second

// workload drives the clients: read-modify-write loops, each operation at
// a gateway node the client picks at random for it.
type workload struct {
	rng     *rand.Rand
	keys    []dht.Key
	stopped bool
	lat     []time.Duration
	pending int
}

// clientState is one client's loop, the same in the simulator and over
// UDP: read a register, cas it with the version read; after a failed cas,
// either cas again on the version it returned or start over (a coin);
// after an error, start over.
type clientState struct {
	c       *linearizability.Client
	id      int
	home    int // the index of its usual gateway
	read    bool
	key     int // the register it works on
	version uint64
}

// request records the client's next operation as called and returns it:
// a read (req nil) of key, or the cas req.
func (cs *clientState) request(rng *rand.Rand, keys []dht.Key) (key dht.Key, req *dht.CAS) {
	if cs.read { // a read picks the register the next cas works on
		cs.key = rng.IntN(len(keys))
		cs.c.CallRead(keys[cs.key])
		return keys[cs.key], nil
	}
	r := dht.CAS{Key: keys[cs.key], Expected: cs.version, Value: fmt.Appendf(nil, "c%d-%d", cs.id, rng.IntN(1_000_000)), TTL: shortOrLong(rng)}
	cs.c.CallCAS(r)
	return r.Key, &r
}

// answered records the answer to the operation in flight (err: none came,
// or a refusal) and decides what comes next.
func (cs *clientState) answered(rng *rand.Rand, reg dht.CASResult, err error) {
	switch {
	case err != nil:
		outcome(cs.c, err)
		cs.read = true
	case cs.read:
		cs.c.ReturnRead(reg.Versioned)
		cs.version, cs.read = reg.Version, false
	default:
		cs.c.ReturnCAS(reg)
		cs.version = reg.Version
		cs.read = reg.OK || rng.IntN(2) == 0
	}
}

func (r *Result) count(h linearizability.RegisterHistory) {
	for _, op := range h.Ops {
		r.Ops++
		switch op.Outcome {
		case linearizability.OutcomeOK:
			if op.Kind == linearizability.RegisterCAS && !op.OK {
				r.Failed++
			} else {
				r.OK++
			}
		case linearizability.OutcomeUnknown:
			r.Unknown++
		case linearizability.OutcomeRefused:
			r.Refused++
		}
	}
}

func percentiles(lat []time.Duration) (p50, p99 time.Duration) {
	if len(lat) == 0 {
		return 0, 0
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[len(s)/2], s[min(len(s)-1, len(s)*99/100)]
}

// RegisterKey is the key of the judge's register i.
func RegisterKey(i int) dht.Key { return dht.Key(dht.SHA1(fmt.Appendf(nil, "judge-register-%d", i))) }

// outcome classifies a gateway's error (gateway.RegisterBackend's
// contract, and impl/client's): an unknown outcome or a timeout is an
// unknown outcome, anything else a refusal (nothing happened).
func outcome(c *linearizability.Client, err error) {
	var t interface{ Timeout() bool }
	if errors.Is(err, client.ErrUnknownOutcome) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &t) && t.Timeout() {
		c.Unknown(err)
		return
	}
	c.Refused(err)
}

// RunSim runs cfg in the simulator.
func RunSim(cfg Config) (Result, error) {
	start := time.Now()
	res := Result{Protocol: cfg.Protocol, Seed: cfg.Seed, Where: "sim", Family: cfg.Family}
	if !rmw.Known(cfg.Protocol) {
		return res, fmt.Errorf("judge: unknown protocol %q (known: %v)", cfg.Protocol, rmw.Names())
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x7d))
	n := cfg.Nodes
	if n == 0 {
		n = 12 + rng.IntN(9)
	}
	res.Nodes = n
	ncfg := node.DefaultConfig()
	ncfg.RMW = cfg.Protocol
	if cfg.NodeConfig != nil {
		cfg.NodeConfig(&ncfg)
	}
	c, err := newSimCluster(cfg.Seed, n, ncfg)
	if err != nil {
		return res, err
	}
	defer c.close()
	c.net.RunFor(30 * time.Second) // the ring settles
	rec := linearizability.NewRecorder(c.net.Now)
	w := &workload{rng: rand.New(rand.NewPCG(cfg.Seed, 0x3c))}
	for i := range cfg.Keys {
		w.keys = append(w.keys, RegisterKey(i))
	}
	workStart := c.net.Now()
	for i := range cfg.Clients {
		cs := &clientState{c: rec.Client(), id: i, home: w.rng.IntN(n), read: true}
		c.net.After(time.Duration(w.rng.IntN(500))*time.Millisecond, func() { w.next(c, cs) })
	}
	next := n
	departed := 0
	if cfg.Rounds == 0 {
		c.net.RunFor(60 * time.Second)
	}
	for round := range cfg.Rounds {
		kind, detail, undo := c.inject(rng, cfg.Family, &next, &departed)
		res.Schedule = append(res.Schedule, kind)
		h := rec.BeginFault(kind, detail, fmt.Sprintf("round %d", round))
		c.net.RunFor(cfg.FaultTime)
		undo()
		c.net.Heal()
		_ = c.net.SetFaults(simnet.Faults{})
		rec.EndFault(h)
		c.net.RunFor(cfg.QuietTime)
		if c.err != nil {
			return res, c.err
		}
	}
	w.stopped = true
	workEnd := c.net.Now()
	// Let the operations in flight finish (a protocol answers within its
	// timeout; a gateway that crashed was reported at once).
	for range 60 {
		if w.pending == 0 {
			break
		}
		c.net.RunFor(time.Second)
	}
	h := rec.History()
	h.Protocol, h.Seed, h.Skew = cfg.Protocol, cfg.Seed, Skew
	h.Meta = map[string]string{"where": "sim", "nodes": fmt.Sprint(n), "family": cfg.Family, "schedule": strings.Join(res.Schedule, ","), "replay": Result{Protocol: cfg.Protocol, Seed: cfg.Seed, Where: "sim"}.Replay()}
	res.count(h)
	res.P50, res.P99 = percentiles(w.lat)
	res.OpsPerSec = float64(len(w.lat)) / workEnd.Sub(workStart).Seconds()
	err = judge(&res, h, cfg.Run)
	res.Wall = time.Since(start)
	return res, err
}

// judge checks h and saves what cfg asks for.
func judge(res *Result, h linearizability.RegisterHistory, cfg Run) error {
	base := ""
	if cfg.OutDir != "" {
		base = filepath.Join(cfg.OutDir, fmt.Sprintf("%s-%s-%d", res.Protocol, res.Where, res.Seed))
	}
	cc := linearizability.CheckConfig{Timeout: cfg.CheckTimeout}
	if cc.Timeout == 0 {
		cc.Timeout = 2 * time.Minute
	}
	if base != "" {
		cc.VisualizePath = base + ".html"
	}
	v, err := linearizability.Check(h, cc)
	if err != nil {
		return err
	}
	res.Verdict = v
	if base != "" && v != linearizability.VerdictOK {
		res.VisualPath = cc.VisualizePath
	}
	if base != "" && (cfg.KeepAll || v != linearizability.VerdictOK) {
		if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
			return err
		}
		h.Expect = v
		res.HistoryPath = base + ".json"
		if err := h.Save(res.HistoryPath); err != nil {
			return err
		}
	}
	if base != "" && v == linearizability.VerdictIllegal {
		// The violation alone, for a person to read: one key, cut just
		// after it went wrong.
		if s, ok := linearizability.Shrink(h, linearizability.CheckConfig{Timeout: cc.Timeout}); ok {
			res.ShrunkPath = base + "-shrunk.json"
			if err := s.Save(res.ShrunkPath); err != nil {
				return err
			}
			sc := cc
			sc.VisualizePath = base + "-shrunk.html"
			if _, err := linearizability.Check(s, sc); err != nil {
				return err
			}
		}
	}
	return nil
}

// next issues the client's next operation at a gateway.
func (w *workload) next(c *simCluster, cs *clientState) {
	if w.stopped {
		return
	}
	live := c.live()
	if len(live) == 0 {
		return
	}
	// A client mostly keeps to its own gateway, as real ones do (and a
	// proposer then reuses what it knows of a key); one call in four goes
	// to another.
	gw := c.nodes[cs.home%len(c.nodes)]
	if !gw.h.Alive() || w.rng.IntN(4) == 0 {
		gw = live[w.rng.IntN(len(live))]
	}
	key, req := cs.request(w.rng, w.keys)
	start := func(now time.Time) uint64 { return gw.n.ReadRegister(now, key) }
	if req != nil {
		start = func(now time.Time) uint64 { return gw.n.CAS(now, *req) }
	}
	called := c.net.Now()
	w.pending++
	gw.call(start, func(d node.Completion) {
		w.pending--
		if d.Err == nil {
			w.lat = append(w.lat, c.net.Now().Sub(called))
		}
		cs.answered(w.rng, d.Register, d.Err)
		c.net.After(time.Duration(w.rng.IntN(300))*time.Millisecond, func() { w.next(c, cs) })
	})
}

// shortOrLong draws a cas's ttl: mostly long-lived registers; one cas in
// four with a ttl of 1-5 s, so that registers expire and are created again
// during a run (CAS-4) and expiry races with the operations around it.
func shortOrLong(rng *rand.Rand) int64 {
	if rng.IntN(4) == 0 {
		return int64(1 + rng.IntN(5))
	}
	return 3600
}

// inject starts one fault drawn from rng and returns its kind, what it
// hit, and how to end it (healing the network is done by the caller).
// Faults stay within the replication bound: one at a time, at most one
// node down, departures and joins one node at a time.
func (c *simCluster) inject(rng *rand.Rand, family string, next, departed *int) (kind, detail string, undo func()) {
	live := c.live()
	nothing := func() {}
	pick := rng.IntN(7)
	switch family {
	case "partition":
		pick = 0
	case "one-way":
		pick = 1
	case "loss":
		pick = 2
	case "crash":
		pick = 3
	case "churn":
		pick = 4 + rng.IntN(2)
	}
	switch pick {
	case 0: // a minority partitioned away
		k := 1 + rng.IntN(max(1, len(live)/3))
		perm := rng.Perm(len(live))
		var a, b []netip.AddrPort
		var names []string
		for j, i := range perm {
			if j < k {
				a = append(a, live[i].addr)
				names = append(names, fmt.Sprint(live[i].i))
			} else {
				b = append(b, live[i].addr)
			}
		}
		_ = c.net.Partition(a, b)
		return "partition", "nodes " + strings.Join(names, " ") + " | rest", nothing
	case 1: // one node can send but not receive
		x := live[rng.IntN(len(live))]
		var rest []netip.AddrPort
		for _, sn := range live {
			if sn != x {
				rest = append(rest, sn.addr)
			}
		}
		_ = c.net.PartitionOneWay(rest, []netip.AddrPort{x.addr})
		return "one-way", fmt.Sprintf("node %d deaf", x.i), nothing
	case 2: // loss, duplication, reordering
		f := simnet.Faults{Loss: 0.05 + rng.Float64()*0.15, Duplicate: rng.Float64() * 0.1, Jitter: 50 * time.Millisecond}
		_ = c.net.SetFaults(f)
		return "loss", fmt.Sprintf("loss %.0f%% dup %.0f%% jitter 50ms", f.Loss*100, f.Duplicate*100), nothing
	case 3: // crash and restart
		x := live[rng.IntN(len(live))]
		x.crash()
		return "crash", fmt.Sprintf("node %d", x.i), func() { x.start() }
	case 4: // a node joins
		sn := c.addNode(*next)
		*next++
		return "join", fmt.Sprintf("node %d", sn.i), nothing
	case 5: // a node leaves for good (at most two per run)
		if *departed < 2 && len(live) > 8 {
			*departed++
			x := live[rng.IntN(len(live))]
			x.crash()
			return "leave", fmt.Sprintf("node %d", x.i), nothing
		}
	}
	return "none", "", nothing
}
