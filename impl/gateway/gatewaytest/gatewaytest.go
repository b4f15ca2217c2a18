// Package gatewaytest provides gateway.Backend implementations for the
// gateways' tests: one made of the reference model, one that always fails.
// It is a test helper: production code must not import it (impl/lint).
package gatewaytest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/model"
)

// Model is a gateway.Backend made of the reference model at a fixed time.
// In an uncontended model a write is admitted in the step that submits
// it, so every write completes at once.
type Model struct {
	mu      sync.Mutex
	s       *model.State
	regs    *model.Registers
	now     dht.Time
	nextID  uint64
	clients []dht.ClientID // the client of every write, in order
	fast    []bool         // whether each get was a fast read, in order
}

// NewModel returns an empty model backend.
func NewModel() *Model {
	return &Model{s: model.New(model.DefaultConfig()), regs: model.NewRegisters(dht.MaxTTL), now: 1_000_000}
}

// Clients returns the client each write was charged to, in order.
func (m *Model) Clients() []dht.ClientID {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.clients)
}

// FastGets returns, for every get in order, whether it asked for a fast
// read (spec RD-14): what a gateway passed on of its client's choice.
func (m *Model) FastGets() []bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.fast)
}

func (m *Model) write(op dht.Op, client dht.ClientID) (dht.Status, error) {
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

// Put stores through the model.
func (m *Model) Put(_ context.Context, p dht.Put) (dht.Status, error) {
	return m.write(dht.Op{Kind: dht.OpPut, Put: p}, p.Client)
}

// Remove removes through the model.
func (m *Model) Remove(_ context.Context, r dht.Remove) (dht.Status, error) {
	return m.write(dht.Op{Kind: dht.OpRemove, Remove: r}, r.Client)
}

// Get reads through the model.
func (m *Model) Get(_ context.Context, g dht.Get) (dht.GetReply, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fast = append(m.fast, g.Fast)
	res := m.s.Step(dht.Op{Kind: dht.OpGet, Get: g}, m.now)
	return res.Reply, res.Err
}

// CAS applies a compare-and-set to the model's registers (CAS-3).
func (m *Model) CAS(_ context.Context, c dht.CAS) (dht.CASResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.regs.CAS(c, m.now)
}

// ReadRegister reads the model's register (CAS-7).
func (m *Model) ReadRegister(_ context.Context, key dht.Key) (dht.Versioned, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.regs.Read(key, m.now), nil
}

// ErrDown is what Failing returns.
var ErrDown = errors.New("node: shutting down")

// Failing fails every call, as a node shutting down would.
type Failing struct{}

func (Failing) Put(context.Context, dht.Put) (dht.Status, error)       { return 0, ErrDown }
func (Failing) Remove(context.Context, dht.Remove) (dht.Status, error) { return 0, ErrDown }
func (Failing) Get(context.Context, dht.Get) (dht.GetReply, error)     { return dht.GetReply{}, ErrDown }
func (Failing) CAS(context.Context, dht.CAS) (dht.CASResult, error)    { return dht.CASResult{}, ErrDown }
func (Failing) ReadRegister(context.Context, dht.Key) (dht.Versioned, error) {
	return dht.Versioned{}, ErrDown
}

// Unknown answers every register call with an unknown outcome, as a node
// whose proposer timed out does (its error reports Timeout() == true).
type Unknown struct{ Model }

// ErrUnknownOutcome is what Unknown returns.
var ErrUnknownOutcome error = unknownError{}

type unknownError struct{}

func (unknownError) Error() string { return "node: outcome unknown, read before trying again" }
func (unknownError) Timeout() bool { return true }

// CAS reports an unknown outcome.
func (*Unknown) CAS(context.Context, dht.CAS) (dht.CASResult, error) {
	return dht.CASResult{}, ErrUnknownOutcome
}

// ReadRegister reports an unknown outcome.
func (*Unknown) ReadRegister(context.Context, dht.Key) (dht.Versioned, error) {
	return dht.Versioned{}, ErrUnknownOutcome
}
