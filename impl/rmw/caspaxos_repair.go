package rmw

import (
	"bytes"
	"container/heap"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/wire"
)

// Repair (the Membership and Expiry paragraphs of the type comment):
// every acceptor pushes the states it accepted to the members of the
// key's replica set that may lack them, and forgets registers long
// expired.
//
// A repair round costs what there is to repair, not what the node holds.
// The protocol knows which registers may need a push from what it sees:
//
//   - a write: an acceptor that accepts a new state owes it to every other
//     member of the key's set (one of them may have missed the accept);
//   - a membership change: a key whose set gained a member owes its state
//     to that member. The protocol learns of changes from the host's
//     MembershipEpoch (MembershipHost) and then asks ReplicaSet again for
//     each register it holds (in memory, no disk read). A host without
//     epochs makes it ask every round: correct, but a round then grows
//     with the registers held;
//   - a restart: what was owed was in memory, so at start-up one scan of
//     the node's state owes every accepted state to every other member.
//
// A debt is paid when the member acknowledges a state at least as new
// (cpPushAck, sent only from durable state); an unacknowledged push is
// sent again after 1, 2, 4, then every cpRePush rounds, for as long as
// the member stays in the key's set. A round with nothing owed, no
// membership change and nothing due to be forgotten touches no register.
//
// Forgetting: every register held sits in a heap by the earliest time it
// may be forgotten (its expiry plus cpGrace, its promise plus the ballot
// window); a round pops the registers that are due, reads them again and
// forgets those still due (a later promise or write puts one back). The
// heap holds 32 bytes per register: the only per-register memory.
type repair struct {
	// started: the start-up scan ran. Until then nothing is held or owed
	// in memory (the scan finds it all).
	started bool
	round   int
	// epoch is the host's membership epoch at the last check.
	epoch uint64
	held  heldHeap
	sets  setTable
	// owed holds the registers whose state some members may lack.
	owed map[dht.Key]*debt
	// unsynced counts the saves of each key not yet on disk: a member
	// acknowledges a push only from durable state.
	unsynced map[dht.Key]int
}

// debt is what this acceptor owes for one register: its state accepted
// at ballot to the members listed.
type debt struct {
	accepted ballot
	to       []creditor
}

type creditor struct {
	peer  wire.Peer
	tries int
	next  int // the round of the next push
}

// heldEntry is one register held: the earliest time (Unix ms) it may be
// forgotten, and the replica set it had at the last membership check.
type heldEntry struct {
	forgetAt int64
	key      dht.Key
	set      uint32
}

type heldHeap []heldEntry

