package model

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
)

// This file is the model of the replicated DHT, spec/SPEC.md section 13:
// not of any node, but of the DHT's *logical state* (RD-3), the join of
// every write that took effect, and of what one get through any gateway
// must and may return (RD-5..RD-9).
//
// A history only bounds when things happened: a write took effect at one
// unknown instant between its call and its deadline, and a node's clock is
// up to Δ from the history's clock. So the state keeps bounds, not
// instants: for each item, bounds on its expiry (RD-6) and on when its
// puts took effect; for each tombstone, bounds on its expiry and on when
// it took effect. Every bound is in the history's clock, in nanoseconds
// (any origin: only differences and comparisons matter).
//
// Which writes took effect before a get, and in what order, is not for
// this file to guess: a checker tries the orders a history allows
// (linearizability/dht.go gives them to porcupine) and applies the writes
// with Apply. Must and May then judge one get against the state its
// writes left.

// ReplicatedConfig holds the bounds of section 13 a cluster is judged with.
type ReplicatedConfig struct {
	// Delta (Δ) bounds how far a node's reading of an instant, in the
	// whole seconds of node time, may be from the history's clock: the
	// clock offset plus half the one-second grain of node time. The rules
	// use 2Δ (two nodes, or one node and the history), so Δ = 1 s covers
	// clock offsets of up to 500 ms (RD-6, RD-7).
	Delta time.Duration
	// Settle (S) is how long the cluster must be quiet (no loss,
	// partition, node down, join or departure) for the replicas of every
	// key to agree (RD-8).
	Settle time.Duration
	// RequestLifetime (L) bounds how long after its call a write whose
	// outcome is unknown may still take effect (RD-3): the attempts times
	// the request timeout, plus the admission queue timeout.
	RequestLifetime time.Duration
	// MaxTTL is the TTL clamp in seconds (TTL-1).
	MaxTTL int64
	// ToleratedChanges is how many changes of a key's replica set (one
	// node joining, leaving, crashing or restarting) RD-7 survives between
	// a put's call and a get's return: W+R−n, 1 with n = 4, W = 2, R = 3.
	ToleratedChanges int
}

// DefaultReplicatedConfig holds the bounds the checks use: Δ = 1 s,
// S = 30 s, L = 20 s (15 s of attempts and 5 s of queue), T = one week,
// and one change of a replica set tolerated by RD-7.
func DefaultReplicatedConfig() ReplicatedConfig {
	return ReplicatedConfig{Delta: time.Second, Settle: 30 * time.Second, RequestLifetime: 20 * time.Second, MaxTTL: dht.MaxTTL, ToleratedChanges: 1}
}

// Validate rejects bounds the rules do not define.
func (c ReplicatedConfig) Validate() error {
	switch {
	case c.Delta < 0:
		return fmt.Errorf("model: Δ must not be negative, got %v", c.Delta)
	case c.Settle <= 0:
		return fmt.Errorf("model: the settle time must be positive, got %v", c.Settle)
	case c.RequestLifetime <= 0:
		return fmt.Errorf("model: the request lifetime must be positive, got %v", c.RequestLifetime)
	case c.MaxTTL <= 0 || c.MaxTTL > dht.MaxTTL:
		return fmt.Errorf("model: max TTL must be in [1, %d] seconds, got %d", dht.MaxTTL, c.MaxTTL)
	case c.ToleratedChanges < 0:
		return fmt.Errorf("model: tolerated changes must not be negative, got %d", c.ToleratedChanges)
	}
	return nil
}

// WriteKind tells a put from an rm.
type WriteKind uint8

const (
	// WritePut is a put or put_removable (PUT-1, PUT-2).
	WritePut WriteKind = iota + 1
	// WriteRemove is an rm (RM-1).
	WriteRemove
)

func (k WriteKind) String() string {
	switch k {
	case WritePut:
		return "put"
	case WriteRemove:
		return "rm"
	}
	return fmt.Sprintf("write(%d)", int(k))
}

