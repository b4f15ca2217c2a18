package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/opendht-go/opendht/impl/client"
	"github.com/opendht-go/opendht/impl/dht"
)

type benchFlags struct {
	op          string
	valueSize   int
	getRatio    float64
	fastReads   bool
	concurrency int
	duration    time.Duration
	ops         int64
	keys        int
	ttl         ttlFlag
	seed        uint64
	cpuProfile  string
}

// opStats collects the latencies and errors of one kind of operation.
type opStats struct {
	lat       []time.Duration
	errors    map[string]int
	conflicts int // cas that completed and did not take effect (their latency is in lat)
}

// timed makes one call with its own timeout and records it: its latency
// if it succeeded, its kind of error otherwise. It returns the call's
// error.
func (s *opStats) timed(ctx context.Context, timeout time.Duration, call func(context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t0 := time.Now()
	err := call(cctx)
	if err != nil {
		s.errors[errKind(err)]++
		return err
	}
	s.lat = append(s.lat, time.Since(t0))
	return nil
}

// errMiss is a get that found no value where the bench had put one.
var errMiss = errors.New("miss (no value)")

func (s *opStats) add(o *opStats) {
	s.lat = append(s.lat, o.lat...)
	for k, v := range o.errors {
		s.errors[k] += v
	}
	s.conflicts += o.conflicts
}

func (s *opStats) nerrors() int {
	n := 0
	for _, v := range s.errors {
		n += v
	}
	return n
}

func newStats() *opStats { return &opStats{errors: map[string]int{}} }

// quantile returns the q-quantile of sorted latencies in milliseconds.
func quantile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return float64(sorted[min(max(i, 0), len(sorted)-1)].Microseconds()) / 1000
}

// errKind names an error for the bench's error table.
func errKind(err error) string {
	switch {
	case errors.Is(err, client.ErrOverCapacity):
		return "over capacity (status 1)"
	case errors.Is(err, client.ErrTryAgain):
		return "try again (status 2)"
	case errors.Is(err, client.ErrInvalid):
		return "invalid: " + err.Error()
	case errors.Is(err, client.ErrUnknownOutcome):
		return "outcome unknown"
	case errors.Is(err, client.ErrNotSupported):
		return "not supported: " + err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, client.ErrUnavailable):
		return "no gateway answered"
	}
	return err.Error()
}

