package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/bits"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/redir"
)

// MOOD, multicast over the DHT. The tree is the ReDiR hierarchy of the
// group's namespace. Whoever handles tree node (l, j) knows the members
// it lists and, for each of its b sub-intervals, hands the sub-interval's
// node (l+1, c) to the lowest member there, which delivers the message and
// does the same one level down (a handler that lies in the sub-interval
// keeps it for itself). The source handles the root.
//
// Above the start level a node lists the lowest and the highest member of
// each sub-interval (RZ-3); the handler reads it from the DHT. A node at
// the start level lists every member of its interval (RZ-2), so from there
// down the handler knows every member of each sub-interval: it sends the
// list with the handoff when it fits in one datagram, and the receiver
// forwards from it without a get. A sub-interval with one member is sent
// the message to deliver, and nothing to forward. So a multicast costs
// about one get per tree node above the start level, b^l0 gets of the
// start-level nodes and a get for each node whose members do not fit in a
// datagram: some 40 pages at 500 members, where reading every handler's
// node costs about 800 and reading the start-level node at every level
// (which a handler could trust as complete) about 12,000.
//
// A handoff without a list carries the number of members the sender saw in
// the sub-interval. The receiver reads its own node; if it lists fewer, it
// reads the start-level ancestor, which lists them all, and keeps those of
// its interval: a member that joins next to another walks its record down
// to the levels the two share, but the other member is put there only at
// its own next refresh (RZ-4 holds once both have refreshed).
//
// A member that vanished without leaving stays listed until its records
// expire. So every handoff is acknowledged: without an ack within
// ackTimeout the handler hands the node to the next member of the
// sub-interval, and after handoffTries without one handles it itself.
//
// Packets (UDP):
//
//	'M' msg(8) level(1) index(8) hops(1) want(2) n(1) n x (id(20) len(1) addr(len))
//	    the message; level 0xff: deliver only; else also forward the subtree
//	    of tree node (level, index), whose members are the n listed (n > 0),
//	    or, with n = 0, are read from the DHT, the sender having seen want
//	    of them (0: not known)
//	'A' msg(8) level(1) index(8)   the ack of a handoff
const (
	leafLevel  = 0xff
	msgHeader  = 1 + 8 + 1 + 8 + 1 + 2 + 1
	ackLen     = 1 + 8 + 1 + 8
	maxPacket  = 1400 // a datagram that crosses an Ethernet path unfragmented
	ackTimeout = time.Second
	// handoffTries is how many members of a sub-interval are tried, one
	// after the other, before the handler handles it itself.
	handoffTries = 3
)

// mcPacket is a multicast message packet.
type mcPacket struct {
	subtree
	hops, want int
	members    []redir.Record // the subtree's members, if the sender sent them
}

// errPacket is a packet that is not a multicast message.
var errPacket = errors.New("malformed multicast packet")

// encode returns p's bytes; with too many members to fit in maxPacket, or
// addresses longer than 255 bytes, it sends none (the receiver reads them).
func (p mcPacket) encode() []byte {
	b := make([]byte, 0, maxPacket)
	b = append(binary.BigEndian.AppendUint64(append(b, 'M'), p.msg), byte(p.level))
	b = append(binary.BigEndian.AppendUint64(b, p.index), byte(min(p.hops, 255)))
	b = binary.BigEndian.AppendUint16(b, uint16(min(p.want, 0xffff)))
	size := msgHeader
	for _, m := range p.members {
		size += dht.KeyLen + 1 + len(m.Payload)
		if len(m.Payload) > 255 {
			size = maxPacket + 1
		}
	}
	if len(p.members) == 0 || len(p.members) > 255 || size > maxPacket {
		return append(b, 0)
	}
	b = append(b, byte(len(p.members)))
	for _, m := range p.members {
		b = append(append(append(b, m.ID[:]...), byte(len(m.Payload))), m.Payload...)
	}
	return b
}

