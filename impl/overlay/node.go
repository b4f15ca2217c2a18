package overlay

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/opendht-go/opendht/impl/wire"
)

// maxHops bounds a routed message's path. Every hop goes strictly closer
// to the key (see nextHop), so a path cannot loop and is a few hops long;
// the bound only stops a message whose hop count a broken peer inflated.
const maxHops = 64

// deadFor is how long gossip about a peer declared dead is ignored; a
// direct message from it ends the quarantine at once.
const deadFor = 2 * time.Minute

// Send is a datagram the driver must send.
type Send struct {
	To  netip.AddrPort
	Env wire.Envelope
}

// Delivered is an application message that reached this node as the root
// of its key.
type Delivered struct {
	Route wire.Route
	From  wire.Peer // the previous hop
}

// Found answers a Lookup: Root is the root of Key as the routing found it.
type Found struct {
	ReqID uint64
	Key   ID
	Root  wire.Peer
	Hops  int
}

// Ready is what a step produced: datagrams to send and events for the
// application. The driver takes it with (*Node).Ready after each step.
type Ready struct {
	Sends     []Send
	Delivered []Delivered
	Found     []Found
	// GaveUp lists the request IDs of lookups that got no answer after
	// LookupTries sends.
	GaveUp []uint64
}

// Stats counts the node's protocol events.
type Stats struct {
	Sent, Received   map[wire.Type]int
	Timeouts         int
	DeadDeclared     int
	RoutesForwarded  int
	RoutesDropped    int
	RoutesLooped     int // dropped at the hop limit: a loop, or a corrupt hop count
	RoutesDelivered  int
	RouteRetries     int
	LookupRetries    int // lookups the origin sent again after LookupTimeout
	LookupsFailed    int // lookups given up after LookupTries
	JoinAttempts     int
	IgnoredStrangers int // datagrams claiming this node's own ID

	// Datagrams dropped by reason (section 19 of spec/SPEC.md).
	DroppedUnsolicited int // a reply to no outstanding request from its address (OH-3)
	DroppedMismatch    int // claims an ID bound to another address (OH-2)
	DroppedRateLimited int // from an unbound sender over its address's rate (OH-4)
	LateReplies        int // answers to requests that had timed out, taken as proof of life (FD-3)

	ChallengesSent     int // pings that ask a stranger to prove its address (OH-1)
	ChallengesVerified int // answered: the ID is bound to the address
	ChallengesSkipped  int // not sent: too many outstanding (OH-1)
	HostCapRefused     int // peers kept out of the leaf set or table by OH-5
}

type reqKind uint8

const (
	reqPing reqKind = iota + 1
	reqLeaf
	reqRow
	reqHop
	reqRevive // a probe of a peer declared dead: its silence is no news
	reqVerify // an address challenge of a stranger (OH-1)
)

// request is an outstanding message awaiting its answer.
type request struct {
	kind     reqKind
	to       wire.Peer
	sent     time.Time
	deadline time.Time
	route    *wire.Route // reqHop: the message, to resend on timeout
	tried    []ID        // reqHop: next hops already tried
}

// lookup is an application lookup awaiting its answer. The origin sends
// it again if no answer comes in time: a hop that acknowledged it may die
// before it forwards it, and the message is then lost.
type lookup struct {
	key      ID
	deadline time.Time // zero: held until the node has joined
	tries    int
}

type peerInfo struct {
	rtt       rtt
	lastHeard time.Time
	// addr is the address the ID is bound to, once the peer has answered
	// a request sent there (OH-1); until then bound is false and the peer
	// is a stranger, used for nothing.
	addr  netip.AddrPort
	bound bool
	// failedAt is when the last timeout toward the peer was counted:
	// requests sent before it that time out too are the same silence,
	// not more evidence (FD-2).
	failedAt time.Time
}

// lateReq is a request that timed out, kept for lateWindow so that its
// answer, if it comes, still proves the peer alive (FD-3).
type lateReq struct {
	to      wire.Peer
	sent    time.Time
	expires time.Time
}

// lateWindow is how long a timed-out request's nonce is remembered, and
// lateLimit how many at most: an answer later than the longest backoff
// before a peer is declared dead (about 3 x MaxRTO) is no longer news.
const (
	lateWindow = 15 * time.Second
	lateLimit  = 4096
)

// challengeKey names an outstanding address challenge.
type challengeKey struct {
	id   ID
	addr netip.AddrPort
}

// bucket is a token bucket of datagrams from one address (OH-4).
type bucket struct {
	tokens float64
	last   time.Time
}

// maxBuckets bounds the rate limiter's memory: past it, the buckets start
// afresh (a flood from many addresses is held by MaxChallenges instead).
const maxBuckets = 4096

// Node is the Bamboo overlay of one node as a pure state machine: it is
// driven by Join, Receive, Tick, Lookup and Route with the current time,
// and its outputs are taken with Ready. It does no I/O, starts no
// goroutine and reads no clock; one driver calls it at a time.
type Node struct {
	cfg    Config
	self   wire.Peer
	rng    *rand.Rand
	leaves leafSet
	tbl    *table
	// Scratch space of proximityHop, reused from route to route.
	knownBuf []wire.Peer
	rttBuf   []time.Duration
	peers    map[ID]*peerInfo
	dead     map[ID]time.Time
	reqs     map[uint64]*request
	late     map[uint64]lateReq // timed-out requests whose answer still counts (FD-3)

	joined    bool
	joinTries int // joins sent since the node last joined
	bootstrap []netip.AddrPort
	joinAt    time.Time
	// joinNonce is the current join's request id: the root's LeafResp and
	// the hops' RowResps echo it, and nothing else is taken as an answer
	// to the join (OH-3).
	joinNonce uint64
	// joinAnswered is set when the root answered the join: the node has
	// joined once the first leaf it named answers (OH-1).
	joinAnswered bool

	challenges map[challengeKey]uint64 // outstanding address challenges
	buckets    map[netip.Addr]*bucket  // stranger rate limits by address
	lookups    map[uint64]*lookup      // lookups of the application (not tuning)
	tuning     map[uint64]bool         // far-tuning lookups

	nextLeaf, nextNear, nextFar, nextPing, nextRevive time.Time

	// graves remembers peers declared dead, to probe now and then: after a
	// partition heals, this is how two halves that each declared the other
	// dead find each other again.
	graves map[ID]grave

	out   Ready
	stats Stats // all but Sent and Received, which are counted below
	// sent and received count messages by type: arrays, not maps, since
	// there are few types and every message counts.
	sent, received typeCounts
	stepNow        time.Time // the time of the step in progress
}

