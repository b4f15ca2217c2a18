// Package statuspage is a node's status page: what a browser sees at the
// address of the node's HTTP gateway (node port + 1). It shows the node's
// identity, build and listeners, whether it is joined (SPEC JOIN-5), its
// leaf set and routing table, the storage each client holds, and the
// latency histograms of the calls made through it as bar charts.
//
// The page is rendered on the server (html/template, inline SVG); a few
// lines of inline JavaScript only reload it every few seconds while its
// "live" box is ticked. It needs no frontend toolchain and no network
// beyond the node.
package statuspage

import (
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/opendht-go/opendht/impl/buildinfo"
)

// Peer is a node of the leaf set or the routing table.
type Peer struct {
	ID   string // hex
	Addr string
}

// Row is one row of the routing table: its peers share Row digits with
// this node.
type Row struct {
	Row   int
	Peers []Peer
}

// Client is what one client holds at this node.
type Client struct {
	Client string
	Bytes  int64
	Items  int
	Queued int
}

// View is what the page shows of a node.
type View struct {
	NodeID, Address string
	Joined          bool
	Bootstrap       []string
	JoinAttempts    int
	Started         time.Time
	Build           buildinfo.Info
	// Listeners names each listening socket: "overlay (udp)" ->
	// "127.0.0.1:5850".
	Listeners map[string]string
	// Successors and Predecessors: the leaf set, nearest first.
	Successors, Predecessors []Peer
	Table                    []Row
	CapacityBytes            int64
	StoreBytes               int64
	QueuedWrites             int
	Clients                  []Client
}

// Config configures the page.
type Config struct {
	// View describes the node; it may wait for the node's goroutine,
	// within ctx.
	View func(ctx context.Context) (View, error)
	// Gatherer, if set, holds the latency histograms the page draws
	// (opendht_call_duration_seconds, opendht_fsync_duration_seconds) and
	// is served at /metrics.
	Gatherer prometheus.Gatherer
	// Metrics serves /metrics; nil serves none.
	Metrics http.Handler
	// Logger receives failures to render; nil discards.
	Logger *slog.Logger
}

// New returns the handler of the page ("/"), of /metrics when configured,
// and 404 with a link to the page elsewhere.
func New(cfg Config) http.Handler {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		v, err := cfg.View(ctx)
		if err != nil {
			http.Error(w, "status page: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		data := page{View: v, Now: time.Now()}
		if cfg.Gatherer != nil {
			data.Charts, err = Charts(cfg.Gatherer)
			if err != nil {
				log.Warn("status page: gather metrics", "err", err)
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := tmpl.Execute(w, data); err != nil {
			log.Warn("status page: render", "err", err)
		}
	})
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", cfg.Metrics)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "no page %q here: the node's status page is at /, its metrics at /metrics, the HTTP/JSON API under /api/v1/; XML-RPC is POST on any path\n", r.URL.Path)
	})
	return mux
}

type page struct {
	View
	Now    time.Time
	Charts []Chart
}

// Bar is one bucket of a histogram: the calls whose latency was at most
// Le seconds and more than the previous bucket's bound.
type Bar struct {
	Le    float64
	Count uint64
}

// Chart is one latency histogram.
type Chart struct {
	Title    string
	Count    uint64
	Sum      float64
	Bars     []Bar
	P50, P99 float64 // estimated from the buckets, seconds; NaN without data
}

// chartFamilies are the histograms drawn, and how each series is titled.
var chartFamilies = []struct{ name, label, title string }{
	{"opendht_call_duration_seconds", "method", "%s calls"},
	{"opendht_fsync_duration_seconds", "", "fsync"},
}

// Charts reads the latency histograms from g.
func Charts(g prometheus.Gatherer) ([]Chart, error) {
	mfs, err := g.Gather()
	var out []Chart
	for _, cf := range chartFamilies {
		for _, mf := range mfs {
			if mf.GetName() != cf.name || mf.GetType() != dto.MetricType_HISTOGRAM {
				continue
			}
			for _, m := range mf.GetMetric() {
				title := cf.title
				if cf.label != "" {
					for _, lp := range m.GetLabel() {
						if lp.GetName() == cf.label {
							title = fmt.Sprintf(cf.title, lp.GetValue())
						}
					}
				}
				out = append(out, chartOf(title, m.GetHistogram()))
			}
		}
	}
	return out, err
}

