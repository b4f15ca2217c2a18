package node

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/overlay"
	"github.com/opendht-go/opendht/impl/rmw"
	"github.com/opendht-go/opendht/impl/store"
	"github.com/opendht-go/opendht/impl/wire"
)

// Completion is the answer to a client request made at this node as its
// gateway.
type Completion struct {
	ReqID     uint64
	Status    dht.Status  // writes
	Values    []dht.Value // gets
	Placemark []byte      // gets
	// Register answers a cas or a register read (which reports OK true).
	Register dht.CASResult
	// Err: a request the node refused outright; for a register operation
	// also rmw.ErrUnknown (the outcome is unknown, Timeout() is true).
	Err error
}

// Ready is what a step produced.
type Ready struct {
	Sends []overlay.Send
	Done  []Completion
	// Storage lists what the node asks of its store, in order. The driver
	// runs each (store.Store.Exec, in this order: a step's writes are
	// visible to the requests after it) and hands the answer back with
	// Node.Stored; when an answer carries a Pending, the driver waits for
	// it (in order, off the node's goroutine if it likes) and reports it
	// with Node.Synced. No write is acknowledged before it is durable
	// (DUR-1). The node never calls its store itself.
	Storage []store.Request
}

// Disk is what a node knows of its store when it starts: the store's
// reply cap and the registers' durable states, read once by the driver.
type Disk struct {
	// ReplyCap is the store's bound on the value bytes of one reply
	// (GET-3), which a gateway's merge of replies keeps too.
	ReplyCap int
	// Registers holds the durable acceptor state of every register this
	// node has one for, under namespace Config.RMW.
	Registers map[dht.Key][]byte
}

// Stats counts the node's DHT events.
type Stats struct {
	Malformed, WritesAtRoot, ReplicaWrites, Reads, Retries, ReplicaTimeouts int
	SyncRounds, SyncPushed                                                  int
	// FastGets counts the fast gets (RD-14) this node executed as a
	// gateway.
	FastGets int
	// FastDirect counts the fast gets this node answered as a gateway
	// with a self-claimed member answer to a direct read (RD-14), the
	// route not waited for; DirectDeclined counts the direct reads this
	// node left unanswered, not a member of the key's set in its view.
	FastDirect, DirectDeclined int
	// ForgedReplies counts answers of another node to this one's requests
	// that did not come from the member asked, at its address (OH-3).
	ForgedReplies int
	// Refused counts the authenticated writes this node refused, by
	// reason: Refused[i] for dht.Refusals[i] (SG-9), at the gateway, the
	// root, a replica or an anti-entropy copy. It counts attacks only: a
	// copy from another node refused as stale is counted in Superseded.
	Refused [len(dht.Refusals)]int
	// Superseded counts the copies of signed records from other nodes
	// (a root's replica writes, anti-entropy pushes and hand-offs) that
	// this node refused because it stores a record that outranks them
	// (SG-6, SG-9): the replicas converging, not an attack.
	Superseded int
	// In and Out count the datagrams this node received (decoded) and
	// queued for sending, by wire type: what the traffic is made of.
	In, Out [wire.TypeLimit]int
}

// refused counts err if it is a refusal of an authenticated write (SG-9).
func (n *Node) refused(err error) {
	if i := dht.RefusalIndex(err); i >= 0 {
		n.stats.Refused[i]++
	}
}

// refusedCopy counts the refusal err of a copy another node sent: a
// signed record already outranked here is superseded, anything else an
// attack (SG-9).
func (n *Node) refusedCopy(err error) {
	if errors.Is(err, dht.ErrRecordStale) {
		n.stats.Superseded++
		return
	}
	n.refused(err)
}

type opKind uint8

const (
	opWrite opKind = iota + 1
	opRead
)

// gwOp is a client request this node executes as a gateway.
type gwOp struct {
	// client is the id the request was made under (Put, Remove, Get
	// returned it; its Completion carries it). A write keeps it on the
	// wire through every attempt; each attempt of a read goes out under a
	// fresh id of its own, under which n.ops holds it.
	client   uint64
	kind     opKind
	item     wire.Item
	read     dht.Get
	attempts int
	deadline time.Time
	// reads: replies so far, by replica, and the address each came from
	replies   map[dht.Key]*wire.ReadResp
	replyAddr map[dht.Key]netip.AddrPort
	rootResp  *wire.ReadResp
	// widened: the quorum did not fill within ReadWait, and the gateway
	// asked every member of the root's replica set itself.
	widened bool
	// Parallel reads (RD-13): plan is the answer of a coordinator that is
	// not the root in its own view (it names the members it asked);
	// gapsAsked is set once the gateway asked the members of the root's
	// set the coordinator did not; toRoot sends the next attempt to the
	// root, as without parallel reads, when no member claimed to be root.
	// rootFrom is the member whose answer rootResp is.
	plan      *wire.ReadResp
	planFrom  dht.Key
	gapsAsked bool
	toRoot    bool
	// fast: a fast get (RD-14). Its plan is the coordinator's answer,
	// which names the members counted; widened is set once the gateway
	// asked the members that had not answered within the read wait.
	// direct holds the nodes the gateway asked directly, at the address
	// asked; claimed their self-claimed member answers, and claimSet the
	// first of them, whose set counts until the coordinator's is known.
	fast     bool
	direct   map[dht.Key]netip.AddrPort
	claimed  map[dht.Key]*wire.ReadResp
	claimSet *wire.ReadResp
	rootFrom dht.Key
}

// rootWrite is a write this node stores as the root.
type rootWrite struct {
	gateway  wire.Peer
	gwReq    uint64
	item     wire.Item
	acks     int
	needed   int
	deadline time.Time
	acked    map[dht.Key]bool
	sentTo   map[dht.Key]netip.AddrPort // the members the copies went to
	replied  bool
	// replicating: the copies went out (as soon as the root's store
	// admitted the write, in parallel with the root's own fsync);
	// durable: the root's copy is on disk. The gateway hears of the write
	// once both hold and enough replicas acknowledged theirs.
	replicating, durable bool
}

// replicaWrite is a write this node stores for a root.
type replicaWrite struct {
	root  netip.AddrPort
	reqID uint64
}

// Node is one DHT node.
type Node struct {
	cfg   Config
	self  wire.Peer
	ov    *overlay.Node
	disk  Disk
	log   *slog.Logger
	out   Ready
	spare Ready // the Ready last returned: its arrays are out's next
	stats Stats

	nextID   uint64
	lastTick time.Time
	ops      map[uint64]*gwOp
	roots    map[uint64]*rootWrite    // by root id (sent to replicas)
	byStore  map[uint64]uint64        // store op id -> root id
	replicas map[uint64]*replicaWrite // store op id -> origin
	syncs    map[uint64]*syncSession  // anti-entropy rounds this node started
	served   map[served]*syncSession  // rounds a neighbour started
	nextSync time.Time
	rng      *rand.Rand
	// durable holds store steps in the order they ran, until their
	// completions may be reported: a step's completions wait for its own
	// fsync and for every earlier step's, so that a write answered from
	// state that is not yet durable (a repeated put, PUT-4) is not
	// acknowledged before the write it depends on.
	durable []*durableStep
	// waits are the storage requests whose answers the node waits for,
	// by sequence number, with what to do with each.
	waits map[uint64]func(now time.Time, r store.Response)
	// registers holds the registers' acceptor states: what the store
	// holds, kept here so that the protocol reads them without I/O; writes
	// go to the store through Ready.Storage.
	registers map[dht.Key][]byte

	// The registers' read-modify-write protocol (impl/rmw), the requests
	// it made in the put/get namespace, its messages to this node waiting
	// for delivery, and the membership its replica sets come from.
	proto     rmw.Protocol
	protoReqs map[uint64]bool
	selfMsgs  [][]byte
	members   map[dht.Key]member
	// memberEpoch counts changes of members (rmw.MembershipHost).
	memberEpoch uint64
	inCollect   bool
}

