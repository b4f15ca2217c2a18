package food

import (
	"context"
	"sync"
	"time"
)

// window is the loader's congestion window (AIMD, as TCP's): how many
// records are stored at once. It starts at the configured concurrency;
// each put that fails (a gateway's "try again", a timeout, a failover)
// halves it, down to one; each window's worth of records stored adds one
// record back, up to the start. The DHT answers an overloaded ring with
// slower and refused puts, and a loader that kept its concurrency would
// only add retries to that load.
//
// Records in flight when the window was cut fail together: their
// failures are the same congestion, so a failure counts only for a put
// started after the last cut.
type window struct {
	mu       sync.Mutex
	changed  chan struct{} // closed and replaced when a slot may have freed
	limit    int           // records allowed at once
	max      int
	inFlight int
	stored   int       // records stored since the limit last changed
	cutAt    time.Time // when the limit was last halved
	least    int       // the smallest limit so far
	cuts     int       // how many times it was halved
}

func newWindow(max int) *window {
	return &window{changed: make(chan struct{}), limit: max, max: max, least: max}
}

// acquire waits for a slot; it fails only when ctx ends.
func (w *window) acquire(ctx context.Context) error {
	for {
		w.mu.Lock()
		if w.inFlight < w.limit {
			w.inFlight++
			w.mu.Unlock()
			return nil
		}
		ch := w.changed
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// release frees a slot; stored says whether the record was stored.
func (w *window) release(stored bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.inFlight--
	if stored {
		w.stored++
		if w.stored >= w.limit && w.limit < w.max {
			w.limit++
			w.stored = 0
		}
	}
	w.wake()
}

// failed reports a put started at started that failed: the window is
// halved unless it was cut after that put started.
func (w *window) failed(started, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if started.Before(w.cutAt) {
		return
	}
	w.limit = max(1, w.limit/2)
	w.least = min(w.least, w.limit)
	w.stored = 0
	w.cuts++
	w.cutAt = now
}

func (w *window) wake() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// state returns the limit now, the smallest so far and the cuts.
func (w *window) state() (limit, least, cuts int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.limit, w.least, w.cuts
}
