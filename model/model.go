// Package model is the executable reference model of one storage node: the
// rules of spec/SPEC.md written as plainly as possible in pure Go, with no
// I/O, no goroutines and no wall clock. Time is an argument.
//
// It is what the real store (impl/store) and, later, the replicated DHT are
// checked against. It favours obviousness over speed: every step scans
// everything, and FST-3 is evaluated with math/big at every stored expiry.
//
// The model imports only the shared vocabulary (impl/dht).
package model

import (
	"cmp"
	"fmt"
	"math/big"
	"slices"

	"github.com/opendht-go/opendht/impl/dht"
)

// Config holds the node parameters of the spec.
type Config struct {
	// Capacity is C, the bytes of storage the node shares (FST-1).
	Capacity int64
	// MaxTTL is T in seconds: the TTL clamp (TTL-1) and the FST horizon.
	MaxTTL int64
	// QueueLimit is Q, the writes one client may have queued (FST-6).
	QueueLimit int
	// QueueTimeout is W in seconds (FST-8).
	QueueTimeout int64
	// ReplyCap is R, the value bytes of one get reply (GET-3).
	ReplyCap int
}

// DefaultConfig is the spec's default node: 1 GiB, one week, the
// original's reply cap.
func DefaultConfig() Config {
	return Config{Capacity: 1 << 30, MaxTTL: dht.MaxTTL, QueueLimit: 64, QueueTimeout: 5, ReplyCap: dht.MaxValueLen}
}

// Validate rejects parameters the spec does not define.
func (c Config) Validate() error {
	switch {
	case c.Capacity <= 0:
		return fmt.Errorf("model: capacity must be positive, got %d", c.Capacity)
	case c.MaxTTL <= 0 || c.MaxTTL > dht.MaxTTL:
		return fmt.Errorf("model: max TTL must be in [1, %d] seconds, got %d", dht.MaxTTL, c.MaxTTL)
	case c.QueueLimit <= 0:
		return fmt.Errorf("model: queue limit must be positive, got %d", c.QueueLimit)
	case c.QueueTimeout <= 0:
		return fmt.Errorf("model: queue timeout must be positive, got %d", c.QueueTimeout)
	case c.ReplyCap < dht.MaxValueLen:
		return fmt.Errorf("model: reply cap must be at least %d bytes, got %d", dht.MaxValueLen, c.ReplyCap)
	}
	return nil
}

// Item is a stored put.
type Item struct {
	ID     dht.ItemID
	Value  []byte
	Expiry dht.Time
	Seq    uint64
	Client dht.ClientID
	Charge int64
}

// Tombstone is a stored remove.
type Tombstone struct {
	ID     dht.ItemID
	Secret []byte
	Expiry dht.Time
	Client dht.ClientID
	Charge int64
}

// Pending is a write waiting in its client's queue.
type Pending struct {
	Op dht.Op
	// Client is the identity the write is charged to, without the quota
	// an account's identity carries (AC-4); Quota is that quota, 0 for
	// none.
	Client  dht.ClientID
	Quota   int64
	Arrival dht.Time
	Order   uint64 // global arrival order, breaks start-tag ties
	S, F    *big.Int
	Charge  int64
	TTL     int64 // clamped
}

// State is the whole state of the node.
type State struct {
	Cfg        Config
	Now        dht.Time
	Items      map[dht.ItemID]Item
	Tombstones map[dht.ItemID]Tombstone
	NextSeq    uint64
	Queues     map[dht.ClientID][]Pending
	LastF      map[dht.ClientID]*big.Int
	V          *big.Int
	NextOrder  uint64
	// Overtaken is a ghost flag for INV-4: set if a write was ever admitted
	// while a head with a smaller start tag waited. The model never sets it
	// (FST-4 forbids it); tests assert it stays false.
	Overtaken bool
}

// New returns the empty node at time zero. It panics on an invalid config:
// the model is only built by tests.
func New(cfg Config) *State {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	return &State{
		Cfg:        cfg,
		Items:      map[dht.ItemID]Item{},
		Tombstones: map[dht.ItemID]Tombstone{},
		NextSeq:    1,
		Queues:     map[dht.ClientID][]Pending{},
		LastF:      map[dht.ClientID]*big.Int{},
		V:          new(big.Int),
	}
}

