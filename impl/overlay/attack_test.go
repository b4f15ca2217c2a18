package overlay

import (
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/wire"
)

// The attacks of spec/SPEC.md section 19, each run against the hardened
// overlay and, in builds with the "variants" tag, against the variant
// TrustClaims (the overlay before section 19): the figures of both are
// logged, the hardened run must hold the rule, and the trusting run must
// break it (the negative control: the test can fail).

var attackerIP = netip.AddrFrom4([4]byte{10, 99, 0, 1})

func attackerAddr(port uint16) netip.AddrPort { return netip.AddrPortFrom(attackerIP, port) }

// settledRing returns a ring of n nodes, every node with variant v, after
// its maintenance settled.
func settledRing(t *testing.T, n int, v Variant) *ring {
	r := newRing(t, seed(t))
	cfg := DefaultConfig()
	for i := range n {
		var boot []netip.AddrPort
		if i > 0 {
			boot = []netip.AddrPort{r.addr(0)}
		}
		node := r.add(i, cfg, boot...)
		if v != (Variant{}) {
			if err := Plant(node, v); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = Plant(node, Variant{}) })
		}
		r.run(300 * time.Millisecond)
	}
	r.run(time.Minute)
	return r
}

// variants returns the runs of an attack test: hardened, and trusting
// where this build can plant it. The trusting overlay is the one before
// section 19, and so also before section 22: a fake ID taken at a real
// node's address (whose answers carry the real ID and never match) was
// then declared dead as soon as three requests to it had timed out, which
// ended the duplicate routes each timed-out hop makes; with one count per
// round of silence (FD-2) it would stay for seconds, and the duplicates
// multiply too fast to simulate.
func variants() []struct {
	name string
	v    Variant
} {
	out := []struct {
		name string
		v    Variant
	}{{"hardened", Variant{}}}
	if VariantsBuilt {
		out = append(out, struct {
			name string
			v    Variant
		}{"trusting", Variant{TrustClaims: true, FragileLiveness: true}})
	}
	return out
}

// fakeEntries counts the entries of n's leaf set and table that are not
// the real nodes of r at their real addresses.
func (r *ring) fakeEntries(n *Node) (leaves, table int) {
	real := func(p wire.Peer) bool {
		m := r.nodes[p.Addr]
		return m != nil && m.self.ID == p.ID
	}
	for _, p := range n.Leaves() {
		if !real(p) {
			leaves++
		}
	}
	for _, p := range n.tbl.all() {
		if !real(p) {
			table++
		}
	}
	return leaves, table
}

// TestReplayedReplyDoesNotRebindPeer (OH-2, OH-3): an unmodified datagram
// of one peer, replayed from another address, neither rebinds that peer's
// ID nor draws any traffic to the replayer.
func TestReplayedReplyDoesNotRebindPeer(t *testing.T) {
	for _, run := range variants() {
		t.Run(run.name, func(t *testing.T) {
			r := settledRing(t, 4, run.v)
			victim, peer := r.nodes[r.addr(0)], r.nodes[r.addr(1)]
			var captured []byte
			r.tap = func(from, to netip.AddrPort, data []byte) {
				if captured == nil && from == peer.self.Addr && to == victim.self.Addr {
					captured = data
				}
			}
			r.run(10 * time.Second)
			r.tap = nil
			if captured == nil {
				t.Fatal("no datagram from node 1 to node 0 in 10 s")
			}
			toAttacker := 0
			r.attacker = func(_ time.Time, to, _ netip.AddrPort, _ []byte) {
				if to.Addr() == attackerIP {
					toAttacker++
				}
			}
			for range 12 { // one replay a second, as tried from outside
				r.push(ev{at: r.now, to: victim.self.Addr, from: attackerAddr(6000), data: captured})
				r.run(time.Second)
			}
			r.run(60 * time.Second)
			st := victim.Stats()
			t.Logf("%s: %d datagrams sent to the replayer in 72 s; dropped as mismatch %d, unsolicited %d",
				run.name, toAttacker, st.DroppedMismatch, st.DroppedUnsolicited)
			if run.v.TrustClaims {
				if toAttacker == 0 {
					t.Fatal("negative control: the trusting overlay sent nothing to the replayer; the test cannot tell")
				}
				return
			}
			if toAttacker != 0 {
				t.Fatalf("OH-2: the node sent %d datagrams to the replayer of a peer's datagram", toAttacker)
			}
			if st.DroppedMismatch+st.DroppedUnsolicited < 12 {
				t.Fatalf("only %d of 12 replays counted as dropped", st.DroppedMismatch+st.DroppedUnsolicited)
			}
			if a, ok := victim.boundAddr(peer.self.ID); !ok || a != peer.self.Addr {
				t.Fatalf("peer 1 is bound to %v (%v), want %v", a, ok, peer.self.Addr)
			}
		})
	}
}

