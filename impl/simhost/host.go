// Package simhost drives a real node core (impl/node) over the
// deterministic network simulator (impl/simnet): the simulated
// counterpart of impl/driver, shipped as normal code so that the node's
// cluster tests, the linearizability judge and cmd/dhtsim run nodes the
// same way.
//
// A Host is one node's machine: a Pebble store on an in-memory filesystem
// that survives a crash with what was synced, a simnet endpoint, a node
// clock with its own offset and drift, and the node's timer. Everything
// runs on the simulator's goroutine. The store answers the core's storage
// requests at once (runInline); the core hears that a write is
// durable only after a simulated fsync latency, as from a real driver's
// syncer, and a disk can be made to stall its fsyncs (HoldSyncs).
package simhost

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/opendht-go/opendht/impl/clock"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/overlay"
	"github.com/opendht-go/opendht/impl/simnet"
	"github.com/opendht-go/opendht/impl/store"
	"github.com/opendht-go/opendht/impl/wire"
)

// Config configures a Host.
type Config struct {
	// Node is the node's configuration; Start sets its overlay seed.
	Node node.Config
	// StoreCapacity is the store's capacity in bytes (64 MiB if zero).
	StoreCapacity int64
	// FsyncLatency draws how long after a write the node hears it is
	// durable (the simulated disk itself is durable at once, so a crash
	// keeps the same data in every replay of a seed). Nil: at once.
	FsyncLatency func() time.Duration
	// Started, if set, is called with every new incarnation of the node
	// before it joins (to plant a variant, say).
	Started func(*node.Node)
	// Unclaimed, if set, gets the completions no Call is waiting for.
	Unclaimed func(node.Completion)
	// Fail reports a failure of the harness itself (not of the node: a
	// store that does not open, a datagram that does not encode).
	Fail func(error)
}

// Start says how one incarnation starts.
type Start struct {
	// Boot lists the nodes to join through; empty starts a ring.
	Boot []netip.AddrPort
	// Seed seeds the node's random choices.
	Seed uint64
	// ClockOffset and ClockDrift set the node's clock against the
	// simulator's (simnet.Network.Clock).
	ClockOffset time.Duration
	ClockDrift  float64
}

// ErrCrashed is the completion of a call whose gateway crashed: its
// outcome is unknown. It is a timeout (Timeout reports true).
var ErrCrashed error = crashError{}

type crashError struct{}

func (crashError) Error() string { return "simhost: gateway crashed" }
func (crashError) Timeout() bool { return true }

// Host is one simulated node machine.
type Host struct {
	net   *simnet.Network
	addr  netip.AddrPort
	cfg   Config
	n     *node.Node
	ep    *simnet.Endpoint
	clk   *simnet.NodeClock
	fs    *vfs.MemFS
	st    *store.Store
	timer clock.Timer
	alive bool
	calls map[uint64]func(node.Completion)
	hold  bool
	held  []func()
}

// New returns a host at addr with an empty disk; Start runs it.
func New(net *simnet.Network, addr netip.AddrPort, cfg Config) *Host {
	if cfg.StoreCapacity == 0 {
		cfg.StoreCapacity = 64 << 20
	}
	if cfg.Fail == nil {
		cfg.Fail = func(err error) { panic(err) }
	}
	return &Host{net: net, addr: addr, cfg: cfg, fs: vfs.NewCrashableMem()}
}

// Start opens the store, attaches to the network and starts a node that
// joins through s.Boot.
func (h *Host) Start(s Start) error {
	if h.alive {
		return errors.New("simhost: already running")
	}
	scfg := store.DefaultConfig("db")
	scfg.FS = h.fs
	scfg.Capacity = h.cfg.StoreCapacity
	scfg.CacheSize = 1 << 20
	st, err := store.Open(scfg)
	if err != nil {
		return fmt.Errorf("simhost: %v: open store: %w", h.addr, err)
	}
	ep, err := h.net.Attach(h.addr, h.receive)
	if err != nil {
		_ = st.Close()
		return err
	}
	clk, err := h.net.Clock(h.addr, s.ClockOffset, s.ClockDrift)
	if err != nil {
		h.net.Detach(h.addr)
		_ = st.Close()
		return err
	}
	ncfg := h.cfg.Node
	ncfg.Overlay.Seed = s.Seed
	regs, err := st.States(ncfg.RMW)
	if err != nil {
		h.net.Detach(h.addr)
		_ = st.Close()
		return fmt.Errorf("simhost: %v: read the registers' states: %w", h.addr, err)
	}
	h.st, h.ep, h.clk = st, ep, clk
	disk := node.Disk{ReplyCap: st.ReplyCap(), Registers: regs}
	h.n = node.New(ncfg, wire.Peer{ID: node.IDFor(h.addr), Addr: h.addr}, disk, nil)
	h.calls = map[uint64]func(node.Completion){}
	h.alive = true
	if h.cfg.Started != nil {
		h.cfg.Started(h.n)
	}
	h.n.Join(h.clk.Now(), s.Boot)
	h.Flush()
	return nil
}

