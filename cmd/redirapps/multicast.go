package main

import (
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
// group's namespace: whoever handles tree node (l, j) reads its records
// (below the start level: those of its start-level ancestor in (l, j)),
// and for each of its b sub-intervals sends the message to the one member
// listed there the sub-interval's node (l+1, c): the lowest of them
// delivers it and does the same one level down (by itself if it is the
// handler). A node at the deepest level lists all its members: each gets
// the message directly. The source handles the root.
//
// Packet (UDP): 'M' msg(8) level(1) index(8) hops(1); level 0xff means
// "deliver only".

const leafLevel = 0xff

type multicastOpts struct {
	members  int
	interval time.Duration
	drain    time.Duration
	vanish   float64
}

func (o *multicastOpts) register(fs *flag.FlagSet) {
	fs.IntVar(&o.members, "members", 50, "group members at the start")
	fs.DurationVar(&o.interval, "interval", time.Second, "time between two multicast messages")
	fs.DurationVar(&o.drain, "drain", 5*time.Second, "how long a message may travel before it counts as lost")
	fs.Float64Var(&o.vanish, "vanish", 0.5, "fraction of departures that vanish without leaving (their records stay until the TTL)")
}

// mcMember is one group member: a UDP socket, its ReDiR registration and
// what it delivered.
type mcMember struct {
	id     dht.Key
	conn   *net.UDPConn
	r      *redir.Redir
	ns     string
	cfg    redir.Config
	member *redir.Member
	stop   context.CancelFunc
	done   chan struct{}
	logf   func(string, ...any)

	mu        sync.Mutex
	delivered map[uint64]int     // msg -> hops
	handled   map[[3]uint64]bool // (msg, level, index) subtrees already handled
	sent      map[uint64]int     // msg -> packets this member sent for it
	gets      atomic.Uint64
	malformed atomic.Uint64
}

func startMember(ctx context.Context, e env, id dht.Key, rng *rand.Rand) (*mcMember, error) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	m := &mcMember{id: id, conn: conn, r: e.redir(), ns: e.ns, cfg: e.cfg, done: make(chan struct{}), logf: e.logf,
		delivered: map[uint64]int{}, handled: map[[3]uint64]bool{}, sent: map[uint64]int{}}
	reg, _, err := m.r.Register(ctx, e.ns, id, []byte(conn.LocalAddr().String()))
	if err != nil {
		conn.Close()
		return nil, err
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
	buf := make([]byte, 64)
	for {
		n, err := m.conn.Read(buf)
		if err != nil {
			return
		}
		if n != 1+8+1+8+1 || buf[0] != 'M' {
			m.malformed.Add(1)
			continue
		}
		msg := binary.BigEndian.Uint64(buf[1:])
		level := int(buf[9])
		index := binary.BigEndian.Uint64(buf[10:])
		hops := int(buf[18])
		m.deliver(msg, hops)
		if level != leafLevel {
			go m.handle(ctx, msg, level, index, hops)
		}
	}
}

func (m *mcMember) deliver(msg uint64, hops int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.delivered[msg]; !ok {
		m.delivered[msg] = hops
	}
}

// handle forwards msg to the subtree of tree node (level, index).
func (m *mcMember) handle(ctx context.Context, msg uint64, level int, index uint64, hops int) {
	m.mu.Lock()
	k := [3]uint64{msg, uint64(level), index}
	if m.handled[k] || level >= m.cfg.Levels {
		m.mu.Unlock()
		return
	}
	m.handled[k] = true
	m.mu.Unlock()
	fanout, err := forward(ctx, m.r, m.cfg, m.ns, m.conn, msg, level, index, hops, m.id, &m.gets,
		func(l int, j uint64) { m.handle(ctx, msg, l, j, hops) })
	m.mu.Lock()
	m.sent[msg] += fanout
	m.mu.Unlock()
	if err != nil {
		m.logf("message %d at %s, tree node (%d, %d): %v", msg, m.id, level, index, err)
	}
}

// forward reads tree node (level, index) and sends msg on to each of its
// sub-intervals; self, if it is the lowest member of one, handles that
// sub-interval itself through local. It returns the packets sent.
func forward(ctx context.Context, r *redir.Redir, cfg redir.Config, ns string, conn *net.UDPConn, msg uint64, level int, index uint64, hops int,
	self dht.Key, gets *atomic.Uint64, local func(int, uint64)) (int, error) {
	// Below the start level, read the start-level ancestor, which lists
	// every member of its interval (RZ-2), and keep those inside this
	// node's: the node itself may not list a member yet whose neighbour
	// just joined (RZ-4 holds only after the member's next refresh).
	readLevel, readIndex := level, index
	if level > cfg.StartLevel {
		readLevel, readIndex = cfg.StartLevel, index>>uint((level-cfg.StartLevel)*bits.TrailingZeros(uint(cfg.Branching)))
	}
	all, err := r.TreeNode(ctx, ns, readLevel, readIndex)
	gets.Add(1)
	if err != nil {
		return 0, err
	}
	var recs []redir.Record
	for _, rec := range all {
		if cfg.Interval(rec.ID, level) == index {
			recs = append(recs, rec)
		}
	}
	send := func(to redir.Record, l int, j uint64) bool {
		addr, err := net.ResolveUDPAddr("udp", string(to.Payload))
		if err != nil {
			return false
		}
		p := make([]byte, 0, 19)
		p = append(binary.BigEndian.AppendUint64(append(p, 'M'), msg), byte(l))
		p = append(binary.BigEndian.AppendUint64(p, j), byte(min(hops+1, 255)))
		_, err = conn.WriteToUDP(p, addr)
		return err == nil
	}
	sent := 0
	if level == cfg.Levels-1 {
		for _, rec := range recs {
			if rec.ID != self && send(rec, leafLevel, 0) {
				sent++
			}
		}
		return sent, nil
	}
	children := map[uint64][]redir.Record{}
	for _, rec := range recs {
		c := cfg.Interval(rec.ID, level+1)
		children[c] = append(children[c], rec)
	}
	for _, c := range slices.Sorted(func(yield func(uint64) bool) {
		for c := range children {
			if !yield(c) {
				return
			}
		}
	}) {
		// The lowest member listed in the sub-interval gets its subtree,
		// even when it is the only one listed: while members churn, a node
		// may list one where the one below lists more.
		rs := children[c] // in ID order: rs[0] is the lowest
		switch {
		case len(rs) == 1 && rs[0].ID == self: // delivered already
		case rs[0].ID == self:
			local(level+1, c)
		default:
			if send(rs[0], level+1, c) {
				sent++
			}
		}
	}
	return sent, nil
}

func (m *mcMember) leave(ctx context.Context, clean bool) {
	m.stop()
	if clean {
		_ = m.member.Leave(ctx)
	}
	m.conn.Close()
	<-m.done
}

type multicastResult struct {
	members, joins, leaves, messages int
	eligible, delivered              int
	maxDepth                         int
	meanDepth                        float64
	maxFanout                        int
	meanFanout                       float64
	getsPerMessage                   float64
}

func (r multicastResult) Line() string {
	return fmt.Sprintf("app=multicast ok=%v members=%d joins=%d leaves=%d messages=%d delivery=%.4f depth_max=%d depth_mean=%.2f fanout_max=%d fanout_mean=%.2f gets_per_message=%.1f",
		r.OK(), r.members, r.joins, r.leaves, r.messages, ratio(r.delivered, r.eligible), r.maxDepth, r.meanDepth, r.maxFanout, r.meanFanout, r.getsPerMessage)
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
	var mu sync.Mutex
	members := map[dht.Key]*mcMember{}
	leftAt := map[dht.Key]time.Time{}
	var all []*mcMember // every member that ever joined, for the counts
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range members {
			m.leave(context.Background(), true)
		}
	}()
	ids := make([]dht.Key, o.members)
	seeds := make([]uint64, o.members)
	for i := range ids {
		ids[i], seeds[i] = randomKey(rng), rng.Uint64()
	}
	if err := parallel(ctx, o.members, func(i int) error {
		m, err := startMember(ctx, e, ids[i], rand.New(rand.NewPCG(seeds[i], 4)))
		if err != nil {
			return err
		}
		mu.Lock()
		members[m.id] = m
		all = append(all, m)
		mu.Unlock()
		return nil
	}); err != nil {
		return multicastResult{}, err
	}
	var regs []*redir.Member
	for _, m := range all {
		regs = append(regs, m.member)
	}
	if err := settle(ctx, regs); err != nil {
		return multicastResult{}, err
	}
	res := multicastResult{members: o.members}
	if e.churn > 0 {
		go func() {
			t := time.NewTicker(e.churn)
			defer t.Stop()
			for i := 0; ; i++ {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				mu.Lock()
				if i%2 == 1 && len(members) > 1 {
					ids := slices.Collect(func(yield func(dht.Key) bool) {
						for id := range members {
							if !yield(id) {
								return
							}
						}
					})
					slices.SortFunc(ids, func(a, b dht.Key) int { return compareKeys(a, b) })
					m := members[ids[rng.IntN(len(ids))]]
					delete(members, m.id)
					leftAt[m.id] = time.Now()
					res.leaves++
					clean := rng.Float64() >= o.vanish
					mu.Unlock()
					m.leave(ctx, clean)
					continue
				}
				id, seed := randomKey(rng), rng.Uint64()
				mu.Unlock()
				m, err := startMember(ctx, e, id, rand.New(rand.NewPCG(seed, 4)))
				if err != nil {
					e.logf("join: %v", err)
					continue
				}
				mu.Lock()
				members[m.id] = m
				all = append(all, m)
				res.joins++
				mu.Unlock()
			}
		}()
	}
	srcConn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return res, err
	}
	defer srcConn.Close()
	src := e.redir()
	var srcGets atomic.Uint64
	var depthSum, depthN, fanSum, fanN int
	type sentMsg struct {
		at     time.Time
		before map[dht.Key]*mcMember
	}
	var msgs []sentMsg
	end := time.Now().Add(e.duration)
	for msg := uint64(1); time.Now().Before(end); msg++ {
		mu.Lock()
		before := maps.Clone(members)
		mu.Unlock()
		var handle func(int, uint64)
		handle = func(l int, j uint64) {
			n, err := forward(ctx, src, e.cfg, e.ns, srcConn, msg, l, j, 0, dht.Key{}, &srcGets, handle)
			if err != nil {
				e.logf("message %d: %v", msg, err)
			}
			res.maxFanout = max(res.maxFanout, n)
		}
		msgs = append(msgs, sentMsg{at: time.Now(), before: before})
		handle(0, 0)
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(o.interval):
		}
	}
	select { // the last messages travel down the tree, a DHT get per hop
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(o.drain):
	}
	mu.Lock()
	for i, sm := range msgs {
		msg := uint64(i + 1)
		res.messages++
		for id, m := range sm.before {
			if at, ok := leftAt[id]; ok && at.Before(sm.at.Add(o.drain)) {
				continue // left while the message travelled
			}
			res.eligible++
			m.mu.Lock()
			if hops, ok := m.delivered[msg]; ok {
				res.delivered++
				res.maxDepth = max(res.maxDepth, hops)
				depthSum += hops
				depthN++
			} else {
				e.logf("message %d missed %s", msg, id)
			}
			m.mu.Unlock()
		}
	}
	mu.Unlock()
	cancel()
	mu.Lock()
	defer mu.Unlock()
	var gets uint64 = srcGets.Load()
	for _, m := range all {
		gets += m.gets.Load()
		m.mu.Lock()
		for _, n := range m.sent {
			if n > 0 {
				res.maxFanout = max(res.maxFanout, n)
				fanSum += n
				fanN++
			}
		}
		m.mu.Unlock()
	}
	if depthN > 0 {
		res.meanDepth = float64(depthSum) / float64(depthN)
	}
	if fanN > 0 {
		res.meanFanout = float64(fanSum) / float64(fanN)
	}
	res.getsPerMessage = float64(gets) / float64(max(res.messages, 1))
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
