package rmw

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/wire"
)

// The acceptor's rules (the steps 2 and 3 of caspaxos's type comment),
// each driven by messages a test writes by hand to one acceptor of a
// replica set of 4 in a network of 5.

var acceptorKey = dht.Key{0x5a, 1, 2, 3}

type acceptorRig struct {
	net  *fakeNet
	a    *fakeHost // the acceptor under test: a member of acceptorKey's set
	p, q *fakeHost // two proposers, p.self.ID < q.self.ID
	ms   uint64    // the clock, in ms: a fresh ballot counter
}

func newAcceptorRig(t *testing.T) *acceptorRig {
	net := newFakeNet(t, "caspaxos", 5, 4, 2*time.Second, 1)
	set := net.members(acceptorKey)
	r := &acceptorRig{net: net, a: set[1], p: set[0], q: net.outsider(acceptorKey)}
	if bytes.Compare(r.p.self.ID[:], r.q.self.ID[:]) > 0 {
		r.p, r.q = r.q, r.p
	}
	r.ms = uint64(net.now.UnixMilli())
	return r
}

func (r *acceptorRig) ballot(from *fakeHost, n uint64) ballot { return ballot{N: n, ID: from.self.ID} }

func (r *acceptorRig) prepare(from *fakeHost, b ballot) {
	r.net.inject(from, r.a, cpMsg{Kind: cpPrepare, Op: 1, Key: acceptorKey, Ballot: b})
	r.net.deliver(len(r.net.queue) - 1)
}

func (r *acceptorRig) accept(from *fakeHost, b ballot, s cpState) {
	r.net.inject(from, r.a, cpMsg{Kind: cpAccept, Op: 1, Key: acceptorKey, Ballot: b, State: s})
	r.net.deliver(len(r.net.queue) - 1)
}

func (r *acceptorRig) push(from *fakeHost, accepted ballot, s cpState) {
	r.net.inject(from, r.a, cpMsg{Kind: cpPush, Key: acceptorKey, Accepted: accepted, State: s})
	r.net.deliver(len(r.net.queue) - 1)
}

// replies takes every message in flight to h.
func (r *acceptorRig) replies(h *fakeHost) []cpMsg {
	out := r.net.queued(h)
	var kept []packet
	for _, p := range r.net.queue {
		if p.to != h {
			kept = append(kept, p)
		}
	}
	r.net.queue = kept
	return out
}

// reply takes the one message in flight to h.
func (r *acceptorRig) reply(t *testing.T, h *fakeHost) cpMsg {
	t.Helper()
	got := r.replies(h)
	if len(got) != 1 {
		t.Fatalf("%d messages to host %d, want 1: %+v", len(got), h.i, got)
	}
	return got[0]
}

// promised runs a prepare of b to a durable promise and takes the answer.
func (r *acceptorRig) promised(t *testing.T, from *fakeHost, b ballot) cpMsg {
	t.Helper()
	r.prepare(from, b)
	r.a.fsync()
	m := r.reply(t, from)
	if m.Kind != cpPromise || m.Nack != 0 || m.Ballot != b {
		t.Fatalf("prepare %d: got %+v, want a promise", b.N, m)
	}
	return m
}

func (r *acceptorRig) accepted(t *testing.T, from *fakeHost, b ballot, s cpState) {
	t.Helper()
	r.accept(from, b, s)
	r.a.fsync()
	if m := r.reply(t, from); m.Kind != cpAccepted || m.Nack != 0 || m.Ballot != b {
		t.Fatalf("accept %d: got %+v, want accepted", b.N, m)
	}
}

func wantNack(t *testing.T, m cpMsg, kind, why uint8, b, promised ballot) {
	t.Helper()
	if m.Kind != kind || m.Nack != why || m.Ballot != b || m.Promised != promised || m.Op != 1 || m.Key != acceptorKey {
		t.Fatalf("got kind %d nack %d ballot %d promised %d; want kind %d nack %d ballot %d promised %d",
			m.Kind, m.Nack, m.Ballot.N, m.Promised.N, kind, why, b.N, promised.N)
	}
}

func state(v uint64, val string) cpState {
	return cpState{Version: v, Value: []byte(val), Expiry: 1 << 50, Tag: tag{byte(v) | 1}, Life: tag{1}, Hist: []tag{{byte(v) | 1}}, HistTop: v}
}

// TestAcceptorNacksPrepareBelowPromise: a prepare below the promise is
// refused at once with the promise, whether its counter is lower or only
// its proposer's ID (the tie-break).
func TestAcceptorNacksPrepareBelowPromise(t *testing.T) {
	r := newAcceptorRig(t)
	high := r.ballot(r.q, r.ms)
	r.promised(t, r.q, high)
	for _, low := range []ballot{r.ballot(r.p, r.ms-1), r.ballot(r.p, r.ms)} {
		r.prepare(r.p, low)
		// No fsync: a refusal changes nothing and need not wait.
		wantNack(t, r.reply(t, r.p), cpPromise, nackHigher, low, high)
	}
	if a := r.a.acceptor(acceptorKey); a.Promise != high {
		t.Fatalf("promise %+v after refused prepares, want %+v", a.Promise, high)
	}
	// The same ballot again is a retransmission: promised again.
	r.promised(t, r.q, high)
}