func benchCmd(g *globals) *cobra.Command {
	f := &benchFlags{ttl: ttlFlag{time.Hour}}
	c := &cobra.Command{
		Use:   "bench",
		Short: "Closed-loop load: puts and gets, or read-modify-write on registers, with latency percentiles",
		Long: `bench runs --concurrency clients, each doing one call at a time and starting
the next when it returns, for --duration or --ops calls in all.

With --op put (the default) a call is a get with probability --get-ratio, else
a put of a random --value-size value under one of --keys keys (text keys
"bench-<seed>-<i>" hashed with SHA-1). Before the measured run every key gets
one value, so that gets have something to read; a get that finds no value
counts as an error ("miss"). A get asks for one page of up to 10 values (the
original default maxvals) and does not follow placemarks. With --fast-reads
every get is a fast read (spec RD-14: the first replica to answer, without
read-your-writes; --protocol xmlrpc or http). Calls are spread over
the gateways round-robin and are not retried, so every status 1 or 2 shows as
an error. With --protocol xmlrpc or sunrpc it drives any gateway that speaks
the original OpenDHT client API.

With --op cas each client runs read-modify-write loops on the registers of
--keys keys (--keys 1: every client contends for one register): it reads a
random key's register, then writes a random --value-size value with a cas that
expects the version read; when the cas fails because another client wrote
first (a "conflict") it tries again with the version the failed cas returned,
until one succeeds. Reads and cas calls each count as one call. A conflict is a
completed call, counted apart from errors; after an error (an unknown outcome
included) the loop starts again with a read. It needs --protocol xmlrpc or
http.

On a terminal it shows a progress bar while it runs (none when its output
goes to a file or a pipe). It prints ops/s and latency p50/p99/p999 per operation and ends with one line:
  ops/s=N p50_ms=N p99_ms=N errors=N
or, with --op cas,
  ops/s=N p50_ms=N p99_ms=N conflicts=N errors=N`,
		Example: `  dhtctl bench --gateway 127.0.0.1:5851,127.0.0.1:5861 --concurrency 64 --duration 30s
  dhtctl bench --protocol sunrpc --gateway 127.0.0.1:5852 --ops 10000 --get-ratio 0.9
  dhtctl bench --get-ratio 1 --fast-reads --concurrency 1 --keys 100 --duration 60s
  dhtctl bench --op cas --keys 1 --concurrency 8 --value-size 100 --duration 10s`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("ops") && cmd.Flags().Changed("duration") {
				return usageError{Err: errors.New("give --duration or --ops, not both: --ops runs that many calls, however long they take")}
			}
			return runBench(cmd.Context(), g, f, cmd.Flags().Changed("get-ratio"))
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.op, "op", "put", "workload: put (puts and gets) or cas (read-modify-write on registers)")
	fl.IntVar(&f.valueSize, "value-size", 1024, "bytes per put or cas value (at most 1024)")
	fl.Float64Var(&f.getRatio, "get-ratio", 0.5, "share of calls that are gets, 0..1 (--op put)")
	fl.BoolVar(&f.fastReads, "fast-reads", false, "gets are fast reads: the first replica to answer, without read-your-writes (spec RD-14; --op put, xmlrpc or http)")
	fl.IntVarP(&f.concurrency, "concurrency", "c", 64, "clients, each with one call in flight")
	fl.DurationVarP(&f.duration, "duration", "d", 10*time.Second, "how long to run (not with --ops)")
	fl.Int64Var(&f.ops, "ops", 0, "run this many calls in all instead of for a duration (not with --duration)")
	fl.IntVar(&f.keys, "keys", 1000, "number of distinct keys")
	fl.Var(&f.ttl, "ttl", "TTL of the values put and the registers written")
	fl.Uint64Var(&f.seed, "seed", 0, "seed of the value and key choices (0: from the clock)")
	fl.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured run (this process) to this file")
	return c
}

