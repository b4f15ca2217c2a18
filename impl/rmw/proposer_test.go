package rmw

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
)

// The proposer (steps 1 to 3 of caspaxos's type comment) over a replica
// set of 4 (quorum 3) in a network of 5; the gateway is the node outside
// the set unless a test says otherwise.

var regKey = dht.Key{0xc0, 0xde}

const proposerTimeout = 3 * time.Second

func newProposerNet(t *testing.T) (*fakeNet, *fakeHost) {
	net := newFakeNet(t, "caspaxos", 5, 4, proposerTimeout, 7)
	return net, net.outsider(regKey)
}

func casOp(expected uint64, val string, ttl int64) Op {
	return Op{CAS: dht.CAS{Key: regKey, Expected: expected, Value: []byte(val), TTL: ttl}}
}

var readOp = Op{Read: true, Key: regKey}

func kindOf(p packet) uint8 {
	m, err := decodeCP(p.msg)
	if err != nil {
		return 0
	}
	return m.Kind
}

func wantReg(t *testing.T, what string, r Result, ok bool, version uint64, val string) {
	t.Helper()
	if r.Err != nil {
		t.Fatalf("%s: error %v, want %v v%d %q", what, r.Err, ok, version, val)
	}
	if r.Reg.OK != ok || r.Reg.Version != version || string(r.Reg.Value) != val {
		t.Fatalf("%s: got %v, want ok=%v v%d %q", what, r.Reg, ok, version, val)
	}
}

// TestCASPaxosUncontended: versions go 1, 2, 3 (CAS-3, CAS-10); a failed
// cas reports the current version and value; a read of a register never
// written is absent (CAS-2, CAS-7); every gateway sees the same register.
func TestCASPaxosUncontended(t *testing.T) {
	net, gw := newProposerNet(t)
	wantReg(t, "read of an absent register", net.call(gw, readOp), true, 0, "")
	wantReg(t, "cas(0)", net.call(gw, casOp(0, "a", 3600)), true, 1, "a")
	wantReg(t, "cas(1)", net.call(gw, casOp(1, "b", 3600)), true, 2, "b")
	wantReg(t, "cas(2)", net.call(gw, casOp(2, "c", 3600)), true, 3, "c")
	wantReg(t, "read", net.call(gw, readOp), true, 3, "c")
	wantReg(t, "cas with an old version", net.call(gw, casOp(1, "x", 3600)), false, 3, "c")
	wantReg(t, "cas with a future version", net.call(gw, casOp(7, "x", 3600)), false, 3, "c")
	wantReg(t, "cas(0) of a live register", net.call(gw, casOp(0, "x", 3600)), false, 3, "c")
	for _, h := range net.members(regKey) {
		wantReg(t, "read at a member", net.call(h, readOp), true, 3, "c")
		if a := h.acceptor(regKey); a.State.Version != 3 {
			t.Errorf("host %d holds version %d", h.i, a.State.Version)
		}
	}
}

// TestCASPaxosOneRound: when the quorum's promises report one accepted
// ballot, a read or a failed cas is answered from them without an accept;
// when they differ, the state is written back first.
func TestCASPaxosOneRound(t *testing.T) {
	t.Run("agreeing quorum", func(t *testing.T) {
		net, gw := newProposerNet(t)
		wantReg(t, "read of a register never written", net.call(gw, readOp), true, 0, "")
		if n := net.count(cpAccept); n != 0 {
			t.Fatalf("%d accepts for a read of nothing", n)
		}
		wantReg(t, "cas(0)", net.call(gw, casOp(0, "a", 3600)), true, 1, "a")
		net.sent = nil
		wantReg(t, "read", net.call(gw, readOp), true, 1, "a")
		wantReg(t, "failed cas", net.call(gw, casOp(0, "x", 3600)), false, 1, "a")
		if p, a := net.count(cpPrepare), net.count(cpAccept); p != 8 || a != 0 {
			t.Fatalf("two operations sent %d prepares and %d accepts, want 8 and 0", p, a)
		}
	})
	t.Run("disagreeing quorum", func(t *testing.T) {
		net, gw := newProposerNet(t)
		// The first member misses the write; promises arrive in the order
		// of the set, so the next read's quorum includes it.
		first := net.members(regKey)[0]
		net.cut = func(p packet) bool { return p.to == first && kindOf(p) == cpAccept }
		wantReg(t, "cas(0)", net.call(gw, casOp(0, "a", 3600)), true, 1, "a")
		net.cut, net.sent = nil, nil
		wantReg(t, "read", net.call(gw, readOp), true, 1, "a")
		if n := net.count(cpAccept); n != 4 {
			t.Fatalf("%d accepts, want the state written back to the 4 members", n)
		}
		if a := first.acceptor(regKey); a.State.Version != 1 {
			t.Fatalf("the write-back did not reach the member that missed it: %+v", a)
		}
	})
}