// Clone returns a deep copy.
func (s *State) Clone() *State {
	c := *s
	c.Items = make(map[dht.ItemID]Item, len(s.Items))
	for k, v := range s.Items {
		c.Items[k] = v
	}
	c.Tombstones = make(map[dht.ItemID]Tombstone, len(s.Tombstones))
	for k, v := range s.Tombstones {
		c.Tombstones[k] = v
	}
	c.Queues = make(map[dht.ClientID][]Pending, len(s.Queues))
	for k, v := range s.Queues {
		c.Queues[k] = slices.Clone(v)
	}
	c.LastF = make(map[dht.ClientID]*big.Int, len(s.LastF))
	for k, v := range s.LastF {
		c.LastF[k] = new(big.Int).Set(v)
	}
	c.V = new(big.Int).Set(s.V)
	return &c
}

// Apply is the pure form of Step: it returns the next state and leaves s
// unchanged.
func Apply(s *State, op dht.Op, now dht.Time) (*State, dht.Result) {
	n := s.Clone()
	r := n.Step(op, now)
	return n, r
}

// Step applies one operation at time now (STEP-1) and mutates s.
func (s *State) Step(op dht.Op, now dht.Time) dht.Result {
	if now > s.Now { // TTL-6
		s.Now = now
	}
	var res dht.Result
	s.expire()
	res.Completed = append(res.Completed, s.timeouts()...)
	res.Completed = append(res.Completed, s.admit()...)
	switch op.Kind {
	case dht.OpGet:
		if err := op.Get.Validate(); err != nil {
			res.Err = err
			return res
		}
		rep, err := s.get(op.Get)
		if err != nil {
			res.Err = err
			return res
		}
		res.Reply = rep
	case dht.OpPut, dht.OpRemove:
		c, err := s.enqueue(op)
		if err != nil {
			res.Err = err
			return res
		}
		if c != nil {
			res.Completed = append(res.Completed, *c)
		}
		res.Completed = append(res.Completed, s.admit()...)
	case dht.OpTick:
	default:
		res.Err = fmt.Errorf("model: unknown operation %v", op.Kind)
	}
	return res
}

// expire applies TTL-3: drop everything whose expiry is not after now.
func (s *State) expire() {
	for id, it := range s.Items {
		if it.Expiry <= s.Now {
			delete(s.Items, id)
		}
	}
	for id, t := range s.Tombstones {
		if t.Expiry <= s.Now {
			delete(s.Tombstones, id)
		}
	}
}

// timeouts applies FST-8, in arrival order.
func (s *State) timeouts() []dht.Completion {
	var dropped []Pending
	for c, q := range s.Queues {
		kept := q[:0]
		giveBack := new(big.Int) // FST-8: costs of this client's dropped writes
		for _, p := range q {
			if int64(s.Now-p.Arrival) >= s.Cfg.QueueTimeout {
				dropped = append(dropped, p)
				giveBack.Add(giveBack, big.NewInt(p.Charge*p.TTL))
				continue
			}
			p.S = new(big.Int).Sub(p.S, giveBack)
			p.F = new(big.Int).Sub(p.F, giveBack)
			kept = append(kept, p)
		}
		s.LastF[c] = new(big.Int).Sub(s.LastF[c], giveBack)
		if len(kept) == 0 {
			delete(s.Queues, c)
		} else {
			s.Queues[c] = kept
		}
	}
	slices.SortFunc(dropped, func(a, b Pending) int { return cmp.Compare(a.Order, b.Order) })
	out := make([]dht.Completion, 0, len(dropped))
	for _, p := range dropped {
		out = append(out, dht.Completion{ID: p.Op.ID, Status: dht.StatusTryAgain})
	}
	return out
}

// IsPending reports whether a write with this id waits in a queue.
func (s *State) IsPending(id uint64) bool {
	for _, q := range s.Queues {
		for _, p := range q {
			if p.Op.ID == id {
				return true
			}
		}
	}
	return false
}

