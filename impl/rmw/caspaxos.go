package rmw

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/wire"
)

// caspaxos is CASPaxos (Rystsov, 2018): every change of a register is one
// instance of single-decree Paxos over the register's whole state, with no
// log. The key's replica set are the acceptors; the client's gateway is the
// proposer. A proposer
//
//  1. asks the key's root (through the overlay) for the replica set (or
//     uses the one a root named within the last seconds), and needs a
//     quorum Q = Replicas/2+1 of it;
//  2. prepares a ballot higher than any it has seen at every acceptor; an
//     acceptor promises (durably) to accept nothing lower and answers with
//     the state it accepted last;
//  3. takes the state of the highest ballot among Q promises, applies the
//     operation to it (a cas sets version+1 if the version is the expected
//     one; a failed cas and a read change nothing), and sends it back with
//     its ballot; an acceptor accepts (durably) unless it promised a higher
//     ballot. Q accepts and the change is chosen: the client is answered.
//
// When the Q promises report the same accepted ballot, that state is
// already chosen, and a read or a failed cas is answered without step 3.
//
// Membership. The replica set moves when nodes join or leave. Quorums of
// two replica sets that differ in one node intersect (2Q > Replicas+1), and
// the membership a node computes sets from keeps a node that stops
// answering for node.Config.MemberHold, so partitions and restarts do not
// change the sets: only joins and departures do, one node at a time. After
// a change the acceptors that hold a register push its accepted state to
// the members that lack it (an acceptor adopts a pushed state as if the
// accept had reached it: only above its promise), within a few sync
// periods, before the next change (the churn bound). An acceptor answers
// only for keys whose replica set, as it sees it, includes itself.
//
// Expiry. A state carries its expiry (the proposer's clock plus the ttl);
// a proposer reads an expired state as absent (CAS-4). An acceptor forgets
// a register a grace period after its expiry, once its promise is older
// than the ballot window; it refuses ballots older than that window, so a
// message delayed across the forgetting cannot bring a register back.
//
// Outcomes. A cas whose accept was never sent did not happen: when no
// quorum answers in time it is refused (ErrRefused), safe to retry. Once
// its accept was sent, a cas that is not answered by a quorum is retried
// with a higher ballot: a proposer that then finds its own write (by its
// tag) reports success, one that finds the expected version still there
// tries again, and any other finding is ErrUnknown.
type caspaxos struct {
	h    Host
	opts CASPaxosOptions
	ops  map[uint64]*cpOp
	// seen is the highest ballot counter this proposer has seen.
	seen     uint64
	nextSync time.Time
	// pushed records, per key and member, the accepted ballot last pushed.
	pushed    map[dht.Key]map[dht.Key]ballot
	syncRound int
	// inc is this instance's incarnation (see ballot).
	inc uint64
	// sets caches the replica sets of keys (cachedSet).
	sets map[dht.Key]cachedSet
}

func init() {
	Register("caspaxos", func(h Host) Protocol { return NewCASPaxos(h, CASPaxosOptions{}) })
}

// CASPaxosOptions change the protocol, for designers who study variants
// with the judge (each one below is a real design mistake, and the judge
// catches it; see linearizability/judge). The zero value is the protocol.
type CASPaxosOptions struct {
	// Quorum overrides Replicas/2+1. Below that, two quorums of one
	// replica set need not intersect.
	Quorum int
	// NoExpiryWriteBack answers "absent" for a register the proposer's
	// clock finds expired without writing the expiry back: proposers
	// whose clocks disagree then disagree on when it expired.
	NoExpiryWriteBack bool
	// NoReadWriteBack answers a read with the highest accepted state
	// without making it chosen: a state one acceptor accepted may be read
	// and then lost.
	NoReadWriteBack bool
}

// NewCASPaxos returns CASPaxos with options on h.
func NewCASPaxos(h Host, opts CASPaxosOptions) Protocol {
	return &caspaxos{h: h, opts: opts, ops: map[uint64]*cpOp{}, pushed: map[dht.Key]map[dht.Key]ballot{}, inc: h.Rand().Uint64(), sets: map[dht.Key]cachedSet{}}
}