type member struct {
	p    wire.Peer
	seen time.Time
}

type durableStep struct {
	seq       uint64 // its storage request
	applied   bool   // the store answered the request
	failed    bool   // its fsync failed: nothing of it is reported
	synced    bool
	completed []dht.Completion
	// after runs once the step is durable (err nil) or failed.
	after func(now time.Time, err error)
}

func (n *Node) rngIntN(k int) int { return n.rng.IntN(k) }

// New returns a node over an open store. The caller validated cfg.
func New(cfg Config, self wire.Peer, disk Disk, log *slog.Logger) *Node {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rng := rand.New(rand.NewPCG(cfg.Overlay.Seed, 0xae))
	// A near-routed get stops at the first node that knows its replica
	// set (RD-13).
	cfg.Overlay.NearSize = cfg.Replicas
	n := &Node{
		cfg: cfg, self: self, disk: disk, log: log,
		// Request ids start at a random point so that a late reply meant
		// for a previous incarnation of this node (same ID, same address)
		// cannot be taken for a reply to a new request, e.g. a replica's
		// WriteAck counted for a new write.
		nextID:   rng.Uint64() >> 2,
		ov:       overlay.New(cfg.Overlay, self),
		ops:      map[uint64]*gwOp{},
		roots:    map[uint64]*rootWrite{},
		byStore:  map[uint64]uint64{},
		replicas: map[uint64]*replicaWrite{},
		syncs:    map[uint64]*syncSession{},
		served:   map[served]*syncSession{},
		rng:      rng,

		protoReqs: map[uint64]bool{},
		members:   map[dht.Key]member{},
		waits:     map[uint64]func(time.Time, store.Response){},
		registers: map[dht.Key][]byte{},
	}
	for k, v := range disk.Registers {
		n.registers[k] = v
	}
	proto, err := rmw.New(cfg.RMW, host{n})
	if err != nil {
		panic(err) // Validate checked the name
	}
	n.proto = proto
	return n
}

// IDFor derives a node ID from its advertised address, as Bamboo did: a
// node that restarts at the same address gets its place back.
func IDFor(addr netip.AddrPort) dht.Key { return dht.Key(sha1.Sum([]byte(addr.String()))) }

// Overlay exposes the overlay core for inspection (tests, metrics).
func (n *Node) Overlay() *overlay.Node { return n.ov }

// Self returns the node's identity.
func (n *Node) Self() wire.Peer { return n.self }

// Stats returns the DHT counters.
func (n *Node) Stats() Stats { return n.stats }

// Join starts the node (see overlay.Node.Join).
func (n *Node) Join(now time.Time, bootstrap []netip.AddrPort) {
	n.ov.Join(now, bootstrap)
	n.collect(now)
}

// Ready returns and clears the outputs. The Ready is the caller's until
// its next call of Ready, which reuses its slices' arrays for the outputs
// that follow: a driver acts on one Ready (or copies what it keeps) before
// it asks for the next, and the node allocates no new slices turn after
// turn.
func (n *Node) Ready() Ready {
	r := n.out
	for _, snd := range r.Sends {
		n.stats.Out[snd.Env.Msg.Type()%wire.TypeLimit]++
	}
	n.out = Ready{Sends: reuse(n.spare.Sends), Done: reuse(n.spare.Done), Storage: reuse(n.spare.Storage)}
	n.spare = r
	return r
}

// reuse empties s for new outputs, dropping what its elements point to.
func reuse[T any](s []T) []T {
	clear(s)
	return s[:0]
}