// New returns a node with identity self. It panics on an invalid config,
// which the caller validated.
func New(cfg Config, self wire.Peer) *Node {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	n := &Node{
		cfg:     cfg,
		self:    self,
		rng:     rand.New(rand.NewPCG(cfg.Seed, uint64(self.ID[0])<<8|uint64(self.ID[19]))),
		leaves:  leafSet{self: self, size: cfg.LeafSetSize},
		tbl:     newTable(self, cfg.DigitBits),
		peers:   map[ID]*peerInfo{},
		dead:    map[ID]time.Time{},
		reqs:    map[uint64]*request{},
		late:    map[uint64]lateReq{},
		lookups: map[uint64]*lookup{},
		tuning:  map[uint64]bool{},
		graves:  map[ID]grave{},

		challenges: map[challengeKey]uint64{},
		buckets:    map[netip.Addr]*bucket{},
	}
	n.leaves.perHost = cfg.PeersPerHost
	n.tbl.perHost = cfg.PeersPerHost
	return n
}

// Self returns the node's identity.
func (n *Node) Self() wire.Peer { return n.self }

// Joined reports whether the node has received its leaf set.
func (n *Node) Joined() bool { return n.joined }

// Leaves returns the leaf set (successors then predecessors, distinct).
func (n *Node) Leaves() []wire.Peer { return n.leaves.all() }

// LeafCount returns how many peers the leaf set holds.
func (n *Node) LeafCount() int {
	return len(n.leaves.front(n.leaves.succ)) + len(n.leaves.front(n.leaves.pred))
}

// AppendLeaves appends the leaf set, as Leaves lists it, to dst.
func (n *Node) AppendLeaves(dst []wire.Peer) []wire.Peer { return n.leaves.appendAll(dst) }

// Successors returns the clockwise side of the leaf set, nearest first.
func (n *Node) Successors() []wire.Peer { return slices.Clone(n.leaves.front(n.leaves.succ)) }

// Predecessors returns the counter-clockwise side, nearest first.
func (n *Node) Predecessors() []wire.Peer { return slices.Clone(n.leaves.front(n.leaves.pred)) }

// TableRows returns the routing table's filled entries by row: row r holds
// the peers that share r digits with this node. Empty rows are left out;
// the map is new, for a status page.
func (n *Node) TableRows() map[int][]wire.Peer {
	out := map[int][]wire.Peer{}
	for r := range n.tbl.rows {
		if row := n.tbl.row(r); len(row) > 0 {
			out[r] = row
		}
	}
	return out
}

// AppendKnown appends the nodes of the leaf set and the routing table to
// dst (a node in both appears twice).
func (n *Node) AppendKnown(dst []wire.Peer) []wire.Peer {
	return n.tbl.appendAll(n.leaves.appendAll(dst))
}

// TableSize returns the number of routing-table entries.
func (n *Node) TableSize() int { return n.tbl.size() }

// Stats returns a copy of the counters.
func (n *Node) Stats() Stats {
	s := n.stats
	s.Sent, s.Received = byType(&n.sent), byType(&n.received)
	return s
}

// typeCounts counts messages by type; the wire has fewer than 16 types.
type typeCounts [16]int

func (c *typeCounts) add(t wire.Type) {
	if int(t) < len(c) {
		c[t]++
	}
}

// byType returns the nonzero counters of c by message type.
func byType(c *typeCounts) map[wire.Type]int {
	m := map[wire.Type]int{}
	for t, v := range c {
		if v != 0 {
			m[wire.Type(t)] = v
		}
	}
	return m
}

// Ready returns and clears the outputs accumulated since the last call.
func (n *Node) Ready() Ready {
	r := n.out
	n.out = Ready{}
	return r
}

// Join starts the node. With no bootstrap address it is the first node of
// a new ring; otherwise it routes a join toward its own ID through the
// first reachable bootstrap node.
func (n *Node) Join(now time.Time, bootstrap []netip.AddrPort) {
	n.stepNow = now
	n.bootstrap = slices.DeleteFunc(slices.Clone(bootstrap), func(a netip.AddrPort) bool { return a == n.self.Addr })
	n.scheduleAll(now)
	if len(n.bootstrap) == 0 {
		n.joined = true
		return
	}
	n.sendJoin(now)
}

// joinDelay is how long the node waits for the answer to its last join
// before it sends another: JoinRetry, doubled for each join in a row that
// went unanswered, up to JoinRetryMax (a bootstrap node that is down is
// not asked every few seconds forever).
func (n *Node) joinDelay() time.Duration {
	d := n.cfg.JoinRetry
	for i := 1; i < n.joinTries && d < n.cfg.JoinRetryMax; i++ {
		d *= 2
	}
	return max(n.cfg.JoinRetry, min(d, n.cfg.JoinRetryMax))
}

func (n *Node) sendJoin(now time.Time) {
	n.joinAt = now
	n.joinTries++
	n.stats.JoinAttempts++
	n.joinNonce = 0
	n.joinNonce = n.newNonce()
	n.joinAnswered = false
	to := n.bootstrap[n.rng.IntN(len(n.bootstrap))]
	// A node that knows peers already (a restart, a join that timed out
	// half-way, or a node whose every leaf died) asks one of them: the
	// bootstrap nodes may be dead by now, and a node that rejoins only
	// through them can end up alone, the seed of a ring of its own for
	// whoever joins through it next.
	if known := append(n.leaves.all(), n.tbl.all()...); len(known) > 0 && n.rng.IntN(4) != 0 {
		to = known[n.rng.IntN(len(known))].Addr
	}
	r := &wire.Route{Key: n.self.ID, Kind: wire.RouteJoin, Origin: n.self, ReqID: n.joinNonce}
	n.forwardTo(now, wire.Peer{Addr: to}, r, nil)
}