func runBench(ctx context.Context, g *globals, f *benchFlags, getRatioSet bool) error {
	switch {
	case f.op != "put" && f.op != "cas":
		return usageError{Err: fmt.Errorf("--op must be put or cas, got %q", f.op)}
	case f.op == "cas" && getRatioSet:
		return usageError{Err: errors.New("--get-ratio is for --op put: --op cas reads before every write")}
	case f.op == "cas" && f.fastReads:
		return usageError{Err: errors.New("--fast-reads is for --op put: a cas reads its register linearizably")}
	case f.valueSize < 0 || f.valueSize > dht.MaxValueLen:
		return usageError{Err: fmt.Errorf("--value-size must be 0..%d, got %d", dht.MaxValueLen, f.valueSize)}
	case f.getRatio < 0 || f.getRatio > 1 || math.IsNaN(f.getRatio):
		return usageError{Err: fmt.Errorf("--get-ratio must be in 0..1, got %v", f.getRatio)}
	case f.concurrency < 1:
		return usageError{Err: fmt.Errorf("--concurrency must be at least 1, got %d", f.concurrency)}
	case f.ops < 0 || (f.ops == 0 && f.duration <= 0):
		return usageError{Err: errors.New("give a positive --duration or --ops")}
	case f.keys < 1:
		return usageError{Err: fmt.Errorf("--keys must be at least 1, got %d", f.keys)}
	}
	if f.seed == 0 {
		f.seed = uint64(time.Now().UnixNano())
	}
	cfg, err := g.config()
	if err != nil {
		return err
	}
	if f.op == "cas" && cfg.Protocol == client.SunRPC {
		return usageError{Err: errors.New("--op cas needs --protocol xmlrpc or http: the Sun RPC interface has no registers")}
	}
	if f.fastReads && cfg.Protocol == client.SunRPC {
		return usageError{Err: errors.New("--fast-reads needs --protocol xmlrpc or http: the Sun RPC interface has no fast reads")}
	}
	cfg.MaxAttempts = 1
	cfg.Conns = f.concurrency
	cfg.DownFor = 0
	c, err := client.New(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	keys := make([]dht.Key, f.keys)
	for i := range keys {
		keys[i] = client.TextKey(fmt.Sprintf("bench-%d-%d", f.seed, i))
	}
	workload := fmt.Sprintf("get ratio %.2f", f.getRatio)
	if f.fastReads {
		workload += ", fast reads"
	}
	if f.op == "cas" {
		workload = "read-modify-write (cas)"
	}
	fmt.Fprintf(g.out, "bench: %s via %s, %d clients, %d keys, %d-byte values, %s, seed %d\n",
		cfg.Protocol, strings.Join(cfg.Gateways, ","), f.concurrency, f.keys, f.valueSize, workload, f.seed)

	if f.op == "put" && f.getRatio > 0 {
		start := time.Now()
		var next atomic.Int64
		var failed atomic.Int64
		var firstErr atomic.Value
		var wg sync.WaitGroup
		for w := range f.concurrency {
			wg.Go(func() {
				rnd := rand.New(rand.NewPCG(f.seed, uint64(w)+1<<32))
				val := make([]byte, f.valueSize)
				for {
					i := next.Add(1) - 1
					if i >= int64(len(keys)) || ctx.Err() != nil {
						return
					}
					fill(rnd, val)
					if err := putRetrying(ctx, c, keys[i], val, f.ttl.d, g.timeout); err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err)
					}
				}
			})
		}
		wg.Wait()
		if n := failed.Load(); n > 0 {
			return fmt.Errorf("loading %d keys: %d puts failed, first: %v", len(keys), n, firstErr.Load())
		}
		fmt.Fprintf(g.out, "loaded %d keys in %v\n", len(keys), time.Since(start).Round(time.Millisecond))
	}

	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	// The two kinds of operation: puts and gets, or cas and reads.
	first, second := newStats(), newStats()
	names := [2]string{"put", "get"}
	if f.op == "cas" {
		names = [2]string{"cas", "read"}
	}
	var mu sync.Mutex
	var issued atomic.Int64
	// Every call is counted (next), for the progress bar.
	var calls atomic.Int64
	deadline := time.Now().Add(f.duration)
	// next reports whether another call may start.
	next := func() bool {
		if ctx.Err() != nil {
			return false
		}
		if f.ops > 0 {
			ok := issued.Add(1) <= f.ops
			if ok {
				calls.Add(1)
			}
			return ok
		}
		calls.Add(1)
		return time.Now().Before(deadline)
	}
	bar := startProgress(g.out, isTerminal(g.out), f.ops, f.duration, &calls)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range f.concurrency {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(f.seed, uint64(w)+2<<32))
			a, b := newStats(), newStats()
			if f.op == "cas" {
				benchCAS(ctx, c, rnd, keys, f, g.timeout, next, a, b)
			} else {
				benchPut(ctx, c, rnd, keys, f, g.timeout, next, a, b)
			}
			mu.Lock()
			first.add(a)
			second.add(b)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	bar.finish()
	all := newStats()
	all.add(first)
	all.add(second)
	report := func(name string, s *opStats) {
		slices.Sort(s.lat)
		n := len(s.lat) + s.nerrors()
		conflicts := ""
		if name == "cas" {
			conflicts = fmt.Sprintf(" conflicts=%d", s.conflicts)
		}
		fmt.Fprintf(g.out, "%-4s ops=%d ops/s=%.0f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f%s errors=%d\n", name, n,
			float64(n)/elapsed.Seconds(), quantile(s.lat, 0.5), quantile(s.lat, 0.99), quantile(s.lat, 0.999), conflicts, s.nerrors())
		kinds := make([]string, 0, len(s.errors))
		for k := range s.errors {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		for _, k := range kinds {
			fmt.Fprintf(g.out, "     %d x %s\n", s.errors[k], k)
		}
	}
	fmt.Fprintf(g.out, "ran %v\n", elapsed.Round(time.Millisecond))
	report(names[0], first)
	report(names[1], second)
	slices.Sort(all.lat)
	n := len(all.lat) + all.nerrors()
	conflicts := ""
	if f.op == "cas" {
		conflicts = fmt.Sprintf(" conflicts=%d", all.conflicts)
	}
	fmt.Fprintf(g.out, "ops/s=%.0f p50_ms=%.3f p99_ms=%.3f%s errors=%d\n", float64(n)/elapsed.Seconds(),
		quantile(all.lat, 0.5), quantile(all.lat, 0.99), conflicts, all.nerrors())
	return nil
}