// decodePacket parses a message packet; anything else is errPacket.
func decodePacket(b []byte) (mcPacket, error) {
	if len(b) < msgHeader || len(b) > maxPacket || b[0] != 'M' {
		return mcPacket{}, errPacket
	}
	p := mcPacket{subtree: subtree{msg: binary.BigEndian.Uint64(b[1:]), level: int(b[9]), index: binary.BigEndian.Uint64(b[10:])},
		hops: int(b[18]), want: int(binary.BigEndian.Uint16(b[19:]))}
	n := int(b[21])
	rest := b[msgHeader:]
	for range n {
		if len(rest) < dht.KeyLen+1 || len(rest) < dht.KeyLen+1+int(rest[dht.KeyLen]) {
			return mcPacket{}, errPacket
		}
		var rec redir.Record
		copy(rec.ID[:], rest)
		l := int(rest[dht.KeyLen])
		rec.Payload = bytes.Clone(rest[dht.KeyLen+1 : dht.KeyLen+1+l])
		p.members = append(p.members, rec)
		rest = rest[dht.KeyLen+1+l:]
	}
	if len(rest) != 0 || (p.level == leafLevel && n != 0) {
		return mcPacket{}, errPacket
	}
	return p, nil
}

type multicastOpts struct {
	members  int
	interval time.Duration
	drain    time.Duration
	vanish   float64

	// noFailover plants a bug for the negative control of the tests: a
	// handoff waits for no ack, so a vanished member's subtree is lost.
	noFailover bool
}

func (o *multicastOpts) register(fs *flag.FlagSet) {
	fs.IntVar(&o.members, "members", 50, "group members at the start")
	fs.DurationVar(&o.interval, "interval", time.Second, "time between two multicast messages")
	fs.DurationVar(&o.drain, "drain", 5*time.Second, "how long a message may travel before it counts as lost")
	fs.Float64Var(&o.vanish, "vanish", 0.5, "fraction of departures that vanish without leaving (their records stay until the TTL)")
}

// subtree is the work of one handoff: forward msg below tree node (level,
// index).
type subtree struct {
	msg   uint64
	level int
	index uint64
}

// forwarder forwards messages down the tree: a member, or the source.
type forwarder struct {
	conn       *net.UDPConn
	r          *redir.Redir // its DHT counts pages
	cfg        redir.Config
	ns         string
	self       dht.Key
	member     bool // false for the source, which is no member
	noFailover bool
	logf       func(string, ...any)

	gets, pages, fallbacks, failovers, malformed atomic.Uint64

	mu      sync.Mutex
	waiting map[subtree]chan struct{} // handoffs awaiting their ack
	handled map[subtree]bool
	sent    map[uint64]int // msg -> packets this forwarder sent for it
}

func newForwarder(e env, conn *net.UDPConn, self dht.Key, member bool, o multicastOpts) *forwarder {
	f := &forwarder{conn: conn, cfg: e.cfg, ns: e.ns, self: self, member: member, noFailover: o.noFailover, logf: e.logf,
		waiting: map[subtree]chan struct{}{}, handled: map[subtree]bool{}, sent: map[uint64]int{}}
	d := redir.NewClientDHT(e.client)
	d.Pages = &f.pages
	r, err := redir.New(d, e.cfg, nil)
	if err != nil {
		panic(fmt.Sprintf("redirapps: config validated earlier: %v", err))
	}
	f.r = r
	return f
}

// acked wakes the handoff that waits for a.
func (f *forwarder) acked(p []byte) {
	st := subtree{msg: binary.BigEndian.Uint64(p[1:]), level: int(p[9]), index: binary.BigEndian.Uint64(p[10:])}
	f.mu.Lock()
	defer f.mu.Unlock()
	if ch, ok := f.waiting[st]; ok {
		close(ch)
		delete(f.waiting, st)
	}
}

// handle forwards p's message below its tree node, once per subtree;
// p.hops is how far from the source the handler is.
func (f *forwarder) handle(ctx context.Context, p mcPacket) {
	f.mu.Lock()
	if f.handled[p.subtree] || p.level >= f.cfg.Levels {
		f.mu.Unlock()
		return
	}
	f.handled[p.subtree] = true
	f.mu.Unlock()
	n, err := f.forward(ctx, p)
	f.mu.Lock()
	f.sent[p.msg] += n
	f.mu.Unlock()
	if err != nil {
		f.logf("message %d at %s, tree node (%d, %d): %v", p.msg, f.self, p.level, p.index, err)
	}
}

