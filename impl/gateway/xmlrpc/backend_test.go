package xmlrpc

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/model"
)

// modelBackend is a gateway.Backend made of the reference model at a fixed
// time. In an uncontended model a write is admitted in the step that
// submits it, so every write completes at once.
type modelBackend struct {
	mu      sync.Mutex
	s       *model.State
	now     dht.Time
	nextID  uint64
	clients []dht.ClientID // the client of every write, in order
}

func newModelBackend() *modelBackend {
	return &modelBackend{s: model.New(model.DefaultConfig()), now: 1_000_000}
}

func (m *modelBackend) write(op dht.Op, client dht.ClientID) (dht.Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.clients = append(m.clients, client)
	m.nextID++
	op.ID = m.nextID
	res := m.s.Step(op, m.now)
	if res.Err != nil {
		return 0, res.Err
	}
	for _, c := range res.Completed {
		if c.ID == op.ID {
			return c.Status, nil
		}
	}
	return 0, fmt.Errorf("model: write %d still pending", op.ID)
}

func (m *modelBackend) Put(_ context.Context, p dht.Put) (dht.Status, error) {
	return m.write(dht.Op{Kind: dht.OpPut, Put: p}, p.Client)
}

func (m *modelBackend) Remove(_ context.Context, r dht.Remove) (dht.Status, error) {
	return m.write(dht.Op{Kind: dht.OpRemove, Remove: r}, r.Client)
}

func (m *modelBackend) Get(_ context.Context, g dht.Get) (dht.GetReply, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	res := m.s.Step(dht.Op{Kind: dht.OpGet, Get: g}, m.now)
	return res.Reply, res.Err
}

// failingBackend fails every call, as a node shutting down would.
type failingBackend struct{}

var errDown = errors.New("node: shutting down")

func (failingBackend) Put(context.Context, dht.Put) (dht.Status, error)       { return 0, errDown }
func (failingBackend) Remove(context.Context, dht.Remove) (dht.Status, error) { return 0, errDown }
func (failingBackend) Get(context.Context, dht.Get) (dht.GetReply, error) {
	return dht.GetReply{}, errDown
}
