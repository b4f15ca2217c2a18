package rmw

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Repair (caspaxos_repair.go; RR-3): a state a member lacks reaches it,
// after a write it missed, a restart of the acceptors that owe it, or a
// change of the key's replica set; and once nothing is owed, rounds send
// nothing.

// pushesIn counts the pushes sent while the network runs for d.
func pushesIn(net *fakeNet, d time.Duration) int {
	net.sent = nil
	net.settle(d)
	return net.count(cpPush)
}

// TestRepairMissedWriteAcrossRestart: a member misses a write; every
// acceptor that owes it the state restarts before its first repair round
// (what it owed was in memory); the start-up scan owes it again and the
// member is repaired. Then repair goes quiet.
func TestRepairMissedWriteAcrossRestart(t *testing.T) {
	net, gw := newProposerNet(t)
	net.syncEach = time.Second
	set := net.members(regKey)
	missed := set[3]
	net.cut = func(p packet) bool { return p.to == missed && kindOf(p) == cpAccept }
	wantReg(t, "cas(0)", net.call(gw, casOp(0, "a", 3600)), true, 1, "a")
	net.cut = nil
	if a := missed.acceptor(regKey); a.State.Version != 0 {
		t.Fatalf("the member got the accept: %+v", a)
	}
	for _, h := range set[:3] {
		if len(h.proto.(*caspaxos).rep.owed) == 0 {
			t.Fatalf("host %d owes nothing after accepting a write", h.i)
		}
		h.restart("caspaxos")
	}
	net.settle(3 * net.syncEach)
	want := set[0].acceptor(regKey)
	if a := missed.acceptor(regKey); !cmp.Equal(a.State, want.State, cpCmp...) || a.Accepted != want.Accepted {
		t.Fatalf("not repaired after a restart and three sync periods: %+v, want %+v", a, want)
	}
	for _, h := range net.hosts {
		if n := len(h.proto.(*caspaxos).rep.owed); n != 0 {
			t.Errorf("host %d still owes %d registers", h.i, n)
		}
	}
	if n := pushesIn(net, 5*net.syncEach); n != 0 {
		t.Fatalf("%d pushes in five rounds with nothing to repair", n)
	}
}

// TestRepairMembershipChange: the key's replica set gains a member (the
// replica count goes from 3 to 4: the node fourth closest to the key
// joins it); the members that hold the state push it there, whether the
// hosts report membership epochs or not. A host that reports epochs and
// has not bumped it is not rechecked: the epoch is what tells.
func TestRepairMembershipChange(t *testing.T) {
	for _, epochs := range []bool{true, false} {
		t.Run(map[bool]string{true: "epochs", false: "no epochs"}[epochs], func(t *testing.T) {
			net := newFakeNet(t, "caspaxos", 5, 3, proposerTimeout, 7)
			net.syncEach = time.Second
			if !epochs {
				for _, h := range net.hosts {
					h.proto = NewCASPaxos(withoutEpochs{h}, CASPaxosOptions{})
				}
			}
			gw := net.outsider(regKey)
			wantReg(t, "cas(0)", net.call(gw, casOp(0, "a", 3600)), true, 1, "a")
			net.settle(3 * net.syncEach)
			if n := pushesIn(net, 3*net.syncEach); n != 0 {
				t.Fatalf("%d pushes with nothing to repair", n)
			}
			net.replicas = 4
			joined := net.members(regKey)[3]
			if len(joined.state) != 0 {
				t.Fatalf("host %d already holds the register", joined.i)
			}
			if epochs {
				if n := pushesIn(net, 3*net.syncEach); n != 0 || len(joined.state) != 0 {
					t.Fatalf("without an epoch change: %d pushes, joined member holds %d states", n, len(joined.state))
				}
				net.epoch++
			}
			net.settle(3 * net.syncEach)
			want := net.members(regKey)[0].acceptor(regKey)
			if a := joined.acceptor(regKey); !cmp.Equal(a.State, want.State, cpCmp...) {
				t.Fatalf("the member that joined holds %+v, want %+v", a.State, want.State)
			}
			if n := pushesIn(net, 5*net.syncEach); n != 0 {
				t.Fatalf("%d pushes in five rounds once repaired", n)
			}
			// The new set serves the register.
			wantReg(t, "cas(1) after the change", net.call(gw, casOp(1, "b", 3600)), true, 2, "b")
		})
	}
}