// Write is one put or rm of a history, as a client saw it.
type Write struct {
	Kind WriteKind
	// ID is the item (PUT-1) a put stores or an rm removes (RM-1).
	ID dht.ItemID
	// TTL is the TTL the client asked for, in seconds.
	TTL int64
	// Call is when the client called.
	Call int64
	// Return is when the answer came. It is only a bound for an
	// acknowledged write; for the others it may only push the deadline
	// later (see Deadline).
	Return int64
	// Acked: the answer was status 0 (RD-2), so the write took effect
	// between Call and Return. A write answered 1 or 2, or not answered,
	// has an unknown outcome (RD-3).
	Acked bool
	// Refused: a put that no node stores: an authenticated item that does
	// not verify (IM-3, SG-5). It takes effect nowhere, whatever its
	// answer.
	Refused bool
	// Signed: the put stores a signed record (SG-1) with sequence number
	// Seq and signed expiry Expires, an instant of the history's clock.
	// Records of one key are ordered by Seq, then by their value hash
	// (SG-6).
	Signed  bool
	Seq     uint64
	Expires int64
}

// ttl is the write's TTL clamped by TTL-1, as a duration.
func (c ReplicatedConfig) ttl(w Write) int64 {
	return int64(time.Duration(min(max(w.TTL, 0), c.MaxTTL)) * time.Second)
}

// Deadline is the latest instant at which the write can have taken
// effect (RD-3): its return if it was acknowledged; otherwise L after its
// call (or its return, if a slow answer came later than that).
func (c ReplicatedConfig) Deadline(w Write) int64 {
	if w.Acked {
		return w.Return
	}
	return max(w.Return, addSat(w.Call, int64(c.RequestLifetime)))
}

// ExpiryLo and ExpiryHi bound the expiry of the write's item or tombstone
// in the history's clock: the gateway fixes it at the call, to its clock
// plus the clamped TTL (RD-6), and a node's clock is within Δ.
// A signed record's item expires at its signed expiry at the latest
// (SG-8).
func (c ReplicatedConfig) ExpiryLo(w Write) int64 {
	return addSat(c.expiry(w), -int64(c.Delta))
}

// ExpiryHi: see ExpiryLo.
func (c ReplicatedConfig) ExpiryHi(w Write) int64 {
	return addSat(c.expiry(w), int64(c.Delta))
}

func (c ReplicatedConfig) expiry(w Write) int64 {
	e := addSat(w.Call, c.ttl(w))
	if w.Signed {
		e = min(e, w.Expires)
	}
	return e
}

// ExactExpiry reports whether every node keeps the signed record of w
// until exactly its signed expiry: the gateway's clock plus the TTL is
// certainly past it, so the signed expiry is what the gateway fixes
// (SG-8). Node time is in whole seconds and off by up to Δ, hence 2Δ.
func (c ReplicatedConfig) ExactExpiry(w Write) bool {
	return w.Signed && addSat(w.Call, c.ttl(w)-2*int64(c.Delta)) >= w.Expires
}

// Outranks orders the signed records of one key (SG-6): a higher Seq,
// then a greater value hash (the SHA-1 of the stored record).
func Outranks(aSeq uint64, a dht.ItemID, bSeq uint64, b dht.ItemID) bool {
	if aSeq != bSeq {
		return aSeq > bSeq
	}
	return bytes.Compare(a.ValueHash[:], b.ValueHash[:]) > 0
}

// PutBound is what one put that took effect, and is not covered by a
// tombstone, tells of its item.
type PutBound struct {
	// Call is when the put was called (RD-7 asks whether it was after the
	// last fault).
	Call int64
	// Lo: the item lives at every node until after Lo (ExpiryLo).
	Lo int64
	// Deadline: the put took effect by then (Deadline).
	Deadline int64
	// Acked: the put was acknowledged (RD-2).
	Acked bool
}