// Parameters of the protocol.
const (
	// cpBallotWindow: an acceptor refuses a ballot whose counter (the
	// proposer's clock, in ms) is older than this; it must exceed any
	// operation's lifetime plus the clock skew.
	cpBallotWindow = 2 * time.Minute
	// cpGrace: an acceptor forgets a register this long after it expired.
	cpGrace = 2 * time.Minute
	// cpRePush: every this many sync rounds, states are pushed again to
	// every member (a push may have been lost).
	cpRePush = 10
)

// ballot orders proposals: by counter, then by the proposer's ID, then
// by its incarnation. The incarnation is drawn when the protocol starts:
// a proposer that restarts before its clock passes the counter it last
// used must not propose under the same ballot again (a ballot names one
// state).
type ballot struct {
	N   uint64
	ID  dht.Key
	Inc uint64
}

func (b ballot) cmp(o ballot) int {
	return cmp.Or(cmp.Compare(b.N, o.N), bytes.Compare(b.ID[:], o.ID[:]), cmp.Compare(b.Inc, o.Inc))
}

func (b ballot) zero() bool { return b == ballot{} }

// cpState is a register's state as the acceptors hold it.
type cpState struct {
	Version uint64
	Value   []byte
	Expiry  int64 // Unix ms
	Tag     tag   // the write that made it
	// Life is the tag of the write that created this lifetime (version
	// 1); an absent state written back after an expiry keeps the Life and
	// Hist of the lifetime that ended.
	Life tag
	// Hist holds the tags of the last writes of the lifetime
	// (histRoom), oldest first, and HistTop the version the last of them
	// wrote: versions within a lifetime are consecutive (CAS-10), so
	// Hist[i] wrote HistTop-(len(Hist)-1-i). A proposer whose accept was
	// preempted finds out from them whether its write was chosen.
	Hist    []tag
	HistTop uint64
}

// tag names one write: the proposer's ID prefix and its operation id.
type tag [16]byte

// wrote returns the version of write t in s's lifetime, if s remembers it.
func (s cpState) wrote(t tag) (uint64, bool) {
	for i, e := range s.Hist {
		if e == t {
			return s.HistTop - uint64(len(s.Hist)-1-i), true
		}
	}
	return 0, false
}

// writer returns the tag of the write that made version v, if remembered.
func (s cpState) writer(v uint64) (tag, bool) {
	if v > s.HistTop || s.HistTop-v >= uint64(len(s.Hist)) {
		return tag{}, false
	}
	return s.Hist[len(s.Hist)-1-int(s.HistTop-v)], true
}

// A state remembers as many of the last writes as its messages have room
// for (histRoom): 6 with a value of 1024 bytes, cpHistMax with one of up
// to 100. The longer the history, the longer a proposer whose accept was
// preempted can still tell whether its write was chosen.
const (
	cpHistMax = 64
	// cpFixed bounds the bytes of a message that carries a state, besides
	// its value and history: kind, operation, key, three ballots, nack,
	// version, value length, expiry, tag, life, history top and length,
	// and an empty peer list.
	cpFixed = 1 + 10 + dht.KeyLen + 3*(10+dht.KeyLen+10) + 1 + 10 + 2 + 10 + 16 + 16 + 10 + 1 + 1
	// cpHistEntry is the size of one history entry: a tag.
	cpHistEntry = 16
)

// histRoom is how many history entries a state with a value of n bytes
// keeps.
func histRoom(n int) int {
	return max(1, min(cpHistMax, (wire.MaxProtoPayload-cpFixed-n)/cpHistEntry))
}

// at is what a proposer at nowMs reads: the state, or absent once expired.
func (s cpState) at(nowMs int64) dht.Versioned {
	if s.Version == 0 || nowMs >= s.Expiry {
		return dht.Versioned{}
	}
	return dht.Versioned{Version: s.Version, Value: slices.Clone(s.Value)}
}

// acceptor is what a node keeps on disk per register.
type acceptor struct {
	Promise, Accepted ballot
	State             cpState
}

// Message kinds.
const (
	cpLookup     = 1 // proposer -> root (routed): who are the acceptors?
	cpLookupResp = 2
	cpPrepare    = 3
	cpPromise    = 4
	cpAccept     = 5
	cpAccepted   = 6
	cpPush       = 7 // acceptor -> member: catch-up
)

