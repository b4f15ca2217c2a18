// Command food is FreeDB over OpenDHT: it generates a corpus of CD records
// in FreeDB's format (gen), loads a corpus into the DHT (load), serves the
// legacy CDDB protocol to stock CD-database clients from the DHT (proxy:
// cddbp on TCP and CDDB over HTTP), reads a disc ID straight from the DHT
// (get), and probes the proxy and the DHT for availability and latency
// (probe). The formats and rules are spec/SPEC.md section 15.
//
// The exit status is 0 on success, 1 on a failure and 2 on bad usage.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/opendht-go/opendht/impl/cddb"
	"github.com/opendht-go/opendht/impl/client"
	"github.com/opendht-go/opendht/impl/food"
)

// usageError marks errors in the command line (exit status 2).
type usageError struct{ error }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := rootCmd(os.Stdout, os.Stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "food:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type globals struct {
	gateways []string
	protocol string
	timeout  time.Duration
	out, err io.Writer
}

// defaultGateways are the XML-RPC gateways of `make run`'s first nodes.
var defaultGateways = []string{"127.0.0.1:5851", "127.0.0.1:5861", "127.0.0.1:5871", "127.0.0.1:5881"}

func (g *globals) client() (*client.Client, error) {
	p, err := client.ParseProtocol(g.protocol)
	if err != nil {
		return nil, usageError{err}
	}
	gws := g.gateways
	if len(gws) == 0 {
		gws = defaultGateways
	}
	cfg := client.DefaultConfig(gws...)
	cfg.Protocol = p
	cfg.Application = "food"
	cfg.CallTimeout = g.timeout
	c, err := client.New(cfg)
	if err != nil {
		return nil, usageError{err}
	}
	return c, nil
}