// members returns the members of p's tree node, in ID order: those p
// lists that lie in the node's interval, if it lists any; else the node's
// records, or, below the start level when they are fewer than the want
// members the sender saw there, those of the start-level ancestor inside
// the node's interval.
func (f *forwarder) members(ctx context.Context, p mcPacket) ([]redir.Record, error) {
	inside := func(all []redir.Record) []redir.Record {
		var recs []redir.Record
		for _, rec := range all {
			if f.cfg.Interval(rec.ID, p.level) == p.index {
				recs = append(recs, rec)
			}
		}
		slices.SortFunc(recs, func(a, b redir.Record) int { return compareKeys(a.ID, b.ID) })
		return slices.CompactFunc(recs, func(a, b redir.Record) bool { return a.ID == b.ID })
	}
	if len(p.members) > 0 {
		return inside(p.members), nil
	}
	recs, err := f.r.TreeNode(ctx, f.ns, p.level, p.index)
	f.gets.Add(1)
	if err != nil || p.level <= f.cfg.StartLevel || len(recs) >= p.want {
		return recs, err
	}
	f.fallbacks.Add(1)
	all, err := f.r.TreeNode(ctx, f.ns, f.cfg.StartLevel, p.index>>uint((p.level-f.cfg.StartLevel)*bits.TrailingZeros(uint(f.cfg.Branching))))
	f.gets.Add(1)
	if err != nil {
		return recs, err
	}
	return inside(all), nil
}

// forward sends p's message on to each sub-interval of its tree node; it
// returns the packets it sent.
func (f *forwarder) forward(ctx context.Context, p mcPacket) (int, error) {
	recs, err := f.members(ctx, p)
	if err != nil {
		return 0, err
	}
	var sent atomic.Int64
	deliver := func(to redir.Record) {
		if f.send(to, mcPacket{subtree: subtree{p.msg, leafLevel, 0}, hops: p.hops + 1}) {
			sent.Add(1)
		}
	}
	if p.level == f.cfg.Levels-1 {
		for _, rec := range recs {
			if !f.member || rec.ID != f.self {
				deliver(rec)
			}
		}
		return int(sent.Load()), nil
	}
	// From the start level down the node lists every member of each
	// sub-interval; above it, the lowest and the highest.
	complete := p.level >= f.cfg.StartLevel
	children := map[uint64][]redir.Record{}
	for _, rec := range recs {
		c := f.cfg.Interval(rec.ID, p.level+1)
		children[c] = append(children[c], rec) // in ID order: [0] is the lowest
	}
	var wg sync.WaitGroup
	for _, c := range slices.Sorted(maps.Keys(children)) {
		rs := children[c]
		child := mcPacket{subtree: subtree{p.msg, p.level + 1, c}, hops: p.hops + 1}
		if complete {
			child.want, child.members = len(rs), rs
		}
		switch {
		case f.member && slices.ContainsFunc(rs, func(r redir.Record) bool { return r.ID == f.self }):
			if !complete || len(rs) > 1 {
				child.hops = p.hops // its own sub-interval: no handoff, no hop
				wg.Go(func() { f.handle(ctx, child) })
			}
		case complete && len(rs) == 1:
			deliver(rs[0])
		default:
			wg.Go(func() { sent.Add(int64(f.handoff(ctx, child, rs))) })
		}
	}
	wg.Wait()
	return int(sent.Load()), nil
}