// enqueue validates a write and queues it (FST-5), or completes it at once
// with status 1 (FST-6, FST-7).
func (s *State) enqueue(op dht.Op) (*dht.Completion, error) {
	var client dht.ClientID
	var ttl int64
	var payload int
	switch op.Kind {
	case dht.OpPut:
		if err := op.Put.Validate(); err != nil {
			return nil, err
		}
		if err := op.Put.Authenticate(); err != nil { // IM-3, SG-5
			return nil, err
		}
		t, err := op.Put.SignedTTL(op.Put.TTL, s.Now) // SG-8
		if err != nil {
			return nil, err
		}
		if s.stale(op.Put, s.Now+dht.Time(min(t, s.Cfg.MaxTTL))) { // SG-6
			return nil, dht.ErrRecordStale
		}
		op.Put.TTL = t
		client, ttl, payload = op.Put.Client, op.Put.TTL, len(op.Put.Value)
	case dht.OpRemove:
		if err := op.Remove.Validate(); err != nil {
			return nil, err
		}
		if err := op.Remove.AuthenticateRemove(); err != nil { // IM-4
			return nil, err
		}
		client, ttl, payload = op.Remove.Client, op.Remove.TTL, len(op.Remove.Secret)
	}
	if s.IsPending(op.ID) {
		return nil, dht.ErrDuplicateRequest
	}
	client, quota := client.Quota() // AC-4
	ttl = min(ttl, s.Cfg.MaxTTL)    // TTL-1
	b := dht.ChargedBytes(payload)
	C, T := big.NewInt(s.Cfg.Capacity), big.NewInt(s.Cfg.MaxTTL)
	// FST-7: b*T + C*(t-1) > C*T can never be admitted.
	lhs := new(big.Int).Mul(big.NewInt(b), T)
	lhs.Add(lhs, new(big.Int).Mul(C, big.NewInt(ttl-1)))
	if lhs.Cmp(new(big.Int).Mul(C, T)) > 0 {
		return &dht.Completion{ID: op.ID, Status: dht.StatusOverCapacity}, nil
	}
	if len(s.Queues[client]) >= s.Cfg.QueueLimit { // FST-6
		return &dht.Completion{ID: op.ID, Status: dht.StatusOverCapacity}, nil
	}
	S := new(big.Int).Set(s.V)
	if f, ok := s.LastF[client]; ok && f.Cmp(S) > 0 {
		S.Set(f)
	}
	F := new(big.Int).Add(S, big.NewInt(b*ttl))
	s.LastF[client] = F
	s.Queues[client] = append(s.Queues[client], Pending{
		Op: op, Client: client, Quota: quota, Arrival: s.Now, Order: s.NextOrder,
		S: S, F: new(big.Int).Set(F), Charge: b, TTL: ttl,
	})
	s.NextOrder++
	return nil, nil
}

// admit runs FST-4 until no head can be admitted.
func (s *State) admit() []dht.Completion {
	var out []dht.Completion
	for {
		var head *Pending
		for _, q := range s.Queues {
			p := &q[0]
			if head == nil || p.S.Cmp(head.S) < 0 || (p.S.Cmp(head.S) == 0 && p.Order < head.Order) {
				head = p
			}
		}
		if head == nil {
			return out
		}
		next, noop := s.effect(*head)
		status := dht.StatusOK
		if !noop && dht.OverQuota(head.Quota, s.Usage()[head.Client], next.Usage()[head.Client]) { // AC-5
			status, noop = dht.StatusOverQuota, true
		}
		if !noop {
			if !next.fits() {
				return out
			}
			if head.Op.Kind == dht.OpPut { // SG-6, after FST-3: it only frees space
				next.supersede(head.Op.Put, next.Items[head.Op.Put.ID()].Expiry)
			}
			s.Items, s.Tombstones, s.NextSeq = next.Items, next.Tombstones, next.NextSeq
		}
		for _, q := range s.Queues { // ghost check for INV-4
			if q[0].Order != head.Order && q[0].S.Cmp(head.S) < 0 {
				s.Overtaken = true
			}
		}
		if head.S.Cmp(s.V) > 0 {
			s.V = new(big.Int).Set(head.S)
		}
		out = append(out, dht.Completion{ID: head.Op.ID, Status: status})
		c := head.Client
		if q := s.Queues[c][1:]; len(q) == 0 {
			delete(s.Queues, c)
		} else {
			s.Queues[c] = q
		}
	}
}