// TestCASPaxosExpiry: a register is live until its expiry and absent from
// then on (CAS-4); the proposer that finds it expired writes the expiry
// back, after which reads agree again in one round; a cas with the last
// version fails and expected 0 starts a new lifetime at version 1.
func TestCASPaxosExpiry(t *testing.T) {
	net, gw := newProposerNet(t)
	wantReg(t, "cas(0)", net.call(gw, casOp(0, "a", 10)), true, 1, "a")
	net.advance(10*time.Second - time.Millisecond)
	wantReg(t, "read a millisecond before the expiry", net.call(gw, readOp), true, 1, "a")
	net.advance(time.Millisecond)
	net.sent = nil
	wantReg(t, "read at the expiry", net.call(gw, readOp), true, 0, "")
	if n := net.count(cpAccept); n != 4 {
		t.Fatalf("%d accepts, want the expiry written back to the 4 members", n)
	}
	for _, h := range net.members(regKey) {
		if a := h.acceptor(regKey); a.State.Version != 0 {
			t.Errorf("host %d still holds version %d after the write-back", h.i, a.State.Version)
		}
	}
	net.sent = nil
	wantReg(t, "read after the write-back", net.call(gw, readOp), true, 0, "")
	if n := net.count(cpAccept); n != 0 {
		t.Fatalf("%d accepts for a read of an absent register", n)
	}
	wantReg(t, "cas with the last version", net.call(gw, casOp(1, "b", 10)), false, 0, "")
	wantReg(t, "cas(0) in a new lifetime", net.call(gw, casOp(0, "c", 10)), true, 1, "c")
}

// TestCASPaxosRefusedWithoutQuorum: with 2 of 4 acceptors unreachable no
// quorum promises; at the timeout the cas is refused (it never sent an
// accept, so it did not happen) and no acceptor accepted anything.
func TestCASPaxosRefusedWithoutQuorum(t *testing.T) {
	net, gw := newProposerNet(t)
	set := net.members(regKey)
	down := set[2:]
	net.cut = func(p packet) bool {
		for _, h := range down {
			if p.to == h || p.from == h {
				return true
			}
		}
		return false
	}
	start := net.now
	r := net.call(gw, casOp(0, "a", 3600))
	if !errors.Is(r.Err, ErrRefused) {
		t.Fatalf("got %v, %v; want ErrRefused", r.Reg, r.Err)
	}
	if took := net.now.Sub(start); took < proposerTimeout {
		t.Fatalf("refused after %v, before the timeout %v", took, proposerTimeout)
	}
	if n := net.count(cpAccept); n != 0 {
		t.Fatalf("%d accepts sent", n)
	}
	for _, h := range net.hosts {
		if a := h.acceptor(regKey); !a.Accepted.zero() || a.State.Version != 0 {
			t.Fatalf("host %d accepted %+v", h.i, a)
		}
	}
	net.cut = nil
	wantReg(t, "read once the acceptors are back", net.call(gw, readOp), true, 0, "")
}

