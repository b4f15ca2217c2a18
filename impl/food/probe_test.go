package food

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSummarizeAndPlot: success rates and nearest-rank percentiles per
// path, failures left out of the latencies; the CDF is drawn as a PNG.
func TestSummarizeAndPlot(t *testing.T) {
	var samples []Sample
	for i := 1; i <= 100; i++ {
		samples = append(samples, Sample{Path: "direct", OK: true, Latency: time.Duration(i) * time.Millisecond, First: time.Duration(i) * time.Millisecond})
		samples = append(samples, Sample{Path: "proxy", OK: i != 50, Latency: time.Duration(2*i) * time.Millisecond, First: time.Duration(i) * time.Millisecond})
	}
	sums := Summarize(samples)
	if len(sums) != 2 || sums[0].Path != "direct" || sums[1].Path != "proxy" {
		t.Fatalf("summaries %+v", sums)
	}
	d, p := sums[0], sums[1]
	if d.Requests != 100 || d.Successes != 100 || d.P50 != 50*time.Millisecond || d.P99 != 99*time.Millisecond || d.Max != 100*time.Millisecond {
		t.Errorf("direct %v", d)
	}
	// 99 successes: the 50th smallest latency is 2*51 ms (i=50 failed).
	if p.Requests != 100 || p.Successes != 99 || p.P50 != 102*time.Millisecond || p.FirstP50 != 51*time.Millisecond {
		t.Errorf("proxy %v", p)
	}
	if !strings.Contains(p.String(), "success=99.00%") {
		t.Errorf("summary line %q", p.String())
	}
	out := filepath.Join(t.TempDir(), "cdf.png")
	if err := PlotCDF(samples, out, "test"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Fatalf("plot is not a PNG: %v", err)
	}
}