// effect computes the stored state after a write (PUT-3..6, RM-2..4,
// RM-7) without changing s; noop reports that nothing would change.
func (s *State) effect(p Pending) (next *State, noop bool) {
	n := &State{Cfg: s.Cfg, Now: s.Now, NextSeq: s.NextSeq,
		Items: maps(s.Items), Tombstones: maps(s.Tombstones)}
	e := s.Now + dht.Time(p.TTL)
	switch p.Op.Kind {
	case dht.OpPut:
		put := p.Op.Put
		id := put.ID()
		if _, ok := n.Tombstones[id]; ok { // PUT-4
			return nil, true
		}
		if s.stale(put, e) { // SG-6: a higher record arrived while it waited
			return nil, true
		}
		if it, ok := n.Items[id]; ok {
			if e <= it.Expiry { // PUT-5
				return nil, true
			}
			it.Expiry, it.Client, it.Charge = e, p.Client, p.Charge // PUT-6
			n.Items[id] = it
			return n, false
		}
		n.Items[id] = Item{ID: id, Value: slices.Clone(put.Value), Expiry: e, Seq: n.NextSeq, Client: p.Client, Charge: p.Charge} // PUT-3
		n.NextSeq++
		return n, false
	case dht.OpRemove:
		rm := p.Op.Remove
		id := rm.ID()
		removed := false
		if it, ok := n.Items[id]; ok { // RM-2, RM-3
			e = max(e, it.Expiry)
			delete(n.Items, id)
			removed = true
		}
		if t, ok := n.Tombstones[id]; ok && e <= t.Expiry && !removed { // RM-4
			return nil, true
		}
		n.Tombstones[id] = Tombstone{ID: id, Secret: slices.Clone(rm.Secret), Expiry: e, Client: p.Client, Charge: p.Charge}
		return n, false
	}
	panic(fmt.Sprintf("model: effect of %v", p.Op.Kind))
}

// records lists the live signed items stored under key, with their
// records (SG-6).
func (s *State) records(key dht.Key) map[dht.ItemID]dht.Record {
	out := map[dht.ItemID]dht.Record{}
	for id, it := range s.Items {
		if id.Key != key || id.SecretHash != dht.TagSigned || it.Expiry <= s.Now {
			continue
		}
		r, err := dht.DecodeRecord(it.Value)
		if err != nil {
			panic(fmt.Sprintf("model: stored signed item %v does not decode: %v", id, err))
		}
		out[id] = r
	}
	return out
}

// stale is SG-6: a signed put is refused while another record of its key
// that outranks it is stored, live, and lives at least as long (expiry e).
func (s *State) stale(p dht.Put, e dht.Time) bool {
	if p.SecretHash != dht.TagSigned {
		return false
	}
	r, err := dht.DecodeRecord(p.Value)
	if err != nil {
		return false // Authenticate refused it
	}
	id := p.ID()
	for oid, o := range s.records(p.Key) {
		if oid != id && dht.Outranks(o, r) && s.Items[oid].Expiry >= e {
			return true
		}
	}
	return false
}

// supersede is SG-6's other half: a signed put deletes the records of its
// key that it outranks and that do not outlive it (expiry e).
func (s *State) supersede(p dht.Put, e dht.Time) {
	if p.SecretHash != dht.TagSigned {
		return
	}
	r, err := dht.DecodeRecord(p.Value)
	if err != nil {
		return
	}
	for oid, o := range s.records(p.Key) {
		if dht.Outranks(r, o) && s.Items[oid].Expiry <= e {
			delete(s.Items, oid)
		}
	}
}

