package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/opendht-go/opendht/impl/client"
	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway/httpapi"
)

type benchLargeFlags struct {
	size        int64
	values      int
	concurrency int
	parallel    int
	via         string
	ttl         ttlFlag
	seed        uint64
}

func benchLargeCmd(g *globals) *cobra.Command {
	f := &benchLargeFlags{ttl: ttlFlag{time.Hour}}
	var size string
	c := &cobra.Command{
		Use:   "bench-large",
		Short: "Throughput and latency of large values: put, then get back and check, --values values of --size bytes",
		Long: `bench-large writes --values values of --size bytes (random bytes, made as
they are sent: never held whole in memory), --concurrency at a time, then reads
each back and checks its SHA-256. It prints, for puts and for gets, MB/s (bytes
of values over the phase's wall time) and the latency p50/p99 of one value, and
at the end this process's peak resident memory (VmHWM).

--via client runs the large-value layer in this process over the gateways'
put and get (any --protocol); --via http streams each value to and from a
node's /api/v1/large/ endpoint, which runs the layer itself; --via blocks is
the baseline: the same bytes as plain 1 kB puts and gets, --concurrency x
--parallel at a time (as many calls in flight as the layer keeps).`,
		Example: `  dhtctl bench-large --gateway 127.0.0.1:5851 --size 1MiB --values 16 --concurrency 4
  dhtctl bench-large --via http --gateway 127.0.0.1:5851 --size 64MiB --values 1
  dhtctl bench-large --via blocks --gateway 127.0.0.1:5851 --size 1MiB --values 16 --concurrency 4`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := parseSize(size)
			if err != nil {
				return usageError{Err: fmt.Errorf("--size: %w", err)}
			}
			f.size = n
			return runBenchLarge(cmd.Context(), g, f)
		},
	}
	fl := c.Flags()
	fl.StringVar(&size, "size", "1MiB", "bytes per value: a number with an optional KiB, MiB or GiB")
	fl.IntVar(&f.values, "values", 8, "values to put and get")
	fl.IntVarP(&f.concurrency, "concurrency", "c", 1, "values moved at once")
	fl.IntVar(&f.parallel, "parallel", 32, "blocks in flight per value (--via client; the gateway's own setting for --via http)")
	fl.StringVar(&f.via, "via", "client", "client, http or blocks (see above)")
	fl.Var(&f.ttl, "ttl", "TTL of the values")
	fl.Uint64Var(&f.seed, "seed", 0, "seed of the values and names (0: from the clock)")
	return c
}

// parseSize reads "1048576", "64KiB", "1MiB", "2GiB".
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = rest, u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("want a size like 65536, 64KiB or 16MiB, got %q", s)
	}
	return n * mult, nil
}

// randomReader yields n pseudo-random bytes of a seed, hashing them as it
// goes.
type randomReader struct {
	rnd  *rand.Rand
	left int64
	h    hash.Hash
}

func newRandomReader(seed uint64, n int64) *randomReader {
	return &randomReader{rnd: rand.New(rand.NewPCG(seed, 0x1a46e)), left: n, h: sha256.New()}
}

func (r *randomReader) Read(b []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), r.left)]
	fill(r.rnd, b)
	r.left -= int64(len(b))
	r.h.Write(b)
	return len(b), nil
}

// peakRSS returns this process's peak resident memory in KiB (VmHWM), or
// -1 where /proc does not say.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// mover puts and gets one value of the bench.
type mover interface {
	put(ctx context.Context, i int, r io.Reader) error
	get(ctx context.Context, i int, w io.Writer) error
}

type viaClient struct {
	c     *client.Client
	names []dht.Key
	ttl   time.Duration
}

func (v viaClient) put(ctx context.Context, i int, r io.Reader) error {
	_, err := v.c.PutLarge(ctx, v.names[i], r, v.ttl)
	return err
}

func (v viaClient) get(ctx context.Context, i int, w io.Writer) error {
	_, err := v.c.GetLarge(ctx, v.names[i], w)
	return err
}

type viaHTTP struct {
	hc    *http.Client
	gws   []string
	names []dht.Key
	ttl   time.Duration
}

func (v viaHTTP) url(i int) string {
	return "http://" + v.gws[i%len(v.gws)] + httpapi.Prefix + "large/" + v.names[i].String()
}

func (v viaHTTP) put(ctx context.Context, i int, r io.Reader) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, v.url(i)+"?ttl="+strconv.FormatInt(int64(v.ttl/time.Second), 10), io.NopCloser(r))
	if err != nil {
		return err
	}
	resp, err := v.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT: HTTP %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

func (v viaHTTP) get(ctx context.Context, i int, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.url(i), nil)
	if err != nil {
		return err
	}
	resp, err := v.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("GET: HTTP %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// viaBlocks moves the same bytes as 1 kB puts and gets under keys of its
// own, parallel calls at a time per value.
type viaBlocks struct {
	c        *client.Client
	names    []dht.Key
	ttl      time.Duration
	parallel int
	size     int64
}

func (v viaBlocks) key(i, b int) dht.Key {
	return client.TextKey(fmt.Sprintf("%s-%d", v.names[i], b))
}

func (v viaBlocks) put(ctx context.Context, i int, r io.Reader) error {
	sem := make(chan struct{}, v.parallel)
	var wg sync.WaitGroup
	var first atomic.Value
	for b := 0; ; b++ {
		buf := make([]byte, dht.MaxValueLen)
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				if err := v.c.Put(ctx, v.key(i, b), buf[:n], v.ttl); err != nil {
					first.CompareAndSwap(nil, err)
				}
			})
		}
		if err != nil {
			break
		}
	}
	wg.Wait()
	if err, ok := first.Load().(error); ok {
		return err
	}
	return nil
}