// dominates: b tells nothing a does not, for every question Must asks.
func (a PutBound) dominates(b PutBound) bool {
	return a.Lo >= b.Lo && a.Deadline <= b.Deadline && a.Call >= b.Call && (a.Acked || !b.Acked)
}

func (a PutBound) compare(b PutBound) int {
	if c := cmp.Compare(a.Call, b.Call); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Lo, b.Lo); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Deadline, b.Deadline); c != 0 {
		return c
	}
	return cmpBool(a.Acked, b.Acked)
}

// RemoveBound is what one rm that took effect tells of its tombstone.
type RemoveBound struct {
	// By: the rm took effect by then (its Deadline).
	By int64
	// Lo: the tombstone lives at every node until after Lo (ExpiryLo of
	// the rm; RM-3's extension to the item's expiry is not counted, as
	// the node that fixed the tombstone's expiry may not have held the
	// item).
	Lo int64
}

func (a RemoveBound) dominates(b RemoveBound) bool { return a.By <= b.By && a.Lo >= b.Lo }

func (a RemoveBound) compare(b RemoveBound) int {
	if c := cmp.Compare(a.By, b.By); c != 0 {
		return c
	}
	return cmp.Compare(a.Lo, b.Lo)
}

// Entry is what the logical state holds of one item: its puts and its
// tombstone (RD-3).
type Entry struct {
	ID dht.ItemID
	// Put: some put of the item took effect (RD-5).
	Put bool
	// Hi: no put of the item that took effect, covered or not, expires
	// after Hi at any node (RD-6): the largest ExpiryHi of its puts.
	Hi int64
	// Live are the puts that took effect and no tombstone covers, reduced
	// to those that answer some question of Must another does not. Empty
	// while the item has a tombstone.
	Live []PutBound
	// Removes are the rms that took effect since the tombstone was last
	// absent, reduced likewise. A non-empty Removes is a tombstone: the
	// item is removed (RM-2), and a put that meets the tombstone while it
	// lives is covered too (PUT-4).
	Removes []RemoveBound
	// TombHi: the tombstone expires at no node after TombHi: the largest
	// ExpiryHi of its rms and, by RM-3, of the puts it covers.
	TombHi int64
	// Signed: the item is a signed record (SG-1), of sequence number Seq
	// and signed expiry Expires. ExactBy is the earliest deadline of its
	// puts whose expiry is exactly Expires at every node (ExactExpiry),
	// math.MaxInt64 if none: from then on it supersedes every lower
	// record of its key that does not outlive it (SG-6).
	Signed  bool
	Seq     uint64
	Expires int64
	ExactBy int64
}

// maxLo is the latest instant until which some put of the entry certainly
// keeps it.
func (e Entry) maxLo() int64 {
	lo := int64(math.MinInt64)
	for _, b := range e.Live {
		lo = max(lo, b.Lo)
	}
	return lo
}

// supersedes reports whether the signed record h, where it has reached,
// certainly deletes or keeps out the lower record l of its key (SG-6: h
// outranks l and lives at least as long at every node), and whether it
// may (it outranks l and may live as long). Supersession is for good: l
// expires no later than h, and once h is stored no node stores l again.
func supersedes(h, l Entry) (certain, possible bool) {
	if !h.Signed || !l.Signed || !h.Put || h.ID.Key != l.ID.Key || h.ID == l.ID || !Outranks(h.Seq, h.ID, l.Seq, l.ID) {
		return false, false
	}
	certain = h.ExactBy != math.MaxInt64 && h.Expires >= l.Expires
	return certain, certain || h.Hi >= l.maxLo()
}

// supersededBy is when the record e is superseded for good at every node
// that received the writes before it (the earliest ExactBy of the records
// of s that certainly supersede it; math.MaxInt64 if none), and whether
// some record of s may supersede it.
func (s Logical) supersededBy(e Entry) (by int64, maybe bool) {
	by = math.MaxInt64
	if !e.Signed {
		return by, false
	}
	for _, h := range s.entries {
		certain, possible := supersedes(h, e)
		if certain {
			by = min(by, h.ExactBy)
		}
		maybe = maybe || possible
	}
	return by, maybe
}