func (h heldHeap) Len() int           { return len(h) }
func (h heldHeap) Less(i, j int) bool { return h[i].forgetAt < h[j].forgetAt }
func (h heldHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *heldHeap) Push(x any)        { *h = append(*h, x.(heldEntry)) }
func (h *heldHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// setTable interns replica sets: registers near one another share their
// set, so a node holds few distinct ones.
type setTable struct {
	ids  map[string]uint32
	sets [][]wire.Peer
}

func (t *setTable) intern(set []wire.Peer) uint32 {
	if t.ids == nil {
		t.ids = map[string]uint32{}
	}
	var b []byte
	for _, p := range set {
		b = append(b, p.ID[:]...)
	}
	if id, ok := t.ids[string(b)]; ok {
		return id
	}
	id := uint32(len(t.sets))
	t.ids[string(b)] = id
	t.sets = append(t.sets, slices.Clone(set))
	return id
}

// forgetAt is the earliest time (Unix ms) a forgets its register: cpGrace
// after the state's expiry, once the promise is older than the window.
func forgetAt(a acceptor) int64 {
	promise := int64(math.MaxInt64)
	if a.Promise.N < math.MaxInt64-uint64(cpBallotWindow.Milliseconds()) {
		promise = int64(a.Promise.N) + cpBallotWindow.Milliseconds() + 1
	}
	expiry := a.State.Expiry
	if expiry < math.MaxInt64-cpGrace.Milliseconds() {
		expiry += cpGrace.Milliseconds()
	} else {
		expiry = math.MaxInt64
	}
	return max(promise, expiry)
}

func forgettable(a acceptor, nowMs int64) bool { return nowMs >= forgetAt(a) }

func newRepair() repair {
	return repair{owed: map[dht.Key]*debt{}, unsynced: map[dht.Key]int{}}
}

// hold records a register that has just got its first record here.
func (r *repair) hold(p *caspaxos, key dht.Key, a acceptor) {
	if !r.started {
		return
	}
	heap.Push(&r.held, heldEntry{forgetAt: forgetAt(a), key: key, set: r.sets.intern(p.h.ReplicaSet(key))})
}

// owe records that the state accepted here at b may be missing at every
// other member of key's set.
func (r *repair) owe(p *caspaxos, key dht.Key, b ballot) {
	d := &debt{accepted: b}
	self := p.h.Self().ID
	for _, q := range p.h.ReplicaSet(key) {
		if q.ID != self {
			d.to = append(d.to, creditor{peer: q, next: r.round + 1})
		}
	}
	if len(d.to) == 0 {
		delete(r.owed, key)
		return
	}
	r.owed[key] = d
}

// oweTo adds members to what key's state is owed to.
func (r *repair) oweTo(key dht.Key, b ballot, peers []wire.Peer) {
	d := r.owed[key]
	if d == nil || d.accepted != b {
		d = &debt{accepted: b}
		r.owed[key] = d
	}
	for _, q := range peers {
		if !slices.ContainsFunc(d.to, func(c creditor) bool { return c.peer.ID == q.ID }) {
			d.to = append(d.to, creditor{peer: q, next: r.round + 1})
		}
	}
}

func (r *repair) synced(key dht.Key) {
	if r.unsynced[key]--; r.unsynced[key] <= 0 {
		delete(r.unsynced, key)
	}
}

// acked pays the debt of key to from, if from holds what is owed.
func (r *repair) acked(from wire.Peer, m cpMsg) {
	d := r.owed[m.Key]
	if d == nil || m.Accepted.cmp(d.accepted) < 0 {
		return
	}
	d.to = slices.DeleteFunc(d.to, func(c creditor) bool { return c.peer.ID == from.ID })
	if len(d.to) == 0 {
		delete(r.owed, m.Key)
	}
}

// sync runs one repair round.
func (p *caspaxos) sync(now time.Time) {
	r := &p.rep
	// What the start or a membership change finds owed is due this round.
	if !r.started {
		p.startRepair()
	} else {
		p.checkMembership()
	}
	r.round++
	p.forget(now)
	p.payDebts(now)
}

// startRepair is the one scan of the node's state, at the first round.
func (p *caspaxos) startRepair() {
	r := &p.rep
	r.started = true
	if mh, ok := p.h.(MembershipHost); ok {
		r.epoch = mh.MembershipEpoch()
	}
	self := p.h.Self().ID
	corrupt := 0
	err := p.h.ScanState(func(key dht.Key, val []byte) bool {
		a, err := decodeAcceptor(val)
		if err != nil {
			corrupt++
			return true
		}
		set := p.h.ReplicaSet(key)
		r.held = append(r.held, heldEntry{forgetAt: forgetAt(a), key: key, set: r.sets.intern(set)})
		if !a.Accepted.zero() {
			others := slices.DeleteFunc(slices.Clone(set), func(q wire.Peer) bool { return q.ID == self })
			r.oweTo(key, a.Accepted, others)
		}
		return true
	})
	heap.Init(&r.held)
	if err != nil {
		p.h.Log().Error("caspaxos: scan state", "err", err)
	}
	if corrupt > 0 {
		p.h.Log().Error("caspaxos: corrupt states left alone", "count", corrupt)
	}
}

// checkMembership owes each register's state to the members its set
// gained since the last check, when the membership may have changed.
func (p *caspaxos) checkMembership() {
	r := &p.rep
	if mh, ok := p.h.(MembershipHost); ok {
		e := mh.MembershipEpoch()
		if e == r.epoch {
			return
		}
		r.epoch = e
	}
	old := r.sets
	r.sets = setTable{}
	self := p.h.Self().ID
	for i := range r.held {
		e := &r.held[i]
		set := p.h.ReplicaSet(e.key)
		id := r.sets.intern(set)
		was := old.sets[e.set]
		e.set = id
		var gained []wire.Peer
		for _, q := range set {
			if q.ID != self && !member(was, q.ID) {
				gained = append(gained, q)
			}
		}
		if len(gained) == 0 {
			continue
		}
		a, _, ok := p.load(e.key)
		if !ok || a.Accepted.zero() {
			continue
		}
		r.oweTo(e.key, a.Accepted, gained)
	}
}

// forget drops the registers long expired (RR-5).
func (p *caspaxos) forget(now time.Time) {
	r := &p.rep
	nowMs := now.UnixMilli()
	var back []heldEntry
	for len(r.held) > 0 && r.held[0].forgetAt <= nowMs {
		e := heap.Pop(&r.held).(heldEntry)
		b, err := p.h.LoadState(e.key)
		if err != nil {
			p.h.Log().Error("caspaxos: load state", "err", err)
			back = append(back, heldEntry{forgetAt: nowMs + 1, key: e.key, set: e.set})
			continue
		}
		if b == nil {
			continue
		}
		a, err := decodeAcceptor(b)
		if err != nil {
			p.h.Log().Error("caspaxos: corrupt state left alone", "key", fmt.Sprintf("%x", e.key[:4]), "err", err)
			continue
		}
		if !forgettable(a, nowMs) {
			e.forgetAt = forgetAt(a)
			back = append(back, e)
			continue
		}
		delete(r.owed, e.key)
		r.unsynced[e.key]++
		key := e.key
		p.h.SaveState(now, key, nil, func(time.Time, error) { r.synced(key) })
	}
	for _, e := range back {
		// After the loop: one that is due again (its promise came back in
		// the past) waits for the next round.
		e.forgetAt = max(e.forgetAt, nowMs+1)
		heap.Push(&r.held, e)
	}
}

// payDebts pushes what is owed and due this round, in key order (a run
// replays exactly).
func (p *caspaxos) payDebts(now time.Time) {
	r := &p.rep
	if len(r.owed) == 0 {
		return
	}
	keys := make([]dht.Key, 0, len(r.owed))
	for k := range r.owed {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b dht.Key) int { return bytes.Compare(a[:], b[:]) })
	for _, key := range keys {
		d := r.owed[key]
		if !slices.ContainsFunc(d.to, func(c creditor) bool { return c.next <= r.round }) {
			continue
		}
		a, _, ok := p.load(key)
		if !ok || a.Accepted.zero() {
			delete(r.owed, key)
			continue
		}
		set := p.h.ReplicaSet(key)
		// Members that left the set are owed nothing.
		d.to = slices.DeleteFunc(d.to, func(c creditor) bool { return !member(set, c.peer.ID) })
		if a.Accepted.cmp(d.accepted) > 0 {
			d.accepted = a.Accepted
		}
		var msg []byte
		for i := range d.to {
			c := &d.to[i]
			if c.next > r.round {
				continue
			}
			if msg == nil {
				msg = (&cpMsg{Kind: cpPush, Key: key, Accepted: a.Accepted, State: a.State}).encode()
			}
			p.h.Send(now, c.peer, msg)
			c.tries++
			c.next = r.round + min(1<<min(c.tries-1, 8), cpRePush)
		}
		if len(d.to) == 0 {
			delete(r.owed, key)
		}
	}
}