// TestRepairRetriesUntilAcknowledged: a member that does not answer is
// pushed to again, less and less often, until it acknowledges; pushes to
// members that answered stop at once.
func TestRepairRetriesUntilAcknowledged(t *testing.T) {
	net, gw := newProposerNet(t)
	net.syncEach = time.Second
	set := net.members(regKey)
	down := set[3]
	net.cut = func(p packet) bool { return p.to == down || p.from == down }
	wantReg(t, "cas(0)", net.call(gw, casOp(0, "a", 3600)), true, 1, "a")
	var toDown []int // pushes to the member down, per 10 periods
	for w := range 3 {
		net.sent = nil
		net.settle(10 * net.syncEach)
		n := 0
		for _, p := range net.sent {
			if kindOf(p) == cpPush {
				if p.to != down && w > 0 {
					t.Fatalf("a push to host %d, which acknowledged", p.to.i)
				}
				if p.to == down {
					n++
				}
			}
		}
		toDown = append(toDown, n)
	}
	// Three acceptors owe it; repair rounds come every 0.5 to 1.5 s.
	if toDown[0] == 0 || toDown[2] > toDown[0] || toDown[2] == 0 {
		t.Fatalf("pushes to the member that is down, per 10 periods: %v; want some, fewer as time goes, never none", toDown)
	}
	net.cut = nil
	net.settle(3 * cpRePush * net.syncEach)
	if a := down.acceptor(regKey); a.State.Version != 1 {
		t.Fatalf("not repaired once back: %+v", a)
	}
	if n := pushesIn(net, 5*net.syncEach); n != 0 {
		t.Fatalf("%d pushes once acknowledged", n)
	}
}

// TestRepairAckOnlyDurable: a member that holds a pushed state only in a
// save not yet on disk does not acknowledge it (DUR-1): a crash would
// lose it, and the pusher would have stopped.
func TestRepairAckOnlyDurable(t *testing.T) {
	r := newAcceptorRig(t)
	b := r.ballot(r.p, r.ms)
	r.promised(t, r.p, b)
	r.accept(r.p, b, state(1, "x")) // not yet on disk
	r.replies(r.p)
	r.push(r.q, b, state(1, "x"))
	if got := r.replies(r.q); len(got) != 0 {
		t.Fatalf("acknowledged before the state was on disk: %+v", got)
	}
	r.a.fsync()
	r.replies(r.p)
	r.push(r.q, b, state(1, "x"))
	if got := r.replies(r.q); len(got) != 1 || got[0].Kind != cpPushAck || got[0].Accepted != b {
		t.Fatalf("got %+v, want one acknowledgement of %d", got, b.N)
	}
}

// TestRepairIgnoresForeignAck: an acknowledgement from a node that is
// not owed, or of an older ballot, pays nothing.
func TestRepairIgnoresForeignAck(t *testing.T) {
	net, gw := newProposerNet(t)
	set := net.members(regKey)
	net.cut = func(p packet) bool { return p.to == set[3] && kindOf(p) == cpAccept }
	wantReg(t, "cas(0)", net.call(gw, casOp(0, "a", 3600)), true, 1, "a")
	net.cut = nil
	p := set[0].proto.(*caspaxos)
	owedTo := func() []int {
		var out []int
		for _, c := range p.rep.owed[regKey].to {
			out = append(out, net.host(c.peer.ID).i)
		}
		slices.Sort(out)
		return out
	}
	before := owedTo()
	accepted := set[0].acceptor(regKey).Accepted
	older := accepted
	older.N--
	p.Receive(net.now, gw.self, (&cpMsg{Kind: cpPushAck, Key: regKey, Accepted: accepted}).encode())
	p.Receive(net.now, set[3].self, (&cpMsg{Kind: cpPushAck, Key: regKey, Accepted: older}).encode())
	if got := owedTo(); !slices.Equal(got, before) {
		t.Fatalf("owed to %v, was %v", got, before)
	}
	p.Receive(net.now, set[3].self, (&cpMsg{Kind: cpPushAck, Key: regKey, Accepted: accepted}).encode())
	if got := owedTo(); slices.Contains(got, set[3].i) {
		t.Fatalf("still owed to host %d after its acknowledgement: %v", set[3].i, got)
	}
}
