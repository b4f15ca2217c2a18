package redir

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/opendht-go/opendht/impl/clock"
	"github.com/opendht-go/opendht/impl/dht"
)

// SimConfig shapes a simulated DHT.
type SimConfig struct {
	// Nodes is the number of storage nodes on the ring (at least 1).
	Nodes int
	// Replicas is how many nodes, the key's successors, store each value;
	// a value is lost when all of them have left (no repair).
	Replicas int
	// MaxPutDelay delays each put: a value becomes visible to gets after a
	// delay drawn uniformly from [0, MaxPutDelay] of the clock's time.
	MaxPutDelay time.Duration
	// Seed seeds the node IDs, churn and delays.
	Seed uint64
}

// ErrSimDown is what a Sim answers while it is told to fail.
var ErrSimDown = errors.New("redir: simulated DHT is down")

// Sim is an in-memory DHT for tests and figures: a ring of storage nodes,
// each value on the Replicas successors of its key, TTLs and tombstones by
// the given clock, puts visible after a delay, and churn (ChurnNode) that
// loses what a departing node held. It is normal code, safe for concurrent
// use, and deterministic for a given seed and order of calls.
type Sim struct {
	cfg SimConfig
	clk clock.Clock

	mu    sync.Mutex
	rng   *rand.Rand
	nodes []*simNode // by ID
	down  bool
}

type simNode struct {
	id    dht.Key
	items map[dht.Key]map[simItemID]*simItem
}

type simItemID struct{ secretHash, valueHash dht.Hash }

type simItem struct {
	value   []byte
	expiry  time.Time
	visible time.Time
	tomb    bool
}

// NewSim returns a simulated DHT whose time is clk.
func NewSim(cfg SimConfig, clk clock.Clock) *Sim {
	cfg.Nodes = max(cfg.Nodes, 1)
	cfg.Replicas = min(max(cfg.Replicas, 1), cfg.Nodes)
	s := &Sim{cfg: cfg, clk: clk, rng: rand.New(rand.NewPCG(cfg.Seed, 0x5eed))}
	for range cfg.Nodes {
		s.addNode()
	}
	return s
}

func (s *Sim) addNode() {
	n := &simNode{items: map[dht.Key]map[simItemID]*simItem{}}
	for i := range n.id {
		n.id[i] = byte(s.rng.Uint32())
	}
	i, _ := slices.BinarySearchFunc(s.nodes, n.id, func(a *simNode, k dht.Key) int { return bytes.Compare(a.id[:], k[:]) })
	s.nodes = slices.Insert(s.nodes, i, n)
}

// ChurnNode replaces one storage node, chosen at random, by a new empty
// one: what only it held is lost, and keys whose successors change are
// read from nodes that never saw them.
func (s *Sim) ChurnNode() {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.rng.IntN(len(s.nodes))
	s.nodes = slices.Delete(s.nodes, i, i+1)
	s.addNode()
}

// SetDown makes every call fail (true) or work again.
func (s *Sim) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// replicas are the nodes that store key: its successors on the ring.
func (s *Sim) replicas(key dht.Key) []*simNode {
	i, _ := slices.BinarySearchFunc(s.nodes, key, func(a *simNode, k dht.Key) int { return bytes.Compare(a.id[:], k[:]) })
	out := make([]*simNode, 0, s.cfg.Replicas)
	for j := range s.cfg.Replicas {
		out = append(out, s.nodes[(i+j)%len(s.nodes)])
	}
	return out
}

// Get returns the live, visible values of key at any of its replicas.
func (s *Sim) Get(_ context.Context, key dht.Key) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return nil, ErrSimDown
	}
	now := s.clk.Now()
	seen := map[simItemID]bool{}
	var ids []simItemID
	vals := map[simItemID][]byte{}
	for _, n := range s.replicas(key) {
		for id, it := range n.items[key] {
			if it.tomb || !now.Before(it.expiry) || now.Before(it.visible) || seen[id] {
				continue
			}
			seen[id] = true
			ids = append(ids, id)
			vals[id] = it.value
		}
	}
	// Item order, as the real DHT's gateways return (RD-9).
	slices.SortFunc(ids, func(a, b simItemID) int {
		if c := bytes.Compare(a.secretHash[:], b.secretHash[:]); c != 0 {
			return c
		}
		return bytes.Compare(a.valueHash[:], b.valueHash[:])
	})
	out := make([][]byte, len(ids))
	for i, id := range ids {
		out[i] = bytes.Clone(vals[id])
	}
	return out, nil
}

// PutRemovable stores value at key's replicas; a live tombstone of the same
// item blocks it (PUT-4), a later expiry extends it (PUT-6).
func (s *Sim) PutRemovable(_ context.Context, key dht.Key, value, secret []byte, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return ErrSimDown
	}
	now := s.clk.Now()
	id := simItemID{dht.SHA1(secret), dht.SHA1(value)}
	expiry := now.Add(ttl.Truncate(time.Second))
	var delay time.Duration
	if s.cfg.MaxPutDelay > 0 {
		delay = time.Duration(s.rng.Int64N(int64(s.cfg.MaxPutDelay) + 1))
	}
	for _, n := range s.replicas(key) {
		its := n.items[key]
		if its == nil {
			its = map[simItemID]*simItem{}
			n.items[key] = its
		}
		old := its[id]
		switch {
		case old != nil && now.Before(old.expiry) && old.tomb:
		case old != nil && now.Before(old.expiry):
			if expiry.After(old.expiry) {
				old.expiry = expiry
			}
		default:
			its[id] = &simItem{value: bytes.Clone(value), expiry: expiry, visible: now.Add(delay)}
		}
	}
	return nil
}

// Remove replaces the item by a tombstone at key's replicas (RM-3).
func (s *Sim) Remove(_ context.Context, key dht.Key, value, secret []byte, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return ErrSimDown
	}
	now := s.clk.Now()
	id := simItemID{dht.SHA1(secret), dht.SHA1(value)}
	expiry := now.Add(ttl.Truncate(time.Second))
	for _, n := range s.replicas(key) {
		its := n.items[key]
		if its == nil {
			its = map[simItemID]*simItem{}
			n.items[key] = its
		}
		if old := its[id]; old != nil && old.expiry.After(expiry) {
			expiry = old.expiry
		}
		its[id] = &simItem{expiry: expiry, tomb: true}
	}
	return nil
}

// Expire drops what has expired, as a node reclaims it (TTL-5); it only
// keeps a long simulation's memory flat.
func (s *Sim) Expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	for _, n := range s.nodes {
		for k, its := range n.items {
			for id, it := range its {
				if !now.Before(it.expiry) {
					delete(its, id)
				}
			}
			if len(its) == 0 {
				delete(n.items, k)
			}
		}
	}
}
