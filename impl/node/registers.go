package node

import (
	"bytes"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/overlay"
	"github.com/opendht-go/opendht/impl/rmw"
	"github.com/opendht-go/opendht/impl/store"
	"github.com/opendht-go/opendht/impl/wire"
)

// The versioned registers (spec/SPEC.md section 11): the node hands cas
// and register reads to its read-modify-write protocol (impl/rmw) and
// offers it the network, the put/get namespace, durable state and a
// membership (host).

// CAS executes a compare-and-set as the gateway (CAS-3). Its answer is a
// Completion with Register set, or Err: a refusal (CAS-8, or the protocol
// found no quorum before it sent anything) or rmw.ErrUnknown.
func (n *Node) CAS(now time.Time, c dht.CAS) uint64 {
	return n.startRMW(now, rmw.Op{Key: c.Key, CAS: c}, c.Validate())
}

// ReadRegister executes a linearizable read of key's register as the
// gateway (CAS-7). The Completion's Register has OK true.
func (n *Node) ReadRegister(now time.Time, key dht.Key) uint64 {
	return n.startRMW(now, rmw.Op{Read: true, Key: key}, nil)
}

func (n *Node) startRMW(now time.Time, op rmw.Op, verr error) uint64 {
	id := n.id()
	if verr == nil && !n.ov.Joined() {
		verr = errJoiningRMW // JOIN-3
	}
	if verr != nil {
		n.out.Done = append(n.out.Done, Completion{ReqID: id, Err: verr})
		return id
	}
	n.proto.Start(now, id, op)
	n.collect(now)
	return id
}

// errJoiningRMW refuses a register operation at a node that is not part
// of a ring yet (JOIN-3): it was sent nowhere, so it certainly did not
// take effect.
var errJoiningRMW = fmt.Errorf("%w: node not joined to a ring yet (no bootstrap node has answered), try again", rmw.ErrRefused)

// updateMembers adds the leaf set to the membership and drops the peers
// not seen in it for MemberHold.
func (n *Node) updateMembers(now time.Time) {
	for _, p := range n.ov.Leaves() {
		if old, ok := n.members[p.ID]; !ok || old.p != p {
			n.memberEpoch++
		}
		n.members[p.ID] = member{p: p, seen: now}
	}
	for id, m := range n.members {
		if now.Sub(m.seen) > n.cfg.MemberHold {
			delete(n.members, id)
			n.memberEpoch++
		}
	}
}

// registerSet is key's replica set for the registers: the Replicas nodes
// closest to key among this node and its membership.
func (n *Node) registerSet(key dht.Key) []wire.Peer {
	cands := make([]wire.Peer, 0, len(n.members)+1)
	cands = append(cands, n.self)
	for _, m := range n.members {
		cands = append(cands, m.p)
	}
	return slices.Clip(closest(key, cands, n.cfg.Replicas))
}

// protoWork delivers the protocol's messages to this node and the answers
// to its put/get requests; it reports whether there were any.
func (n *Node) protoWork(now time.Time) bool {
	did := false
	for len(n.selfMsgs) > 0 {
		m := n.selfMsgs[0]
		n.selfMsgs = n.selfMsgs[1:]
		n.proto.Receive(now, n.self, m)
		did = true
	}
	if len(n.protoReqs) == 0 {
		return did
	}
	var mine []Completion
	kept := n.out.Done[:0]
	for _, c := range n.out.Done {
		if n.protoReqs[c.ReqID] {
			delete(n.protoReqs, c.ReqID)
			mine = append(mine, c)
		} else {
			kept = append(kept, c)
		}
	}
	n.out.Done = kept
	for _, c := range mine {
		n.proto.DHTDone(now, c.ReqID, rmw.DHTResult{Status: c.Status, Values: c.Values, Err: c.Err})
		did = true
	}
	return did
}

// host is what the node offers its protocol (rmw.Host).
type host struct{ n *Node }

func (h host) Self() wire.Peer { return h.n.self }