func chartOf(title string, h *dto.Histogram) Chart {
	c := Chart{Title: title, Count: h.GetSampleCount(), Sum: h.GetSampleSum()}
	var prev uint64
	for _, b := range h.GetBucket() {
		c.Bars = append(c.Bars, Bar{Le: b.GetUpperBound(), Count: b.GetCumulativeCount() - prev})
		prev = b.GetCumulativeCount()
	}
	if c.Count > prev {
		c.Bars = append(c.Bars, Bar{Le: math.Inf(1), Count: c.Count - prev})
	}
	c.P50, c.P99 = quantile(c, 0.5), quantile(c, 0.99)
	return c
}

// quantile estimates the q-quantile as Prometheus's histogram_quantile
// does: linear within the bucket that holds it.
func quantile(c Chart, q float64) float64 {
	if c.Count == 0 {
		return math.NaN()
	}
	rank := q * float64(c.Count)
	var seen uint64
	lo := 0.0
	for _, b := range c.Bars {
		if float64(seen+b.Count) >= rank {
			if math.IsInf(b.Le, 1) {
				return lo
			}
			return lo + (b.Le-lo)*(rank-float64(seen))/float64(b.Count)
		}
		seen += b.Count
		lo = b.Le
	}
	return lo
}

// SVG geometry of a chart.
const (
	chartW, chartH = 420, 150
	padL, padB     = 36, 34
)

var tmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"bytes": humanBytes,
	"ms":    millis,
	"since": func(t, now time.Time) string { return now.Sub(t).Round(time.Second).String() },
	"pct":   func(a, b int64) string { return pct(a, b) },
	"bars":  bars,
	"rowcount": func(rs []Row) int {
		n := 0
		for _, r := range rs {
			n += len(r.Peers)
		}
		return n
	},
	"sorted": sortedKeys,
	"short": func(id string) string {
		if len(id) > 16 {
			return id[:16]
		}
		return id
	},
}).Parse(pageHTML))

//go:embed page.html
var pageHTML string

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return strconv.FormatInt(n, 10) + " B"
}

func millis(s float64) string {
	if math.IsNaN(s) {
		return "-"
	}
	if math.IsInf(s, 1) {
		return "+Inf"
	}
	ms := s * 1000
	if ms < 10 {
		return strconv.FormatFloat(ms, 'f', 2, 64) + " ms"
	}
	return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
}

func pct(a, b int64) string {
	if b <= 0 {
		return "-"
	}
	return strconv.FormatFloat(100*float64(a)/float64(b), 'f', 2, 64) + "%"
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// svgBar is one drawn bar.
type svgBar struct {
	X, Y, W, H float64
	Label      string // the bucket's bound, under the bar
	Title      string // tooltip
	LabelX     float64
}

type svgChart struct {
	W, H, BaseY, PadL float64
	Max               uint64
	Bars              []svgBar
}

// bars lays out a chart's bars: equal widths (the buckets are
// exponential), heights by count.
func bars(c Chart) svgChart {
	out := svgChart{W: chartW, H: chartH, BaseY: chartH - padB, PadL: padL}
	for _, b := range c.Bars {
		out.Max = max(out.Max, b.Count)
	}
	if len(c.Bars) == 0 {
		return out
	}
	slot := float64(chartW-padL) / float64(len(c.Bars))
	var lo float64
	for i, b := range c.Bars {
		h := 0.0
		if out.Max > 0 {
			h = float64(b.Count) / float64(out.Max) * (chartH - padB - 8)
		}
		x := padL + float64(i)*slot
		label := strings.TrimSuffix(millis(b.Le), " ms")
		if b.Le >= 1 && !math.IsInf(b.Le, 1) {
			label = strconv.FormatFloat(b.Le, 'f', -1, 64) + "s" // the axis is narrow
		}
		out.Bars = append(out.Bars, svgBar{
			X: x + 1, Y: out.BaseY - h, W: max(slot-2, 1), H: h, Label: label, LabelX: x + slot/2,
			Title: fmt.Sprintf("%d calls in (%s, %s]", b.Count, millis(lo), millis(b.Le)),
		})
		lo = b.Le
	}
	return out
}
