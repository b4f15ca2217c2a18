package driver_test

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/opendht-go/opendht/impl/dht"
)

// chromium finds a headless-capable Chromium: $CHROME, or Debian's
// chromium on the PATH. Without one the browser test is skipped, except
// under CI, where .ci/run installs it and its absence is a failure.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROME"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium found under CI: .ci/run installs Debian's chromium")
	}
	t.Skip("no Chromium found (apt-get install chromium, or set CHROME=/path/to/chrome): the status page is not tested in a browser")
	return ""
}

// TestStatusPageInChromium opens a node's status page in headless
// Chromium, as a person opening the gateway's address would: the leaf set
// lists the other nodes, the routing table has entries, the latency
// histograms are drawn as SVG bars, and the page's script runs (its
// "reload every 5 s" box switches between paused and live).
func TestStatusPageInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets and a browser")
	}
	exe := chromium(t)
	servers := startObserved(t, 4)
	waitJoined(t, servers)
	for i := range 10 {
		putUntilOK(t, servers[0], dht.Key{byte(i), 2}, "v")
	}
	time.Sleep(300 * time.Millisecond) // the loop publishes its counts every 100 ms

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Headless,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("chromium: %v", err)
		}
	}
	eval := func(js string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](js))
		must(err)
		return n
	}
	text := func(id string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(id)))
		must(err)
		return s
	}
	must(chromedp.Do(ctx, chromedp.Navigate("http://"+servers[0].XMLRPCAddr()+"/"), chromedp.WaitVisible(chromedp.ID("leaf-set"))))
	title, err := chromedp.Run(ctx, chromedp.Title())
	must(err)
	leafRows := eval(`new Set(Array.from(document.querySelectorAll("#leaf-set tr.peer td:last-child")).map(td => td.textContent)).size`)
	tableRows := eval(`document.querySelectorAll("#routing-table tr").length - 1`)
	bars := eval(`document.querySelectorAll(".histogram svg rect.bar").length`)
	tallBars := eval(`Array.from(document.querySelectorAll(".histogram[data-title='put calls'] svg rect.bar")).filter(r => r.getBBox().height > 0).length`)
	joined, version := text("joined"), text("version")
	liveBefore := text("live-state")
	must(chromedp.Do(ctx, chromedp.Click(chromedp.ID("live"))))
	liveAfter := text("live-state")
	must(chromedp.Do(ctx, chromedp.Click(chromedp.ID("live")))) // off again: no reload under the test
	t.Logf("title %q: %d leaf set peers, %d routing table rows, %d bars (%d drawn for puts), joined %q, version %q, live %q -> %q",
		title, leafRows, tableRows, bars, tallBars, joined, version, liveBefore, liveAfter)
	// Four nodes: the leaf set (4 per side) holds the other three.
	if leafRows != 3 {
		t.Errorf("leaf set: %d distinct peers, want the 3 other nodes", leafRows)
	}
	if tableRows < 1 {
		t.Errorf("routing table rows: %d, want some", tableRows)
	}
	if bars == 0 || tallBars == 0 {
		t.Errorf("histogram bars: %d, of which %d for 10 puts have a height; want some", bars, tallBars)
	}
	if joined != "joined" {
		t.Errorf("ring: %q, want joined", joined)
	}
	if version == "" {
		t.Errorf("no version on the page")
	}
	if liveBefore != "paused" || liveAfter != "live" {
		t.Errorf("the page's script: state %q then %q after a click, want paused then live", liveBefore, liveAfter)
	}
}