// Removed reports whether the item has a tombstone.
func (e Entry) Removed() bool { return len(e.Removes) > 0 }

// tombLo is the instant until which the tombstone certainly lives.
func (e Entry) tombLo() int64 {
	lo := int64(math.MinInt64)
	for _, m := range e.Removes {
		lo = max(lo, m.Lo)
	}
	return lo
}

func (e Entry) clone() Entry {
	e.Live = slices.Clone(e.Live)
	e.Removes = slices.Clone(e.Removes)
	return e
}

// Logical is the logical state of the DHT (RD-3): one Entry per item
// that some write took effect on, in ItemID order. The zero Logical is the
// empty DHT. A Logical is a value: Apply returns new states and never
// changes the one it is given.
type Logical struct {
	entries []Entry
}

// Entries returns the entries, in ItemID order.
func (s Logical) Entries() []Entry {
	out := make([]Entry, len(s.entries))
	for i, e := range s.entries {
		out[i] = e.clone()
	}
	return out
}

// Lookup returns the entry of an item.
func (s Logical) Lookup(id dht.ItemID) (Entry, bool) {
	i, ok := s.find(id)
	if !ok {
		return Entry{}, false
	}
	return s.entries[i].clone(), true
}

func (s Logical) find(id dht.ItemID) (int, bool) {
	return slices.BinarySearchFunc(s.entries, id, func(e Entry, id dht.ItemID) int { return e.ID.Compare(id) })
}

// with returns s with e in place of the entry of e.ID.
func (s Logical) with(e Entry) Logical {
	i, ok := s.find(e.ID)
	entries := slices.Clone(s.entries)
	if ok {
		entries[i] = e
	} else {
		entries = slices.Insert(entries, i, e)
	}
	return Logical{entries: entries}
}

// Apply returns the states the DHT may be in after the write w took
// effect on s (RD-3; a checker decides whether and when it did). A put
// adds its bounds to its item (PUT-3, PUT-6); an rm removes its item and
// leaves a tombstone (RM-2, RM-3, RM-4, RM-7). A put that meets a
// tombstone is covered by it while the tombstone lives (PUT-4) and finds
// the item gone once it has expired (TTL-3); when the bounds allow both,
// Apply returns both states. Applying a write twice leaves what applying
// it once does (RD-4).
func (c ReplicatedConfig) Apply(s Logical, w Write) []Logical {
	if w.Refused { // IM-3, SG-5: no node stores it
		return []Logical{s}
	}
	e, ok := s.Lookup(w.ID)
	if !ok {
		e = Entry{ID: w.ID, Hi: math.MinInt64, TombHi: math.MinInt64, ExactBy: math.MaxInt64}
	}
	switch w.Kind {
	case WritePut:
		p := PutBound{Call: w.Call, Lo: c.ExpiryLo(w), Deadline: c.Deadline(w), Acked: w.Acked}
		hi := c.ExpiryHi(w)
		if w.Signed { // SG-6: its rank; which records it supersedes is read off the state
			e.Signed, e.Seq, e.Expires = true, w.Seq, w.Expires
			if c.ExactExpiry(w) {
				e.ExactBy = min(e.ExactBy, p.Deadline)
			}
		}
		if !e.Removed() {
			e.Put, e.Hi = true, max(e.Hi, hi)
			e.Live = addBound(e.Live, p, PutBound.dominates, PutBound.compare)
			return []Logical{s.with(e)}
		}
		var out []Logical
		// Covered (PUT-4): possible unless the put certainly came after
		// the tombstone expired, at every node's clock.
		if p.Call-int64(c.Delta) < e.TombHi {
			covered := e.clone()
			covered.Put, covered.Hi = true, max(e.Hi, hi)
			covered.TombHi = max(e.TombHi, hi) // RM-3 at a replica that stored it first
			out = append(out, s.with(covered))
		}
		// After the tombstone expired: possible if the put may have taken
		// effect when some node's clock was past the tombstone's expiry.
		// The item comes back with this put alone; the puts the tombstone
		// covered expired with it (RM-3).
		if addSat(p.Deadline, int64(c.Delta)) >= e.tombLo() {
			out = append(out, s.with(Entry{ID: w.ID, Put: true, Hi: max(e.Hi, hi), Live: []PutBound{p}, TombHi: math.MinInt64,
				Signed: e.Signed, Seq: e.Seq, Expires: e.Expires, ExactBy: e.ExactBy}))
		}
		return out
	case WriteRemove:
		m := RemoveBound{By: c.Deadline(w), Lo: c.ExpiryLo(w)}
		e.Removes = addBound(e.Removes, m, RemoveBound.dominates, RemoveBound.compare)
		e.TombHi = max(e.TombHi, c.ExpiryHi(w), e.Hi) // RM-3, RM-4
		e.Live = nil                                  // RM-2
		return []Logical{s.with(e)}
	}
	panic(fmt.Sprintf("model: apply %v", w.Kind))
}