// Crash kills the node: its memory is lost, its disk keeps what was
// synced. The calls in flight at its gateway get ErrCrashed, in the
// order of their request ids.
func (h *Host) Crash() {
	if !h.alive {
		return
	}
	h.alive = false
	if h.timer != nil {
		h.timer.Stop()
		h.timer = nil
	}
	h.net.Detach(h.addr)
	clone := h.fs.CrashClone(vfs.CrashCloneCfg{})
	_ = h.st.Close()
	h.fs = clone
	h.hold, h.held = false, nil
	calls := h.calls
	h.calls = map[uint64]func(node.Completion){}
	for _, id := range slices.Sorted(maps.Keys(calls)) {
		calls[id](node.Completion{ReqID: id, Err: ErrCrashed})
	}
}

// Close stops a running node and closes its store, as at the end of a
// run (nothing is told to its callers).
func (h *Host) Close() {
	if !h.alive {
		return
	}
	h.alive = false
	if h.timer != nil {
		h.timer.Stop()
	}
	h.net.Detach(h.addr)
	_ = h.st.Close()
}

// Alive reports whether the node runs.
func (h *Host) Alive() bool { return h.alive }

// Addr is the host's address.
func (h *Host) Addr() netip.AddrPort { return h.addr }

// Node is the running node (the last one after a crash).
func (h *Host) Node() *node.Node { return h.n }

// Store is the running node's store.
func (h *Host) Store() *store.Store { return h.st }

// Clock is the node's clock.
func (h *Host) Clock() *simnet.NodeClock { return h.clk }

// Call starts a request at the node as its gateway (start returns its
// request id) and gives its completion to done.
func (h *Host) Call(start func(now time.Time) uint64, done func(node.Completion)) {
	if !h.alive {
		done(node.Completion{Err: ErrCrashed})
		return
	}
	id := start(h.clk.Now())
	h.calls[id] = done
	h.Flush()
}

// HoldSyncs makes the disk stall (true): the node hears of no fsync until
// HoldSyncs(false), which reports every held one.
func (h *Host) HoldSyncs(hold bool) {
	h.hold = hold
	if !hold {
		held := h.held
		h.held = nil
		for _, f := range held {
			f()
		}
	}
}

func (h *Host) receive(from netip.AddrPort, payload []byte) {
	if !h.alive {
		return
	}
	h.n.Receive(h.clk.Now(), from, payload)
	h.Flush()
}

func (h *Host) tick() {
	if !h.alive {
		return
	}
	h.timer = nil
	h.n.Tick(h.clk.Now())
	h.Flush()
}

// Flush runs the node's outputs: datagrams onto the network, completions
// to their callers, storage requests on the store; then sets the timer
// for the node's next wake-up. Call it after driving the node directly.
func (h *Host) Flush() {
	if !h.alive {
		return
	}
	syncs := h.runInline()
	if len(syncs) > 0 {
		n := h.n
		tell := func() {
			if !h.alive || h.n != n {
				return // crashed meanwhile: nobody is told
			}
			now := h.clk.Now()
			for _, s := range syncs {
				h.n.Synced(now, s.seq, s.err)
			}
			h.Flush()
		}
		switch {
		case h.hold:
			h.held = append(h.held, tell)
		case h.cfg.FsyncLatency != nil:
			h.clk.AfterFunc(h.cfg.FsyncLatency(), tell)
		default:
			tell()
		}
	}
	if !h.alive {
		return
	}
	if h.timer != nil {
		h.timer.Stop()
		h.timer = nil
	}
	if w := h.n.NextWake(); !w.IsZero() {
		h.timer = h.clk.AfterFunc(max(w.Sub(h.clk.Now()), time.Millisecond), h.tick)
	}
}

// syncDone is a write's fsync outcome, for Node.Synced.
type syncDone struct {
	seq uint64
	err error
}

// runInline runs the node's outputs until it has none left: datagrams onto
// the network, completions to their callers, storage requests on the
// store, in order, answered at once. The writes' fsyncs are waited for
// here too (the simulated disk is durable at once, so a crash keeps the
// same data in every replay), but the node is not told: the outcomes are
// returned, for Flush to report after the simulated fsync latency.
func (h *Host) runInline() []syncDone {
	var syncs []syncDone
	for {
		r := h.n.Ready()
		if len(r.Sends)+len(r.Done)+len(r.Storage) == 0 {
			return syncs
		}
		for _, s := range r.Sends {
			h.send(s)
		}
		for _, d := range r.Done {
			h.complete(d)
		}
		for _, req := range r.Storage {
			resp := h.st.Exec(req)
			if resp.Pending != nil {
				syncs = append(syncs, syncDone{resp.Seq, resp.Pending.Wait()})
				resp.Pending = nil
			}
			h.n.Stored(h.clk.Now(), resp)
		}
	}
}

func (h *Host) send(s overlay.Send) {
	b, err := wire.Encode(nil, s.Env)
	if err != nil {
		h.cfg.Fail(fmt.Errorf("simhost: encode: %w", err))
		return
	}
	_ = h.ep.Send(s.To, b)
}

func (h *Host) complete(d node.Completion) {
	if f, ok := h.calls[d.ReqID]; ok {
		delete(h.calls, d.ReqID)
		f(d)
		return
	}
	if h.cfg.Unclaimed != nil {
		h.cfg.Unclaimed(d)
	}
}