// Reasons an acceptor refuses.
const (
	nackHigher    = 1 // promised a higher ballot (Promised)
	nackStale     = 2 // the ballot is older than the window
	nackNotMember = 3 // this node is not in the key's replica set
)

type cpMsg struct {
	Kind     uint8
	Op       uint64
	Key      dht.Key
	Ballot   ballot
	Nack     uint8
	Promised ballot
	Accepted ballot
	State    cpState
	Peers    []wire.Peer
}

// Limits of a message, checked before anything is allocated.
const (
	cpMaxPeers = 16
)

var errCPMalformed = errors.New("caspaxos: malformed message")

func (m *cpMsg) encode() []byte {
	b := []byte{m.Kind}
	b = binary.AppendUvarint(b, m.Op)
	b = append(b, m.Key[:]...)
	b = appendBallot(b, m.Ballot)
	b = append(b, m.Nack)
	b = appendBallot(b, m.Promised)
	b = appendBallot(b, m.Accepted)
	b = binary.AppendUvarint(b, m.State.Version)
	b = binary.AppendUvarint(b, uint64(len(m.State.Value)))
	b = append(b, m.State.Value...)
	b = binary.AppendVarint(b, m.State.Expiry)
	b = append(b, m.State.Tag[:]...)
	b = append(b, m.State.Life[:]...)
	b = binary.AppendUvarint(b, m.State.HistTop)
	b = append(b, byte(len(m.State.Hist)))
	for _, e := range m.State.Hist {
		b = append(b, e[:]...)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Peers)))
	for _, p := range m.Peers {
		b = append(b, p.ID[:]...)
		// Zones are local to a host: they are not sent (nor accepted).
		a, _ := netip.AddrPortFrom(p.Addr.Addr().WithZone(""), p.Addr.Port()).MarshalBinary()
		b = append(b, byte(len(a)))
		b = append(b, a...)
	}
	return b
}

func appendBallot(b []byte, x ballot) []byte {
	b = binary.AppendUvarint(b, x.N)
	b = append(b, x.ID[:]...)
	return binary.AppendUvarint(b, x.Inc)
}

type cpReader struct {
	b   []byte
	err error
}

func (r *cpReader) u8() uint8 {
	if r.err != nil || len(r.b) < 1 {
		r.err = errCPMalformed
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *cpReader) uv() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errCPMalformed
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *cpReader) sv() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errCPMalformed
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *cpReader) fixed(dst []byte) {
	if r.err != nil || len(r.b) < len(dst) {
		r.err = errCPMalformed
		return
	}
	copy(dst, r.b)
	r.b = r.b[len(dst):]
}

func (r *cpReader) ballot() ballot {
	var x ballot
	x.N = r.uv()
	r.fixed(x.ID[:])
	x.Inc = r.uv()
	return x
}

func decodeCP(b []byte) (cpMsg, error) {
	r := cpReader{b: b}
	var m cpMsg
	m.Kind = r.u8()
	if r.err == nil && (m.Kind < cpLookup || m.Kind > cpPush) {
		return m, fmt.Errorf("%w: kind %d", errCPMalformed, m.Kind)
	}
	m.Op = r.uv()
	r.fixed(m.Key[:])
	m.Ballot = r.ballot()
	m.Nack = r.u8()
	m.Promised = r.ballot()
	m.Accepted = r.ballot()
	m.State.Version = r.uv()
	n := r.uv()
	if r.err == nil && (n > dht.MaxValueLen || n > uint64(len(r.b))) {
		return m, fmt.Errorf("%w: value of %d bytes", errCPMalformed, n)
	}
	if r.err == nil {
		m.State.Value = append([]byte(nil), r.b[:n]...)
		r.b = r.b[n:]
	}
	m.State.Expiry = r.sv()
	r.fixed(m.State.Tag[:])
	r.fixed(m.State.Life[:])
	m.State.HistTop = r.uv()
	nh := r.u8()
	if r.err == nil && nh > cpHistMax {
		return m, fmt.Errorf("%w: %d history entries", errCPMalformed, nh)
	}
	for range nh {
		var e tag
		r.fixed(e[:])
		m.State.Hist = append(m.State.Hist, e)
	}
	np := r.uv()
	if r.err == nil && np > cpMaxPeers {
		return m, fmt.Errorf("%w: %d peers", errCPMalformed, np)
	}
	for range np {
		var p wire.Peer
		r.fixed(p.ID[:])
		l := r.u8()
		if r.err != nil || int(l) > len(r.b) || l > 18 {
			return m, errCPMalformed
		}
		if err := p.Addr.UnmarshalBinary(r.b[:l]); err != nil || !p.Addr.IsValid() {
			return m, fmt.Errorf("%w: peer address", errCPMalformed)
		}
		r.b = r.b[l:]
		m.Peers = append(m.Peers, p)
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: trailing bytes", errCPMalformed)
	}
	return m, r.err
}