// handoff gives child to the first of cands that acknowledges it, trying
// at most handoffTries of them in ID order, and handles it itself if none
// does. It returns the packets it sent.
func (f *forwarder) handoff(ctx context.Context, child mcPacket, cands []redir.Record) int {
	sent := 0
	for _, to := range cands[:min(len(cands), handoffTries)] {
		ch := make(chan struct{})
		f.mu.Lock()
		f.waiting[child.subtree] = ch
		f.mu.Unlock()
		if f.send(to, child) {
			sent++
		}
		if f.noFailover {
			return sent
		}
		t := time.NewTimer(ackTimeout)
		select {
		case <-ch:
			t.Stop()
			return sent
		case <-ctx.Done():
			t.Stop()
			return sent
		case <-t.C:
		}
		f.mu.Lock()
		delete(f.waiting, child.subtree)
		f.mu.Unlock()
		f.failovers.Add(1)
		f.logf("message %d: no ack from %s for tree node (%d, %d)", child.msg, to.ID, child.level, child.index)
	}
	child.hops-- // handled here after all
	f.handle(ctx, child)
	return sent
}

// send sends p to a member.
func (f *forwarder) send(to redir.Record, p mcPacket) bool {
	addr, err := net.ResolveUDPAddr("udp", string(to.Payload))
	if err != nil {
		return false
	}
	_, err = f.conn.WriteToUDP(p.encode(), addr)
	return err == nil
}

// mcMember is one group member: a forwarder on its UDP socket, its ReDiR
// registration and what it delivered.
type mcMember struct {
	*forwarder
	id     dht.Key
	member *redir.Member
	stop   context.CancelFunc
	done   chan struct{}

	dmu       sync.Mutex
	delivered map[uint64]int // msg -> hops
}

func startMember(ctx context.Context, e env, o multicastOpts, id dht.Key, rng *rand.Rand) (*mcMember, error) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	m := &mcMember{forwarder: newForwarder(e, conn, id, true, o), id: id, done: make(chan struct{}), delivered: map[uint64]int{}}
	reg, _, err := e.redir().Register(ctx, e.ns, id, []byte(conn.LocalAddr().String()))
	switch {
	case reg == nil || ctx.Err() != nil:
		conn.Close()
		return nil, errors.Join(err, ctx.Err())
	case err != nil: // partly registered: its refreshes complete it
		e.logf("register %s: %v", id, err)
	}
	m.member = reg
	mctx, stop := context.WithCancel(ctx)
	m.stop = stop
	go keepRefreshed(mctx, e, reg, rng)
	go m.serve(mctx)
	return m, nil
}

func (m *mcMember) serve(ctx context.Context) {
	defer close(m.done)
	buf := make([]byte, maxPacket+1)
	for {
		n, from, err := m.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		switch {
		case n == ackLen && buf[0] == 'A':
			m.acked(buf[:n])
		default:
			p, err := decodePacket(buf[:n])
			if err != nil {
				m.malformed.Add(1)
				continue
			}
			m.deliver(p.msg, p.hops)
			if p.level != leafLevel {
				ack := append([]byte{'A'}, buf[1:ackLen]...)
				_, _ = m.conn.WriteToUDP(ack, from)
				go m.handle(ctx, p)
			}
		}
	}
}

func (m *mcMember) deliver(msg uint64, hops int) {
	m.dmu.Lock()
	defer m.dmu.Unlock()
	if _, ok := m.delivered[msg]; !ok {
		m.delivered[msg] = hops
	}
}

// got says whether m delivered msg, and at how many hops.
func (m *mcMember) got(msg uint64) (int, bool) {
	m.dmu.Lock()
	defer m.dmu.Unlock()
	h, ok := m.delivered[msg]
	return h, ok
}

// leave stops the member: cleanly, removing its records (RZ-10), or by
// vanishing, its records left to expire.
func (m *mcMember) leave(ctx context.Context, clean bool) {
	m.stop()
	if clean {
		_ = m.member.Leave(ctx)
	}
	m.conn.Close()
	<-m.done
}

// group is a multicast group: its members, and the source that sends to
// them from a socket of its own.
type group struct {
	e   env
	o   multicastOpts
	src *forwarder
	// srcDone is closed when the source's reader of acks has stopped.
	srcDone chan struct{}

	mu      sync.Mutex
	members map[dht.Key]*mcMember
	all     []*mcMember // every member that ever joined, for the counts
}