// TestMangledDatagramsDoNotGrowViews (OH-1, OH-4): 100,000 truncated and
// bit-flipped copies of real datagrams, half from the attacker's address
// and half with the real peers' source addresses, put no peer that is not
// a real node at its real address into any leaf set or routing table, and
// every lookup still reaches its root.
func TestMangledDatagramsDoNotGrowViews(t *testing.T) {
	for _, run := range variants() {
		t.Run(run.name, func(t *testing.T) {
			r := settledRing(t, 4, run.v)
			victim := r.nodes[r.addr(0)]
			type dgram struct {
				from netip.AddrPort
				data []byte
			}
			var real []dgram
			r.tap = func(from, to netip.AddrPort, data []byte) {
				if len(real) < 500 {
					real = append(real, dgram{from, data})
				}
			}
			r.lookups(50)
			r.run(30 * time.Second)
			r.tap = nil
			r.attacker = func(time.Time, netip.AddrPort, netip.AddrPort, []byte) {}
			total := 100_000
			if run.v.TrustClaims {
				total = 10_000 // the trusting overlay pings every fake it takes: slow to simulate
			}
			peakLeaves, peakTable := 0, 0
			for i := range total {
				d := real[r.rng.IntN(len(real))]
				b := append([]byte(nil), d.data...)
				if r.rng.IntN(2) == 0 {
					b = b[:r.rng.IntN(len(b))+1]
				}
				for range 1 + r.rng.IntN(3) {
					j := r.rng.IntN(len(b))
					b[j] ^= 1 << r.rng.IntN(8)
				}
				from := attackerAddr(uint16(1000 + r.rng.IntN(100)))
				if i%2 == 1 {
					from = d.from // spoofed: a real peer's address
				}
				r.push(ev{at: r.now, to: victim.self.Addr, from: from, data: b})
				if i%1000 == 999 {
					r.run(time.Second) // 1,000 a second
					l, tb := r.fakeEntries(victim)
					peakLeaves, peakTable = max(peakLeaves, l), max(peakTable, tb)
				}
			}
			r.run(30 * time.Second)
			leaves, table := peakLeaves, peakTable
			frac, _ := r.lookups(200)
			st := victim.Stats()
			t.Logf("%s: during %d mangled datagrams the victim held at most %d fake leaves (now %d leaves) and %d fake table entries (now %d entries); lookups correct %.3f; dropped: rate %d, mismatch %d, unsolicited %d; challenges sent %d, skipped %d",
				run.name, total, leaves, len(victim.Leaves()), table, victim.TableSize(), frac,
				st.DroppedRateLimited, st.DroppedMismatch, st.DroppedUnsolicited, st.ChallengesSent, st.ChallengesSkipped)
			if run.v.TrustClaims {
				if leaves+table == 0 {
					t.Fatal("negative control: the trusting overlay took no fake peer; the test cannot tell")
				}
				return
			}
			if leaves+table > 0 {
				t.Fatalf("OH-1: mangled datagrams put %d fake leaves and %d fake table entries into the victim's view", leaves, table)
			}
			if frac != 1 {
				t.Fatalf("only %.3f of lookups reached the root after the flood", frac)
			}
		})
	}
}