func (n *Node) jitter(now time.Time, mean time.Duration) time.Time {
	// Uniform in [0.5, 1.5) x mean: periodic tasks of many nodes do not
	// synchronise.
	return now.Add(mean/2 + time.Duration(n.rng.Int64N(int64(mean))))
}

type grave struct {
	peer  wire.Peer
	until time.Time
}

// graveLimit bounds the remembered dead peers; graveTime is how long one
// is remembered.
const (
	graveLimit = 128
	graveTime  = time.Hour
)

func (n *Node) scheduleAll(now time.Time) {
	n.nextRevive = n.jitter(now, n.cfg.RevivePeriod)
	n.nextLeaf = n.jitter(now, n.cfg.LeafSetPeriod)
	n.nextNear = n.jitter(now, n.cfg.NearPeriod)
	n.nextFar = n.jitter(now, n.cfg.FarPeriod)
	n.nextPing = n.jitter(now, n.cfg.PingPeriod)
}

// NextWake returns when Tick next has work to do.
func (n *Node) NextWake() time.Time {
	t := minTime(minTime(n.nextLeaf, n.nextNear), minTime(n.nextFar, n.nextPing))
	t = minTime(t, n.nextRevive)
	for _, r := range n.reqs {
		t = minTime(t, r.deadline)
	}
	for _, l := range n.lookups {
		if l.deadline.IsZero() && n.joined {
			return n.stepNow // a held lookup can go now
		}
		t = minTime(t, l.deadline)
	}
	if !n.joined && len(n.bootstrap) > 0 {
		t = minTime(t, n.joinAt.Add(n.joinDelay()))
	}
	return t
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func (n *Node) send(to netip.AddrPort, m wire.Message) {
	n.out.Sends = append(n.out.Sends, Send{To: to, Env: wire.Envelope{From: n.self, Msg: m}})
	n.sent.add(m.Type())
}

// newNonce returns a fresh random nonce for a request: an answer must echo
// it, and one who did not see the request cannot guess it (OH-3). 48 bits
// keep it short on the wire (a uvarint of 7 bytes); a late reply to a
// previous incarnation of this node does not match either.
func (n *Node) newNonce() uint64 {
	for {
		v := n.rng.Uint64() >> 16
		if _, used := n.reqs[v]; v != 0 && !used && v != n.joinNonce {
			return v
		}
	}
}

// newReqID returns a fresh random id for a lookup or a routed message:
// the root's answer must echo it (OH-3).
func (n *Node) newReqID() uint64 {
	for {
		v := n.rng.Uint64() >> 16
		if v != 0 && n.lookups[v] == nil && !n.tuning[v] {
			return v
		}
	}
}

func (n *Node) peer(id ID) *peerInfo {
	p := n.peers[id]
	if p == nil {
		p = &peerInfo{}
		n.peers[id] = p
	}
	return p
}

func (n *Node) rto(id ID) time.Duration {
	minRTO := n.cfg.MinRTO
	if n.bug().FragileLiveness {
		minRTO = 0
	}
	return n.peer(id).rtt.rto(n.cfg.InitialRTO, minRTO, n.cfg.MaxRTO)
}

// request sends m and remembers it until its answer or its timeout.
func (n *Node) request(now time.Time, kind reqKind, to wire.Peer, nonce uint64, m wire.Message) *request {
	r := &request{kind: kind, to: to, sent: now, deadline: now.Add(n.rto(to.ID))}
	n.reqs[nonce] = r
	n.send(to.Addr, m)
	return r
}

// better is proximity neighbour selection: prefer the peer with the lower
// smoothed RTT, and any measured peer over an unmeasured one.
func (n *Node) better(old, cand wire.Peer) bool {
	o, c := n.peers[old.ID], n.peers[cand.ID]
	if c == nil || c.rtt.samples == 0 {
		return false
	}
	if o == nil || o.rtt.samples == 0 {
		return true
	}
	return c.rtt.srtt < o.rtt.srtt
}

// boundAddr returns the address id is bound to (OH-1).
func (n *Node) boundAddr(id ID) (netip.AddrPort, bool) {
	if p := n.peers[id]; p != nil && p.bound {
		return p.addr, true
	}
	return netip.AddrPort{}, false
}

// bind records that p answered at its address: its ID is bound there
// (OH-1), and it is alive, whatever was said of it before.
func (n *Node) bind(p wire.Peer) {
	info := n.peer(p.ID)
	info.addr, info.bound = p.Addr, true
	delete(n.dead, p.ID)
	delete(n.graves, p.ID)
}

// heard records direct contact with p (a datagram from it). A peer bound
// to that address is alive; a stranger is asked to prove its address
// first (OH-1).
func (n *Node) heard(now time.Time, p wire.Peer) {
	if p.ID == n.self.ID {
		return
	}
	if n.bug().TrustClaims {
		n.bind(p)
	}
	if addr, ok := n.boundAddr(p.ID); !ok || addr != p.Addr {
		n.challenge(now, p)
		return
	}
	n.peer(p.ID).lastHeard = now
	n.consider(p)
}

// consider offers a peer to the leaf set and the routing table, unless it
// was declared dead recently. Only a peer bound to the address given
// enters them; a stranger is challenged (OH-1).
func (n *Node) consider(p wire.Peer) {
	if p.ID == n.self.ID || !p.Addr.IsValid() {
		return
	}
	if _, ok := n.dead[p.ID]; ok {
		return
	}
	addr, ok := n.boundAddr(p.ID)
	if n.bug().TrustClaims {
		n.leaves.perHost, n.tbl.perHost = 0, 0
	}
	if !ok && n.bug().TrustClaims {
		// Before section 19: gossip entered the leaf set at once, and was
		// pinged after.
		if n.leaves.add(p) && n.peers[p.ID] == nil {
			nonce := n.newNonce()
			n.request(n.stepNow, reqPing, p, nonce, &wire.Ping{Nonce: nonce})
		}
		n.tbl.offer(p, n.better)
		return
	}
	if !ok {
		n.challenge(n.stepNow, p)
		return
	}
	if addr != p.Addr {
		return // gossip of another address than the one the peer proved (OH-2)
	}
	r0, r1 := n.leaves.refused, n.tbl.refused
	if n.leaves.add(p) && n.joinAnswered && !n.joined {
		n.becomeJoined()
	}
	n.tbl.offer(p, n.better)
	n.stats.HostCapRefused += n.leaves.refused - r0 + n.tbl.refused - r1
}

// becomeJoined ends a join: the root answered and a leaf it named is bound.
func (n *Node) becomeJoined() {
	n.joined, n.joinAnswered, n.joinTries = true, false, 0
}

// challenge asks a stranger to prove that it receives at its address: a
// ping with a fresh nonce, whose answer binds the ID to the address
// (OH-1). Challenges are bounded in all and per host, so that gossip or a
// flood naming many strangers does not make the node ping the world.
func (n *Node) challenge(now time.Time, p wire.Peer) {
	if p.ID == n.self.ID || !p.Addr.IsValid() {
		return
	}
	if addr, ok := n.boundAddr(p.ID); ok && addr != p.Addr {
		return // no rebinding while the bound address lives (OH-2)
	}
	k := challengeKey{p.ID, p.Addr}
	if _, ok := n.challenges[k]; ok {
		return
	}
	if len(n.challenges) >= n.cfg.MaxChallenges {
		n.stats.ChallengesSkipped++
		return
	}
	if !p.Addr.Addr().IsLoopback() {
		same := 0
		for c := range n.challenges {
			if c.addr.Addr() == p.Addr.Addr() {
				same++
			}
		}
		if same >= n.cfg.HostChallenges {
			n.stats.ChallengesSkipped++
			return
		}
	}
	nonce := n.newNonce()
	n.challenges[k] = nonce
	n.stats.ChallengesSent++
	n.request(now, reqVerify, p, nonce, &wire.Ping{Nonce: nonce})
}

// admitStranger charges one datagram from an unbound sender to its
// address's token bucket (OH-4); loopback is exempt.
func (n *Node) admitStranger(now time.Time, from netip.AddrPort) bool {
	ip := from.Addr()
	if ip.IsLoopback() {
		return true
	}
	b := n.buckets[ip]
	if b == nil {
		if len(n.buckets) >= maxBuckets {
			clear(n.buckets)
		}
		b = &bucket{tokens: float64(n.cfg.StrangerBurst), last: now}
		n.buckets[ip] = b
	}
	b.tokens = min(float64(n.cfg.StrangerBurst), b.tokens+now.Sub(b.last).Seconds()*n.cfg.StrangerRate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// replyNonce returns the nonce of an answer to a request of ours.
func replyNonce(m wire.Message) (uint64, bool) {
	switch m := m.(type) {
	case *wire.Pong:
		return m.Nonce, true
	case *wire.RouteAck:
		return m.Nonce, true
	case *wire.LeafResp:
		return m.Nonce, true
	case *wire.RowResp:
		return m.Nonce, true
	}
	return 0, false
}

// Receive handles one datagram from the address from. The source address
// is trusted, not the ID the datagram claims: a claim counts only once
// the sender has answered a request sent to that address (spec/SPEC.md
// section 19).
func (n *Node) Receive(now time.Time, from netip.AddrPort, env wire.Envelope) {
	n.stepNow = now
	if env.From.ID == n.self.ID {
		n.stats.IgnoredStrangers++ // an echo of ourselves, or an impostor
		return
	}
	sender := wire.Peer{ID: env.From.ID, Addr: from}
	trust := n.bug().TrustClaims
	addr, bound := n.boundAddr(sender.ID)
	if bound && addr != from && !trust {
		n.stats.DroppedMismatch++ // OH-2
		return
	}
	nonce, isReply := replyNonce(env.Msg)
	joinReply := isReply && n.joinNonce != 0 && nonce == n.joinNonce
	switch {
	case isReply && !joinReply:
		if n.answered(now, nonce, sender) {
			bound = true
		} else if !trust {
			n.stats.DroppedUnsolicited++ // OH-3
			return
		}
	case !bound && !trust && !n.admitStranger(now, from):
		n.stats.DroppedRateLimited++ // OH-4
		return
	}
	if rootIs, ok := env.Msg.(*wire.RootIs); ok && n.lookups[rootIs.ReqID] == nil && !n.tuning[rootIs.ReqID] {
		n.stats.DroppedUnsolicited++ // OH-3: an answer to no lookup of ours
		return
	}
	n.received.add(env.Msg.Type())
	n.heard(now, sender)
	switch m := env.Msg.(type) {
	case *wire.Ping:
		n.send(from, &wire.Pong{Nonce: m.Nonce})
	case *wire.LeafReq:
		n.merge(m.Leaves)
		n.send(from, &wire.LeafResp{Nonce: m.Nonce, Leaves: n.leaves.all()})
	case *wire.LeafResp:
		n.merge(m.Leaves)
		if joinReply && !n.joined {
			n.joinAnswered = true
			// Part of joining, as in Pastry: announce ourselves to the whole
			// leaf set the root named at once, so that lookups find the new
			// root now, not after the neighbours' next periodic exchange.
			// Each announcement is also the challenge of that leaf (OH-1):
			// its answer binds it, and the first one makes the node joined.
			for _, p := range append(slices.Clone(m.Leaves), sender) {
				if p.ID == n.self.ID || !p.Addr.IsValid() || n.probing(p.ID) {
					continue
				}
				if a, ok := n.boundAddr(p.ID); ok {
					if a == p.Addr {
						n.consider(p)
					}
					continue
				}
				nonce := n.newNonce()
				n.request(now, reqLeaf, p, nonce, &wire.LeafReq{Nonce: nonce, Leaves: n.leaves.all()})
			}
			if len(n.leaves.all()) > 0 { // a leaf was bound already
				n.becomeJoined()
			}
		}
	case *wire.RowReq:
		n.send(from, &wire.RowResp{Nonce: m.Nonce, Row: m.Row, Entries: n.tbl.row(int(m.Row))})
	case *wire.RowResp:
		n.merge(m.Entries)
	case *wire.Route:
		n.send(from, &wire.RouteAck{Nonce: m.Nonce})
		n.route(now, sender, m)
	case *wire.RootIs:
		n.merge(m.Leaves)
		switch {
		case n.lookups[m.ReqID] != nil:
			delete(n.lookups, m.ReqID)
			n.out.Found = append(n.out.Found, Found{ReqID: m.ReqID, Key: m.Key, Root: sender, Hops: int(m.Hops)})
		case n.tuning[m.ReqID]:
			delete(n.tuning, m.ReqID)
		}
	}
}

func (n *Node) merge(ps []wire.Peer) {
	for _, p := range ps {
		if p.ID == n.self.ID {
			continue
		}
		// A peer we have never measured competes for a filled slot only
		// after a probe (proximity neighbour selection).
		if row, col, ok := n.tbl.slot(p.ID); ok && n.bug().TrustClaims {
			if cur := n.tbl.get(row, col); cur != nil && cur.ID != p.ID && n.peers[p.ID] == nil {
				if _, dead := n.dead[p.ID]; !dead && p.Addr.IsValid() {
					nonce := n.newNonce()
					n.request(n.lastNow(), reqPing, p, nonce, &wire.Ping{Nonce: nonce})
				}
			}
		}
		n.consider(p)
	}
}

// lastNow is the time of the request being answered; merge needs a time
// to stamp probes with, and it is always called within a step at now.
func (n *Node) lastNow() time.Time { return n.stepNow }

// answered matches a reply to the outstanding request with its nonce: it
// counts only from the address the request went to, and from the ID
// asked when the request named one (OH-3). A match binds the sender's ID
// to that address (OH-1).
func (n *Node) answered(now time.Time, nonce uint64, from wire.Peer) bool {
	r := n.reqs[nonce]
	if r == nil {
		return n.answeredLate(now, nonce, from)
	}
	if r.to.ID != from.ID && r.to.ID != (ID{}) {
		return false
	}
	if r.to.Addr != from.Addr && !n.bug().TrustClaims {
		return false
	}
	delete(n.reqs, nonce)
	if r.kind == reqVerify {
		delete(n.challenges, challengeKey{r.to.ID, r.to.Addr})
		n.stats.ChallengesVerified++
	}
	n.bind(from)
	n.peer(from.ID).rtt.sample(now.Sub(r.sent))
	return true
}

// answeredLate matches a reply to a request that timed out within
// lateWindow, under the same conditions as answered (OH-3): the peer is
// alive, its consecutive timeouts end, and the late round trip is a
// sample, so that its RTO grows to what the peer takes now (FD-3). What
// the request asked for was retried or given up when it timed out.
func (n *Node) answeredLate(now time.Time, nonce uint64, from wire.Peer) bool {
	l, ok := n.late[nonce]
	if !ok || (l.to.ID != from.ID && l.to.ID != (ID{})) || (l.to.Addr != from.Addr && !n.bug().TrustClaims) {
		return false
	}
	delete(n.late, nonce)
	if from.ID == (ID{}) || n.bug().FragileLiveness {
		return false
	}
	n.stats.LateReplies++
	n.bind(from)
	n.peer(from.ID).rtt.sample(now.Sub(l.sent))
	return true
}

// nextHop picks where a message for key goes next, skipping excluded
// peers; self means this node is the root as far as it knows.
//
// Every hop goes to a node strictly closer to key than this one, so a
// message cannot loop whatever the nodes' views of the ring. Pastry's
// prefix hops alone do not have that property: a routing-table entry
// shares a longer prefix with the key but may lie numerically farther
// from it than this node, and the numeric hops that finish a route go
// back the other way. Two nodes whose leaf sets disagree on who the root
// is then bounce a message between them until its hop limit, each hop
// acknowledged, and the origin's retries take the same path: the key is
// unreachable from there until the views change. Such a table entry is
// taken only when it is also closer; otherwise the route continues
// through the closer nodes this node knows, which near the end of a route
// are its leaves.
func (n *Node) nextHop(key ID, exclude []ID) wire.Peer {
	return n.hopToward(key, exclude, false)
}

// hopToward is nextHop for a message that is delivered at the root (near
// false) or at the first node that knows the key's replica set (near
// true, RouteAppNear). With ProximityRouting it picks by expected delay
// among the peers that make progress (PR-1).
func (n *Node) hopToward(key ID, exclude []ID, near bool) wire.Peer {
	usable := func(p wire.Peer) bool {
		if slices.Contains(exclude, p.ID) {
			return false
		}
		_, dead := n.dead[p.ID]
		return !dead
	}
	if n.cfg.ProximityRouting {
		return n.proximityHop(key, usable, near)
	}
	if n.leaves.covers(key) {
		best := n.self
		for _, p := range n.leaves.all() {
			if usable(p) && Closer(key, p.ID, best.ID) {
				best = p
			}
		}
		return best
	}
	row := SharedPrefix(n.self.ID, key, n.cfg.DigitBits)
	if row < len(n.tbl.rows) {
		if p := n.tbl.get(row, Digit(key, row, n.cfg.DigitBits)); p != nil && usable(*p) && Closer(key, p.ID, n.self.ID) {
			return *p
		}
	}
	// Rare case: any known node at least as good a prefix match and
	// numerically closer.
	best := n.self
	known := append(n.leaves.all(), n.tbl.all()...)
	for _, p := range known {
		if usable(p) && SharedPrefix(p.ID, key, n.cfg.DigitBits) >= row && Closer(key, p.ID, best.ID) {
			best = p
		}
	}
	if best.ID == n.self.ID {
		// The key is outside our leaf set, so we are not its root: go to
		// any node numerically closer.
		for _, p := range known {
			if usable(p) && Closer(key, p.ID, best.ID) {
				best = p
			}
		}
	}
	return best
}

// route handles a routed message that arrived from the previous hop.
func (n *Node) route(now time.Time, prev wire.Peer, m *wire.Route) {
	m.Hops++
	if m.Kind == wire.RouteJoin && m.Origin.ID != n.self.ID {
		// Pastry join: every hop gives the joiner the rows it shares.
		for r := 0; r <= SharedPrefix(n.self.ID, m.Origin.ID, n.cfg.DigitBits) && r < len(n.tbl.rows); r++ {
			if row := n.tbl.row(r); len(row) > 0 {
				n.send(m.Origin.Addr, &wire.RowResp{Nonce: m.ReqID, Row: uint8(r), Entries: row})
			}
		}
	}
	var exclude []ID
	if m.Kind == wire.RouteJoin {
		exclude = []ID{m.Origin.ID} // the joiner is not its own root yet
	}
	if n.knowsNear(m) {
		n.atRoot(now, prev, m)
		return
	}
	next := n.hopToward(m.Key, exclude, m.Kind == wire.RouteAppNear)
	if next.ID == n.self.ID && !n.joined && m.Kind == wire.RouteFindRoot && m.Origin.ID != n.self.ID {
		// A node still joining knows only what its join has brought in so
		// far: it answers no lookup (the origin sends it again). Joins it
		// does answer, or two nodes that start through each other would
		// wait for each other; application messages are the
		// application's to retry.
		n.stats.RoutesDropped++
		return
	}
	if next.ID == n.self.ID || m.Hops >= maxHops {
		if m.Hops >= maxHops {
			n.stats.RoutesDropped++
			n.stats.RoutesLooped++
			return
		}
		n.atRoot(now, prev, m)
		return
	}
	n.stats.RoutesForwarded++
	n.forwardTo(now, next, m, exclude)
}

func (n *Node) forwardTo(now time.Time, next wire.Peer, m *wire.Route, tried []ID) {
	fwd := *m
	fwd.Nonce = n.newNonce()
	r := n.request(now, reqHop, next, fwd.Nonce, &fwd)
	r.route = &fwd
	r.tried = append(slices.Clone(tried), next.ID)
}

func (n *Node) atRoot(now time.Time, prev wire.Peer, m *wire.Route) {
	switch m.Kind {
	case wire.RouteJoin:
		if m.Origin.ID == n.self.ID {
			return // our own join found no one to go to: the join timer retries
		}
		n.send(m.Origin.Addr, &wire.LeafResp{Nonce: m.ReqID, Leaves: append(n.leaves.all(), n.self)})
		n.consider(m.Origin)
	case wire.RouteFindRoot:
		if m.Origin.ID == n.self.ID {
			n.rootIsSelf(m)
			return
		}
		n.send(m.Origin.Addr, &wire.RootIs{ReqID: m.ReqID, Key: m.Key, Hops: m.Hops, Leaves: n.leaves.all()})
	case wire.RouteApp, wire.RouteAppNear:
		n.stats.RoutesDelivered++
		n.out.Delivered = append(n.out.Delivered, Delivered{Route: *m, From: prev})
	}
}

func (n *Node) rootIsSelf(m *wire.Route) {
	if n.lookups[m.ReqID] != nil {
		delete(n.lookups, m.ReqID)
		n.out.Found = append(n.out.Found, Found{ReqID: m.ReqID, Key: m.Key, Root: n.self, Hops: int(m.Hops)})
	}
	delete(n.tuning, m.ReqID)
}

// Lookup routes a FindRoot for key; the answer comes as a Found in Ready.
func (n *Node) Lookup(now time.Time, key ID) uint64 {
	n.stepNow = now
	id := n.newReqID()
	l := &lookup{key: key}
	n.lookups[id] = l
	if n.joined {
		n.sendLookup(now, id, l)
	}
	return id
}

// sendLookup sends (or sends again) a lookup. A node that has not joined
// holds its lookups until it has: with no leaf set it would answer every
// one itself.
func (n *Node) sendLookup(now time.Time, id uint64, l *lookup) {
	l.tries++
	l.deadline = now.Add(n.cfg.LookupTimeout)
	n.originate(now, &wire.Route{Key: l.key, Kind: wire.RouteFindRoot, Origin: n.self, ReqID: id})
}

// expireLookups sends held lookups once the node has joined, and sends
// again those not answered in time; after LookupTries it gives up.
func (n *Node) expireLookups(now time.Time) {
	var due []uint64
	for id, l := range n.lookups {
		if (l.deadline.IsZero() && n.joined) || (!l.deadline.IsZero() && !now.Before(l.deadline)) {
			due = append(due, id)
		}
	}
	slices.Sort(due) // map order must not leak into the outputs
	for _, id := range due {
		l := n.lookups[id]
		if l.tries >= n.cfg.LookupTries {
			delete(n.lookups, id)
			n.stats.LookupsFailed++
			n.out.GaveUp = append(n.out.GaveUp, id)
			continue
		}
		if l.tries > 0 {
			n.stats.LookupRetries++
		}
		n.sendLookup(now, id, l)
	}
}

// Route sends an application payload to the root of key; it arrives there
// as a Delivered.
func (n *Node) Route(now time.Time, key ID, payload []byte) uint64 {
	n.stepNow = now
	id := n.newReqID()
	n.originate(now, &wire.Route{Key: key, Kind: wire.RouteApp, Origin: n.self, ReqID: id, Payload: payload})
	return id
}

// RouteNear sends an application payload toward the root of key, to be
// delivered at the first node on the way that knows the key's NearSize
// closest nodes (KnowsClosest): this node itself, when it does. It
// arrives there as a Delivered (PR-2).
func (n *Node) RouteNear(now time.Time, key ID, payload []byte) uint64 {
	n.stepNow = now
	id := n.newReqID()
	n.originate(now, &wire.Route{Key: key, Kind: wire.RouteAppNear, Origin: n.self, ReqID: id, Payload: payload})
	return id
}

// knowsNear reports whether a near-routed message ends here.
func (n *Node) knowsNear(m *wire.Route) bool {
	return m.Kind == wire.RouteAppNear && n.cfg.NearSize > 0 && n.KnowsClosest(m.Key, n.cfg.NearSize)
}

func (n *Node) originate(now time.Time, m *wire.Route) {
	if n.knowsNear(m) {
		n.atRoot(now, n.self, m)
		return
	}
	next := n.hopToward(m.Key, nil, m.Kind == wire.RouteAppNear)
	if next.ID == n.self.ID {
		n.atRoot(now, n.self, m)
		return
	}
	n.forwardTo(now, next, m, nil)
}

// Tick runs timeouts and the periodic maintenance due at now.
func (n *Node) Tick(now time.Time) {
	n.stepNow = now
	n.expireRequests(now)
	n.expireLookups(now)
	for id, until := range n.dead {
		if !now.Before(until) {
			delete(n.dead, id)
		}
	}
	if n.joined && len(n.bootstrap) > 0 && len(n.leaves.all()) == 0 && !now.Before(n.joinAt.Add(n.cfg.JoinRetry)) {
		// Every neighbour is gone: this node is alone, join again.
		n.joined = false
	}
	if !n.joined && len(n.bootstrap) > 0 && !now.Before(n.joinAt.Add(n.joinDelay())) {
		n.sendJoin(now)
	}
	if !now.Before(n.nextLeaf) {
		n.nextLeaf = n.jitter(now, n.cfg.LeafSetPeriod)
		n.leafExchange(now)
	}
	if !now.Before(n.nextPing) {
		n.nextPing = n.jitter(now, n.cfg.PingPeriod)
		n.pingNeighbours(now)
	}
	if !now.Before(n.nextNear) {
		n.nextNear = n.jitter(now, n.cfg.NearPeriod)
		n.nearTuning(now)
	}
	if !now.Before(n.nextRevive) {
		n.nextRevive = n.jitter(now, n.cfg.RevivePeriod)
		n.revive(now)
	}
	if !now.Before(n.nextFar) {
		n.nextFar = n.jitter(now, n.cfg.FarPeriod)
		n.farTuning(now)
	}
}

func (n *Node) expireRequests(now time.Time) {
	var due []uint64
	for nonce, r := range n.reqs {
		if !now.Before(r.deadline) {
			due = append(due, nonce)
		}
	}
	slices.Sort(due) // map order must not leak into the outputs
	for nonce, l := range n.late {
		if !now.Before(l.expires) {
			delete(n.late, nonce)
		}
	}
	for _, nonce := range due {
		r := n.reqs[nonce]
		delete(n.reqs, nonce)
		n.stats.Timeouts++
		if len(n.late) < lateLimit {
			n.late[nonce] = lateReq{to: r.to, sent: r.sent, expires: now.Add(lateWindow)}
		}
		if r.kind == reqVerify {
			delete(n.challenges, challengeKey{r.to.ID, r.to.Addr})
			continue
		}
		if r.kind == reqRevive {
			continue
		}
		n.failed(now, r.to, r.sent)
		if r.kind == reqHop {
			n.retryHop(now, r)
		}
	}
}

// failed records a timeout toward p of a request sent at sent; enough in
// a row and p is dead. Requests that were in flight together when p went
// quiet time out together: only one sent after the last counted timeout
// counts again (FD-2), so DeadAfter timeouts in a row are DeadAfter
// backed-off RTOs of silence, not one RTO with that many requests out.
func (n *Node) failed(now time.Time, p wire.Peer, sent time.Time) {
	if p.ID == (ID{}) {
		return // a bootstrap address whose ID we do not know yet
	}
	info := n.peer(p.ID)
	if info.rtt.failures > 0 && sent.Before(info.failedAt) && !n.bug().FragileLiveness {
		return
	}
	info.failedAt = now
	info.rtt.failures++
	if info.rtt.failures >= n.cfg.DeadAfter {
		n.declareDead(now, p.ID)
		return
	}
	// A neighbour that missed an answer is probed again at once (with the
	// backed-off timeout), so that a dead one is found in a few RTOs, not
	// a few periods. Only the suspect is probed: recovery stays periodic.
	if n.leaves.contains(p.ID) || n.inTable(p.ID) {
		nonce := n.newNonce()
		n.request(now, reqPing, p, nonce, &wire.Ping{Nonce: nonce})
	}
}

func (n *Node) inTable(id ID) bool {
	row, col, ok := n.tbl.slot(id)
	return ok && n.tbl.get(row, col) != nil && n.tbl.get(row, col).ID == id
}

func (n *Node) declareDead(now time.Time, id ID) {
	n.stats.DeadDeclared++
	if p, ok := n.known(id); ok {
		if len(n.graves) >= graveLimit {
			for k := range n.graves { // any one: they are all old news
				delete(n.graves, k)
				break
			}
		}
		n.graves[id] = grave{peer: p, until: now.Add(graveTime)}
	}
	n.leaves.remove(id)
	n.tbl.remove(id)
	delete(n.peers, id)
	n.dead[id] = now.Add(deadFor)
}

func (n *Node) retryHop(now time.Time, r *request) {
	if len(r.tried) >= n.cfg.RouteTries {
		n.stats.RoutesDropped++
		return
	}
	n.stats.RouteRetries++
	m := r.route
	var joiner []ID
	if m.Kind == wire.RouteJoin {
		joiner = []ID{m.Origin.ID}
	}
	near := m.Kind == wire.RouteAppNear
	next := n.hopToward(m.Key, append(slices.Clone(r.tried), joiner...), near)
	if next.ID == n.self.ID {
		next = n.hopToward(m.Key, joiner, near)
		switch {
		case next.ID != n.self.ID:
			// The closer node that missed an answer is not declared dead,
			// and it is the best next hop we know (near the end of a
			// route, the root itself): try it again, with the timeout
			// backed off, rather than answer for it.
		case !n.leaves.covers(m.Key):
			// The key lies beyond our leaf set, so we are not its root:
			// drop the message (a lookup's origin sends it again) rather
			// than answer for a root we do not know.
			n.stats.RoutesDropped++
			return
		default:
			n.atRoot(now, n.self, m)
			return
		}
	}
	n.forwardTo(now, next, m, r.tried)
}

// probing reports whether a request to id is outstanding.
func (n *Node) probing(id ID) bool {
	for _, r := range n.reqs {
		if r.to.ID == id {
			return true
		}
	}
	return false
}

// known returns the address of a peer in the leaf set or the table.
func (n *Node) known(id ID) (wire.Peer, bool) {
	for _, p := range append(n.leaves.all(), n.tbl.all()...) {
		if p.ID == id {
			return p, true
		}
	}
	return wire.Peer{}, false
}

// revive probes one remembered dead peer; if it answers, it is heard and
// comes back into the leaf set and the table.
func (n *Node) revive(now time.Time) {
	var ids []ID
	for id, g := range n.graves {
		if now.After(g.until) {
			delete(n.graves, id)
			continue
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return
	}
	slices.SortFunc(ids, Compare)
	g := n.graves[ids[n.rng.IntN(len(ids))]]
	nonce := n.newNonce()
	n.reqs[nonce] = &request{kind: reqRevive, to: g.peer, sent: now, deadline: now.Add(n.cfg.MaxRTO)}
	n.send(g.peer.Addr, &wire.Ping{Nonce: nonce})
}

func (n *Node) leafExchange(now time.Time) {
	leaves := n.leaves.all()
	if len(leaves) == 0 {
		return
	}
	// Leaves decide who is root: probe the ones not heard from for a
	// period, so a dead leaf is found in seconds, not in ping periods.
	for _, p := range leaves {
		if now.Sub(n.peer(p.ID).lastHeard) >= n.cfg.LeafSetPeriod && !n.probing(p.ID) {
			nonce := n.newNonce()
			n.request(now, reqPing, p, nonce, &wire.Ping{Nonce: nonce})
		}
	}
	p := leaves[n.rng.IntN(len(leaves))]
	nonce := n.newNonce()
	n.request(now, reqLeaf, p, nonce, &wire.LeafReq{Nonce: nonce, Leaves: leaves})
}

func (n *Node) pingNeighbours(now time.Time) {
	seen := map[ID]bool{}
	for _, p := range append(n.leaves.all(), n.tbl.all()...) {
		if seen[p.ID] {
			continue
		}
		seen[p.ID] = true
		info := n.peer(p.ID)
		if now.Sub(info.lastHeard) < n.cfg.PingPeriod/2 {
			continue
		}
		nonce := n.newNonce()
		n.request(now, reqPing, p, nonce, &wire.Ping{Nonce: nonce})
	}
	n.forgetStrangers(now, seen)
}

// forgetStrangers drops what the node knows of peers that are neither
// leaves nor table entries (kept, the map would grow with every node that
// ever routed a message through this one), unless they were heard from
// lately or a request to them is outstanding: a candidate for a table
// slot keeps its RTT samples while it competes.
func (n *Node) forgetStrangers(now time.Time, neighbours map[ID]bool) {
	for _, r := range n.reqs {
		neighbours[r.to.ID] = true
	}
	for id, p := range n.peers {
		if !neighbours[id] && now.Sub(p.lastHeard) > 2*n.cfg.PingPeriod {
			delete(n.peers, id)
		}
	}
}

// nearTuning asks a random neighbour of a random non-empty row for that
// row: its neighbours share the prefix too and may be closer to us.
func (n *Node) nearTuning(now time.Time) {
	var rows []int
	for r := range n.tbl.rows {
		if n.tbl.filled(r) {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return
	}
	r := rows[n.rng.IntN(len(rows))]
	row := n.tbl.row(r)
	p := row[n.rng.IntN(len(row))]
	nonce := n.newNonce()
	n.request(now, reqRow, p, nonce, &wire.RowReq{Nonce: nonce, Row: uint8(r)})
}

// farTuning looks up a random ID that would fill an empty slot of a row
// just below the deepest filled one.
func (n *Node) farTuning(now time.Time) {
	depth := 0
	for r := range n.tbl.rows {
		if n.tbl.filled(r) {
			depth = r + 1
		}
	}
	r := n.rng.IntN(min(depth+1, len(n.tbl.rows)))
	target := n.self.ID
	// Keep r digits of self, then a different digit, then random bits.
	b := n.cfg.DigitBits
	digit := n.rng.IntN(1<<b - 1)
	if digit >= Digit(n.self.ID, r, b) {
		digit++
	}
	setDigit(&target, r, b, digit)
	for bit := (r + 1) * b; bit < IDBits; bit++ {
		if n.rng.IntN(2) == 1 {
			target[bit/8] |= 1 << (7 - bit%8)
		} else {
			target[bit/8] &^= 1 << (7 - bit%8)
		}
	}
	id := n.newReqID()
	n.tuning[id] = true
	n.originate(now, &wire.Route{Key: target, Kind: wire.RouteFindRoot, Origin: n.self, ReqID: id})
}

func setDigit(id *ID, i, b, v int) {
	for k := range b {
		bit := i*b + k
		if v>>(b-1-k)&1 == 1 {
			id[bit/8] |= 1 << (7 - bit%8)
		} else {
			id[bit/8] &^= 1 << (7 - bit%8)
		}
	}
}

// String summarises the node for logs and test failures.
func (n *Node) String() string {
	return fmt.Sprintf("node %s joined=%v leaves=%d table=%d reqs=%d", n.self, n.joined, len(n.leaves.all()), n.tbl.size(), len(n.reqs))
}