// addBound adds b to a set of bounds kept free of dominated ones, in a
// canonical order: adding a bound the set already implies changes
// nothing (RD-4).
func addBound[T any](set []T, b T, dominates func(T, T) bool, compare func(T, T) int) []T {
	for _, x := range set {
		if dominates(x, b) {
			return set
		}
	}
	out := make([]T, 0, len(set)+1)
	for _, x := range set {
		if !dominates(b, x) {
			out = append(out, x)
		}
	}
	out = append(out, b)
	slices.SortFunc(out, compare)
	return out
}

// Span is an interval of the history's clock, in nanoseconds, when the
// cluster was not quiet (a fault).
type Span struct {
	From, To int64
	// Change: the fault is one change of the replica sets (one node
	// joined, left, crashed or restarted), which RD-7 tolerates up to
	// ReplicatedConfig.ToleratedChanges times. Any other fault (loss, a
	// partition) it does not tolerate at all.
	Change bool
}

// Annotations are what the faults of a history tell about one get.
type Annotations struct {
	// StableSince: RD-7 holds for the puts called at or after it. It is
	// the end of the last fault other than a change that began before the
	// get returned, or later if more changes than tolerated began before
	// the get returned and ended after (math.MinInt64 if neither). It is
	// after the get's return if such a fault was on when it returned.
	StableSince int64
	// Quiet: no fault of any kind touched [call − S, return] (RD-8's
	// convergence).
	Quiet bool
	// SettledBefore is the latest τ ≤ call such that no fault touched
	// [τ − S, τ]: a write that took effect by τ − S has reached every
	// replica of its key by τ (RD-8). math.MinInt64 if there is none.
	SettledBefore int64
}

// Annotate computes the annotations of a get called at call and returned
// at ret from the faults of its history. A fault touches an interval if
// it overlaps it; one that ends exactly when the interval begins, or
// begins when it ends, does not.
func Annotate(faults []Span, call, ret int64, c ReplicatedConfig) Annotations {
	a := Annotations{StableSince: math.MinInt64, Quiet: true, SettledBefore: math.MinInt64}
	s := int64(c.Settle)
	touches := func(from, to int64) bool {
		for _, f := range faults {
			if f.From < to && f.To > from {
				return true
			}
		}
		return false
	}
	// A put called at p is stable iff the faults that began before ret
	// and end after p are changes, at most ToleratedChanges of them.
	var changeEnds []int64
	for _, f := range faults {
		switch {
		case f.From >= ret:
		case f.Change:
			changeEnds = append(changeEnds, f.To)
		default:
			a.StableSince = max(a.StableSince, f.To)
		}
	}
	if len(changeEnds) > c.ToleratedChanges {
		slices.Sort(changeEnds)
		a.StableSince = max(a.StableSince, changeEnds[len(changeEnds)-1-c.ToleratedChanges])
	}
	a.Quiet = !touches(addSat(call, -s), ret)
	// The latest quiet window of length S ending at or before call ends
	// either at call or where a fault begins.
	candidates := []int64{call}
	for _, f := range faults {
		if f.From <= call {
			candidates = append(candidates, f.From)
		}
	}
	for _, tau := range candidates {
		if tau > a.SettledBefore && !touches(addSat(tau, -s), tau) {
			a.SettledBefore = tau
		}
	}
	return a
}