// TestCASPaxosAcceptCutOff: what a proposer answers when its accept was
// sent but no quorum answered it (the Outcomes paragraph of the type
// comment).
func TestCASPaxosAcceptCutOff(t *testing.T) {
	t.Run("gateway cut off after sending the accept", func(t *testing.T) {
		// Every accepted reply is lost, and so is everything after: the
		// write took effect, but the proposer cannot know.
		net, gw := newProposerNet(t)
		sentAccept := false
		net.cut = func(p packet) bool {
			switch k := kindOf(p); {
			case k == cpAccepted:
				return true
			case k == cpAccept:
				sentAccept = true
				return false
			default:
				return sentAccept && (p.from == gw || p.to == gw)
			}
		}
		start := net.now
		r := net.call(gw, casOp(0, "a", 3600))
		if !errors.Is(r.Err, ErrUnknown) {
			t.Fatalf("got %v, %v; want ErrUnknown", r.Reg, r.Err)
		}
		if took := net.now.Sub(start); took < proposerTimeout {
			t.Fatalf("unknown after %v, before the timeout %v", took, proposerTimeout)
		}
		net.cut = nil
		wantReg(t, "read after healing: the write took effect", net.call(gw, readOp), true, 1, "a")
	})
	t.Run("accepted replies lost", func(t *testing.T) {
		// The accepts arrive but their answers do not: the next round
		// finds the write, by its tag, chosen at every acceptor, and
		// answers success without another accept.
		net, gw := newProposerNet(t)
		net.cut = func(p packet) bool { return kindOf(p) == cpAccepted }
		wantReg(t, "cas(0)", net.call(gw, casOp(0, "a", 3600)), true, 1, "a")
		if p, a := net.count(cpPrepare), net.count(cpAccept); p != 8 || a != 4 {
			t.Fatalf("%d prepares and %d accepts, want two rounds, one accept", p, a)
		}
		wantReg(t, "cas(1)", net.call(gw, casOp(1, "b", 3600)), true, 2, "b")
	})
	t.Run("accepts lost", func(t *testing.T) {
		// No accept arrives: the next round finds the state the write was
		// computed from, so the write was not chosen, and tries again. The
		// cas succeeds once, not twice.
		for _, expected := range []uint64{0, 1} {
			net, gw := newProposerNet(t)
			if expected == 1 {
				wantReg(t, "cas(0)", net.call(gw, casOp(0, "a", 3600)), true, 1, "a")
			}
			lost := 0
			net.cut = func(p packet) bool {
				if kindOf(p) == cpAccept && lost < 4 {
					lost++
					return true
				}
				return false
			}
			net.sent = nil
			wantReg(t, "cas", net.call(gw, casOp(expected, "b", 3600)), true, expected+1, "b")
			if a := net.count(cpAccept); a != 8 {
				t.Fatalf("expected %d: %d accepts, want two rounds of 4", expected, a)
			}
			wantReg(t, "read", net.call(gw, readOp), true, expected+1, "b")
		}
	})
	t.Run("own write found or forgotten in the history", func(t *testing.T) {
		// p1's write is chosen at every acceptor, but p1 hears nothing
		// back and is cut off; p2 then makes later writes. When p1 is back
		// it answers success if the state still remembers its write (the
		// last histRoom writes), and ErrUnknown once the evidence is older
		// than that: never a failure, since the write took effect.
		room := histRoom(len("p2-0"))
		for later := 0; later <= room; later++ {
			net, _ := newProposerNet(t)
			p1, p2 := net.outsider(regKey), net.members(regKey)[0]
			wantReg(t, "cas(0)", net.call(p1, casOp(0, "a", 3600)), true, 1, "a")
			sentAccept := false
			net.cut = func(p packet) bool {
				switch k := kindOf(p); {
				case k == cpAccept && p.from == p1:
					sentAccept = true
					return false
				case sentAccept:
					return p.from == p1 || p.to == p1
				}
				return false
			}
			id := net.start(p1, casOp(1, "p1", 3600))
			net.runUntil(func() bool { return sentAccept })
			wantReg(t, "p2's read", net.call(p2, readOp), true, 2, "p1")
			for v := range uint64(later) {
				val := fmt.Sprintf("p2-%d", v)
				wantReg(t, "p2's cas", net.call(p2, casOp(2+v, val, 3600)), true, 3+v, val)
			}
			net.cut = nil
			net.runUntil(func() bool { _, ok := p1.results[id]; return ok })
			r := p1.results[id]
			if later < room {
				wantReg(t, fmt.Sprintf("p1's cas after %d later writes", later), r, true, 2, "p1")
			} else if !errors.Is(r.Err, ErrUnknown) {
				t.Fatalf("p1's cas after %d later writes: %v %v, want ErrUnknown", later, r.Reg, r.Err)
			}
		}
	})
	t.Run("version taken by another proposer", func(t *testing.T) {
		// p1's accept reaches one acceptor only and p1 is cut off; p2
		// writes the same version through the other three. When p1 is back
		// its next round proves its write lost (the version has another
		// writer in the same lifetime): its cas fails, reporting p2's.
		net, _ := newProposerNet(t)
		set := net.members(regKey)
		p1, p2 := net.outsider(regKey), set[0]
		wantReg(t, "cas(0)", net.call(p1, casOp(0, "a", 3600)), true, 1, "a")
		sentAccept := false
		net.cut = func(p packet) bool {
			switch {
			case p.from == p1 && kindOf(p) == cpAccept:
				sentAccept = true
				return p.to != set[3]
			case sentAccept:
				return p.from == p1 || p.to == p1
			}
			return false
		}
		id := net.start(p1, casOp(1, "p1", 3600))
		net.runUntil(func() bool { return sentAccept })
		net.advance(time.Millisecond) // p2's ballot is higher
		wantReg(t, "p2's cas(1)", net.call(p2, casOp(1, "p2", 3600)), true, 2, "p2")
		net.cut = nil
		net.runUntil(func() bool { _, ok := p1.results[id]; return ok })
		wantReg(t, "p1's cas(1)", p1.results[id], false, 2, "p2")
		wantReg(t, "read", net.call(p1, readOp), true, 2, "p2")
	})
}