// TestAcceptorRefusesAcceptBelowPromise: an accept below the promise is
// refused and changes nothing; at the promise it is accepted.
func TestAcceptorRefusesAcceptBelowPromise(t *testing.T) {
	r := newAcceptorRig(t)
	high := r.ballot(r.q, r.ms)
	r.promised(t, r.q, high)
	low := r.ballot(r.p, r.ms-1)
	r.accept(r.p, low, state(1, "low"))
	wantNack(t, r.reply(t, r.p), cpAccepted, nackHigher, low, high)
	if a := r.a.acceptor(acceptorKey); !a.Accepted.zero() || a.State.Version != 0 || a.Promise != high {
		t.Fatalf("after a refused accept: %+v", a)
	}
	r.accepted(t, r.q, high, state(1, "high"))
	if a := r.a.acceptor(acceptorKey); a.Accepted != high || string(a.State.Value) != "high" {
		t.Fatalf("after an accept at the promise: %+v", a)
	}
}

// TestAcceptorRefusesStaleBallot: a ballot older than cpBallotWindow by
// the acceptor's clock is refused with nackStale (so a message delayed
// across the forgetting of a register cannot revive it); one exactly at
// the window's edge is not.
func TestAcceptorRefusesStaleBallot(t *testing.T) {
	r := newAcceptorRig(t)
	edge := r.ms - uint64(cpBallotWindow.Milliseconds())
	stale := r.ballot(r.p, edge-1)
	r.prepare(r.p, stale)
	wantNack(t, r.reply(t, r.p), cpPromise, nackStale, stale, ballot{})
	r.accept(r.p, stale, state(1, "x"))
	wantNack(t, r.reply(t, r.p), cpAccepted, nackStale, stale, ballot{})
	if len(r.a.state) != 0 || len(r.a.unsynced) != 0 {
		t.Fatalf("a stale ballot saved state: %v", r.a.state)
	}
	r.promised(t, r.p, r.ballot(r.p, edge))
}

// TestAcceptorNotMember: a node that is not in the key's replica set as
// it sees it answers nackNotMember and keeps nothing.
func TestAcceptorNotMember(t *testing.T) {
	r := newAcceptorRig(t)
	r.a.set = func(key dht.Key) []wire.Peer {
		var out []wire.Peer
		for _, h := range r.net.hosts {
			if h != r.a {
				out = append(out, h.self)
			}
		}
		return out
	}
	b := r.ballot(r.p, r.ms)
	r.prepare(r.p, b)
	wantNack(t, r.reply(t, r.p), cpPromise, nackNotMember, b, ballot{})
	r.accept(r.p, b, state(1, "x"))
	wantNack(t, r.reply(t, r.p), cpAccepted, nackNotMember, b, ballot{})
	r.push(r.q, b, state(1, "x"))
	if len(r.a.state) != 0 || len(r.a.unsynced) != 0 || len(r.net.queue) != 0 {
		t.Fatalf("a non-member kept state %v or answered %v", r.a.state, r.net.queue)
	}
}

// TestAcceptorIgnoresForeignBallot: a ballot that is not its sender's is
// dropped without an answer.
func TestAcceptorIgnoresForeignBallot(t *testing.T) {
	r := newAcceptorRig(t)
	r.prepare(r.p, r.ballot(r.q, r.ms))
	r.accept(r.p, r.ballot(r.q, r.ms), state(1, "x"))
	r.prepare(r.p, ballot{})
	r.a.fsync()
	if len(r.net.queue) != 0 || len(r.a.state) != 0 {
		t.Fatalf("answered %v, kept %v", r.net.queue, r.a.state)
	}
}

