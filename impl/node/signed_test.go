package node_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/simnet"
	"github.com/opendht-go/opendht/impl/wire"
	"github.com/opendht-go/opendht/linearizability"
)

// Immutable and signed puts in the replicated DHT (spec/SPEC.md section
// 18, SG-10): scenarios that the cluster checks judge (a signed key's logical
// state keeps only its greatest record, SG-6; no get returns an
// authenticated item that does not verify, IM-3 and SG-5), with the
// variants they must catch, and the counters of refused writes (SG-9).

var owner = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, ed25519.SeedSize))

// signedRecord signs value as record seq of name, expiring at exp (Unix
// seconds).
func signedRecord(name string, seq uint64, value string, exp int64) dht.Record {
	r := dht.Record{NameHash: dht.SHA1([]byte(name)), Seq: seq, Expires: dht.Time(exp), Value: []byte(value)}
	r.Sign(owner)
	return r
}

// putRecord puts r through gateway sn, as the client does, with a TTL a
// minute past its signed expiry: every node keeps it until exactly then
// (SG-8).
func (c *cluster) putRecord(sn *simNode, r dht.Record) (dht.Status, error) {
	p := dht.Put{Client: "192.0.2.3", Key: r.Key(), Value: r.Encode(), SecretHash: dht.TagSigned,
		TTL: int64(r.Expires) - c.net.Now().Unix() + 60}
	e := linearizability.Event{Kind: linearizability.OpPut, Key: p.Key, Value: p.Value, SecretHash: p.SecretHash, TTL: p.TTL}
	var got *node.Completion
	e.Client, e.Call = sn.i, c.net.Now()
	sn.call(func(now time.Time) uint64 { return sn.n.Put(now, p) }, func(d node.Completion) { got = &d })
	c.net.RunUntil(func() bool { return got != nil || !sn.h.Alive() }, c.net.Now().Add(time.Minute))
	e.Return = c.net.Now()
	switch {
	case got == nil:
		e.Unknown = true
		c.hist = append(c.hist, e)
		return dht.StatusTryAgain, fmt.Errorf("no answer")
	case got.Err != nil: // refused (SG-9): its outcome is unknown to the history
		e.Unknown = true
		c.hist = append(c.hist, e)
		return 0, got.Err
	}
	e.Status = got.Status
	c.hist = append(c.hist, e)
	return got.Status, nil
}

// hostile is a sender outside the ring that speaks the nodes' protocol:
// it sends copies as a replica's anti-entropy push does (a replica Write
// with no request id), from an address of its own.
type hostile struct {
	c    *cluster
	addr netip.AddrPort
	ep   *simnet.Endpoint
}

func (c *cluster) hostile() *hostile {
	h := &hostile{c: c, addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, 9, 9}), c.port)}
	ep, err := c.net.Attach(h.addr, func(netip.AddrPort, []byte) {})
	if err != nil {
		c.t.Fatal(err)
	}
	h.ep = ep
	return h
}

// push sends it to each node of to as an anti-entropy copy.
func (h *hostile) push(to []*simNode, it wire.Item) {
	env := wire.Envelope{From: wire.Peer{ID: node.IDFor(h.addr), Addr: h.addr}, Msg: &wire.Write{Replica: true, Item: it}}
	b, err := wire.Encode(nil, env)
	if err != nil {
		h.c.t.Fatal(err)
	}
	for _, sn := range to {
		if err := h.ep.Send(sn.addr, b); err != nil {
			h.c.t.Fatal(err)
		}
	}
	h.c.net.RunFor(time.Second)
}

// recordItem is r as a copy between nodes carries it.
func recordItem(r dht.Record) wire.Item {
	return wire.Item{Kind: wire.ItemPut, Key: r.Key(), Value: r.Encode(), SecretHash: dht.TagSigned, Expiry: int64(r.Expires), Client: "192.0.2.3"}
}

// unverified lists what a get returned that does not verify (IM-3, SG-5).
func unverified(key dht.Key, got []dht.Value) []string {
	var bad []string
	for _, v := range got {
		if err := (dht.Put{Key: key, Value: v.Value, SecretHash: v.SecretHash}).Authenticate(); err != nil {
			bad = append(bad, fmt.Sprintf("%q (%v)", dht.ShortValue(v.Value), err))
		}
	}
	return bad
}