// TestCASPaxosSyncPushesAndForgets: background repair pushes an accepted
// state to a member that missed it, and an acceptor forgets a register
// cpGrace after its expiry, once its promise is older than the ballot
// window (the Expiry paragraph of the type comment).
func TestCASPaxosSyncPushesAndForgets(t *testing.T) {
	net, gw := newProposerNet(t)
	net.syncEach = time.Second
	missed := net.members(regKey)[3]
	net.cut = func(p packet) bool { return p.to == missed && kindOf(p) == cpAccept }
	wantReg(t, "cas(0)", net.call(gw, casOp(0, "a", 1)), true, 1, "a")
	written := net.now
	if a := missed.acceptor(regKey); a.State.Version != 0 {
		t.Fatalf("the member got the accept: %+v", a)
	}
	net.cut = nil
	net.settle(3 * net.syncEach)
	if a := missed.acceptor(regKey); a.State.Version != 1 || string(a.State.Value) != "a" {
		t.Fatalf("not repaired after three sync periods: %+v", a)
	}
	for _, h := range net.members(regKey) {
		if _, ok := h.disk[regKey]; !ok {
			t.Fatalf("host %d forgot the register too early", h.i)
		}
	}
	net.settle(written.Add(time.Second + cpGrace - net.syncEach).Sub(net.now))
	for _, h := range net.members(regKey) {
		if _, ok := h.disk[regKey]; !ok {
			t.Fatalf("host %d forgot the register %v after it was written, before the grace period ended", h.i, net.now.Sub(written))
		}
	}
	net.settle(written.Add(time.Second + cpGrace + 3*net.syncEach).Sub(net.now))
	for _, h := range net.members(regKey) {
		if _, ok := h.disk[regKey]; ok {
			t.Errorf("host %d still holds the register %v after its expiry plus the grace period", h.i, net.now.Sub(written))
		}
	}
	wantReg(t, "read after the forgetting", net.call(gw, readOp), true, 0, "")
}
