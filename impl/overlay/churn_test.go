package overlay

import (
	"net/netip"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/wire"
)

// learn makes p a peer bound to its address (as if it had answered a
// challenge) and offers it to the leaf set and the table.
func (n *Node) learn(p wire.Peer) {
	n.bind(p)
	n.consider(p)
}

// answerAs answers, as peer p, every request n sent to p's address: the
// challenges and announcements of a join.
func answerAs(n *Node, now time.Time, p wire.Peer, sends []Send) {
	for _, s := range sends {
		if s.To != p.Addr {
			continue
		}
		switch m := s.Env.Msg.(type) {
		case *wire.Ping:
			n.Receive(now, p.Addr, wire.Envelope{From: p, Msg: &wire.Pong{Nonce: m.Nonce}})
		case *wire.LeafReq:
			n.Receive(now, p.Addr, wire.Envelope{From: p, Msg: &wire.LeafResp{Nonce: m.Nonce, Leaves: []wire.Peer{p}}})
		}
	}
}

func testPeer(prefix string, i int) wire.Peer {
	return wire.Peer{ID: idHex(prefix), Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}), 5850)}
}

// TestShortSideCoversOnlyItsNodes: under churn a side of the leaf set can
// lose its nodes before an exchange replaces them. When every node was
// offered to both sides, the successors then filled the short predecessor
// side, the two sides seemed to reach past each other as in a small ring,
// and the node answered as root for keys on the far side of the circle
// (dhtsim found a handful of such nodes answering hundreds of lookups for
// keys hundreds of nodes away). A side holds only its own half, and a short
// side covers only as far as its last node.
func TestShortSideCoversOnlyItsNodes(t *testing.T) {
	self := testPeer("80", 1)
	n := New(DefaultConfig(), self)
	for i, p := range []string{"81", "82", "83", "84", "7f"} {
		n.learn(testPeer(p, 10+i))
	}
	if got := len(n.leaves.pred); got != 1 {
		t.Fatalf("predecessor side holds %d nodes, want only 7f: %v", got, n.leaves.pred)
	}
	for _, key := range []string{"20", "c0", "7e"} {
		if n.leaves.covers(idHex(key)) {
			t.Errorf("leaf set 7f..84 covers key %s", key)
		}
	}
	for _, key := range []string{"7f8", "80", "838"} {
		if !n.leaves.covers(idHex(key)) {
			t.Errorf("leaf set 7f..84 does not cover key %s", key)
		}
	}
	// Knowing a node closer to a far key, the node routes there instead of
	// answering.
	far := testPeer("21", 30)
	n.learn(far)
	if next := n.nextHop(idHex("20"), nil); next.ID != far.ID {
		t.Fatalf("next hop for key 20 is %x, want 21", next.ID[:2])
	}
}

// TestJoiningNodeAnswersNoLookup: a node still joining has only the rows
// and leaves its join brought in so far, so it answers no lookup routed to
// it (the origin sends it again), but it does answer a join: two nodes
// that start through each other must form a ring without waiting for a
// join retry.
func TestJoiningNodeAnswersNoLookup(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	self, other := testPeer("80", 1), testPeer("81", 2)
	n := New(DefaultConfig(), self)
	n.Join(now, []netip.AddrPort{testPeer("f0", 3).Addr})
	n.learn(testPeer("10", 4)) // a row entry its own join brought in
	n.Ready()
	route := func(kind wire.RouteKind) []Send {
		n.Receive(now, other.Addr, wire.Envelope{From: other, Msg: &wire.Route{Key: idHex("8001"), Kind: kind, Origin: other, ReqID: 5, Nonce: 7}})
		return n.Ready().Sends
	}
	for _, s := range route(wire.RouteFindRoot) {
		if _, ok := s.Env.Msg.(*wire.RootIs); ok {
			t.Fatal("a joining node answered a lookup as the root")
		}
	}
	if n.stats.RoutesDropped != 1 {
		t.Fatalf("routes dropped = %d, want 1", n.stats.RoutesDropped)
	}
	answered := false
	for _, s := range route(wire.RouteJoin) {
		if _, ok := s.Env.Msg.(*wire.LeafResp); ok && s.To == other.Addr {
			answered = true
		}
	}
	if !answered {
		t.Fatal("a joining node did not answer a join routed to it")
	}
}

// TestLookupSentAgainByOrigin: a hop that acknowledged a lookup may die
// before it forwards it; the origin sends the lookup again after
// LookupTimeout, LookupTries times in all, then gives up.
func TestLookupSentAgainByOrigin(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := DefaultConfig()
	self, leaf := testPeer("80", 1), testPeer("90", 2)
	n := New(cfg, self)
	n.Join(now, nil)
	n.learn(leaf)
	n.Ready()
	id := n.Lookup(now, idHex("90"))
	sends, gaveUp := 0, 0
	for try := 0; try < cfg.LookupTries+1; try++ {
		r := n.Ready()
		gaveUp += len(r.GaveUp)
		for _, s := range r.Sends {
			if m, ok := s.Env.Msg.(*wire.Route); ok && m.ReqID == id && s.To == leaf.Addr {
				sends++
				// The leaf acknowledges and then dies with the message.
				n.Receive(now, leaf.Addr, wire.Envelope{From: leaf, Msg: &wire.RouteAck{Nonce: m.Nonce}})
			}
		}
		now = now.Add(cfg.LookupTimeout)
		n.Tick(now)
	}
	gaveUp += len(n.Ready().GaveUp)
	if sends != cfg.LookupTries || gaveUp != 1 {
		t.Fatalf("the lookup was sent %d times, want %d; given up %d times, want once", sends, cfg.LookupTries, gaveUp)
	}
	if st := n.Stats(); st.LookupRetries != cfg.LookupTries-1 || st.LookupsFailed != 1 {
		t.Fatalf("retries=%d failed=%d, want %d and 1", st.LookupRetries, st.LookupsFailed, cfg.LookupTries-1)
	}
}

// TestLookupHeldUntilJoined: a node that has not joined has no leaf set
// and would answer every lookup itself; it sends its lookups once it has
// joined.
func TestLookupHeldUntilJoined(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	self, boot := testPeer("80", 1), testPeer("90", 2)
	n := New(DefaultConfig(), self)
	n.Join(now, []netip.AddrPort{boot.Addr})
	n.Ready()
	id := n.Lookup(now, idHex("10"))
	if r := n.Ready(); len(r.Found) != 0 || len(r.Sends) != 0 {
		t.Fatalf("a joining node acted on a lookup at once: %+v", r)
	}
	n.Receive(now, boot.Addr, wire.Envelope{From: boot, Msg: &wire.LeafResp{Nonce: n.joinNonce, Leaves: []wire.Peer{boot}}})
	if n.Joined() {
		t.Fatal("joined before any leaf answered at its address (OH-1)")
	}
	answerAs(n, now, boot, n.Ready().Sends)
	if !n.Joined() {
		t.Fatal("not joined after the leaf the root named answered")
	}
	n.Ready()
	n.Tick(n.NextWake())
	sent := false
	r := n.Ready()
	for _, s := range r.Sends {
		if m, ok := s.Env.Msg.(*wire.Route); ok && m.ReqID == id && m.Kind == wire.RouteFindRoot {
			sent = true
		}
	}
	for _, f := range r.Found { // 80 is the root of 10 in a ring of 80 and 90
		sent = sent || f.ReqID == id
	}
	if !sent {
		t.Fatal("the held lookup was not sent once the node joined")
	}
}
