package main

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// isTerminal reports whether w is a terminal: bench shows its progress
// only there, so that its output to a file or a pipe stays the same.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress draws a bench run's progress bar: calls issued against --ops,
// or seconds against --duration. It redraws from a ticker, so the calls
// themselves only add to a counter they keep anyway.
type progress struct {
	bar  *progressbar.ProgressBar
	stop chan struct{}
	done chan struct{}
}

// startProgress draws on out until finish; with tty false it draws
// nothing.
func startProgress(out io.Writer, tty bool, ops int64, d time.Duration, issued *atomic.Int64) *progress {
	p := &progress{stop: make(chan struct{}), done: make(chan struct{})}
	if !tty {
		close(p.done)
		return p
	}
	max, unit := ops, "calls"
	if ops == 0 {
		max, unit = int64(d/time.Second), "s"
	}
	p.bar = progressbar.NewOptions64(max, progressbar.OptionSetWriter(out), progressbar.OptionSetDescription("bench"),
		progressbar.OptionShowCount(), progressbar.OptionSetItsString(unit),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(out) }),
		progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionSetWidth(30))
	start := time.Now()
	go func() {
		defer close(p.done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				n := min(issued.Load(), ops)
				if ops == 0 {
					n = min(int64(time.Since(start)/time.Second), max)
				}
				p.bar.Describe(fmt.Sprintf("bench: %d calls", issued.Load()))
				_ = p.bar.Set64(n)
			}
		}
	}()
	return p
}

// finish stops drawing and leaves the bar, full, on its line.
func (p *progress) finish() {
	if p.bar == nil {
		return
	}
	close(p.stop)
	<-p.done
	_ = p.bar.Finish()
}
