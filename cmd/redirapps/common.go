package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/redir"
)

// registry is the application's own list of the members it runs, to judge
// lookups by brute force: the successor among the registered IDs.
type registry struct {
	mu  sync.Mutex
	ids map[dht.Key]bool
}

func newRegistry() *registry { return &registry{ids: map[dht.Key]bool{}} }

func (r *registry) add(id dht.Key) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids[id] = true
}

func (r *registry) remove(id dht.Key) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.ids, id)
}

// successor is the first registered ID at or after k, wrapping.
func (r *registry) successor(k dht.Key) (dht.Key, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []dht.Key
	for id := range r.ids {
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return dht.Key{}, false
	}
	slices.SortFunc(ids, func(a, b dht.Key) int { return bytes.Compare(a[:], b[:]) })
	for _, id := range ids {
		if bytes.Compare(id[:], k[:]) >= 0 {
			return id, true
		}
	}
	return ids[0], true
}

func randomKey(rng *rand.Rand) dht.Key {
	var k dht.Key
	for i := range k {
		k[i] = byte(rng.Uint32())
	}
	return k
}

// keepRefreshed refreshes m every refresh period, at a random phase, until
// ctx ends.
func keepRefreshed(ctx context.Context, e env, m *redir.Member, rng *rand.Rand) {
	period := e.cfg.RefreshPeriod()
	t := time.NewTimer(time.Duration(rng.Int64N(int64(period))))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := m.Refresh(ctx); err != nil && ctx.Err() == nil {
			e.logf("refresh of %s: %v", m.Record().ID, err)
		}
		t.Reset(period)
	}
}

// settle refreshes every member twice in turn, so that each has seen the
// others' records (RZ-8) before the measured run.
func settle(ctx context.Context, ms []*redir.Member) error {
	for range 2 {
		if err := parallel(ctx, len(ms), func(i int) error {
			_, err := ms[i].Refresh(ctx)
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// parallel runs f(0..n-1), 16 at a time, and returns the first error.
func parallel(ctx context.Context, n int, f func(int) error) error {
	sem := make(chan struct{}, 16)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
