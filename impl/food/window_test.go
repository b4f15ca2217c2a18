package food

import (
	"context"
	"testing"
	"time"
)

// TestWindowAIMD: the loader's window halves on a failure, once for the
// records in flight together, and grows back by one per window stored.
func TestWindowAIMD(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := newWindow(64)
	ctx := context.Background()
	for range 64 {
		if err := w.acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Every record in flight fails after the first failure's cut: one cut.
	w.failed(t0, t0.Add(time.Second))
	for i := range 63 {
		w.failed(t0.Add(time.Duration(i)*time.Millisecond), t0.Add(2*time.Second))
	}
	if limit, least, cuts := w.state(); limit != 32 || least != 32 || cuts != 1 {
		t.Fatalf("after one burst of failures: limit %d least %d cuts %d, want 32 32 1", limit, least, cuts)
	}
	// A put started after the cut fails: a second cut.
	w.failed(t0.Add(1500*time.Millisecond), t0.Add(3*time.Second))
	if limit, _, cuts := w.state(); limit != 16 || cuts != 2 {
		t.Fatalf("after a later failure: limit %d cuts %d, want 16 2", limit, cuts)
	}
	// 64 in flight, limit 16: release 48 stored ones; the limit grows by
	// one per limit's worth stored (16, then 17: 16+17 = 33 grow it twice).
	for range 48 {
		w.release(true)
	}
	if limit, _, _ := w.state(); limit != 18 {
		t.Fatalf("after 48 stored: limit %d, want 18", limit)
	}
	// Halving never goes below one.
	for i := range 10 {
		w.failed(t0.Add(time.Hour+time.Duration(i)*time.Minute), t0.Add(time.Hour+time.Duration(i)*time.Minute))
	}
	if limit, least, _ := w.state(); limit != 1 || least != 1 {
		t.Fatalf("after ten cuts: limit %d least %d, want 1 1", limit, least)
	}
	// With 16 in flight and limit 1, acquire waits until ctx ends.
	ctx2, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := w.acquire(ctx2); err == nil {
		t.Fatal("acquire got a slot over the limit")
	}
	// Back under the limit, a slot is given.
	for range 16 {
		w.release(false)
	}
	if err := w.acquire(ctx); err != nil {
		t.Fatal(err)
	}
}