func maps[K comparable, V any](m map[K]V) map[K]V {
	c := make(map[K]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Commitment returns B(tau): the charge of live items and tombstones whose
// expiry is after tau (FST-2).
func (s *State) Commitment(tau dht.Time) int64 {
	var b int64
	for _, it := range s.Items {
		if it.Expiry > tau {
			b += it.Charge
		}
	}
	for _, t := range s.Tombstones {
		if t.Expiry > tau {
			b += t.Charge
		}
	}
	return b
}

// fits is FST-3 evaluated at every tau = e - 1.
func (s *State) fits() bool {
	C, T := big.NewInt(s.Cfg.Capacity), big.NewInt(s.Cfg.MaxTTL)
	limit := new(big.Int).Mul(C, T)
	check := func(e dht.Time) bool {
		tau := e - 1
		if tau < s.Now {
			return true
		}
		l := new(big.Int).Mul(big.NewInt(s.Commitment(tau)), T)
		l.Add(l, new(big.Int).Mul(C, big.NewInt(int64(tau-s.Now))))
		return l.Cmp(limit) <= 0
	}
	for _, it := range s.Items {
		if !check(it.Expiry) {
			return false
		}
	}
	for _, t := range s.Tombstones {
		if !check(t.Expiry) {
			return false
		}
	}
	return true
}

// Restart is DUR-3: the node process restarts. The stored state (items,
// tombstones, sequence counter, clock floor) survives; queued writes, which
// were never acknowledged, are lost without a completion, and the fair
// queuing tags start afresh.
func (s *State) Restart() {
	s.Queues = map[dht.ClientID][]Pending{}
	s.LastF = map[dht.ClientID]*big.Int{}
	s.V = new(big.Int)
}

// CurveHolds is INV-3 for the current state.
func (s *State) CurveHolds() bool { return s.fits() }

// get applies GET-1..5, or RD-9's item order when g.ItemOrder is set. A
// placemark of the other order is malformed (LIM-5).
func (s *State) get(g dht.Get) (dht.GetReply, error) {
	var start uint64
	var after dht.ItemPos
	resume := len(g.Placemark) > 0
	if resume {
		var err error
		if g.ItemOrder {
			after, err = dht.DecodeItemPlacemark(g.Placemark)
		} else {
			start, err = dht.DecodePlacemark(g.Placemark)
		}
		if err != nil {
			return dht.GetReply{}, err
		}
	}
	var live []Item
	for _, it := range s.Items {
		if it.ID.Key != g.Key || it.Expiry <= s.Now {
			continue
		}
		if _, dead := s.Tombstones[it.ID]; dead {
			continue
		}
		if g.ItemOrder && resume && posOf(it).Compare(after) <= 0 || !g.ItemOrder && it.Seq < start {
			continue
		}
		live = append(live, it)
	}
	if g.ItemOrder {
		slices.SortFunc(live, func(a, b Item) int { return posOf(a).Compare(posOf(b)) })
	} else {
		slices.SortFunc(live, func(a, b Item) int { return cmp.Compare(a.Seq, b.Seq) })
	}
	var rep dht.GetReply
	bytes := 0
	n := 0
	for _, it := range live {
		if n == g.MaxVals || (n > 0 && bytes+len(it.Value) > s.Cfg.ReplyCap) {
			break
		}
		rep.Values = append(rep.Values, dht.Value{
			Value: slices.Clone(it.Value), TTLRemaining: int64(it.Expiry - s.Now), SecretHash: it.ID.SecretHash,
		})
		bytes += len(it.Value)
		n++
	}
	if n < len(live) {
		if g.ItemOrder {
			rep.Placemark = dht.EncodeItemPlacemark(posOf(live[n-1]))
		} else {
			rep.Placemark = dht.EncodePlacemark(live[n-1].Seq + 1)
		}
	}
	return rep, nil
}

func posOf(it Item) dht.ItemPos {
	return dht.ItemPos{SecretHash: it.ID.SecretHash, ValueHash: it.ID.ValueHash}
}

// Usage returns the bytes charged to each client (FST-10).
func (s *State) Usage() map[dht.ClientID]int64 {
	u := map[dht.ClientID]int64{}
	for _, it := range s.Items {
		u[it.Client] += it.Charge
	}
	for _, t := range s.Tombstones {
		u[t.Client] += t.Charge
	}
	return u
}

// QueueLen returns the writes queued for a client.
func (s *State) QueueLen(c dht.ClientID) int { return len(s.Queues[c]) }