func rootCmd(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{out: stdout, err: stderr}
	root := &cobra.Command{
		Use:   "food",
		Short: "FreeDB over OpenDHT: gen, load, proxy, get, probe",
		Long: `food stores FreeDB's CD records in the DHT and serves them to stock CD-database
clients over the legacy CDDB protocol (cddbp on TCP port 8880, CDDB over HTTP
at /~cddb/cddb.cgi). Records are put under their disc ID through any gateway.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringSliceVarP(&g.gateways, "gateway", "g", nil, "gateway host:port, several comma-separated (default the first four nodes of make run: 127.0.0.1:5851,5861,5871,5881)")
	pf.StringVarP(&g.protocol, "protocol", "p", "xmlrpc", "gateway protocol: xmlrpc, sunrpc or http")
	pf.DurationVar(&g.timeout, "timeout", 10*time.Second, "timeout of one attempt at one gateway")
	root.AddCommand(genCmd(g), loadCmd(g), verifyCmd(g), proxyCmd(g), getCmd(g), probeCmd(g))
	return root
}

func genCmd(g *globals) *cobra.Command {
	cfg := cddb.DefaultGenConfig(1000)
	cmd := &cobra.Command{
		Use:   "gen DIR",
		Short: "Write a synthetic corpus in FreeDB's dump layout (DIR/category/discid)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			start := time.Now()
			st, err := cddb.Generate(args[0], cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.out, "discids=%d records=%d shared_discids=%d (same_toc=%d pressing=%d collision=%d) bad_files=%d bytes=%d seed=%d elapsed=%.1fs\n",
				st.DiscIDs, st.Records, st.Shared, st.SameTOC, st.Pressing, st.Collision, st.BadFiles, st.Bytes, cfg.Seed, time.Since(start).Seconds())
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVarP(&cfg.DiscIDs, "discids", "n", cfg.DiscIDs, "distinct disc IDs to write")
	f.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed: the same seed writes the same corpus")
	f.Float64Var(&cfg.SharedRate, "shared", cfg.SharedRate, "fraction of disc IDs with two or three records in different categories")
	f.IntVar(&cfg.BadFiles, "bad", cfg.BadFiles, "malformed files to plant (the loader must refuse them)")
	return cmd
}

func loadCmd(g *globals) *cobra.Command {
	cfg := food.DefaultLoadConfig()
	noFamily := false
	quiet := false
	cmd := &cobra.Command{
		Use:   "load DIR",
		Short: "Validate and put every record of a corpus into the DHT",
		Long: `load reads a corpus in FreeDB's dump layout (DIR/category/discid), refuses and
reports every file that is not a valid record, and puts each valid one under
its disc ID: its entry (with the compressed text, or the keys of its chunks)
after its chunks, and a family entry for inexact matches. It ends with a
summary line: records, bytes, puts, retries, rate.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg.Family = !noFamily
			if err := cfg.Validate(); err != nil {
				return usageError{err}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			defer c.Close()
			total, err := food.CountFiles(args[0])
			if err != nil {
				return err
			}
			var bar *progressbar.ProgressBar
			var last atomic.Int64
			if f, ok := g.err.(*os.File); ok && term.IsTerminal(int(f.Fd())) && !quiet {
				bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(g.err), progressbar.OptionSetDescription("loading"),
					progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("files"),
					progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
				cfg.Progress = func(int) { _ = bar.Add(1) }
			} else if !quiet {
				start := time.Now()
				cfg.Progress = func(done int) {
					now := time.Since(start)
					if l := last.Load(); now-time.Duration(l) >= 10*time.Second && last.CompareAndSwap(l, int64(now)) {
						fmt.Fprintf(g.err, "loaded %d/%d files in %.0fs (%.1f files/s)\n", done, total, now.Seconds(), float64(done)/now.Seconds())
					}
				}
			}
			var problems []food.Problem
			st, err := food.Load(cmd.Context(), c, args[0], cfg, func(p food.Problem) {
				problems = append(problems, p)
				if bar == nil {
					fmt.Fprintf(g.err, "skipped %s: %v\n", p.Path, p.Err)
				}
			})
			if bar != nil {
				_ = bar.Finish()
				for _, p := range problems {
					fmt.Fprintf(g.err, "skipped %s: %v\n", p.Path, p.Err)
				}
			}
			fmt.Fprintln(g.out, st)
			if err != nil {
				return err
			}
			if st.Failed > 0 {
				return fmt.Errorf("%d records were not stored", st.Failed)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVarP(&cfg.Concurrency, "concurrency", "c", cfg.Concurrency, "records stored at once")
	f.DurationVar(&cfg.TTL, "ttl", cfg.TTL, "lifetime of the values (at most a week: load again before it ends)")
	f.IntVar(&cfg.Attempts, "attempts", cfg.Attempts, "tries per record")
	f.BoolVar(&noFamily, "no-family", false, "do not put family entries (no inexact matches)")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress output")
	return cmd
}

func verifyCmd(g *globals) *cobra.Command {
	concurrency := 32
	cmd := &cobra.Command{
		Use:   "verify DIR",
		Short: "Read every record of a corpus back from the DHT and compare it with its file",
		Long: `verify reads back, straight from the DHT, every valid record of a corpus that
load stored (its entry, then its chunks) and compares the text with the file.
Records missing or different are listed; the summary line counts them.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if concurrency < 1 {
				return usageError{fmt.Errorf("concurrency must be at least 1, got %d", concurrency)}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			defer c.Close()
			start := time.Now()
			var last time.Duration
			st, err := food.Verify(cmd.Context(), food.NewDB(c), args[0], concurrency, func(p food.Problem) {
				fmt.Fprintf(g.err, "not read back: %s: %v\n", p.Path, p.Err)
			}, func(done int) {
				if now := time.Since(start); now-last >= 10*time.Second {
					last = now
					fmt.Fprintf(g.err, "verified %d records in %.0fs\n", done, now.Seconds())
				}
			})
			fmt.Fprintln(g.out, st)
			if err != nil {
				return err
			}
			if st.Missing+st.Differ > 0 {
				return fmt.Errorf("%d records missing, %d different", st.Missing, st.Differ)
			}
			return nil
		},
	}
	cmd.Flags().IntVarP(&concurrency, "concurrency", "c", concurrency, "records read at once")
	return cmd
}

func proxyCmd(g *globals) *cobra.Command {
	scfg := cddb.DefaultServerConfig()
	cddbpAddr, httpAddr, dir := "127.0.0.1:8880", "127.0.0.1:8080", ""
	window := food.DefaultFamilyWindow
	verbose := false
	cmd := &cobra.Command{
		Use:   "proxy",
		Short: "Serve the legacy CDDB protocol (cddbp and HTTP) from the DHT",
		Long: `proxy answers stock CD-database clients unchanged: cddbp on --cddbp (default
port 8880: banner, cddb hello, proto, cddb query, cddb read, quit) and CDDB over
HTTP on --http (GET or POST /~cddb/cddb.cgi?cmd=...&hello=...&proto=N). Each
query and read becomes gets through the gateways. With --dir it serves a local
corpus from memory instead (to compare).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if verbose {
				scfg.Logger = slog.New(slog.NewTextHandler(g.err, &slog.HandlerOptions{Level: slog.LevelDebug}))
			}
			if err := scfg.Validate(); err != nil {
				return usageError{err}
			}
			var db cddb.DB
			if dir != "" {
				m := cddb.NewMemDB()
				err := cddb.Walk(dir, func(f cddb.File) error {
					if f.Err == nil {
						if r, err := cddb.Parse(f.Data); err == nil {
							m.Add(f.Category, r)
						}
					}
					return nil
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(g.err, "serving %d records of %s from memory\n", m.Len(), dir)
				db = m
			} else {
				c, err := g.client()
				if err != nil {
					return err
				}
				defer c.Close()
				d := food.NewDB(c)
				d.FamilyWindow = window
				db = d
			}
			ctx := cmd.Context()
			errc := make(chan error, 2)
			if cddbpAddr != "" {
				ln, err := net.Listen("tcp", cddbpAddr)
				if err != nil {
					return err
				}
				fmt.Fprintf(g.out, "cddbp on %s\n", ln.Addr())
				go func() { errc <- cddb.ServeCDDBP(ctx, ln, db, scfg) }()
			}
			if httpAddr != "" {
				ln, err := net.Listen("tcp", httpAddr)
				if err != nil {
					return err
				}
				fmt.Fprintf(g.out, "http on http://%s/~cddb/cddb.cgi\n", ln.Addr())
				srv := &http.Server{Handler: cddb.HTTPHandler(db, scfg), ReadHeaderTimeout: 10 * time.Second}
				go func() {
					<-ctx.Done()
					_ = srv.Close()
				}()
				go func() {
					if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
						errc <- err
						return
					}
					errc <- nil
				}()
			}
			select {
			case err := <-errc:
				return err
			case <-ctx.Done():
				return nil
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&cddbpAddr, "cddbp", cddbpAddr, "cddbp listen address (empty: none)")
	f.StringVar(&httpAddr, "http", httpAddr, "HTTP listen address (empty: none)")
	f.StringVar(&dir, "dir", "", "serve this corpus from memory instead of the DHT")
	f.StringVar(&scfg.Host, "host", scfg.Host, "server name in banners")
	f.IntVar(&window, "family-window", window, "seconds searched on each side of a disc length for inexact matches (one get each)")
	f.BoolVarP(&verbose, "verbose", "v", false, "log every request")
	return cmd
}

func getCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get DISCID",
		Short: "Print every record stored under a disc ID, straight from the DHT",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[0], 16, 32)
			if err != nil || len(args[0]) != 8 {
				return usageError{fmt.Errorf("disc ID %q is not 8 hex digits", args[0])}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			defer c.Close()
			recs, err := food.NewDB(c).FetchAll(cmd.Context(), uint32(id))
			if err != nil {
				return err
			}
			if len(recs) == 0 {
				return fmt.Errorf("no record under %08x", id)
			}
			cats := make([]string, 0, len(recs))
			for c := range recs {
				cats = append(cats, c)
			}
			sort.Slice(cats, func(i, j int) bool { return cddb.CategoryIndex(cats[i]) < cddb.CategoryIndex(cats[j]) })
			for _, c := range cats {
				fmt.Fprintf(g.out, "== %s %08x\n%s", c, id, recs[c])
			}
			return nil
		},
	}
}

func probeCmd(g *globals) *cobra.Command {
	cfg := food.ProbeConfig{Interval: 5 * time.Second, Duration: 5 * time.Minute, Timeout: time.Minute, Seed: 1, Level: 6}
	proxyURL, plotPath, csvPath := "http://127.0.0.1:8080/~cddb/cddb.cgi", "food-probe.png", ""
	sample := 10000
	cmd := &cobra.Command{
		Use:   "probe DIR",
		Short: "Ask for a random known record every interval, through the proxy and directly; plot the latency CDF",
		Long: `probe picks records of the corpus in DIR (the one that was loaded) and, every
--interval, asks for one at random both straight from the DHT (every record of
its disc ID, text included) and through the proxy's HTTP form (query, then read,
as a CD player does). It prints each failure, a summary line per path (success
rate, latency percentiles) and draws the latency CDF to --plot (.png or .svg).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			known, err := food.SampleCorpus(args[0], sample, cfg.Seed)
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			defer c.Close()
			fmt.Fprintf(g.err, "probing %d known records every %v for %v (seed %d)\n", len(known), cfg.Interval, cfg.Duration, cfg.Seed)
			samples, err := food.Probe(cmd.Context(), known, food.NewDB(c), proxyURL, cfg, func(s food.Sample) {
				if !s.OK {
					fmt.Fprintf(g.err, "%s %s %08x failed after %v: %s\n", s.At.Format(time.TimeOnly), s.Path, s.DiscID, s.Latency.Round(time.Millisecond), s.Err)
				}
			})
			if err != nil {
				return err
			}
			for _, s := range food.Summarize(samples) {
				fmt.Fprintln(g.out, s)
			}
			if csvPath != "" {
				var sb strings.Builder
				sb.WriteString("time,path,discid,ok,latency_ms,first_ms,error\n")
				for _, s := range samples {
					fmt.Fprintf(&sb, "%s,%s,%08x,%t,%.3f,%.3f,%q\n", s.At.Format(time.RFC3339Nano), s.Path, s.DiscID, s.OK,
						float64(s.Latency)/1e6, float64(s.First)/1e6, s.Err)
				}
				if err := os.WriteFile(csvPath, []byte(sb.String()), 0o644); err != nil {
					return err
				}
			}
			if plotPath != "" {
				if err := food.PlotCDF(samples, plotPath, fmt.Sprintf("FOOD: one random disc ID every %v, %d requests per path", cfg.Interval, len(samples)/2)); err != nil {
					return err
				}
				fmt.Fprintf(g.err, "wrote %s\n", plotPath)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.DurationVar(&cfg.Interval, "interval", cfg.Interval, "time between requests")
	f.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long to probe")
	f.DurationVar(&cfg.Timeout, "request-timeout", cfg.Timeout, "timeout of one request")
	f.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the records picked")
	f.IntVar(&cfg.Level, "proto", cfg.Level, "protocol level asked of the proxy")
	f.StringVar(&proxyURL, "proxy", proxyURL, "URL of the proxy's cddb.cgi")
	f.StringVar(&plotPath, "plot", plotPath, "latency CDF to draw (.png or .svg; empty: none)")
	f.StringVar(&csvPath, "csv", "", "write every sample to this CSV file")
	f.IntVar(&sample, "sample", sample, "records of the corpus to pick from")
	return cmd
}