// GetView is one get as a client saw it, with the annotations of its
// history's faults. A paged get is one get: the first page's call, the
// last page's return (RD-9).
type GetView struct {
	Key    dht.Key
	Call   int64
	Return int64
	// Fast: a fast get (RD-14), which keeps every rule of a get but RD-7.
	Fast bool
	Annotations
}

// Required is an item a get must return, and the rule that says so.
type Required struct {
	ID   dht.ItemID
	Rule string // "RD-7" or "RD-8"
}

// Must returns the items of g.Key that the get g must return when the
// DHT's state, where the get is linearized, is s (in ItemID order).
// An item is required when it has no tombstone in s, lives at every node
// until after the get returned (a put's ExpiryLo beyond the return plus
// Δ: the 2Δ of RD-7), and
//
//   - RD-7: it has an acknowledged put that returned by the get's call
//     and was called at or after g.StableSince (no fault since, but the
//     changes of replica sets RD-7 tolerates), and the get is not fast
//     (RD-14: a fast get hears the first members to answer, not a read
//     quorum); or
//   - RD-8: the get is quiet and some put of the item, acknowledged or
//     not, took effect by S before the get's call, so that the quiet
//     period spread it to every replica;
//
// and, for a signed record, no record of its key in s may supersede it
// (SG-6).
//
// Writes that overlap the get are excused both ways: a put whose deadline
// is after the call is not required, and an rm placed before the get's
// linearization point removes its item from s.
func (c ReplicatedConfig) Must(s Logical, g GetView) []Required {
	var out []Required
	for _, e := range s.entries {
		if e.ID.Key != g.Key || e.Removed() {
			continue
		}
		if _, maybe := s.supersededBy(e); maybe {
			continue
		}
		rule := ""
		for _, p := range e.Live {
			if p.Lo <= addSat(g.Return, int64(c.Delta)) {
				continue // it may expire during the get
			}
			if !g.Fast && p.Acked && p.Deadline <= g.Call && p.Call >= g.StableSince {
				rule = "RD-7"
				break
			}
			if g.Quiet && p.Deadline <= addSat(g.Call, -int64(c.Settle)) {
				rule = "RD-8"
			}
		}
		if rule != "" {
			out = append(out, Required{ID: e.ID, Rule: rule})
		}
	}
	return out
}

// May reports whether the get g may return item id when the DHT's state,
// where the get is linearized, is s. If not, rule names the rule that
// forbids it:
//
//   - RD-5: no put of the item took effect (so none was called before
//     the get returned);
//   - RD-6: every put of it had certainly expired at every node when the
//     get was called (its call is after the latest expiry plus Δ: 2Δ
//     after the puts' calls plus their TTLs);
//   - RD-8: it has a tombstone that took effect by S before a quiet
//     period of S that ended by the get's call (so every replica held it),
//     and that lives at every node until after the get returned;
//   - SG-6: it is a signed record that a record of its key certainly
//     supersedes since S before such a quiet period: every replica
//     deleted it or kept it out.
//
// A tombstone not yet settled may be missing at the replica that answers,
// so its item may still be returned.
func (c ReplicatedConfig) May(s Logical, g GetView, id dht.ItemID) (ok bool, rule string) {
	i, found := s.find(id)
	if id.Key != g.Key || !found || !s.entries[i].Put {
		return false, "RD-5"
	}
	e := s.entries[i]
	if g.Call > addSat(e.Hi, int64(c.Delta)) {
		return false, "RD-6"
	}
	settled := addSat(g.SettledBefore, -int64(c.Settle))
	for _, m := range e.Removes {
		if m.By <= settled && m.Lo > addSat(g.Return, int64(c.Delta)) {
			return false, "RD-8"
		}
	}
	if by, _ := s.supersededBy(e); by <= settled {
		return false, "SG-6"
	}
	return true, ""
}