func (h host) Send(now time.Time, to wire.Peer, msg []byte) {
	if len(msg) > wire.MaxProtoPayload {
		h.n.log.Error("rmw: message too large, dropped", "bytes", len(msg))
		return
	}
	if to.ID == h.n.self.ID {
		h.n.selfMsgs = append(h.n.selfMsgs, msg)
		return
	}
	h.n.out.Sends = append(h.n.out.Sends, overlay.Send{To: to.Addr, Env: wire.Envelope{From: h.n.self, Msg: &wire.Proto{Payload: msg}}})
}

func (h host) Route(now time.Time, key dht.Key, msg []byte) {
	payload, err := wire.Encode(nil, wire.Envelope{From: h.n.self, Msg: &wire.Proto{Payload: msg}})
	if err != nil {
		h.n.log.Error("rmw: message too large to route, dropped", "err", err)
		return
	}
	h.n.ov.Route(now, key, payload)
}

func (h host) ReplicaSet(key dht.Key) []wire.Peer { return h.n.registerSet(key) }
func (h host) Replicas() int                      { return h.n.cfg.Replicas }

// MembershipEpoch changes whenever the membership, and so a register's
// replica set, may have changed (rmw.MembershipHost): the protocol's
// repair then looks at its registers' sets again, and only then.
func (h host) MembershipEpoch() uint64 { return h.n.memberEpoch }

var _ rmw.MembershipHost = host{}

// The node's own gateway calls: their collect is a no-op inside the
// protocol's call, and the outer collect delivers the answers.
func (h host) Put(now time.Time, p dht.Put) uint64       { return h.track(h.n.Put(now, p)) }
func (h host) Remove(now time.Time, r dht.Remove) uint64 { return h.track(h.n.Remove(now, r)) }

func (h host) Get(now time.Time, g dht.Get) uint64 { return h.track(h.n.Get(now, g)) }

func (h host) track(id uint64) uint64 {
	h.n.protoReqs[id] = true
	return id
}

// LoadState reads the node's copy of the register's durable state: no
// I/O (Disk.Registers at start, every SaveState since).
func (h host) LoadState(key dht.Key) ([]byte, error) { return h.n.registers[key], nil }

func (h host) SaveState(now time.Time, key dht.Key, val []byte, then func(time.Time, error)) {
	if len(val) == 0 {
		delete(h.n.registers, key)
	} else {
		h.n.registers[key] = append([]byte(nil), val...)
	}
	// In the durable queue behind every earlier step: the answer that
	// depends on this state leaves once it and all before it are on disk.
	d := &durableStep{after: then}
	h.n.askDurable(store.Request{Kind: store.ReqSaveState, NS: h.n.cfg.RMW, Key: key, Val: val}, d, func(now time.Time, r store.Response) {
		if r.Err == nil {
			return
		}
		h.n.log.Error("rmw: save state", "err", r.Err)
		if d.after != nil {
			d.after(now, r.Err)
			d.after = nil
		}
	})
}

// ScanState visits the registers' states in key order.
func (h host) ScanState(fn func(dht.Key, []byte) bool) error {
	keys := slices.SortedFunc(maps.Keys(h.n.registers), func(a, b dht.Key) int { return bytes.Compare(a[:], b[:]) })
	for _, k := range keys {
		if !fn(k, h.n.registers[k]) {
			break
		}
	}
	return nil
}

func (h host) Done(id uint64, r rmw.Result) {
	h.n.out.Done = append(h.n.out.Done, Completion{ReqID: id, Register: r.Reg, Err: r.Err})
}

func (h host) Timeout() time.Duration {
	return h.n.cfg.RequestTimeout * time.Duration(h.n.cfg.Attempts)
}
func (h host) SyncPeriod() time.Duration { return h.n.cfg.AntiEntropyPeriod }
func (h host) Rand() *rand.Rand          { return h.n.rng }
func (h host) Log() *slog.Logger         { return h.n.log }