// benchPut is one client of --op put: a get with probability --get-ratio,
// else a put, as long as next allows.
func benchPut(ctx context.Context, c *client.Client, rnd *rand.Rand, keys []dht.Key, f *benchFlags, timeout time.Duration,
	next func() bool, p, gt *opStats) {
	val := make([]byte, f.valueSize)
	for next() {
		key := keys[rnd.IntN(len(keys))]
		if rnd.Float64() < f.getRatio {
			_ = gt.timed(ctx, timeout, func(ctx context.Context) error {
				var opts []client.GetOption
				if f.fastReads {
					opts = append(opts, client.FastRead())
				}
				page, err := c.GetPage(ctx, key, 10, nil, opts...)
				if err == nil && len(page.Values) == 0 {
					return errMiss
				}
				return err
			})
			continue
		}
		fill(rnd, val)
		_ = p.timed(ctx, timeout, func(ctx context.Context) error { return c.Put(ctx, key, val, f.ttl.d) })
	}
}

// benchCAS is one client of --op cas: read-modify-write loops, each a read
// of a random key's register and cas calls until one takes effect, as long
// as next allows. A failed cas (a conflict) hands the loop the current
// version to try again with; an error starts a new loop with a read.
func benchCAS(ctx context.Context, c *client.Client, rnd *rand.Rand, keys []dht.Key, f *benchFlags, timeout time.Duration,
	next func() bool, cs, rd *opStats) {
	val := make([]byte, f.valueSize)
	for next() {
		key := keys[rnd.IntN(len(keys))]
		var version uint64
		if rd.timed(ctx, timeout, func(ctx context.Context) error {
			cur, err := c.Read(ctx, key)
			version = cur.Version
			return err
		}) != nil {
			continue
		}
		for next() {
			fill(rnd, val)
			var res dht.CASResult
			if cs.timed(ctx, timeout, func(ctx context.Context) (err error) {
				res, err = c.CAS(ctx, key, version, val, f.ttl.d)
				return err
			}) != nil || res.OK {
				break
			}
			cs.conflicts++
			version = res.Version
		}
	}
}

func fill(rnd *rand.Rand, b []byte) {
	for i := 0; i < len(b); i += 8 {
		v := rnd.Uint64()
		for j := 0; j < 8 && i+j < len(b); j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
}

// putRetrying loads one key, retrying a few times: the load phase must
// succeed for the measured gets to mean anything.
func putRetrying(ctx context.Context, c *client.Client, key dht.Key, val []byte, ttl, timeout time.Duration) error {
	var err error
	for attempt := range 5 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		err = c.Put(cctx, key, val, ttl)
		cancel()
		if err == nil || errors.Is(err, client.ErrInvalid) {
			return err
		}
	}
	return err
}