// Encode is a canonical encoding of the state: two states are equal iff
// their encodings are (checkers hash and compare states by it).
func (s Logical) Encode() string {
	var b []byte
	for _, e := range s.entries {
		b = append(b, e.ID.Key[:]...)
		b = append(b, e.ID.SecretHash[:]...)
		b = append(b, e.ID.ValueHash[:]...)
		b = binary.AppendVarint(b, e.Hi)
		b = append(b, boolByte(e.Put))
		b = binary.AppendUvarint(b, uint64(len(e.Live)))
		for _, p := range e.Live {
			b = binary.AppendVarint(b, p.Call)
			b = binary.AppendVarint(b, p.Lo)
			b = binary.AppendVarint(b, p.Deadline)
			b = append(b, boolByte(p.Acked))
		}
		b = binary.AppendUvarint(b, uint64(len(e.Removes)))
		for _, m := range e.Removes {
			b = binary.AppendVarint(b, m.By)
			b = binary.AppendVarint(b, m.Lo)
		}
		b = binary.AppendVarint(b, e.TombHi)
		if e.Signed {
			b = binary.AppendUvarint(b, e.Seq)
			b = binary.AppendVarint(b, e.Expires)
			b = binary.AppendVarint(b, e.ExactBy)
		}
	}
	return string(b)
}

// Equal reports whether two states are the same.
func (s Logical) Equal(t Logical) bool { return s.Encode() == t.Encode() }

// Describe prints the state of one key for people: each item, by the
// name name gives it, with its bounds in seconds of the history's clock.
func (s Logical) Describe(name func(dht.ItemID) string) string {
	if len(s.entries) == 0 {
		return "empty"
	}
	var parts []string
	for _, e := range s.entries {
		var p string
		switch {
		case e.Removed():
			p = fmt.Sprintf("%s removed (tombstone from %s, lives past %s)", name(e.ID), Seconds(e.Removes[0].By), Seconds(e.tombLo()))
			if !e.Put {
				p = fmt.Sprintf("%s never put, tombstone from %s", name(e.ID), Seconds(e.Removes[0].By))
			}
		default:
			lo := int64(math.MinInt64)
			for _, b := range e.Live {
				lo = max(lo, b.Lo)
			}
			p = fmt.Sprintf("%s live, expires in [%s, %s]", name(e.ID), Seconds(lo), Seconds(e.Hi))
			if e.Signed {
				p += fmt.Sprintf(", signed seq %d", e.Seq)
				if by, maybe := s.supersededBy(e); by != math.MaxInt64 {
					p += fmt.Sprintf(", superseded by %s", Seconds(by))
				} else if maybe {
					p += ", maybe superseded"
				}
			}
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

// Seconds prints an instant of the history's clock in seconds.
func Seconds(ns int64) string {
	switch ns {
	case math.MinInt64:
		return "-∞"
	case math.MaxInt64:
		return "∞"
	}
	return fmt.Sprintf("%.3fs", float64(ns)/1e9)
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func cmpBool(a, b bool) int { return cmp.Compare(boolByte(a), boolByte(b)) }

// addSat adds without overflow: the sentinels math.MinInt64 and
// math.MaxInt64 stay put.
func addSat(a, b int64) int64 {
	switch {
	case a == math.MinInt64 || a == math.MaxInt64:
		return a
	case b > 0 && a > math.MaxInt64-b:
		return math.MaxInt64
	case b < 0 && a < math.MinInt64-b:
		return math.MinInt64
	}
	return a + b
}