// An acceptor's record on disk is the push message that carries it.
func encodeAcceptor(a acceptor) []byte {
	return (&cpMsg{Kind: cpPush, Promised: a.Promise, Accepted: a.Accepted, State: a.State}).encode()
}

func decodeAcceptor(b []byte) (acceptor, error) {
	if b == nil {
		return acceptor{}, nil
	}
	m, err := decodeCP(b)
	return acceptor{Promise: m.Promised, Accepted: m.Accepted, State: m.State}, err
}

// ---- proposer ----

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

// ---- acceptor ----

func (p *caspaxos) load(key dht.Key) (acceptor, bool) {
	b, err := p.h.LoadState(key)
	if err != nil {
		p.h.Log().Error("caspaxos: load state", "err", err)
		return acceptor{}, false
	}
	a, err := decodeAcceptor(b)
	if err != nil {
		p.h.Log().Error("caspaxos: corrupt state", "key", fmt.Sprintf("%x", key[:4]), "err", err)
		return acceptor{}, false
	}
	return a, true
}

// save makes a durable, then sends reply (if any) to the proposer.
func (p *caspaxos) save(now time.Time, key dht.Key, a acceptor, to wire.Peer, reply *cpMsg) {
	p.h.SaveState(now, key, encodeAcceptor(a), func(now time.Time, err error) {
		if err == nil && reply != nil {
			p.h.Send(now, to, reply.encode())
		}
	})
}

func (p *caspaxos) acceptorMsg(now time.Time, from wire.Peer, m cpMsg) {
	reply := &cpMsg{Op: m.Op, Key: m.Key, Ballot: m.Ballot}
	if m.Kind == cpPrepare {
		reply.Kind = cpPromise
	} else {
		reply.Kind = cpAccepted
	}
	nack := func(why uint8, promised ballot) {
		reply.Nack, reply.Promised = why, promised
		p.h.Send(now, from, reply.encode())
	}
	if m.Ballot.zero() || m.Ballot.ID != from.ID {
		return // a proposer uses its own ID in its ballots
	}
	if int64(m.Ballot.N) < now.Add(-cpBallotWindow).UnixMilli() {
		nack(nackStale, ballot{})
		return
	}
	if !member(p.h.ReplicaSet(m.Key), p.h.Self().ID) {
		nack(nackNotMember, ballot{})
		return
	}
	a, ok := p.load(m.Key)
	if !ok {
		return
	}
	switch m.Kind {
	case cpPrepare:
		if m.Ballot.cmp(a.Promise) < 0 {
			nack(nackHigher, a.Promise)
			return
		}
		a.Promise = m.Ballot
		reply.Accepted, reply.State = a.Accepted, a.State
		// Saved even when the promise is the same (a retransmission): the
		// answer then waits for the first save's fsync too.
		p.save(now, m.Key, a, from, reply)
	case cpAccept:
		if m.Ballot.cmp(a.Promise) < 0 {
			nack(nackHigher, a.Promise)
			return
		}
		a.Promise, a.Accepted, a.State = m.Ballot, m.Ballot, m.State
		p.save(now, m.Key, a, from, reply)
	}
}