// NextWake returns when Tick next has work to do.
func (n *Node) NextWake() time.Time {
	t := n.ov.NextWake()
	for _, op := range n.ops {
		t = earliest(t, op.deadline)
	}
	for _, rw := range n.roots {
		t = earliest(t, rw.deadline)
	}
	// The store admits queued writes and reclaims expired ones by the
	// second.
	t = earliest(t, n.nextSync)
	t = earliest(t, n.proto.NextWake())
	return earliest(t, n.lastTick.Add(time.Second))
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func secs(now time.Time) dht.Time { return dht.Time(now.Unix()) }

// storeSecs is the time the node's store and its expiries run on: the
// node's clock, unless the SkewedExpiry variant sets it back.
func (n *Node) storeSecs(now time.Time) dht.Time {
	if n.bug().SkewedExpiry {
		now = now.Add(-skewedExpiryLag)
	}
	return secs(now)
}

// id returns the next number of the node's own sequence: storage requests
// are numbered in order (the durable queue relies on it).
func (n *Node) id() uint64 {
	n.nextID++
	return n.nextID
}

// wireID returns a fresh random id for a request whose answer comes from
// another node (a gateway's operation, a root's copies, an anti-entropy
// round): the answer must echo it, and one who did not see the request
// cannot guess it (OH-3 for the DHT's own messages).
func (n *Node) wireID() uint64 {
	for {
		v := n.rng.Uint64() >> 2
		if v != 0 && n.ops[v] == nil && n.roots[v] == nil && n.syncs[v] == nil {
			return v
		}
	}
}

// send queues a datagram; a message to self is handled at once.
func (n *Node) send(now time.Time, to wire.Peer, m wire.Message) {
	if to.ID == n.self.ID {
		n.handle(now, n.self, m)
		return
	}
	n.out.Sends = append(n.out.Sends, overlay.Send{To: to.Addr, Env: wire.Envelope{From: n.self, Msg: m}})
}

// collect moves the overlay's outputs into the node's and handles the
// application messages that reached this node as root.
//
// It also delivers the protocol's messages to this node and the answers to
// the protocol's put/get requests, until none is left: the protocol is
// never called back from inside one of its own calls.
func (n *Node) collect(now time.Time) {
	if n.inCollect {
		return
	}
	n.inCollect = true
	defer func() { n.inCollect = false }()
	for {
		r := n.ov.Ready()
		n.out.Sends = append(n.out.Sends, r.Sends...)
		if len(r.Delivered) == 0 && !n.protoWork(now) {
			return
		}
		for _, d := range r.Delivered {
			env, err := wire.Decode(d.Route.Payload)
			if err != nil {
				n.stats.Malformed++
				continue
			}
			n.handle(now, env.From, env.Msg)
		}
	}
}

// Receive handles one datagram. The node keeps no part of payload: the
// caller may reuse it.
func (n *Node) Receive(now time.Time, from netip.AddrPort, payload []byte) {
	env, err := wire.Decode(payload)
	n.receive(now, from, env, err)
}

// ReceiveOwned is Receive for a datagram whose buffer the caller gives
// the node: the caller never changes it again. The node's messages then
// read their byte strings (a value, a placemark) in place, with one copy
// less (wire.DecodeShared); what the node keeps beyond the exchange, the
// store copies.
func (n *Node) ReceiveOwned(now time.Time, from netip.AddrPort, payload []byte) {
	env, err := wire.DecodeShared(payload)
	if p, ok := env.Msg.(*wire.Proto); ok {
		// The register protocols keep what they like of a message: they
		// get their own copy.
		p.Payload = slices.Clone(p.Payload)
	}
	n.receive(now, from, env, err)
}

func (n *Node) receive(now time.Time, from netip.AddrPort, env wire.Envelope, err error) {
	if err != nil {
		n.stats.Malformed++
		return
	}
	n.stats.In[env.Msg.Type()%wire.TypeLimit]++
	switch env.Msg.(type) {
	case *wire.Write, *wire.WriteAck, *wire.Read, *wire.ReadResp, *wire.SyncDigest, *wire.SyncList, *wire.SyncWant, *wire.Proto:
		n.handle(now, wire.Peer{ID: env.From.ID, Addr: from}, env.Msg)
	default:
		n.ov.Receive(now, from, env)
	}
	n.collect(now)
}

func (n *Node) handle(now time.Time, from wire.Peer, m wire.Message) {
	switch m := m.(type) {
	case *wire.Proto:
		n.proto.Receive(now, from, m.Payload)
	case *wire.Write:
		if m.Replica {
			n.replicaWrite(now, from, m)
		} else {
			n.rootWrite(now, m)
		}
	case *wire.WriteAck:
		n.writeAck(now, from, m)
	case *wire.Read:
		if m.Direct {
			n.directRead(now, from, m)
		} else {
			n.read(now, m)
		}
	case *wire.ReadResp:
		n.readResp(now, from, m)
	case *wire.SyncDigest:
		n.syncDigest(now, from, m)
	case *wire.SyncList:
		n.syncList(now, from, m)
	case *wire.SyncWant:
		n.syncWant(now, from, m)
	}
}

// Put executes a put (or put_removable) as the gateway.
func (n *Node) Put(now time.Time, p dht.Put) uint64 {
	err := p.Validate()
	if err == nil {
		err = p.Authenticate() // IM-3, SG-5: refused before it travels
	}
	if err == nil {
		p.TTL, err = p.SignedTTL(p.TTL, secs(now)) // SG-8
	}
	n.refused(err)
	return n.write(now, wire.Item{Kind: wire.ItemPut, Key: p.Key, Value: p.Value, SecretHash: p.SecretHash, TTL: p.TTL, Client: string(p.Client)}, err)
}

// Remove executes an rm as the gateway.
func (n *Node) Remove(now time.Time, r dht.Remove) uint64 {
	err := r.Validate()
	if err == nil {
		err = r.AuthenticateRemove() // IM-4
	}
	n.refused(err)
	return n.write(now, wire.Item{Kind: wire.ItemRemove, Key: r.Key, ValueHash: r.ValueHash, Secret: r.Secret, TTL: r.TTL, Client: string(r.Client)}, err)
}

func (n *Node) write(now time.Time, it wire.Item, verr error) uint64 {
	id := n.wireID()
	if verr == nil && len(it.Client) > wire.MaxClientLen {
		verr = fmt.Errorf("node: client identity longer than %d bytes", wire.MaxClientLen)
	}
	if verr != nil {
		n.out.Done = append(n.out.Done, Completion{ReqID: id, Err: verr})
		return id
	}
	if !n.ov.Joined() {
		// JOIN-3: not part of a ring yet, so not the root of every key.
		n.out.Done = append(n.out.Done, Completion{ReqID: id, Status: dht.StatusTryAgain})
		return id
	}
	// The gateway fixes the item's expiry when the request is made: every
	// attempt, retry and duplicate of it then stores the same expiry, and a
	// copy applied late (queued at a root, delivered late) cannot live
	// longer than the client asked (RD-6).
	it.Expiry = now.Unix() + min(it.TTL, dht.MaxTTL)
	op := &gwOp{client: id, kind: opWrite, item: it}
	n.ops[id] = op
	n.attempt(now, id, op)
	n.collect(now)
	return id
}

// Get executes a get as the gateway. Its placemark, if any, must be an
// item placemark (LIM-5, RD-9): the node pages in item order.
func (n *Node) Get(now time.Time, g dht.Get) uint64 {
	id := n.wireID()
	err := g.Validate()
	if _, perr := dht.DecodeItemPlacemark(g.Placemark); err == nil && len(g.Placemark) > 0 && perr != nil && !n.bug().StoragePlacemark {
		err = perr
	}
	if err == nil && !n.ov.Joined() {
		err = ErrJoining // JOIN-3
	}
	if err != nil {
		n.out.Done = append(n.out.Done, Completion{ReqID: id, Err: err})
		return id
	}
	if g.Fast {
		n.stats.FastGets++
		if c, ok := n.cachedFastRead(g); ok {
			c.ReqID = id
			n.out.Done = append(n.out.Done, c)
			return id
		}
	}
	op := &gwOp{client: id, kind: opRead, read: g, fast: g.Fast}
	n.ops[id] = op
	n.attempt(now, id, op)
	n.collect(now)
	return id
}

// attempt routes the request toward the root of its key. id is the
// request's wire id so far; a read's next attempt goes out under a fresh
// one, so that a late answer to an earlier attempt (the plan of its
// coordinator, a member's claim to be root) is never counted in this
// one's quorum (RD-7, RD-13).
func (n *Node) attempt(now time.Time, id uint64, op *gwOp) {
	if op.kind == opRead && op.attempts > 0 {
		delete(n.ops, id)
		id = n.wireID()
		n.ops[id] = op
	}
	op.attempts++
	op.deadline = now.Add(n.cfg.RequestTimeout)
	op.replies, op.replyAddr, op.rootResp, op.widened = nil, nil, nil, false
	op.plan, op.gapsAsked, op.rootFrom = nil, false, dht.Key{}
	op.direct, op.claimed, op.claimSet = nil, nil, nil
	var m wire.Message
	var key dht.Key
	switch op.kind {
	case opWrite:
		m, key = &wire.Write{ReqID: id, Gateway: n.self, Item: op.item}, op.item.Key
	case opRead:
		m, key = &wire.Read{ReqID: id, Fast: op.fast, Gateway: n.self, Key: op.read.Key, MaxVals: uint16(min(op.read.MaxVals, 1<<16-1)), Placemark: op.read.Placemark}, op.read.Key
	}
	payload, err := wire.Encode(nil, wire.Envelope{From: n.self, Msg: m})
	if err != nil {
		panic(fmt.Sprintf("node: a validated request does not encode: %v", err))
	}
	if op.kind == opRead && op.fast {
		n.sendDirect(now, id, op)
	}
	if op.kind == opRead && (op.fast || n.cfg.ParallelReads && !op.toRoot) {
		n.ov.RouteNear(now, key, payload) // RD-13, RD-14
		return
	}
	n.ov.Route(now, key, payload)
}

// sendDirect sends a fast get's direct reads (RD-14): when this gateway
// does not know the key's replica set, to the FastReadDirect nodes it
// knows closest to the key, at once, beside the routed get. A member among
// them that knows the set answers without the route.
func (n *Node) sendDirect(now time.Time, id uint64, op *gwOp) {
	key := op.read.Key
	if n.cfg.FastReadDirect == 0 || n.ov.KnowsClosest(key, n.cfg.Replicas) {
		return // the gateway coordinates the get itself
	}
	var known []wire.Peer
	seen := map[dht.Key]bool{n.self.ID: true}
	for _, p := range n.ov.AppendKnown(nil) {
		if !seen[p.ID] {
			seen[p.ID] = true
			known = append(known, p)
		}
	}
	op.direct = map[dht.Key]netip.AddrPort{}
	for _, p := range closest(key, known, n.cfg.FastReadDirect) {
		op.direct[p.ID] = p.Addr
		n.send(now, p, &wire.Read{ReqID: id, Fast: true, Direct: true, Gateway: n.self, Key: key,
			MaxVals: uint16(min(op.read.MaxVals, 1<<16-1)), Placemark: op.read.Placemark})
	}
}

// directRead answers a fast get's direct read (RD-14) from the store,
// naming the replica set this node sees, only if this node is a member of
// that set and knows it (PR-2's test, as a coordinator's); otherwise it
// says nothing. The answer goes to the address the read came from.
func (n *Node) directRead(now time.Time, from wire.Peer, m *wire.Read) {
	set := n.replicaSet(m.Key)
	member := slices.ContainsFunc(set, func(p wire.Peer) bool { return p.ID == n.self.ID })
	if n.bug().DirectNonMember && !member {
		// The planted mistake: a node outside the set claims a place in it.
		set = append([]wire.Peer{n.self}, set[:len(set)-1]...)
	} else if !member || !n.ov.KnowsClosest(m.Key, n.cfg.Replicas) {
		n.stats.DirectDeclined++
		return
	}
	n.stats.Reads++
	resp := &wire.ReadResp{ReqID: m.ReqID, Replicas: set}
	g := dht.Get{Key: m.Key, MaxVals: max(int(m.MaxVals), 1), Placemark: m.Placemark, ItemOrder: !n.bug().StoragePlacemark}
	n.readLocal(now, from, g, resp)
}

// replicaSet returns the root (self) and the Replicas-1 nodes of the leaf
// set closest to key, closest first.
func (n *Node) replicaSet(key dht.Key) []wire.Peer {
	cands := make([]wire.Peer, 1, 1+n.ov.LeafCount())
	cands[0] = n.self
	return closest(key, n.ov.AppendLeaves(cands), n.cfg.Replicas)
}

// closest returns the k peers of cands closest to key (overlay.Closer's
// order), reordering cands. Each distance is computed once: this runs for
// every item of an anti-entropy scan.
func closest(key dht.Key, cands []wire.Peer, k int) []wire.Peer {
	type cand struct {
		d overlay.ID
		p wire.Peer
	}
	var buf [16]cand
	cs := buf[:0]
	for _, p := range cands {
		cs = append(cs, cand{overlay.Distance(key, p.ID), p})
	}
	slices.SortFunc(cs, func(a, b cand) int {
		if c := overlay.Compare(a.d, b.d); c != 0 {
			return c
		}
		return overlay.Compare(a.p.ID, b.p.ID)
	})
	k = min(k, len(cs))
	for i := range k {
		cands[i] = cs[i].p
	}
	return cands[:k]
}

// toOp turns a received item into a store operation; ok is false for a
// copy that has already expired.
func toOp(id uint64, it wire.Item, now dht.Time) (op dht.Op, ok bool) {
	ttl := it.TTL
	if it.Expiry != 0 {
		if ttl = it.Expiry - int64(now); ttl <= 0 {
			return dht.Op{}, false
		}
	}
	if it.Kind == wire.ItemPut {
		return dht.Op{Kind: dht.OpPut, ID: id, Put: dht.Put{Client: dht.ClientID(it.Client), Key: it.Key, Value: it.Value, TTL: ttl, SecretHash: it.SecretHash}}, true
	}
	return dht.Op{Kind: dht.OpRemove, ID: id, Remove: dht.Remove{Client: dht.ClientID(it.Client), Key: it.Key, ValueHash: it.ValueHash, Secret: it.Secret, TTL: ttl}}, true
}

// storeStep asks the store to run one step; then runs with its result
// once the store answered (err is a disk error). The completions the step
// reports (its own write, and queued writes admitted meanwhile) are
// dispatched once the step and every earlier one are durable: see
// Ready.Storage, Stored and Synced.
func (n *Node) storeStep(now time.Time, op dht.Op, then func(now time.Time, res dht.Result, err error)) {
	d := &durableStep{}
	n.askDurable(store.Request{Kind: store.ReqStep, Op: op, Now: n.storeSecs(now)}, d, func(now time.Time, r store.Response) {
		if r.Err != nil {
			n.log.Error("store step failed", "err", r.Err)
		} else if !d.failed {
			d.completed = r.Result.Completed
			for _, c := range r.Result.Completed {
				n.decided(now, c)
			}
		}
		if then != nil {
			then(now, r.Result, r.Err)
		}
	})
}

// askDurable queues a storage request that writes, as step d of the
// durable queue: then runs with its answer, after which d is applied (and
// synced, if the store failed or had nothing to sync; a driver may also
// report the fsync before the answer) and the queue's head is dispatched.
func (n *Node) askDurable(req store.Request, d *durableStep, then func(now time.Time, r store.Response)) {
	n.durable = append(n.durable, d)
	d.seq = n.ask(req, func(now time.Time, r store.Response) {
		d.applied = true
		d.synced = d.synced || r.Err != nil || r.Durable
		then(now, r)
		n.dispatchDurable(now)
	})
}

// ask queues a storage request; then, if not nil, runs with its answer.
// It returns the request's sequence number.
func (n *Node) ask(req store.Request, then func(now time.Time, r store.Response)) uint64 {
	req.Seq = n.id()
	n.out.Storage = append(n.out.Storage, req)
	if then != nil {
		n.waits[req.Seq] = then
	}
	return req.Seq
}

// Stored hands the node the store's answer to one of its requests.
func (n *Node) Stored(now time.Time, r store.Response) {
	if then, ok := n.waits[r.Seq]; ok {
		delete(n.waits, r.Seq)
		then(now, r)
	}
	n.collect(now)
}

// Synced reports that the writes of storage request seq are durable (err
// nil), or that the store failed to make them so. Completions are then
// dispatched in request order; after a failure the writes are never
// acknowledged (their gateways time out), as after a crash.
func (n *Node) Synced(now time.Time, seq uint64, err error) {
	for _, d := range n.durable {
		if d.seq == seq {
			d.synced = true
			if err != nil {
				n.log.Error("store sync failed", "err", err)
				d.failed = true
				d.completed = nil
				if d.after != nil {
					d.after(now, err)
					d.after = nil
				}
			}
			break
		}
	}
	n.dispatchDurable(now)
	n.collect(now)
}

// dispatchDurable reports the steps at the head of the queue that are
// durable, in order.
func (n *Node) dispatchDurable(now time.Time) {
	for len(n.durable) > 0 && n.durable[0].applied && n.durable[0].synced {
		d := n.durable[0]
		n.durable[0] = nil
		n.durable = n.durable[1:]
		for _, c := range d.completed {
			n.completed(now, c)
		}
		if d.after != nil {
			d.after(now, nil)
		}
	}
}

func (n *Node) rootWrite(now time.Time, m *wire.Write) {
	n.stats.WritesAtRoot++
	rid := n.wireID()
	rw := &rootWrite{gateway: m.Gateway, gwReq: m.ReqID, item: m.Item, acked: map[dht.Key]bool{}}
	n.roots[rid] = rw
	sid := n.id()
	n.byStore[sid] = rid
	if rw.item.Expiry == 0 { // from a gateway that did not fix it
		rw.item.Expiry = now.Unix() + min(m.Item.TTL, dht.MaxTTL)
	}
	// The replicas keep the expiry the gateway gave the item.
	op, live := toOp(sid, rw.item, n.storeSecs(now))
	if !live { // it expired on its way: it took effect, and is gone
		delete(n.byStore, sid)
		delete(n.roots, rid)
		n.send(now, m.Gateway, &wire.WriteAck{ReqID: m.ReqID, Status: uint8(dht.StatusOK)})
		return
	}
	n.storeStep(now, op, func(now time.Time, res dht.Result, err error) {
		if err != nil || res.Err != nil {
			delete(n.byStore, sid)
			delete(n.roots, rid)
			n.refused(res.Err)
			status := uint8(dht.StatusOverCapacity)
			if code, ok := dht.RefusalCode(res.Err); ok && err == nil { // SG-9: the gateway learns why
				status = code
			}
			n.send(now, m.Gateway, &wire.WriteAck{ReqID: m.ReqID, Status: status})
		}
	})
}

func (n *Node) replicaWrite(now time.Time, from wire.Peer, m *wire.Write) {
	n.stats.ReplicaWrites++
	sid := n.id()
	n.replicas[sid] = &replicaWrite{root: from.Addr, reqID: m.ReqID}
	if m.ReqID == 0 { // an anti-entropy push: nobody waits for the ack
		delete(n.replicas, sid)
	}
	op, live := toOp(sid, m.Item, n.storeSecs(now))
	if !live {
		delete(n.replicas, sid)
		if m.ReqID != 0 {
			n.send(now, from, &wire.WriteAck{ReqID: m.ReqID, Status: uint8(dht.StatusOK)})
		}
		return
	}
	n.storeStep(now, op, func(now time.Time, res dht.Result, err error) {
		if err == nil {
			n.refusedCopy(res.Err)
		}
		if (err != nil || res.Err != nil) && m.ReqID != 0 {
			delete(n.replicas, sid)
			n.send(now, from, &wire.WriteAck{ReqID: m.ReqID, Status: uint8(dht.StatusOverCapacity)})
		}
	})
}

// completed handles a store completion: a root write goes on to the
// replicas, a replica write is acknowledged to its root.
func (n *Node) completed(now time.Time, c dht.Completion) {
	if rw, ok := n.replicas[c.ID]; ok {
		delete(n.replicas, c.ID)
		n.out.Sends = append(n.out.Sends, overlay.Send{To: rw.root, Env: wire.Envelope{From: n.self, Msg: &wire.WriteAck{ReqID: rw.reqID, Status: uint8(c.Status)}}})
		return
	}
	rid, ok := n.byStore[c.ID]
	if !ok {
		return
	}
	delete(n.byStore, c.ID)
	rw := n.roots[rid]
	if rw == nil { // timed out while its copies were out
		return
	}
	if c.Status != dht.StatusOK {
		delete(n.roots, rid)
		n.send(now, rw.gateway, &wire.WriteAck{ReqID: rw.gwReq, Status: uint8(c.Status)})
		return
	}
	rw.durable = true
	n.replicate(now, rid, rw)
	n.maybeAck(now, rid, rw)
}

// decided handles a store completion that is not durable yet: a root
// write admitted with status 0 sends its copies to the replicas at once,
// so that the replicas' fsyncs overlap the root's. Nothing is acknowledged
// before it is durable (completed, maybeAck).
func (n *Node) decided(now time.Time, c dht.Completion) {
	if c.Status != dht.StatusOK {
		return
	}
	if rid, ok := n.byStore[c.ID]; ok {
		if rw := n.roots[rid]; rw != nil {
			n.replicate(now, rid, rw)
		}
	}
}

// replicate sends a root write's copies to the rest of the replica set,
// once.
func (n *Node) replicate(now time.Time, rid uint64, rw *rootWrite) {
	if rw.replicating {
		return
	}
	rw.replicating = true
	// Every other member of the replica set gets a copy. A node that took
	// the write although its own view names a closer root (its route to
	// that root timed out) is not a member itself: it then waits for one
	// more acknowledgement, so that W+1 members hold the write (RD-2).
	set, others := n.replicaSet(rw.item.Key), []wire.Peer(nil)
	for _, p := range set {
		if p.ID != n.self.ID {
			others = append(others, p)
		}
	}
	needed := n.cfg.WriteAcks
	if len(others) == len(set) {
		needed++
	}
	rw.needed = min(needed, len(others))
	if n.bug().AckOneShort && rw.needed > 0 {
		rw.needed--
	}
	rw.deadline = now.Add(n.cfg.ReplicaTimeout)
	rw.sentTo = make(map[dht.Key]netip.AddrPort, len(others))
	for _, p := range others {
		rw.sentTo[p.ID] = p.Addr
		n.send(now, p, &wire.Write{ReqID: rid, Replica: true, Gateway: rw.gateway, Item: rw.item})
	}
}

func (n *Node) maybeAck(now time.Time, rid uint64, rw *rootWrite) {
	if rw.replied || (!rw.durable && !n.bug().AckBeforeDurable) || rw.acks < rw.needed {
		return
	}
	rw.replied = true
	delete(n.roots, rid)
	n.send(now, rw.gateway, &wire.WriteAck{ReqID: rw.gwReq, Status: uint8(dht.StatusOK)})
}

func (n *Node) writeAck(now time.Time, from wire.Peer, m *wire.WriteAck) {
	if rw, ok := n.roots[m.ReqID]; ok { // a replica answered the root
		if a, sent := rw.sentTo[from.ID]; !sent || a != from.Addr {
			n.stats.ForgedReplies++ // OH-3: not from a member the copy went to
			return
		}
		if m.Status == uint8(dht.StatusOverQuota) && !rw.replied { // AC-7: the gateway learns at once
			rw.replied = true
			delete(n.roots, m.ReqID)
			n.send(now, rw.gateway, &wire.WriteAck{ReqID: rw.gwReq, Status: m.Status})
			return
		}
		if m.Status == uint8(dht.StatusOK) && !rw.acked[from.ID] {
			rw.acked[from.ID] = true
			rw.acks++
			n.maybeAck(now, m.ReqID, rw)
		}
		return
	}
	op, ok := n.ops[m.ReqID] // the root answered the gateway
	if !ok || op.kind != opWrite {
		return
	}
	delete(n.ops, m.ReqID)
	if err, ok := dht.RefusalErr(m.Status); ok {
		n.out.Done = append(n.out.Done, Completion{ReqID: m.ReqID, Err: err})
		return
	}
	n.out.Done = append(n.out.Done, Completion{ReqID: m.ReqID, Status: dht.Status(m.Status)})
}

// read answers a Read from the local store, in item order (RD-9).
func (n *Node) read(now time.Time, m *wire.Read) {
	n.stats.Reads++
	resp := &wire.ReadResp{ReqID: m.ReqID}
	if !m.Replica {
		resp.Replicas = n.replicaSet(m.Key)
	} else if set := n.replicaSet(m.Key); n.cfg.ParallelReads && !m.Fast && set[0].ID == n.self.ID {
		// Asked by a coordinator that is not the root: as the root in
		// its own view, this member names the replica set the quorum is
		// counted in (RD-7, RD-13).
		resp.Replicas = set
	}
	if !m.Replica && (len(m.Placemark) == 0 || !n.bug().StoragePlacemark) {
		// The root asks the other replicas to answer the gateway directly,
		// in parallel with its own answer: a get takes one round of
		// messages after the route, not two. Every page is read from a
		// quorum (RD-7, RD-9): an item placemark means the same at every
		// replica. Only as many as the quorum needs: each extra read costs
		// a store lookup and two datagrams; the gateway asks the rest
		// itself if the quorum does not fill. With ParallelReads this node
		// is the first on the route that knows the replica set (maybe the
		// gateway itself) and asks every member: the gateway takes the
		// first R answers (RD-13). A fast get's coordinator asks every
		// member too: the gateway takes the first F answers (RD-14).
		quorum := n.cfg.ReadQuorum
		if n.cfg.ParallelReads || m.Fast {
			quorum = len(resp.Replicas)
		}
		asked := 0 // the members asked, this node included if it is one
		for _, p := range resp.Replicas {
			if p.ID == n.self.ID {
				asked++
			}
		}
		for _, p := range resp.Replicas {
			if p.ID != n.self.ID && asked < quorum && !n.bug().RootOnlyRead {
				n.send(now, p, &wire.Read{ReqID: m.ReqID, Replica: true, Fast: m.Fast, Gateway: m.Gateway, Key: m.Key, MaxVals: m.MaxVals, Placemark: m.Placemark})
				asked++
			}
		}
	}
	g := dht.Get{Key: m.Key, MaxVals: max(int(m.MaxVals), 1), Placemark: m.Placemark, ItemOrder: !n.bug().StoragePlacemark}
	n.readLocal(now, m.Gateway, g, resp)
}

// readLocal reads g from the store and sends the answer to the gateway.
// The reply must fit in a datagram: the store caps the value bytes
// (GET-3), but many small values carry more overhead than bytes, so it
// asks for fewer values until the answer fits; the placemark pages on
// (GET-4).
func (n *Node) readLocal(now time.Time, gateway wire.Peer, g dht.Get, resp *wire.ReadResp) {
	n.ask(store.Request{Kind: store.ReqGet, Get: g, Now: n.storeSecs(now)}, func(now time.Time, r store.Response) {
		resp.Values, resp.Placemark = resp.Values[:0], nil
		if r.Err == nil {
			r.Err = r.Result.Err
		}
		if r.Err != nil {
			if !errors.Is(r.Err, dht.ErrBadPlacemark) {
				n.log.Error("read failed", "err", r.Err)
			}
			n.send(now, gateway, resp)
			return
		}
		resp.Placemark = r.Reply.Placemark
		for _, v := range r.Reply.Values {
			resp.Values = append(resp.Values, wire.ReadValue{Value: v.Value, TTLRemaining: v.TTLRemaining, SecretHash: v.SecretHash})
		}
		if len(resp.Values) > 1 {
			if _, err := wire.Encode(nil, wire.Envelope{From: n.self, Msg: resp}); err != nil {
				g.MaxVals = len(resp.Values) * 3 / 4
				n.readLocal(now, gateway, g, resp)
				return
			}
		}
		n.send(now, gateway, resp)
	})
}

func (n *Node) readResp(now time.Time, from wire.Peer, m *wire.ReadResp) {
	op, ok := n.ops[m.ReqID]
	if !ok || op.kind != opRead {
		return
	}
	if op.replies == nil {
		op.replies = map[dht.Key]*wire.ReadResp{}
		op.replyAddr = map[dht.Key]netip.AddrPort{}
	}
	op.replies[from.ID] = m
	op.replyAddr[from.ID] = from.Addr
	if op.fast {
		n.fastReadResp(now, from, m, op)
		return
	}
	switch {
	case !n.cfg.ParallelReads:
		// Only the root names a replica set; it has asked the other
		// replicas to answer here too.
		if m.Replicas != nil && op.rootResp == nil {
			op.rootResp, op.rootFrom = m, from.ID
			op.deadline = now.Add(n.cfg.ReadWait)
		}
	default:
		if m.Replicas != nil && !claimsRoot(from, m) && op.plan == nil {
			// A coordinator that is not the root in its own view (or, on
			// the route to the root, a root whose view names a closer
			// node it could not reach): it asked the members it sees.
			op.plan, op.planFrom = m, from.ID
		}
		if r, who := n.rootAnswer(op); r != nil && r != op.rootResp {
			// The root in the view of every answer so far (RD-13): the
			// quorum is counted in its set. A closer root heard later
			// replaces it while the read is open.
			op.rootResp, op.rootFrom = r, who
			op.deadline = now.Add(n.cfg.ReadWait)
			op.widened, op.gapsAsked = false, false
		}
		if op.rootResp == nil && !op.toRoot {
			// Members answer but the root has not (yet): if it does not
			// within the read wait, the get goes to the root (RD-13).
			if d := now.Add(n.cfg.ReadWait); d.Before(op.deadline) {
				op.deadline = d
			}
		}
	}
	if op.rootResp != nil && op.plan != nil && !op.gapsAsked {
		n.askGaps(now, m.ReqID, op)
	}
	if op.rootResp != nil && n.quorate(op) {
		n.finishRead(m.ReqID, op)
	}
}

// claimsRoot reports whether m, from from, is the answer of a member that
// is the root in its own view: it names a replica set whose first member
// is the sender, at the address it answered from.
func claimsRoot(from wire.Peer, m *wire.ReadResp) bool {
	return len(m.Replicas) > 0 && m.Replicas[0].ID == from.ID && m.Replicas[0].Addr == from.Addr
}

// rootAnswer picks, under parallel reads, the answer a read's quorum is
// counted in (RD-7, RD-13): the claim to be root of the member closest to
// the key, provided that no replica set named in any answer of this
// attempt holds a node closer still. A member whose view lags (it does
// not know a closer node that the coordinator or another member knows)
// claims to be root too; its set may share too few members with the set
// the key's writes went to, so its claim does not count while a closer
// node is known. On the route to the root (toRoot) a node that took the
// read as root although its view names a closer node it could not reach
// answers without claiming: its answer counts when no claim does, as
// without parallel reads. It returns nil while no answer counts.
func (n *Node) rootAnswer(op *gwOp) (*wire.ReadResp, dht.Key) {
	if n.bug().FirstRootClaim && op.rootResp != nil {
		return op.rootResp, op.rootFrom
	}
	key := op.read.Key
	var best *wire.ReadResp
	var who dht.Key
	for id, r := range op.replies {
		if claimsRoot(wire.Peer{ID: id, Addr: op.replyAddr[id]}, r) && (best == nil || overlay.Closer(key, id, who)) {
			best, who = r, id
		}
	}
	if best != nil && !n.bug().FirstRootClaim {
		for _, r := range op.replies {
			for _, p := range r.Replicas {
				if overlay.Closer(key, p.ID, who) {
					best = nil
				}
			}
		}
	}
	if best == nil && op.toRoot && op.plan != nil {
		return op.plan, op.planFrom
	}
	return best, who
}

// askGaps asks the members of the root's replica set that the coordinator
// of a parallel read did not ask (their views differed), at once (RD-13).
func (n *Node) askGaps(now time.Time, id uint64, op *gwOp) {
	op.gapsAsked = true
	for _, p := range op.rootResp.Replicas {
		if op.replies[p.ID] == nil && !slices.ContainsFunc(op.plan.Replicas, func(q wire.Peer) bool { return q == p }) {
			n.askMember(now, id, op, p)
		}
	}
}

// askMember asks p, a member of a read's replica set, for its answer
// itself (a replica read: p answers this gateway directly).
func (n *Node) askMember(now time.Time, id uint64, op *gwOp, p wire.Peer) {
	n.send(now, p, &wire.Read{ReqID: id, Replica: true, Fast: op.fast, Gateway: n.self, Key: op.read.Key,
		MaxVals: uint16(min(op.read.MaxVals, 1<<16-1)), Placemark: op.read.Placemark})
}

// widen asks, once, every member of set that has not answered a read
// within the read wait (a member asked may be down, or its read or answer
// lost): the root's set for a quorum read (RD-7), the set a fast get counts
// in for a fast one (RD-14). The read is sent again if it still does not
// complete.
func (n *Node) widen(now time.Time, id uint64, op *gwOp, set []wire.Peer) {
	op.widened = true
	op.deadline = now.Add(n.cfg.ReadWait)
	for _, p := range set {
		if op.replies[p.ID] == nil {
			n.askMember(now, id, op, p)
		}
	}
}

// quorate reports whether a read has the answers RD-7 asks for: R members
// of the root's replica set (all of them when the set is smaller).
func (n *Node) quorate(op *gwOp) bool {
	if n.bug().RootOnlyRead || (n.bug().StoragePlacemark && len(op.read.Placemark) > 0) {
		return true
	}
	need := min(n.cfg.ReadQuorum, len(op.rootResp.Replicas))
	got := 0
	for _, p := range op.rootResp.Replicas {
		if op.member(p) {
			got++
		}
	}
	return got >= need
}

// member reports whether p, a member of the root's replica set, answered
// from its address: an answer under a member's ID from elsewhere does not
// count toward the quorum, and its values are not merged (OH-3).
func (op *gwOp) member(p wire.Peer) bool {
	return op.replies[p.ID] != nil && op.replyAddr[p.ID] == p.Addr
}

// memberReplies returns the replies of a read that the merge takes: those of
// the root's replica set from their addresses, the root's own included.
func (n *Node) memberReplies(op *gwOp) []*wire.ReadResp {
	if op.rootResp == nil {
		return nil
	}
	out := []*wire.ReadResp{op.rootResp}
	for _, p := range op.rootResp.Replicas {
		if r := op.replies[p.ID]; r != nil && r != op.rootResp && op.member(p) {
			out = append(out, r)
		}
	}
	for _, p := range op.rootResp.Replicas {
		if op.replies[p.ID] != nil && !op.member(p) {
			n.stats.ForgedReplies++
		}
	}
	return out
}

// finishRead merges the replies of a read in item order (RD-9). Each
// replica answered with its items after the placemark, cut short by its
// reply limits; the page holds every item up to the smallest last item of
// any reply that was cut short, so nothing a replica holds in that range is
// skipped, and the next page continues after the page's last item at
// whichever replicas answer it. Each item appears once, with its longest
// TTL.
func (n *Node) finishRead(id uint64, op *gwOp) {
	delete(n.ops, id)
	if n.bug().StoragePlacemark && !op.fast {
		n.finishReadStorageOrder(id, op)
		return
	}
	var replies []*wire.ReadResp
	if op.fast {
		replies = n.fastReplies(op)
	} else {
		replies = n.memberReplies(op)
	}
	var cut *dht.ItemPos
	for _, r := range replies {
		if len(r.Placemark) > 0 && len(r.Values) > 0 {
			p := dht.PosOf(readValue(r.Values[len(r.Values)-1]))
			if cut == nil || p.Compare(*cut) < 0 {
				cut = &p
			}
		}
	}
	type placed struct {
		pos dht.ItemPos
		v   dht.Value
	}
	index := map[dht.ItemPos]int{}
	var merged []placed
	for _, r := range replies {
		for _, rv := range r.Values {
			v := readValue(rv)
			p := dht.PosOf(v)
			if cut != nil && p.Compare(*cut) > 0 {
				continue
			}
			if i, ok := index[p]; ok {
				merged[i].v.TTLRemaining = max(merged[i].v.TTLRemaining, v.TTLRemaining)
				continue
			}
			index[p] = len(merged)
			merged = append(merged, placed{p, v})
		}
	}
	slices.SortFunc(merged, func(a, b placed) int { return a.pos.Compare(b.pos) })
	more := cut != nil
	var out []dht.Value
	size := 0
	for i, x := range merged {
		if i == op.read.MaxVals || (i > 0 && size+len(x.v.Value) > n.disk.ReplyCap) { // GET-2, GET-3
			more = true
			break
		}
		out = append(out, x.v)
		size += len(x.v.Value)
	}
	var pm []byte
	if more && len(out) > 0 {
		pm = dht.EncodeItemPlacemark(merged[len(out)-1].pos)
	}
	c := Completion{ReqID: op.client, Values: out, Placemark: pm}
	if op.fast {
		n.cacheFastRead(op.read, c)
	}
	n.out.Done = append(n.out.Done, c)
}

// fastReadResp takes an answer to a fast get (RD-14). An answer of a
// node the gateway asked directly, from the address asked, that names a
// set holding that node at that address is a self-claimed member answer:
// it counts. Any other answer that names a replica set, the first, is the
// coordinator's, the plan: the members counted are also those of the set
// it names, each answering from its own address (OH-3). The gateway
// answers once F of them have, F counted in the plan's set or, before the
// plan came, in the first self-claimed answer's.
func (n *Node) fastReadResp(now time.Time, from wire.Peer, m *wire.ReadResp, op *gwOp) {
	switch a, asked := op.direct[from.ID]; {
	case asked && a == from.Addr && slices.Contains(m.Replicas, from):
		if op.claimed == nil {
			op.claimed = map[dht.Key]*wire.ReadResp{}
		}
		op.claimed[from.ID] = m
		if op.claimSet == nil {
			op.claimSet = m
			n.shortenFastWait(now, op)
		}
	case asked && a != from.Addr:
		n.stats.ForgedReplies++ // OH-3: not from the node asked
	case op.plan == nil && m.Replicas != nil:
		op.plan, op.planFrom = m, from.ID
		n.shortenFastWait(now, op)
	}
	set := op.fastSet()
	if set == nil {
		return // members answered before any set: wait for one
	}
	need := min(n.cfg.FastReadAnswers, len(set))
	if len(n.fastReplies(op)) >= need {
		if op.claimed[from.ID] == m {
			n.stats.FastDirect++
		}
		n.finishRead(m.ReqID, op)
	}
}

// shortenFastWait: the members were asked with the set just learnt; if F
// do not answer within the read wait, the gateway asks them itself.
func (n *Node) shortenFastWait(now time.Time, op *gwOp) {
	if d := now.Add(n.cfg.ReadWait); d.Before(op.deadline) {
		op.deadline = d
	}
}

// fastSet returns the replica set a fast get's answers are counted in: the
// coordinator's, else the first self-claimed member's; nil before either.
func (op *gwOp) fastSet() []wire.Peer {
	switch {
	case op.plan != nil:
		return op.plan.Replicas
	case op.claimSet != nil:
		return op.claimSet.Replicas
	}
	return nil
}

// fastReplies returns the answers of a fast get that count: those of the
// members of its coordinator's set, from their own addresses, and the
// self-claimed members' answers to direct reads, each node once.
func (n *Node) fastReplies(op *gwOp) []*wire.ReadResp {
	var out []*wire.ReadResp
	took := map[dht.Key]bool{}
	if op.plan != nil {
		for _, p := range op.plan.Replicas {
			if op.member(p) {
				out = append(out, op.replies[p.ID])
				took[p.ID] = true
			}
		}
	}
	ids := slices.Collect(maps.Keys(op.claimed))
	slices.SortFunc(ids, func(a, b dht.Key) int { return bytes.Compare(a[:], b[:]) })
	for _, id := range ids {
		if !took[id] {
			out = append(out, op.claimed[id])
		}
	}
	return out
}

func readValue(v wire.ReadValue) dht.Value {
	return dht.Value{Value: v.Value, TTLRemaining: v.TTLRemaining, SecretHash: v.SecretHash}
}

// finishReadStorageOrder is the merge of the StoragePlacemark variant: the
// root's values in its storage order, then values only other replicas
// hold, cut to maxvals, with the root's own placemark, which another node
// reads in its own numbering.
func (n *Node) finishReadStorageOrder(id uint64, op *gwOp) {
	index := map[dht.ItemPos]bool{}
	var out []dht.Value
	add := func(r *wire.ReadResp) {
		for _, rv := range r.Values {
			if v := readValue(rv); !index[dht.PosOf(v)] {
				index[dht.PosOf(v)] = true
				out = append(out, v)
			}
		}
	}
	add(op.rootResp)
	others := slices.Collect(maps.Keys(op.replies))
	slices.SortFunc(others, func(a, b dht.Key) int { return bytes.Compare(a[:], b[:]) })
	for _, k := range others {
		if r := op.replies[k]; r != op.rootResp {
			add(r)
		}
	}
	if len(out) > op.read.MaxVals {
		out = out[:op.read.MaxVals]
	}
	n.out.Done = append(n.out.Done, Completion{ReqID: op.client, Values: out, Placemark: op.rootResp.Placemark})
}

// Tick runs the overlay's maintenance, the store's admission and expiry,
// and the request timeouts.
func (n *Node) Tick(now time.Time) {
	n.lastTick = now
	n.ov.Tick(now)
	n.updateMembers(now)
	n.proto.Tick(now)
	if n.ov.Joined() && !now.Before(n.nextSync) {
		if !n.nextSync.IsZero() {
			n.antiEntropy(now)
		}
		// Jittered to [0.5, 1.5) of the period, like the overlay's tasks.
		n.nextSync = now.Add(n.cfg.AntiEntropyPeriod/2 + time.Duration(n.rng.Int64N(int64(n.cfg.AntiEntropyPeriod))))
	}
	n.expireSyncs(now)
	n.storeStep(now, dht.Op{Kind: dht.OpTick}, nil)
	var due []uint64
	for id, op := range n.ops {
		if !now.Before(op.deadline) {
			due = append(due, id)
		}
	}
	slices.Sort(due)
	for _, id := range due {
		op := n.ops[id]
		if op.kind == opRead && op.fast && op.fastSet() != nil && !op.widened {
			n.widen(now, id, op, op.fastSet()) // F members did not answer: ask the rest
			continue
		}
		if op.kind == opRead && op.rootResp != nil && !op.widened {
			n.widen(now, id, op, op.rootResp.Replicas) // the quorum did not fill: ask every member
			continue
		}
		if op.kind == opRead && n.cfg.ParallelReads && !op.fast && op.rootResp == nil && len(op.replies) > 0 && !op.toRoot {
			// Answers came but none from a member that is the root in its
			// own view (RD-13): send the get to the root, without
			// counting it.
			op.toRoot = true
			op.attempts--
			n.attempt(now, id, op)
			continue
		}
		if op.attempts >= n.cfg.Attempts {
			delete(n.ops, id)
			if op.kind == opWrite {
				n.out.Done = append(n.out.Done, Completion{ReqID: op.client, Status: dht.StatusTryAgain})
			} else {
				n.out.Done = append(n.out.Done, Completion{ReqID: op.client, Err: ErrNoAnswer})
			}
			continue
		}
		n.stats.Retries++
		n.attempt(now, id, op)
	}
	var late []uint64
	for rid, rw := range n.roots {
		if !rw.deadline.IsZero() && !now.Before(rw.deadline) {
			late = append(late, rid)
		}
	}
	slices.Sort(late)
	for _, rid := range late {
		rw := n.roots[rid]
		delete(n.roots, rid)
		n.stats.ReplicaTimeouts++
		// Too few replicas acknowledged: the write is stored here but not
		// safe yet. The gateway tries again; anti-entropy carries on.
		n.send(now, rw.gateway, &wire.WriteAck{ReqID: rw.gwReq, Status: uint8(dht.StatusTryAgain)})
	}
	n.collect(now)
}

// ErrJoining answers a get made at a node that is not part of a ring yet
// (JOIN-3): its bootstrap nodes have not answered its join. It is a
// timeout (Timeout reports true): the gateway tells its client to try
// again.
var ErrJoining error = timeoutError("node: not joined to a ring yet (no bootstrap node has answered): try again")

// ErrNoAnswer: a get found no root to answer it within its attempts. It is
// a timeout (Timeout reports true): a gateway tells its client to try
// again rather than report a failure.
var ErrNoAnswer error = timeoutError("node: no answer from the DHT, try again")

type timeoutError string

func (e timeoutError) Error() string { return string(e) }

// Timeout marks the error as a timeout, as net.Error and
// context.DeadlineExceeded do.
func (timeoutError) Timeout() bool { return true }
