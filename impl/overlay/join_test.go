package overlay

import (
	"net/netip"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/wire"
)

// A node whose bootstrap node never answers sends its join again with
// exponential backoff, JoinRetry doubling up to JoinRetryMax (SPEC
// JOIN-2), and goes back to JoinRetry once it has joined.
func TestJoinRetriesBackOff(t *testing.T) {
	cfg := DefaultConfig()
	cfg.JoinRetry, cfg.JoinRetryMax = 5*time.Second, 40*time.Second
	self := wire.Peer{ID: nodeID(1), Addr: netip.MustParseAddrPort("10.0.0.1:5850")}
	boot := netip.MustParseAddrPort("10.0.0.2:5850")
	n := New(cfg, self)
	t0 := time.Unix(1_000_000, 0)
	joins := func() int {
		c := 0
		for _, s := range n.Ready().Sends {
			if r, ok := s.Env.Msg.(*wire.Route); ok && r.Kind == wire.RouteJoin {
				c++
			}
		}
		return c
	}
	n.Join(t0, []netip.AddrPort{boot})
	if joins() != 1 {
		t.Fatal("Join sent no join")
	}
	var at []time.Duration
	for now := t0; now.Before(t0.Add(200 * time.Second)); now = now.Add(100 * time.Millisecond) {
		n.Tick(now)
		if c := joins(); c > 0 {
			at = append(at, now.Sub(t0))
		}
	}
	// The hop to the bootstrap node times out and is retried meanwhile,
	// which sends no new join: only the join timer does.
	want := []time.Duration{5 * time.Second, 15 * time.Second, 35 * time.Second, 75 * time.Second, 115 * time.Second, 155 * time.Second, 195 * time.Second}
	if len(at) != len(want) {
		t.Fatalf("joins sent at %v, want %v", at, want)
	}
	for i := range want {
		if at[i] != want[i] {
			t.Fatalf("joins sent at %v, want %v", at, want)
		}
	}
	if d := n.joinDelay(); d != cfg.JoinRetryMax {
		t.Fatalf("delay after %d joins: %v, want the cap %v", n.joinTries, d, cfg.JoinRetryMax)
	}
	// Joined (a leaf set came back): the next join, after the node finds
	// itself alone again, waits JoinRetry only.
	// The root's answer echoes the join's id, and the leaf it names
	// answers the challenge the joining node sends it (OH-1, OH-3).
	root := wire.Peer{ID: nodeID(2), Addr: boot}
	n.Receive(t0.Add(200*time.Second), boot, wire.Envelope{From: root, Msg: &wire.LeafResp{Nonce: n.joinNonce, Leaves: []wire.Peer{root}}})
	answerAs(n, t0.Add(200*time.Second), root, n.Ready().Sends)
	if !n.Joined() || n.joinDelay() != cfg.JoinRetry {
		t.Fatalf("after joining: joined=%v delay %v, want %v", n.Joined(), n.joinDelay(), cfg.JoinRetry)
	}
}