func (p *caspaxos) push(now time.Time, m cpMsg) {
	if m.Accepted.zero() || !member(p.h.ReplicaSet(m.Key), p.h.Self().ID) {
		return
	}
	a, ok := p.load(m.Key)
	if !ok || m.Accepted.cmp(a.Accepted) <= 0 || m.Accepted.cmp(a.Promise) < 0 {
		return
	}
	a.Promise, a.Accepted, a.State = m.Accepted, m.Accepted, m.State
	p.save(now, m.Key, a, wire.Peer{}, nil)
}

// sync pushes accepted states to members that may lack them, and forgets
// registers long expired.
func (p *caspaxos) sync(now time.Time) {
	p.syncRound++
	if p.syncRound%cpRePush == 0 {
		p.pushed = map[dht.Key]map[dht.Key]ballot{}
	}
	self := p.h.Self()
	nowMs := now.UnixMilli()
	var forget []dht.Key
	err := p.h.ScanState(func(key dht.Key, val []byte) bool {
		a, err := decodeAcceptor(val)
		if err != nil {
			return true
		}
		if nowMs >= a.State.Expiry+cpGrace.Milliseconds() && int64(a.Promise.N) < nowMs-cpBallotWindow.Milliseconds() {
			forget = append(forget, key)
			return true
		}
		if a.Accepted.zero() {
			return true
		}
		sent := p.pushed[key]
		if sent == nil {
			sent = map[dht.Key]ballot{}
			p.pushed[key] = sent
		}
		var msg []byte
		for _, q := range p.h.ReplicaSet(key) {
			if q.ID == self.ID || sent[q.ID] == a.Accepted {
				continue
			}
			if msg == nil {
				msg = (&cpMsg{Kind: cpPush, Key: key, Accepted: a.Accepted, State: a.State}).encode()
			}
			sent[q.ID] = a.Accepted
			p.h.Send(now, q, msg)
		}
		return true
	})
	if err != nil {
		p.h.Log().Error("caspaxos: scan state", "err", err)
	}
	for _, k := range forget {
		delete(p.pushed, k)
		p.h.SaveState(now, k, nil, func(time.Time, error) {})
	}
}

// ---- the node's calls ----

func (p *caspaxos) Receive(now time.Time, from wire.Peer, msg []byte) {
	m, err := decodeCP(msg)
	if err != nil {
		return
	}
	switch m.Kind {
	case cpLookup:
		// This node is the key's root: it names the acceptors.
		set := p.h.ReplicaSet(m.Key)
		p.h.Send(now, from, (&cpMsg{Kind: cpLookupResp, Op: m.Op, Key: m.Key, Peers: set}).encode())
	case cpPrepare, cpAccept:
		p.acceptorMsg(now, from, m)
	case cpPush:
		p.push(now, m)
	default:
		p.onReply(now, from, m)
	}
}

func (p *caspaxos) DHTDone(time.Time, uint64, DHTResult) {}

func (p *caspaxos) Tick(now time.Time) {
	if !now.Before(p.nextSync) {
		if !p.nextSync.IsZero() {
			p.sync(now)
		}
		period := p.h.SyncPeriod()
		p.nextSync = now.Add(period/2 + time.Duration(p.h.Rand().Int64N(int64(period))))
	}
	var due []uint64
	for id, o := range p.ops {
		if !now.Before(o.deadline) || !now.Before(o.until) {
			due = append(due, id)
		}
	}
	slices.Sort(due)
	for _, id := range due {
		o := p.ops[id]
		if !now.Before(o.deadline) {
			if o.wrote || o.op.Read {
				p.finish(o, Result{Err: ErrUnknown})
			} else {
				p.finish(o, Result{Err: fmt.Errorf("%w: no quorum of the key's replica set answered; the cas did not happen", ErrRefused)})
			}
			continue
		}
		switch o.phase {
		case phBackoff:
			p.prepare(now, o)
		default:
			// A round without a quorum: the set may have changed.
			p.lookup(now, o)
		}
	}
}

func (p *caspaxos) NextWake() time.Time {
	t := p.nextSync
	for _, o := range p.ops {
		for _, x := range []time.Time{o.deadline, o.until} {
			if t.IsZero() || x.Before(t) {
				t = x
			}
		}
	}
	return t
}