// TestEclipseFromOneAddress (OH-5): an attacker with one IP address and
// 64 ports claims IDs all around a victim's ID and in every slot of its
// routing table's first rows, gossips them, and answers every challenge.
// It takes at most PeersPerHost leaves a side and PeersPerHost table
// entries of the victim.
func TestEclipseFromOneAddress(t *testing.T) {
	for _, run := range variants() {
		t.Run(run.name, func(t *testing.T) {
			const nodes, fakes = 32, 64
			r := settledRing(t, nodes, run.v)
			victim := r.nodes[r.addr(5)]
			var ids []wire.Peer
			vid := Big(victim.self.ID)
			for j := range fakes / 2 { // just beside the victim, both sides
				for _, sign := range []int64{1, -1} {
					x := new(big.Int).Add(vid, big.NewInt(sign*int64(j+1)))
					x.Mod(x, new(big.Int).Lsh(big.NewInt(1), IDBits))
					var id ID
					x.FillBytes(id[:])
					ids = append(ids, wire.Peer{ID: id, Addr: attackerAddr(uint16(1000 + len(ids)))})
				}
			}
			for d := range 16 { // one for each slot of row 0
				id := victim.self.ID
				setDigit(&id, 0, 4, d)
				id[19] ^= 0x5a
				ids = append(ids, wire.Peer{ID: id, Addr: attackerAddr(uint16(1000 + len(ids)))})
			}
			byAddr := map[netip.AddrPort]wire.Peer{}
			for _, p := range ids {
				byAddr[p.Addr] = p
			}
			// The attacker answers as each fake: pongs, and gossip of fakes.
			r.attacker = func(now time.Time, to, from netip.AddrPort, data []byte) {
				me, ok := byAddr[to]
				if !ok {
					return
				}
				env, err := wire.Decode(data)
				if err != nil {
					return
				}
				var reply wire.Message
				switch m := env.Msg.(type) {
				case *wire.Ping:
					reply = &wire.Pong{Nonce: m.Nonce}
				case *wire.LeafReq:
					reply = &wire.LeafResp{Nonce: m.Nonce, Leaves: ids[:16]}
				case *wire.RowReq:
					reply = &wire.RowResp{Nonce: m.Nonce, Row: m.Row, Entries: ids[fakes:]}
				case *wire.Route:
					reply = &wire.RouteAck{Nonce: m.Nonce}
				}
				if reply == nil {
					return
				}
				b, err := wire.Encode(nil, wire.Envelope{From: me, Msg: reply})
				if err != nil {
					t.Fatal(err)
				}
				r.push(ev{at: now.Add(time.Millisecond), to: from, from: to, data: b})
			}
			for round := range 60 { // every 2 s for 2 minutes, gossip from every fake
				for k, p := range ids {
					gossip := ids[(k+round)%len(ids):]
					gossip = gossip[:min(len(gossip), 16)]
					b, err := wire.Encode(nil, wire.Envelope{From: p, Msg: &wire.LeafReq{Nonce: uint64(round*1000 + k + 1), Leaves: gossip}})
					if err != nil {
						t.Fatal(err)
					}
					r.push(ev{at: r.now, to: victim.self.Addr, from: p.Addr, data: b})
				}
				r.run(2 * time.Second)
			}
			leaves, table := r.fakeEntries(victim)
			frac, _ := r.lookups(200)
			st := victim.Stats()
			t.Logf("%s: an attacker with one address holds %d of the victim's %d leaves and %d of its %d table entries; lookups correct %.3f; refused by the per-host cap %d",
				run.name, leaves, len(victim.Leaves()), table, victim.TableSize(), frac, st.HostCapRefused)
			if run.v.TrustClaims {
				if leaves <= 2*DefaultConfig().PeersPerHost {
					t.Fatalf("negative control: the trusting overlay let the attacker take only %d leaves; the test cannot tell", leaves)
				}
				return
			}
			if max := 2 * DefaultConfig().PeersPerHost; leaves > max {
				t.Fatalf("OH-5: the attacker holds %d leaves, more than %d", leaves, max)
			}
			if max := DefaultConfig().PeersPerHost; table > max {
				t.Fatalf("OH-5: the attacker holds %d table entries, more than %d", table, max)
			}
		})
	}
}

// TestDropsCountedByReason (OH-6): each kind of dropped datagram is
// counted under its reason, and changes nothing the node knows.
func TestDropsCountedByReason(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := DefaultConfig()
	cfg.StrangerRate, cfg.StrangerBurst = 1, 3
	self, peer := testPeer("80", 1), testPeer("90", 2)
	n := New(cfg, self)
	n.Join(now, nil)
	n.learn(peer)
	n.Ready()
	before := n.Leaves()
	other := attackerAddr(7000)
	// Claims the node's own ID.
	n.Receive(now, other, wire.Envelope{From: self, Msg: &wire.Ping{Nonce: 1}})
	// Claims a bound ID from another address (OH-2).
	n.Receive(now, other, wire.Envelope{From: peer, Msg: &wire.Ping{Nonce: 2}})
	// A reply to no request (OH-3), from the bound peer itself.
	n.Receive(now, peer.Addr, wire.Envelope{From: peer, Msg: &wire.Pong{Nonce: 12345}})
	// Strangers over their address's rate (OH-4): a burst of 3, then drops.
	for i := range 10 {
		n.Receive(now, other, wire.Envelope{From: testPeer(fmt.Sprintf("a%d", i), 3), Msg: &wire.LeafReq{Nonce: uint64(100 + i)}})
	}
	st := n.Stats()
	if st.IgnoredStrangers != 1 || st.DroppedMismatch != 1 || st.DroppedUnsolicited != 1 || st.DroppedRateLimited != 7 {
		t.Fatalf("self %d, mismatch %d, unsolicited %d, rate %d; want 1, 1, 1, 7",
			st.IgnoredStrangers, st.DroppedMismatch, st.DroppedUnsolicited, st.DroppedRateLimited)
	}
	if st.ChallengesSent != 3 {
		t.Fatalf("challenges sent %d, want 3 (one per stranger admitted)", st.ChallengesSent)
	}
	if a, ok := n.boundAddr(peer.ID); !ok || a != peer.Addr || !slices.Equal(before, n.Leaves()) {
		t.Fatalf("the drops changed the node's view: bound %v %v, leaves %v (were %v)", a, ok, n.Leaves(), before)
	}
}
