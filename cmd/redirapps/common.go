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

// appServer is a server of an application run (a Place Lab server, a
// rendezvous server): a socket of its own, registered in the run's
// namespace under its ID.
type appServer interface {
	serverID() dht.Key
	registration() *redir.Member
	// leave takes the server out of the namespace and closes it.
	leave(ctx context.Context) error
}

// fleet is the servers of an application run as they join and leave
// under churn: each starts at a random ID, with a random source of its
// own, and is in reg, the run's oracle of who is responsible, while it is
// live.
type fleet[S appServer] struct {
	e   env
	reg *registry
	// start starts a server at id in e's namespace.
	start func(ctx context.Context, e env, id dht.Key, rng *rand.Rand) (S, error)
	// stream is the PCG stream of the servers' random sources.
	stream uint64

	mu            sync.Mutex // guards the fields below
	rng           *rand.Rand // the IDs and seeds of the servers
	live, all     []S        // the servers registered now, every one started
	joins, leaves int        // by churn
}

func newFleet[S appServer](e env, reg *registry, rng *rand.Rand, stream uint64, start func(context.Context, env, dht.Key, *rand.Rand) (S, error)) *fleet[S] {
	return &fleet[S]{e: e, reg: reg, start: start, stream: stream, rng: rng}
}

// join starts a server at a random ID and registers it.
func (f *fleet[S]) join(ctx context.Context) (S, error) {
	f.mu.Lock()
	id, seed := randomKey(f.rng), f.rng.Uint64()
	f.mu.Unlock()
	s, err := f.start(ctx, f.e, id, rand.New(rand.NewPCG(seed, f.stream)))
	if err != nil {
		return s, err
	}
	f.reg.add(s.serverID())
	f.mu.Lock()
	f.live, f.all = append(f.live, s), append(f.all, s)
	f.mu.Unlock()
	return s, nil
}

// settle refreshes every live server twice (see settle).
func (f *fleet[S]) settle(ctx context.Context) error {
	f.mu.Lock()
	ms := make([]*redir.Member, len(f.live))
	for i, s := range f.live {
		ms[i] = s.registration()
	}
	f.mu.Unlock()
	return settle(ctx, ms)
}

// churn makes servers join and leave until ctx ends: every e.churn, in
// turn, a new server joins and a random live one leaves (never the last).
func (f *fleet[S]) churn(ctx context.Context) {
	t := time.NewTicker(f.e.churn)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f.mu.Lock()
		if i%2 == 1 && len(f.live) > 1 {
			j := f.rng.IntN(len(f.live))
			s := f.live[j]
			f.live = append(f.live[:j], f.live[j+1:]...)
			f.leaves++
			f.mu.Unlock()
			f.reg.remove(s.serverID())
			if err := s.leave(ctx); err != nil && ctx.Err() == nil {
				f.e.logf("leave: %v", err)
			}
			f.e.logf("server %s left", s.serverID())
			continue
		}
		f.mu.Unlock()
		s, err := f.join(ctx)
		if err != nil {
			f.e.logf("join: %v", err)
			continue
		}
		f.mu.Lock()
		f.joins++
		f.mu.Unlock()
		f.e.logf("server %s joined", s.serverID())
	}
}

// churned is how many servers joined and left by churn.
func (f *fleet[S]) churned() (joins, leaves int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.joins, f.leaves
}

// everyServer is every server the run started, live or gone.
func (f *fleet[S]) everyServer() []S {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.all)
}

// close makes every live server leave.
func (f *fleet[S]) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.live {
		_ = s.leave(context.Background())
	}
}