// seqs lists the sequence numbers of the signed records of a get.
func seqs(got []dht.Value) map[uint64]bool {
	out := map[uint64]bool{}
	for _, v := range got {
		if r, err := dht.DecodeRecord(v.Value); err == nil && v.SecretHash == dht.TagSigned {
			out[r.Seq] = true
		}
	}
	return out
}

// staleRecordReplayed (SG-6): record 0 of a signed key, then record 1 with
// the same expiry while one replica is cut off, so that replica keeps
// record 0 until anti-entropy brings record 1 (and its copies of record 0
// reach replicas that hold record 1); then record 0 is replayed through a
// gateway. Once the cluster settles, every get returns record 1 and none
// record 0.
func staleRecordReplayed(t *testing.T, c *cluster) []string {
	exp := c.net.Now().Unix() + 7200
	r0, r1 := signedRecord("status", 0, "old", exp), signedRecord("status", 1, "new", exp)
	key := r0.Key()
	set := c.byCloseness(key)
	gw := c.gatewayFor(key, c.cfg.Replicas+1)
	if st, err := c.putRecord(gw, r0); err != nil || st != dht.StatusOK {
		return []string{fmt.Sprintf("put of record 0: status %v, %v", st, err)}
	}
	c.net.RunFor(5 * time.Second)
	from := c.net.Now()
	_ = c.net.Partition([]netip.AddrPort{set[1].addr})
	if st, err := c.putRecord(gw, r1); err != nil || st != dht.StatusOK {
		return []string{fmt.Sprintf("put of record 1: status %v, %v", st, err)}
	}
	c.net.RunFor(5 * time.Second)
	c.net.Heal()
	c.faults = append(c.faults, linearizability.Interval{From: from, To: c.net.Now()})
	c.net.RunFor(time.Minute)
	_, replay := c.putRecord(gw, r0) // refused as stale by a correct node
	c.net.RunFor(settleTime + 10*time.Second)
	var problems []string
	for _, g := range []*simNode{gw, set[0], set[1], set[2]} {
		got, err := c.pagedGet(g, key, 10, nil)
		if err != nil {
			return []string{err.Error()}
		}
		s := seqs(got)
		if s[0] {
			problems = append(problems, fmt.Sprintf("SG-6: a quiet get at node %d returns record 0 under record 1 (the replay was answered %v)", g.i, replay))
		}
		if !s[1] {
			problems = append(problems, fmt.Sprintf("SG-6: a quiet get at node %d lacks record 1", g.i))
		}
	}
	return problems
}

// forgedCopies (IM-3, SG-5): a sender outside the ring pushes, to the
// replicas of a signed key and of an immutable key, a record of the
// signed key with a higher seq and a signature that does not verify, and
// a value that does not hash to the immutable key. A correct node refuses
// them (its gateway is not on their way, its store is), so no get
// returns them.
func forgedCopies(t *testing.T, c *cluster) []string {
	exp := c.net.Now().Unix() + 3600
	r := signedRecord("profile", 0, "genuine", exp)
	key := r.Key()
	gw := c.gatewayFor(key, c.cfg.Replicas+1)
	if st, err := c.putRecord(gw, r); err != nil || st != dht.StatusOK {
		return []string{fmt.Sprintf("signed put: status %v, %v", st, err)}
	}
	imm := dht.ImmutablePut(dht.ImmutableSHA1, []byte("immutable"), 3600, "192.0.2.4")
	e := linearizability.Event{Kind: linearizability.OpPut, Key: imm.Key, Value: imm.Value, SecretHash: imm.SecretHash, TTL: imm.TTL}
	if d, ok := c.call(gw, e, func(now time.Time) uint64 { return gw.n.Put(now, imm) }); !ok || d.Status != dht.StatusOK {
		return []string{fmt.Sprintf("immutable put: %+v", d)}
	}
	forged := signedRecord("profile", 9, "forged", exp)
	forged.Value = []byte("forged!") // the signature covers another value
	h := c.hostile()
	h.push(c.byCloseness(key)[:c.cfg.Replicas], recordItem(forged))
	h.push(c.byCloseness(imm.Key)[:c.cfg.Replicas], wire.Item{Kind: wire.ItemPut, Key: imm.Key, Value: []byte("not the value of this key"),
		SecretHash: dht.TagImmutableSHA1, Expiry: exp, Client: "192.0.2.4"})
	c.net.RunFor(settleTime + 10*time.Second)
	var problems []string
	for _, k := range []dht.Key{key, imm.Key} {
		for _, g := range []*simNode{gw, c.byCloseness(k)[0]} {
			got, err := c.pagedGet(g, k, 10, nil)
			if err != nil {
				return []string{err.Error()}
			}
			if bad := unverified(k, got); len(bad) > 0 {
				problems = append(problems, fmt.Sprintf("IM-3, SG-5: a get at node %d returned what does not verify: %v", g.i, bad))
			}
		}
	}
	return problems
}

