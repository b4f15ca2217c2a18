package food

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opendht-go/opendht/impl/cddb"
)

// Known is a record the probe knows to be stored: enough to ask for it as
// a CD player would.
type Known struct {
	Category string
	DiscID   uint32
	Offsets  []int
	Length   int
}

// QueryCommand is the "cddb query" command for the record.
func (k Known) QueryCommand() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "cddb query %08x %d", k.DiscID, len(k.Offsets))
	for _, o := range k.Offsets {
		sb.WriteString(" " + strconv.Itoa(o))
	}
	fmt.Fprintf(&sb, " %d", k.Length)
	return sb.String()
}

// SampleCorpus reads up to n valid records of the corpus under root,
// picked at random with seed (reservoir sampling: every file equally
// likely).
func SampleCorpus(root string, n int, seed uint64) ([]Known, error) {
	rnd := rand.New(rand.NewPCG(seed, 0x9806e))
	var out []Known
	seen := 0
	err := cddb.Walk(root, func(f cddb.File) error {
		if f.Err != nil {
			return nil
		}
		r, err := cddb.Parse(f.Data)
		if err != nil {
			return nil
		}
		k := Known{Category: f.Category, DiscID: f.DiscID, Offsets: r.Offsets, Length: r.DiscLength}
		seen++
		if len(out) < n {
			out = append(out, k)
		} else if j := rnd.IntN(seen); j < n {
			out[j] = k
		}
		return nil
	})
	return out, err
}

// Sample is one probe request.
type Sample struct {
	At     time.Time
	Path   string // "direct" or "proxy"
	DiscID uint32
	OK     bool
	// Latency is the whole request: for the proxy a query and a read, as
	// a CD player does them; First is the query alone (the first step).
	Latency, First time.Duration
	Err            string
}

// ProbeConfig configures Probe.
type ProbeConfig struct {
	// Interval between requests (each asks both paths at once).
	Interval time.Duration
	// Duration of the probe.
	Duration time.Duration
	// Timeout of one request.
	Timeout time.Duration
	// Seed picks the records asked for.
	Seed uint64
	// Level is the protocol level the proxy is asked at.
	Level int
}