func newGroup(e env, o multicastOpts) (*group, error) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	g := &group{e: e, o: o, src: newForwarder(e, conn, dht.Key{}, false, o), srcDone: make(chan struct{}), members: map[dht.Key]*mcMember{}}
	go func() {
		defer close(g.srcDone)
		buf := make([]byte, 64)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			if n == ackLen && buf[0] == 'A' {
				g.src.acked(buf[:n])
			} else {
				g.src.malformed.Add(1)
			}
		}
	}()
	return g, nil
}

// join starts a member with the given ID and adds it to the group.
func (g *group) join(ctx context.Context, id dht.Key, seed uint64) (*mcMember, error) {
	m, err := startMember(ctx, g.e, g.o, id, rand.New(rand.NewPCG(seed, 4)))
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.members[m.id] = m
	g.all = append(g.all, m)
	return m, nil
}

// depart takes m out of the group; see mcMember.leave.
func (g *group) depart(ctx context.Context, m *mcMember, clean bool) {
	g.mu.Lock()
	delete(g.members, m.id)
	g.mu.Unlock()
	m.leave(ctx, clean)
}

// present is a copy of the current members.
func (g *group) present() map[dht.Key]*mcMember {
	g.mu.Lock()
	defer g.mu.Unlock()
	return maps.Clone(g.members)
}

// send has the source multicast msg: it handles the root, in the
// background.
func (g *group) send(ctx context.Context, msg uint64) {
	go g.src.handle(ctx, mcPacket{subtree: subtree{msg, 0, 0}})
}

// close makes every member leave cleanly and closes the source.
func (g *group) close() {
	for _, m := range g.present() {
		g.depart(context.Background(), m, true)
	}
	g.src.conn.Close()
	<-g.srcDone
}

// settle refreshes every member twice in turn, so that each has seen the
// others' records (RZ-8). A refresh that fails (the DHT answered "try
// again" too long, or not in time) is logged and left to the member's
// periodic refresh: with hundreds of members on a loaded DHT one of them
// should not end the run.
func (g *group) settle(ctx context.Context) error {
	var regs []*redir.Member
	for _, m := range g.present() {
		regs = append(regs, m.member)
	}
	for range 2 {
		_ = parallel(ctx, len(regs), func(i int) error {
			if _, err := regs[i].Refresh(ctx); err != nil && ctx.Err() == nil {
				g.e.logf("refresh of %s while settling: %v", regs[i].Record().ID, err)
			}
			return nil
		})
	}
	return ctx.Err()
}

type multicastResult struct {
	members, joins, leaves, messages int
	eligible, delivered              int
	maxDepth                         int
	meanDepth                        float64
	maxFanout                        int
	meanFanout                       float64
	getsPerMessage                   float64
	pagesPerMessage                  float64
	fallbacks, failovers             uint64
}

func (r multicastResult) Line() string {
	return fmt.Sprintf("app=multicast ok=%v members=%d joins=%d leaves=%d messages=%d delivery=%.4f depth_max=%d depth_mean=%.2f fanout_max=%d fanout_mean=%.2f gets_per_message=%.1f pages_per_message=%.1f fallbacks=%d failovers=%d",
		r.OK(), r.members, r.joins, r.leaves, r.messages, ratio(r.delivered, r.eligible), r.maxDepth, r.meanDepth, r.maxFanout, r.meanFanout,
		r.getsPerMessage, r.pagesPerMessage, r.fallbacks, r.failovers)
}

// OK: every member present throughout a message got it, without churn; at
// least 95% of them with churn (a member that joined or whose neighbours
// changed within a refresh period may be missing from the tree).
func (r multicastResult) OK() bool {
	if r.eligible == 0 {
		return false
	}
	if r.joins+r.leaves == 0 {
		return r.delivered == r.eligible
	}
	return ratio(r.delivered, r.eligible) >= 0.95
}

