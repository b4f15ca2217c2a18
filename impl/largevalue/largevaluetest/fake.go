// Package largevaluetest is an in-memory DHT for the large-value layer's
// tests: the single-node reference model (TTL, tombstones, paging, fair
// admission) behind the layer's DHT interface, with a clock the test
// moves and faults it plants: lost blocks, corrupted blocks, puts that
// fail. It is a test helper: production code must not import it
// (impl/lint).
package largevaluetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/model"
)

// ErrInjected is the error of a put that FailPut made fail.
var ErrInjected = errors.New("largevaluetest: injected failure")

// Event is one write as the DHT saw it, for checks of write order.
type Event struct {
	Key dht.Key
	// Start and Ack number the call's start and its answer in one sequence
	// shared by all calls.
	Start, Ack int
}

// DHT is the in-memory DHT. It is safe for concurrent use; calls are
// applied to the model one at a time. Every key has a model node of its
// own, as if each had its own root: the model scans all it holds at every
// step, and one node holding a 64 MiB value's blocks would be slow.
type DHT struct {
	mu       sync.Mutex
	cfg      model.Config
	nodes    map[dht.Key]*model.State
	now      dht.Time
	ns       int64
	nextID   uint64
	seq      int
	dropped  map[dht.Key]bool
	corrupt  map[dht.Key]bool
	failAt   int // the put number that fails, 0 for none
	puts     int
	writes   []Event
	clients  []dht.ClientID
	inFlight int
	maxIn    int
	// Pause, if set, is slept by every call outside the lock, so that
	// calls overlap and a bound on them shows.
	Pause time.Duration
}

// New returns an empty DHT at a fixed time, with the model's default
// nodes (1 GiB, a week).
func New() *DHT { return NewWith(model.DefaultConfig()) }

// NewWith returns an empty DHT whose nodes have cfg.
func NewWith(cfg model.Config) *DHT {
	return &DHT{cfg: cfg, nodes: map[dht.Key]*model.State{}, now: 1_000_000, dropped: map[dht.Key]bool{}, corrupt: map[dht.Key]bool{}}
}

// Now is the DHT's clock, for the layer's Config.Now: the current second,
// plus a nanosecond per call, so that writes started in one second still
// get distinct Created stamps.
func (d *DHT) Now() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ns++
	return time.Unix(int64(d.now), d.ns%1e9)
}

// Time is the current second.
func (d *DHT) Time() dht.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.now
}

// Advance moves the clock by s seconds.
func (d *DHT) Advance(s int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.now += dht.Time(s)
	d.ns = 0
}

// Drop makes every value under k unreadable, as if every replica lost it.
func (d *DHT) Drop(k dht.Key) { d.mu.Lock(); d.dropped[k] = true; d.mu.Unlock() }

// Corrupt makes every value under k come back with its first byte flipped
// (a value of zero bytes comes back as one byte).
func (d *DHT) Corrupt(k dht.Key) { d.mu.Lock(); d.corrupt[k] = true; d.mu.Unlock() }

// FailPut makes the n-th put from now (1: the next) fail with
// ErrInjected, without effect; n <= 0 plants no failure.
func (d *DHT) FailPut(n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failAt = 0
	if n > 0 {
		d.failAt = d.puts + n
	}
}

// Writes returns every put and rm that succeeded, in the order they
// started.
func (d *DHT) Writes() []Event {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.writes)
}

// Clients returns the client of every write, in order.
func (d *DHT) Clients() []dht.ClientID {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.clients)
}

// Usage returns the bytes charged to each client (FST-10).
func (d *DHT) Usage() map[dht.ClientID]int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[dht.ClientID]int64{}
	for _, s := range d.nodes {
		for c, b := range s.Usage() {
			out[c] += b
		}
	}
	return out
}

// node returns the model node of key k.
func (d *DHT) node(k dht.Key) *model.State {
	s, ok := d.nodes[k]
	if !ok {
		s = model.New(d.cfg)
		d.nodes[k] = s
	}
	return s
}

// MaxInFlight returns the most calls that were in progress at once.
func (d *DHT) MaxInFlight() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.maxIn
}

// enter starts a call: it counts it and returns its start number.
func (d *DHT) enter() int {
	d.mu.Lock()
	d.inFlight++
	d.maxIn = max(d.maxIn, d.inFlight)
	d.seq++
	start := d.seq
	d.mu.Unlock()
	if d.Pause > 0 {
		time.Sleep(d.Pause)
	}
	return start
}

func (d *DHT) leave() { d.inFlight-- }

func (d *DHT) write(op dht.Op, key dht.Key, client dht.ClientID, start int) (dht.Status, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	defer d.leave()
	d.nextID++
	op.ID = d.nextID
	res := d.node(key).Step(op, d.now)
	if res.Err != nil {
		return 0, res.Err
	}
	for _, c := range res.Completed {
		if c.ID == op.ID {
			d.seq++
			if c.Status == dht.StatusOK {
				d.writes = append(d.writes, Event{Key: key, Start: start, Ack: d.seq})
				d.clients = append(d.clients, client)
			}
			return c.Status, nil
		}
	}
	return 0, fmt.Errorf("largevaluetest: write %d still queued: the node is over capacity", op.ID)
}

// Put stores through the model, unless FailPut chose it.
func (d *DHT) Put(ctx context.Context, p dht.Put) (dht.Status, error) {
	start := d.enter()
	d.mu.Lock()
	d.puts++
	fail := d.puts == d.failAt
	d.mu.Unlock()
	if fail || ctx.Err() != nil {
		d.mu.Lock()
		d.leave()
		d.mu.Unlock()
		if fail {
			return 0, ErrInjected
		}
		return 0, ctx.Err()
	}
	p.Value = slices.Clone(p.Value)
	return d.write(dht.Op{Kind: dht.OpPut, Put: p}, p.Key, p.Client, start)
}

// Remove removes through the model.
func (d *DHT) Remove(_ context.Context, r dht.Remove) (dht.Status, error) {
	start := d.enter()
	return d.write(dht.Op{Kind: dht.OpRemove, Remove: r}, r.Key, r.Client, start)
}

// Get reads through the model, with the planted faults.
func (d *DHT) Get(_ context.Context, g dht.Get) (dht.GetReply, error) {
	d.enter()
	d.mu.Lock()
	defer d.mu.Unlock()
	defer d.leave()
	if d.dropped[g.Key] {
		return dht.GetReply{}, nil
	}
	res := d.node(g.Key).Step(dht.Op{Kind: dht.OpGet, Get: g}, d.now)
	if d.corrupt[g.Key] {
		for i, v := range res.Reply.Values {
			b := slices.Clone(v.Value)
			if len(b) == 0 {
				b = []byte{1}
			} else {
				b[0] ^= 0xff
			}
			res.Reply.Values[i].Value = b
		}
	}
	return res.Reply, res.Err
}
