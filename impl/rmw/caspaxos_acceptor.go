package rmw

import (
	"fmt"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/wire"
)

// The acceptor of caspaxos: steps 2 and 3 of the type comment
// (caspaxos.go), and the member's side of repair (a pushed state).

// load reads key's record. held reports that there was one; ok false
// means the record could not be read (logged): the caller does nothing.
func (p *caspaxos) load(key dht.Key) (a acceptor, held, ok bool) {
	b, err := p.h.LoadState(key)
	if err != nil {
		p.h.Log().Error("caspaxos: load state", "err", err)
		return acceptor{}, false, false
	}
	a, err = decodeAcceptor(b)
	if err != nil {
		p.h.Log().Error("caspaxos: corrupt state", "key", fmt.Sprintf("%x", key[:4]), "err", err)
		return acceptor{}, false, false
	}
	return a, b != nil, true
}

// save makes a durable, then sends reply (if any) to the proposer. held
// says whether key had a record before; accepted, that a's accepted state
// is new here (members of the key's set may lack it: repair pushes it).
func (p *caspaxos) save(now time.Time, key dht.Key, a acceptor, held, accepted bool, to wire.Peer, reply *cpMsg) {
	if !held {
		p.rep.hold(p, key, a)
	}
	if accepted {
		p.rep.owe(p, key, a.Accepted)
	}
	p.rep.unsynced[key]++
	p.h.SaveState(now, key, encodeAcceptor(a), func(now time.Time, err error) {
		p.rep.synced(key)
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
	a, held, ok := p.load(m.Key)
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
		p.save(now, m.Key, a, held, false, from, reply)
	case cpAccept:
		if m.Ballot.cmp(a.Promise) < 0 {
			nack(nackHigher, a.Promise)
			return
		}
		fresh := m.Ballot != a.Accepted
		a.Promise, a.Accepted, a.State = m.Ballot, m.Ballot, m.State
		p.save(now, m.Key, a, held, fresh, from, reply)
	}
}

// pushed adopts a state another acceptor pushed (repair) as if its accept
// had arrived: only above the accepted ballot and not below the promise.
// The member acknowledges a state it holds durably (its own accepted
// ballot is at least the pushed one), so that the pusher stops; it stays
// silent otherwise, and the pusher tries again later.
func (p *caspaxos) pushed(now time.Time, from wire.Peer, m cpMsg) {
	if m.Accepted.zero() || !member(p.h.ReplicaSet(m.Key), p.h.Self().ID) {
		return
	}
	a, held, ok := p.load(m.Key)
	if !ok {
		return
	}
	ack := &cpMsg{Kind: cpPushAck, Key: m.Key, Accepted: m.Accepted}
	if m.Accepted.cmp(a.Accepted) <= 0 {
		// Already held: acknowledged only from durable state.
		if p.rep.unsynced[m.Key] == 0 {
			ack.Accepted = a.Accepted
			p.h.Send(now, from, ack.encode())
		}
		return
	}
	if m.Accepted.cmp(a.Promise) < 0 {
		return
	}
	a.Promise, a.Accepted, a.State = m.Accepted, m.Accepted, m.State
	// The pusher owes the state to every member that lacks it: this one
	// owes it to nobody.
	p.save(now, m.Key, a, held, false, from, ack)
}