// Probe asks for a random known record every Interval, directly from the
// DHT (every record of its disc ID, text included) and through the proxy's
// HTTP form at proxyURL (query, then read of the first match), until
// Duration is over; it returns every sample, both paths.
func Probe(ctx context.Context, known []Known, db *DB, proxyURL string, cfg ProbeConfig, each func(Sample)) ([]Sample, error) {
	if len(known) == 0 {
		return nil, fmt.Errorf("food: probe needs known records")
	}
	if cfg.Interval <= 0 || cfg.Timeout <= 0 || cfg.Duration <= 0 {
		return nil, fmt.Errorf("food: probe interval, timeout and duration must be positive")
	}
	rnd := rand.New(rand.NewPCG(cfg.Seed, 0x9806e))
	hc := &http.Client{Timeout: cfg.Timeout}
	var out []Sample
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	end := time.Now().Add(cfg.Duration)
	for time.Now().Before(end) {
		k := known[rnd.IntN(len(known))]
		ch := make(chan Sample, 2)
		go func() { ch <- probeDirect(ctx, db, k, cfg.Timeout) }()
		go func() { ch <- probeProxy(ctx, hc, proxyURL, k, cfg.Level) }()
		for range 2 {
			s := <-ch
			out = append(out, s)
			if each != nil {
				each(s)
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return out, nil
		}
	}
	return out, nil
}

func probeDirect(ctx context.Context, db *DB, k Known, timeout time.Duration) Sample {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s := Sample{At: time.Now(), Path: "direct", DiscID: k.DiscID}
	recs, err := db.FetchAll(ctx, k.DiscID)
	s.Latency = time.Since(s.At)
	s.First = s.Latency
	switch {
	case err != nil:
		s.Err = err.Error()
	case recs[k.Category] == nil:
		s.Err = fmt.Sprintf("%s/%08x not among the %d records", k.Category, k.DiscID, len(recs))
	default:
		s.OK = true
	}
	return s
}

func probeProxy(ctx context.Context, hc *http.Client, proxyURL string, k Known, level int) Sample {
	s := Sample{At: time.Now(), Path: "proxy", DiscID: k.DiscID}
	ask := func(cmd string) (string, error) {
		q := url.Values{"cmd": {cmd}, "hello": {"probe localhost food-probe 1"}, "proto": {strconv.Itoa(level)}}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, proxyURL+"?"+q.Encode(), nil)
		if err != nil {
			return "", err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return string(b), err
	}
	fail := func(format string, a ...any) Sample {
		s.Latency = time.Since(s.At)
		s.Err = fmt.Sprintf(format, a...)
		return s
	}
	ans, err := ask(k.QueryCommand())
	s.First = time.Since(s.At)
	if err != nil {
		return fail("query: %v", err)
	}
	categ, ok := pickMatch(ans, k)
	if !ok {
		return fail("query: %q", firstLine(ans))
	}
	ans, err = ask(fmt.Sprintf("cddb read %s %08x", categ, k.DiscID))
	if err != nil {
		return fail("read: %v", err)
	}
	if !strings.HasPrefix(ans, "210 ") || !strings.Contains(ans, fmt.Sprintf("DISCID=%08x", k.DiscID)) {
		return fail("read: %q", firstLine(ans))
	}
	s.Latency = time.Since(s.At)
	s.OK = true
	return s
}

// pickMatch reads a query answer and returns the category of the known
// record if it is among the matches.
func pickMatch(ans string, k Known) (string, bool) {
	lines := strings.Split(strings.ReplaceAll(ans, "\r\n", "\n"), "\n")
	want := fmt.Sprintf("%s %08x ", k.Category, k.DiscID)
	switch {
	case strings.HasPrefix(lines[0], "200 "):
		return k.Category, strings.HasPrefix(lines[0][4:], want)
	case strings.HasPrefix(lines[0], "210 "), strings.HasPrefix(lines[0], "211 "):
		if slices.ContainsFunc(lines[1:], func(l string) bool { return strings.HasPrefix(l, want) }) {
			return k.Category, true
		}
	}
	return "", false
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(l)
}

// Summary is the success rate and latency percentiles of one path.
type Summary struct {
	Path                string
	Requests, Successes int
	P50, P90, P99, Max  time.Duration
	FirstP50            time.Duration
}

// Summarize groups samples by path; latencies are of successful requests.
func Summarize(samples []Sample) []Summary {
	by := map[string]*Summary{}
	lat := map[string][]time.Duration{}
	first := map[string][]time.Duration{}
	var paths []string
	for _, s := range samples {
		sm, ok := by[s.Path]
		if !ok {
			sm = &Summary{Path: s.Path}
			by[s.Path] = sm
			paths = append(paths, s.Path)
		}
		sm.Requests++
		if s.OK {
			sm.Successes++
			lat[s.Path] = append(lat[s.Path], s.Latency)
			first[s.Path] = append(first[s.Path], s.First)
		}
	}
	slices.Sort(paths)
	var out []Summary
	for _, p := range paths {
		sm := by[p]
		l := lat[p]
		slices.Sort(l)
		f := first[p]
		slices.Sort(f)
		sm.P50, sm.P90, sm.P99, sm.Max = Percentile(l, .5), Percentile(l, .9), Percentile(l, .99), Percentile(l, 1)
		sm.FirstP50 = Percentile(f, .5)
		out = append(out, *sm)
	}
	return out
}

// Percentile returns the q-quantile of sorted durations (nearest rank).
func Percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// String is one summary line.
func (s Summary) String() string {
	rate := 0.0
	if s.Requests > 0 {
		rate = 100 * float64(s.Successes) / float64(s.Requests)
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }
	return fmt.Sprintf("path=%s requests=%d ok=%d success=%.2f%% p50_ms=%s p90_ms=%s p99_ms=%s max_ms=%s first_step_p50_ms=%s",
		s.Path, s.Requests, s.Successes, rate, ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max), ms(s.FirstP50))
}
