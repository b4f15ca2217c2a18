package rmw

import (
	"encoding/binary"
	"slices"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/wire"
)

// The proposer of caspaxos: steps 1 to 3 and the Outcomes paragraph of
// the type comment (caspaxos.go).

type cpPhase uint8

const (
	phLookup cpPhase = iota + 1
	phPrepare
	phAccept
	phBackoff
)

type cpOp struct {
	id       uint64
	op       Op
	key      dht.Key
	deadline time.Time
	phase    cpPhase
	until    time.Time // end of the phase (round timeout, backoff)
	set      []wire.Peer
	ballot   ballot
	promises map[dht.Key]cpMsg
	accepts  map[dht.Key]bool
	rounds   int
	// answer is what the client gets once the state sent in the accept
	// is chosen.
	answer dht.CASResult
	// wrote: an accept carrying this operation's own write was sent, so
	// the write may have been chosen; mine is the version it writes.
	wrote bool
	mine  uint64
	tag   tag
	// base is the state the write was computed from.
	base cpState
}

func (p *caspaxos) quorum() int {
	if p.opts.Quorum > 0 {
		return p.opts.Quorum
	}
	return p.h.Replicas()/2 + 1
}

func (p *caspaxos) round() time.Duration { return max(p.h.Timeout()/15, 50*time.Millisecond) }

func (p *caspaxos) Start(now time.Time, id uint64, op Op) {
	o := &cpOp{id: id, op: op, key: op.Key, deadline: now.Add(p.h.Timeout())}
	if !op.Read {
		o.key = op.CAS.Key
	}
	self := p.h.Self().ID
	copy(o.tag[:8], self[:8])
	// A tag is never zero: zero means "no write".
	o.tag[0] |= 1
	binary.BigEndian.PutUint64(o.tag[8:], id)
	p.ops[id] = o
	if c, ok := p.sets[o.key]; ok && now.Before(c.until) {
		o.set = c.peers
		p.prepare(now, o)
		return
	}
	p.lookup(now, o)
}

// cachedSet is a replica set a root named, kept for cpSetCache: a
// proposer that works on a key again skips the routed lookup. A stale set
// is safe (acceptors answer only for keys whose set includes them, and
// two sets a change apart have intersecting quorums, RR-3); a round that
// finds no quorum, or a refusal by a non-member, drops it.
type cachedSet struct {
	peers []wire.Peer
	until time.Time
}

const (
	cpSetCache    = 5 * time.Second
	cpSetCacheMax = 4096
)

func (p *caspaxos) lookup(now time.Time, o *cpOp) {
	delete(p.sets, o.key)
	o.phase, o.until = phLookup, now.Add(p.round())
	p.h.Route(now, o.key, (&cpMsg{Kind: cpLookup, Op: o.id, Key: o.key}).encode())
}

func (p *caspaxos) prepare(now time.Time, o *cpOp) {
	o.rounds++
	p.seen = max(p.seen+1, uint64(now.UnixMilli()))
	o.ballot = ballot{N: p.seen, ID: p.h.Self().ID, Inc: p.inc}
	o.phase, o.until = phPrepare, now.Add(p.round())
	o.promises = map[dht.Key]cpMsg{}
	msg := (&cpMsg{Kind: cpPrepare, Op: o.id, Key: o.key, Ballot: o.ballot}).encode()
	for _, a := range o.set {
		p.h.Send(now, a, msg)
	}
}

func (p *caspaxos) accept(now time.Time, o *cpOp, next cpState, answer dht.CASResult) {
	o.answer = answer
	o.phase, o.until = phAccept, now.Add(p.round())
	o.accepts = map[dht.Key]bool{}
	msg := (&cpMsg{Kind: cpAccept, Op: o.id, Key: o.key, Ballot: o.ballot, State: next}).encode()
	for _, a := range o.set {
		p.h.Send(now, a, msg)
	}
}

// backoff waits a random while before preparing again: two proposers that
// keep preempting each other drift apart.
func (p *caspaxos) backoff(now time.Time, o *cpOp) {
	o.phase = phBackoff
	// Up to 20 ms, doubling with each round lost, to 1.3 s: rounds last a
	// few round trips, and backing off for less than one changes nothing.
	limit := 20 * time.Millisecond << min(o.rounds-1, 6)
	o.until = now.Add(time.Duration(1 + p.h.Rand().Int64N(int64(limit))))
}

func (p *caspaxos) finish(o *cpOp, r Result) {
	delete(p.ops, o.id)
	p.h.Done(o.id, r)
}

func member(set []wire.Peer, id dht.Key) bool {
	for _, x := range set {
		if x.ID == id {
			return true
		}
	}
	return false
}