// TestAcceptorAnswersFromDurableState: a promise or an accepted answer
// leaves only once the state it reports is on disk (DUR-1), and a
// retransmitted prepare waits as well.
func TestAcceptorAnswersFromDurableState(t *testing.T) {
	r := newAcceptorRig(t)
	b := r.ballot(r.p, r.ms)
	r.prepare(r.p, b)
	if got := r.replies(r.p); len(got) != 0 {
		t.Fatalf("promise sent before the save was on disk: %+v", got)
	}
	if a := r.a.acceptor(acceptorKey); a.Promise != b {
		t.Fatalf("the promise is not read back at once: %+v", a)
	}
	if len(r.a.disk) != 0 {
		t.Fatalf("on disk before fsync")
	}
	r.a.fsync()
	if m := r.reply(t, r.p); m.Kind != cpPromise || m.Nack != 0 || m.Ballot != b || !m.Accepted.zero() {
		t.Fatalf("after fsync: %+v, want a promise of nothing accepted", m)
	}

	s := state(1, "one")
	r.accept(r.p, b, s)
	if got := r.replies(r.p); len(got) != 0 {
		t.Fatalf("accepted sent before the save was on disk: %+v", got)
	}
	r.a.fsync()
	if m := r.reply(t, r.p); m.Kind != cpAccepted || m.Nack != 0 || m.Ballot != b {
		t.Fatalf("after fsync: %+v, want accepted", m)
	}

	// A retransmitted prepare: the same ballot is saved again and waits.
	b2 := r.ballot(r.p, r.ms+1)
	r.prepare(r.p, b2)
	r.prepare(r.p, b2)
	if got := r.replies(r.p); len(got) != 0 {
		t.Fatalf("promise sent before the save was on disk: %+v", got)
	}
	r.a.fsync()
	got := r.replies(r.p)
	if len(got) != 2 {
		t.Fatalf("%d answers to two prepares", len(got))
	}
	for _, m := range got {
		if m.Nack != 0 || m.Accepted != b || !cmp.Equal(m.State, s, cpCmp...) {
			t.Fatalf("promise %+v does not report the accepted state %+v at %d", m, s, b.N)
		}
	}
}

// TestAcceptorPush: a pushed state is adopted as if its accept had
// arrived: only above the accepted ballot and not below the promise, and
// then it is both the promise and the accepted ballot. The member
// acknowledges what it then holds.
func TestAcceptorPush(t *testing.T) {
	old := state(1, "old")
	pushed := state(2, "pushed")
	for _, c := range []struct {
		name  string
		at    uint64 // the pushed ballot's counter; the acceptor accepted at ms-3 and promised ms-1
		adopt bool
	}{
		{"below the accepted ballot", 4, false},
		{"at the accepted ballot", 3, false},
		{"above the accepted ballot, below the promise", 2, false},
		{"at the promise", 1, true},
		{"above the promise", 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newAcceptorRig(t)
			acc, prom := r.ballot(r.p, r.ms-3), r.ballot(r.p, r.ms-1)
			r.promised(t, r.p, acc)
			r.accepted(t, r.p, acc, old)
			r.promised(t, r.p, prom)
			x := r.ballot(r.p, r.ms-c.at)
			r.push(r.q, x, pushed)
			r.a.fsync()
			a := r.a.acceptor(acceptorKey)
			want := acceptor{Promise: prom, Accepted: acc, State: old}
			if c.adopt {
				want = acceptor{Promise: x, Accepted: x, State: pushed}
			}
			if d := cmp.Diff(want, a, cpCmp...); d != "" {
				t.Fatalf("after a push at %d (-want +got):\n%s", x.N, d)
			}
			// A member acknowledges a push once it holds (durably) a
			// state at least as new, with its own accepted ballot; it does
			// not answer a push it refused for its promise.
			got := r.replies(r.q)
			switch {
			case c.at == 2 && len(got) != 0:
				t.Fatalf("a push refused for the promise was answered: %+v", got)
			case c.at != 2 && (len(got) != 1 || got[0].Kind != cpPushAck || got[0].Accepted != want.Accepted || got[0].Key != acceptorKey):
				t.Fatalf("got %+v, want one acknowledgement of %d", got, want.Accepted.N)
			}
		})
	}
	t.Run("no accepted ballot", func(t *testing.T) {
		r := newAcceptorRig(t)
		r.push(r.q, ballot{}, pushed)
		if len(r.a.state) != 0 {
			t.Fatalf("a push without a ballot was adopted")
		}
	})
}

// TestAcceptorSurvivesRestart: a new protocol instance over the same disk
// keeps the promise and the accepted state; a save that never reached the
// disk is lost, and nothing was ever answered from it.
func TestAcceptorSurvivesRestart(t *testing.T) {
	r := newAcceptorRig(t)
	b1, b2 := r.ballot(r.p, r.ms-10), r.ballot(r.p, r.ms-5)
	s := state(1, "kept")
	r.promised(t, r.p, b1)
	r.accepted(t, r.p, b1, s)
	r.promised(t, r.p, b2)
	// A promise still in the page cache when the node crashes.
	r.prepare(r.q, r.ballot(r.q, r.ms))
	if got := r.replies(r.q); len(got) != 0 {
		t.Fatalf("answered before fsync: %+v", got)
	}
	r.a.restart("caspaxos")

	low := r.ballot(r.q, r.ms-7)
	r.prepare(r.q, low)
	wantNack(t, r.reply(t, r.q), cpPromise, nackHigher, low, b2)
	m := r.promised(t, r.q, r.ballot(r.q, r.ms+1))
	if m.Accepted != b1 || !cmp.Equal(m.State, s, cpCmp...) {
		t.Fatalf("after a restart the promise reports %d %+v, want %d %+v", m.Accepted.N, m.State, b1.N, s)
	}
}