func (v viaBlocks) get(ctx context.Context, i int, w io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Blocks are fetched about parallel at a time and written in order.
	type slot struct {
		done chan struct{}
		data []byte
		err  error
	}
	n := int((v.size + dht.MaxValueLen - 1) / dht.MaxValueLen)
	order := make(chan *slot, v.parallel-1)
	go func() {
		defer close(order)
		for b := range n {
			s := &slot{done: make(chan struct{})}
			select {
			case order <- s:
			case <-ctx.Done():
				return
			}
			go func() {
				defer close(s.done)
				page, err := v.c.GetPage(ctx, v.key(i, b), 1, nil)
				switch {
				case err != nil:
					s.err = err
				case len(page.Values) == 0:
					s.err = fmt.Errorf("block %d: no value", b)
				default:
					s.data = page.Values[0].Data
				}
			}()
		}
	}()
	for s := range order {
		<-s.done
		if s.err != nil {
			return s.err
		}
		if _, err := w.Write(s.data); err != nil {
			return err
		}
	}
	return nil
}

func runBenchLarge(ctx context.Context, g *globals, f *benchLargeFlags) error {
	switch {
	case f.values < 1 || f.concurrency < 1 || f.parallel < 2:
		return usageError{Err: errors.New("--values and --concurrency must be at least 1, --parallel at least 2")}
	case f.via != "client" && f.via != "http" && f.via != "blocks":
		return usageError{Err: fmt.Errorf("--via must be client, http or blocks, got %q", f.via)}
	}
	if f.seed == 0 {
		f.seed = uint64(time.Now().UnixNano())
	}
	cfg, err := g.config()
	if err != nil {
		return err
	}
	lc := client.DefaultLargeConfig()
	lc.Parallel = f.parallel
	cfg.Large = &lc
	cfg.Conns = max(cfg.Conns, f.concurrency*f.parallel)
	c, err := client.New(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	names := make([]dht.Key, f.values)
	for i := range names {
		names[i] = client.TextKey(fmt.Sprintf("bench-large-%d-%d", f.seed, i))
	}
	var m mover
	switch f.via {
	case "client":
		m = viaClient{c, names, f.ttl.d}
	case "http":
		m = viaHTTP{&http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: f.concurrency}}, cfg.Gateways, names, f.ttl.d}
	case "blocks":
		m = viaBlocks{c, names, f.ttl.d, f.parallel, f.size}
	}
	fmt.Fprintf(g.out, "bench-large: via %s (%s, %s), %d values of %d bytes, %d at a time, %d blocks in flight each, seed %d\n",
		f.via, cfg.Protocol, strings.Join(cfg.Gateways, ","), f.values, f.size, f.concurrency, f.parallel, f.seed)
	sums := make([][]byte, f.values)
	phase := func(name string, op func(ctx context.Context, i int) error) int {
		var next atomic.Int64
		var mu sync.Mutex
		var lat []time.Duration
		errs := map[string]int{}
		start := time.Now()
		var wg sync.WaitGroup
		for range f.concurrency {
			wg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= f.values || ctx.Err() != nil {
						return
					}
					t0 := time.Now()
					err := op(ctx, i)
					mu.Lock()
					if err != nil {
						errs[err.Error()]++
					} else {
						lat = append(lat, time.Since(t0))
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		slices.Sort(lat)
		mb := float64(int64(len(lat))*f.size) / (1 << 20)
		fmt.Fprintf(g.out, "%-3s values=%d size=%d MB/s=%.2f p50_ms=%.1f p99_ms=%.1f wall_s=%.2f errors=%d\n", name, len(lat), f.size,
			mb/elapsed.Seconds(), quantile(lat, 0.5), quantile(lat, 0.99), elapsed.Seconds(), f.values-len(lat))
		for e, n := range errs {
			fmt.Fprintf(g.out, "    %d x %s\n", n, e)
		}
		return f.values - len(lat)
	}
	failed := phase("put", func(ctx context.Context, i int) error {
		r := newRandomReader(f.seed+uint64(i), f.size)
		if err := m.put(ctx, i, r); err != nil {
			return err
		}
		sums[i] = r.h.Sum(nil)
		return nil
	})
	failed += phase("get", func(ctx context.Context, i int) error {
		if sums[i] == nil {
			return errors.New("not put")
		}
		h := sha256.New()
		cw := &countWriter{w: h}
		if err := m.get(ctx, i, cw); err != nil {
			return err
		}
		if cw.n != f.size || !bytes.Equal(h.Sum(nil), sums[i]) {
			return fmt.Errorf("read %d bytes that differ from the %d written", cw.n, f.size)
		}
		return nil
	})
	fmt.Fprintf(g.out, "client_vmhwm_kib=%d\n", peakRSS())
	if failed > 0 {
		return fmt.Errorf("%d operations failed", failed)
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	c.n += int64(len(b))
	return c.w.Write(b)
}