// runMulticast starts the group, then sends a message from a source (not a
// member) every interval while members join and leave, and measures
// delivery to the members present from the message's sending to its
// drain, the hops of the tree and the fan-out of each forwarding member.
func runMulticast(ctx context.Context, e env, o multicastOpts) (multicastResult, error) {
	if o.members < 1 || o.interval <= 0 || o.drain <= 0 {
		return multicastResult{}, errors.New("need at least one member, a positive interval and a positive drain")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rng := rand.New(rand.NewPCG(e.seed, 3))
	g, err := newGroup(e, o)
	if err != nil {
		return multicastResult{}, err
	}
	defer g.close()
	ids := make([]dht.Key, o.members)
	seeds := make([]uint64, o.members)
	for i := range ids {
		ids[i], seeds[i] = randomKey(rng), rng.Uint64()
	}
	if err := parallel(ctx, o.members, func(i int) error {
		_, err := g.join(ctx, ids[i], seeds[i])
		return err
	}); err != nil {
		return multicastResult{}, err
	}
	if err := g.settle(ctx); err != nil {
		return multicastResult{}, err
	}
	res := multicastResult{members: o.members}
	var churnMu sync.Mutex // guards joins, leaves and leftAt
	var joins, leaves int
	leftAt := map[dht.Key]time.Time{}
	churnDone := make(chan struct{})
	stopChurn := func() {
		cancel()
		<-churnDone
		res.joins, res.leaves = joins, leaves
	}
	go func() {
		defer close(churnDone)
		if e.churn <= 0 {
			return
		}
		t := time.NewTicker(e.churn)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if present := g.present(); i%2 == 1 && len(present) > 1 {
				ids := slices.SortedFunc(maps.Keys(present), compareKeys)
				m := present[ids[rng.IntN(len(ids))]]
				clean := rng.Float64() >= o.vanish
				churnMu.Lock()
				leftAt[m.id] = time.Now()
				leaves++
				churnMu.Unlock()
				g.depart(ctx, m, clean)
				continue
			}
			if _, err := g.join(ctx, randomKey(rng), rng.Uint64()); err != nil {
				e.logf("join: %v", err)
				continue
			}
			churnMu.Lock()
			joins++
			churnMu.Unlock()
		}
	}()
	type sentMsg struct {
		at     time.Time
		before map[dht.Key]*mcMember
	}
	var msgs []sentMsg
	end := time.Now().Add(e.duration)
	for msg := uint64(1); time.Now().Before(end); msg++ {
		msgs = append(msgs, sentMsg{at: time.Now(), before: g.present()})
		g.send(ctx, msg)
		select {
		case <-ctx.Done():
			stopChurn()
			return res, ctx.Err()
		case <-time.After(o.interval):
		}
	}
	select { // the last messages travel down the tree, a DHT get per hop
	case <-ctx.Done():
		stopChurn()
		return res, ctx.Err()
	case <-time.After(o.drain):
	}
	stopChurn()
	var depthSum, depthN, fanSum, fanN int
	for i, sm := range msgs {
		msg := uint64(i + 1)
		res.messages++
		for id, m := range sm.before {
			if at, ok := leftAt[id]; ok && at.Before(sm.at.Add(o.drain)) {
				continue // left while the message travelled
			}
			res.eligible++
			if hops, ok := m.got(msg); ok {
				res.delivered++
				res.maxDepth = max(res.maxDepth, hops)
				depthSum += hops
				depthN++
			} else {
				e.logf("message %d missed %s", msg, id)
			}
		}
	}
	g.mu.Lock()
	fws := []*forwarder{g.src}
	for _, m := range g.all {
		fws = append(fws, m.forwarder)
	}
	g.mu.Unlock()
	var gets, pages uint64
	for _, f := range fws {
		gets += f.gets.Load()
		pages += f.pages.Load()
		res.fallbacks += f.fallbacks.Load()
		res.failovers += f.failovers.Load()
		f.mu.Lock()
		for _, n := range f.sent {
			if n > 0 {
				res.maxFanout = max(res.maxFanout, n)
				fanSum += n
				fanN++
			}
		}
		f.mu.Unlock()
	}
	if depthN > 0 {
		res.meanDepth = float64(depthSum) / float64(depthN)
	}
	if fanN > 0 {
		res.meanFanout = float64(fanSum) / float64(fanN)
	}
	res.getsPerMessage = float64(gets) / float64(max(res.messages, 1))
	res.pagesPerMessage = float64(pages) / float64(max(res.messages, 1))
	return res, nil
}

func compareKeys(a, b dht.Key) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}