// refusals sums the nodes' counters of refused authenticated writes and
// of superseded copies.
func (c *cluster) refusals() (refused [len(dht.Refusals)]int, superseded int) {
	for _, sn := range c.live() {
		st := sn.n.Stats()
		for i, n := range st.Refused {
			refused[i] += n
		}
		superseded += st.Superseded
	}
	return refused, superseded
}

// TestSupersededCopiesCountedApart (SG-9): a copy from another node of a
// record its receiver already outranks is counted as superseded, not as
// an attack; a forged copy is an attack (a forged signature); a client's
// replay of the old record through a gateway is an attack too (a
// replayed old seq), counted once, by the root that refused it.
func TestSupersededCopiesCountedApart(t *testing.T) {
	c := newCluster(t, 3, 8, node.DefaultConfig())
	c.net.RunFor(time.Minute)
	exp := c.net.Now().Unix() + 3600
	r0, r1 := signedRecord("counted", 0, "old", exp), signedRecord("counted", 1, "new", exp)
	key := r0.Key()
	gw := c.gatewayFor(key, c.cfg.Replicas+1)
	replicas := c.byCloseness(key)[:c.cfg.Replicas]
	for _, r := range []dht.Record{r0, r1} {
		if st, err := c.putRecord(gw, r); err != nil || st != dht.StatusOK {
			t.Fatalf("put of record %d: status %v, %v", r.Seq, st, err)
		}
	}
	c.net.RunFor(10 * time.Second)
	stale := dht.RefusalIndex(dht.ErrRecordStale)
	sig := dht.RefusalIndex(dht.ErrRecordSignature)
	before, supBefore := c.refusals()
	if before != ([len(dht.Refusals)]int{}) {
		t.Fatalf("refusals counted before any attack: %v (superseded %d)", before, supBefore)
	}

	// Copies of the outranked record, as a lagging replica pushes them.
	h := c.hostile()
	h.push(replicas, recordItem(r0))
	refused, sup := c.refusals()
	if refused != before || sup-supBefore != len(replicas) {
		t.Fatalf("%d copies of an outranked record: refusals %v (want none), superseded %d more (want %d)", len(replicas), refused, sup-supBefore, len(replicas))
	}

	// A forged copy is an attack.
	forged := r1
	forged.Seq = 2
	h.push(replicas, recordItem(forged))
	refused, sup2 := c.refusals()
	if refused[sig] != len(replicas) || sup2 != sup {
		t.Fatalf("forged copies: %d counted as forged signatures (want %d), superseded %d more", refused[sig], len(replicas), sup2-sup)
	}

	// The old record replayed through a gateway: refused by the root.
	if _, err := c.putRecord(gw, r0); err == nil {
		t.Fatal("a replayed old record was accepted")
	}
	c.net.RunFor(5 * time.Second)
	refused, sup3 := c.refusals()
	if refused[stale] != 1 || sup3 != sup2 {
		t.Fatalf("a replay through a gateway: %d counted as stale (want 1), superseded %d more (want 0)", refused[stale], sup3-sup2)
	}
	t.Logf("refusals by reason %v, superseded %d", refused, sup3)
}