// decide runs once a quorum promised: see step 3 of the type's comment.
func (p *caspaxos) decide(now time.Time, o *cpOp) {
	var high cpMsg
	same := true
	first := true
	for _, a := range o.set { // in a fixed order: a run replays exactly
		m, ok := o.promises[a.ID]
		if !ok {
			continue
		}
		if first {
			high, first = m, false
			continue
		}
		if m.Accepted != high.Accepted {
			same = false
		}
		if m.Accepted.cmp(high.Accepted) > 0 {
			high = m
		}
	}
	nowMs := now.UnixMilli()
	st := high.State
	if st.Version != 0 && nowMs >= st.Expiry && !p.opts.NoExpiryWriteBack {
		// Expired by this proposer's clock: the expiry is written back as
		// an absent state, so that a proposer whose clock is behind cannot
		// see the register live after a client was told it is gone: every
		// answer then follows the order of the ballots.
		st = cpState{Life: st.Life, Hist: st.Hist, HistTop: st.HistTop}
		same = false
	}
	cur := st.at(nowMs)
	// settle answers the client with answer once st, the state this
	// operation linearizes at, is chosen: at once if it is already.
	settle := func(answer dht.CASResult) {
		if same {
			p.finish(o, Result{Reg: answer})
			return
		}
		p.accept(now, o, st, answer)
	}
	if o.op.Read {
		if p.opts.NoReadWriteBack {
			p.finish(o, Result{Reg: dht.CASResult{OK: true, Versioned: cur}})
			return
		}
		settle(dht.CASResult{OK: true, Versioned: cur})
		return
	}
	c := o.op.CAS
	if o.wrote {
		// This operation's accept was sent and preempted: was its write
		// chosen?
		v, mine := st.wrote(o.tag)
		switch {
		case mine:
			settle(dht.CASResult{OK: true, Versioned: dht.Versioned{Version: v, Value: slices.Clone(c.Value)}})
			return
		case p.lost(o, st):
			// Not chosen, and never will be once st is: go on as if it
			// had not been tried. (wrote stays set: st itself may not be
			// chosen yet, and if this round is preempted too the question
			// is asked again.)
		default:
			p.finish(o, Result{Err: ErrUnknown})
			return
		}
	}
	if cur.Version != c.Expected {
		settle(dht.CASResult{Versioned: cur})
		return
	}
	ttl := min(c.TTL, dht.MaxTTL)
	next := cpState{Version: c.Expected + 1, Value: slices.Clone(c.Value), Expiry: nowMs + ttl*1000, Tag: o.tag, Life: st.Life}
	if c.Expected == 0 {
		next.Life = o.tag
	} else {
		next.Hist = slices.Clone(st.Hist)
	}
	next.Hist, next.HistTop = append(next.Hist, o.tag), next.Version
	if room := histRoom(len(next.Value)); len(next.Hist) > room {
		next.Hist = next.Hist[len(next.Hist)-room:]
	}
	o.wrote, o.mine, o.base = true, next.Version, st
	p.accept(now, o, next, dht.CASResult{OK: true, Versioned: dht.Versioned{Version: next.Version, Value: slices.Clone(c.Value)}})
}

// lost reports whether st, once chosen, proves that o's write, whose
// accept was sent, was not chosen and never will be. Within a lifetime versions form one
// chain (CAS-10): the write was lost if its version was taken by another
// write of the same lifetime, or if the state it was computed from is
// still the current one. A creation (expected 0) was lost if the register
// has never had a lifetime. Anything else (the evidence is older than the
// history kept, or the lifetime may have ended since) proves nothing.
func (p *caspaxos) lost(o *cpOp, st cpState) bool {
	base := o.base
	if o.op.CAS.Expected == 0 {
		return st.Version == 0 && st.Life == (tag{}) && len(st.Hist) == 0
	}
	if t, ok := st.writer(o.mine); ok && st.Life == base.Life {
		return t != o.tag
	}
	return st.Version == base.Version && st.Tag == base.Tag && st.Life == base.Life
}

func (p *caspaxos) onReply(now time.Time, from wire.Peer, m cpMsg) {
	o, ok := p.ops[m.Op]
	if !ok || m.Key != o.key {
		return
	}
	switch m.Kind {
	case cpLookupResp:
		if o.phase != phLookup {
			return
		}
		if len(m.Peers) < p.quorum() {
			return // a ring too small for a quorum: the round times out
		}
		o.set = m.Peers
		if len(p.sets) >= cpSetCacheMax {
			clear(p.sets)
		}
		p.sets[o.key] = cachedSet{peers: m.Peers, until: now.Add(cpSetCache)}
		p.prepare(now, o)
	case cpPromise, cpAccepted:
		if m.Ballot != o.ballot || !member(o.set, from.ID) {
			return
		}
		if m.Nack != 0 {
			if m.Promised.N > p.seen {
				p.seen = m.Promised.N
			}
			if m.Nack == nackHigher && (o.phase == phPrepare || o.phase == phAccept) {
				p.backoff(now, o)
			}
			if m.Nack == nackNotMember {
				delete(p.sets, o.key) // the set moved: the next operation asks
			}
			return // other refusals: the round fills up or times out
		}
		if m.Kind == cpPromise && o.phase == phPrepare {
			o.promises[from.ID] = m
			if len(o.promises) >= p.quorum() {
				p.decide(now, o)
			}
		}
		if m.Kind == cpAccepted && o.phase == phAccept {
			o.accepts[from.ID] = true
			if len(o.accepts) >= p.quorum() {
				p.finish(o, Result{Reg: o.answer})
			}
		}
	}
}
