package driver

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opendht-go/opendht/impl/clock"
	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway"
	"github.com/opendht-go/opendht/impl/gateway/accounts"
	"github.com/opendht-go/opendht/impl/gateway/httpapi"
	"github.com/opendht-go/opendht/impl/gateway/sunrpc"
	"github.com/opendht-go/opendht/impl/gateway/xmlrpc"
	"github.com/opendht-go/opendht/impl/metrics"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/overlay"
	"github.com/opendht-go/opendht/impl/rmw"
	"github.com/opendht-go/opendht/impl/store"
	"github.com/opendht-go/opendht/impl/transport"
	"github.com/opendht-go/opendht/impl/wire"
)

// ServerConfig configures a node running over real UDP.
type ServerConfig struct {
	Node node.Config
	// Listen is the UDP address to bind, e.g. "127.0.0.1:5850".
	Listen string
	// Advertise is the address other nodes reach this one at; empty means
	// Listen (which must then be a specific address, not a wildcard).
	Advertise string
	// Bootstrap lists nodes to join through; empty starts a new ring.
	Bootstrap []netip.AddrPort
	// Store configures the node's store (its data directory).
	Store store.Config
	// XMLRPC is the TCP address of the XML-RPC gateway (by convention the
	// node's port + 1), which also serves the HTTP/JSON API under /api/;
	// empty runs neither.
	XMLRPC string
	// SunRPC is the TCP address of the Sun RPC gateway (by convention the
	// node's port + 2); empty runs none.
	SunRPC string
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
	// Clock is the server's only source of time; nil is the real clock.
	Clock clock.Clock
	// Bind binds the node's datagram transport on Listen and delivers
	// what arrives to recv, a batch at a time (on the transport's reader
	// goroutine; recv copies what it keeps). Nil binds a UDP socket
	// (transport.ListenUDPBatch: many datagrams per system call). A
	// wrapper can inject faults, as the judge of linearizability/judge
	// does for partitions and loss over real UDP.
	Bind func(ctx context.Context, addr string, recv transport.BatchHandler) (transport.Transport, error)
	// Accounts, if set, makes the node's gateways those of a provider
	// that charges (spec section 20): API keys, the accounts' identities
	// and quotas, ledgers and the usage report. Nil: the open gateways of
	// the original service.
	Accounts *accounts.Set
	// Metrics receives the node's events and reads its state when
	// scraped; the HTTP gateway serves it at /metrics. Nil: no metrics.
	Metrics *metrics.Metrics
	// StatusPage serves the node's status page (impl/statuspage) on GET
	// requests to the HTTP gateway outside the JSON API, and /metrics when
	// Metrics is set; false leaves those requests to XML-RPC (405, use
	// POST).
	StatusPage bool
}

// ErrStopped: the server has stopped.
var ErrStopped = errors.New("node: server stopped")

type packet struct {
	from netip.AddrPort
	data []byte
}

type call struct {
	start func(now time.Time) uint64
	done  chan node.Completion
}

// Server runs one Node: a UDP transport, the store, and one goroutine that
// owns the node and does its I/O.
type Server struct {
	n  *node.Node
	st *store.Store
	tr transport.Transport
	// The loop's, reused from turn to turn: the messages of one turn, their
	// encodings, the bundles made of them, and the datagrams sent.
	turn    []overlay.Send
	encBuf  []byte
	encs    []encoded
	sendBuf []byte
	sends   []transport.Datagram
	// The reader goroutine's: the datagrams of one bundle.
	split   [][]byte
	clk     clock.Clock
	log     *slog.Logger
	in      chan []packet
	calls   chan call
	stop    context.CancelFunc
	stopped chan struct{}
	dropped atomic.Int64
	once    sync.Once
	xmlAddr string

	// The loop runs the node's storage requests (execute); the syncer
	// waits for their writes to be durable, in order, off the loop's
	// goroutine, and the loop collects what it found.
	toSync    chan syncWait
	ioMu      sync.Mutex
	synced    []syncResult
	syncReady chan struct{} // capacity 1: synced has news
	ioDone    chan struct{} // closed when the syncer has finished

	// What GET /api/v1/status reports. The overlay belongs to the loop's
	// goroutine, so the loop publishes its counts here (publishEvery).
	started    time.Time
	capacity   int64
	joined     atomic.Bool
	leafPeers  atomic.Int64
	tablePeers atomic.Int64

	// What the metrics and the join warnings read (metrics.Snapshot),
	// published by the loop with the counts above.
	m            *metrics.Metrics
	sendErrors   atomic.Uint64
	malformed    atomic.Uint64
	badBundles   atomic.Uint64 // malformed bundles, dropped whole
	joinAttempts atomic.Uint64
	aeRounds     atomic.Uint64
	aeRepairs    atomic.Uint64
	traffic      atomic.Pointer[metrics.Traffic]
	bootstrap    []netip.AddrPort
	storeDir     string
	listeners    map[string]string // what listens where, for the status page
	warnedJoins  uint64            // the loop's: join attempts already warned about
	wasJoined    bool              // the loop's

	// inspect runs functions on the loop's goroutine (Inspect).
	inspect chan func()
	// The gateways run under gwCtx, so that Shutdown can drain them
	// before the node stops.
	gwStop context.CancelFunc
	gwDone sync.WaitGroup
}

type syncWait struct {
	seqs []uint64 // the requests whose writes p holds
	p    *store.Pending
}

type syncResult struct {
	seq uint64
	err error
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// execute runs the node's storage requests, in order, on the loop's
// goroutine: consecutive steps share one Pebble batch (store.ExecAll).
// None of them waits for the disk: a step's writes are applied, and its
// fsync is the syncer's, which reports it durable later. Reads are
// answered from Pebble's memtable, block cache or the store's read cache,
// and anti-entropy's digests and lists from the store's index, so running
// them here costs less than handing them to another goroutine and back.
func (s *Server) execute(reqs []store.Request) []store.Response {
	out := s.st.ExecAll(reqs)
	var w syncWait
	for i := range out {
		r := &out[i]
		if r.Pending == nil {
			continue
		}
		if r.Pending != w.p {
			if w.p != nil {
				s.toSync <- w
			}
			w = syncWait{p: r.Pending}
		}
		w.seqs = append(w.seqs, r.Seq)
		r.Pending = nil // the syncer's now
	}
	if w.p != nil {
		s.toSync <- w
	}
	return out
}

// syncer waits for each pending write in turn.
func (s *Server) syncer() {
	defer close(s.ioDone)
	for w := range s.toSync {
		t0 := time.Now()
		err := w.p.Wait()
		s.m.Fsync(time.Since(t0))
		s.ioMu.Lock()
		for _, seq := range w.seqs {
			s.synced = append(s.synced, syncResult{seq, err})
		}
		s.ioMu.Unlock()
		wake(s.syncReady)
	}
}

// Start opens the store, binds the socket, joins the ring and serves until
// Close or ctx ends.
func Start(ctx context.Context, cfg ServerConfig) (*Server, error) {
	if err := cfg.Node.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	advertise := cfg.Advertise
	if advertise == "" {
		advertise = cfg.Listen
	}
	adv, err := netip.ParseAddrPort(advertise)
	if err != nil {
		return nil, fmt.Errorf("node: advertised address %q is not ip:port: %w", advertise, err)
	}
	if adv.Addr().IsUnspecified() {
		return nil, fmt.Errorf("node: the node listens on %s, which other nodes cannot reach: give the address they reach it at with --advertise (e.g. --advertise 192.0.2.7:%d)", advertise, adv.Port())
	}
	cfg.Store.Logger = log
	st, err := store.Open(cfg.Store)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	clk := cfg.Clock
	if clk == nil {
		clk = clock.Real()
	}
	s := &Server{st: st, clk: clk, log: log, in: make(chan []packet, 1024), calls: make(chan call, 256), stop: cancel, stopped: make(chan struct{}),
		toSync: make(chan syncWait, 1<<16), syncReady: make(chan struct{}, 1), ioDone: make(chan struct{}),
		capacity: cfg.Store.Capacity, m: cfg.Metrics, bootstrap: cfg.Bootstrap, storeDir: cfg.Store.Dir, listeners: map[string]string{}, inspect: make(chan func())}
	s.started = s.clk.Now()
	bind := cfg.Bind
	if bind == nil {
		bind = func(ctx context.Context, addr string, recv transport.BatchHandler) (transport.Transport, error) {
			return transport.ListenUDPBatch(ctx, addr, recv, transport.DefaultUDPConfig())
		}
	}
	tr, err := bind(ctx, cfg.Listen, s.receive)
	if err != nil {
		cancel()
		_ = st.Close()
		return nil, err
	}
	s.tr = tr
	s.listeners["overlay (udp)"] = tr.LocalAddr().String()
	self := wire.Peer{ID: node.IDFor(adv), Addr: adv}
	ncfg := cfg.Node
	// The seed makes the nonces that replies must echo: it must be secret
	// (OH-3), so it comes from the system's cryptographic source.
	var seed [8]byte
	_, _ = crand.Read(seed[:]) // never fails on Linux (crypto/rand's contract)
	ncfg.Overlay.Seed = binary.LittleEndian.Uint64(seed[:])
	regs, err := st.States(ncfg.RMW)
	if err != nil {
		cancel()
		_ = tr.Close()
		_ = st.Close()
		return nil, fmt.Errorf("node: read the registers' states: %w", err)
	}
	s.n = node.New(ncfg, self, node.Disk{ReplyCap: st.ReplyCap(), Registers: regs}, log)
	gwCtx, gwStop := context.WithCancel(ctx)
	s.gwStop = gwStop
	var lns []net.Listener
	listen := func(what, addr string) (net.Listener, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range lns {
				_ = l.Close()
			}
			cancel()
			_ = tr.Close()
			_ = st.Close()
			return nil, fmt.Errorf("node: %s gateway: %w", what, err)
		}
		lns = append(lns, ln)
		return ln, nil
	}
	// The gateways execute on the node, or on the node behind the
	// provider's accounts.
	var backend gateway.Backend = s
	var acc *accounts.Backend
	if cfg.Accounts != nil {
		acc = cfg.Accounts.Wrap(s, s.storedByClient)
		backend = acc
		log.Info("accounts", "provider", cfg.Accounts.Provider(), "accounts", len(cfg.Accounts.Accounts()))
	}
	if cfg.XMLRPC != "" {
		ln, err := listen("xml-rpc", cfg.XMLRPC)
		if err != nil {
			return nil, err
		}
		s.xmlAddr = ln.Addr().String()
		s.listeners["xml-rpc, HTTP/JSON API (tcp)"] = s.xmlAddr
		ac := httpapi.DefaultConfig()
		ac.Logger = log
		ac.Status = s.APIStatus
		xc := xmlrpc.DefaultConfig()
		xc.Logger = log
		if acc != nil {
			ac.Usage = acc.Usage
			xc.Middleware = cfg.Accounts.Middleware
		}
		xc.API = httpapi.New(backend, ac)
		if cfg.StatusPage {
			xc.Pages = s.pages()
		}
		gw := xmlrpc.New(backend, xc)
		s.gwDone.Go(func() {
			if err := gw.ServeListener(gwCtx, ln); err != nil {
				log.Error("xml-rpc gateway stopped", "err", err)
			}
		})
		log.Info("listening", "what", "xml-rpc gateway, HTTP/JSON API, status page and /metrics", "tcp", s.xmlAddr,
			"status_page", "http://"+s.xmlAddr+"/", "api", "http://"+s.xmlAddr+httpapi.Prefix)
	}
	if cfg.SunRPC != "" {
		ln, err := listen("sun rpc", cfg.SunRPC)
		if err != nil {
			return nil, err
		}
		gw := sunrpc.New(backend, sunrpc.DefaultConfig())
		s.gwDone.Go(func() {
			if err := gw.Serve(gwCtx, ln); err != nil {
				log.Error("sun rpc gateway stopped", "err", err)
			}
		})
		log.Info("listening", "what", "sun rpc gateway", "tcp", ln.Addr().String())
		s.listeners["sun rpc (tcp)"] = ln.Addr().String()
	}
	s.n.Join(s.clk.Now(), cfg.Bootstrap)
	s.m.SetSource(s.MetricsSnapshot)
	log.Info("listening", "what", "node (overlay)", "udp", tr.LocalAddr().String(), "advertise", adv.String())
	log.Info("node started", "id", fmt.Sprintf("%x", self.ID[:8]), "addr", adv, "bootstrap", cfg.Bootstrap, "store", cfg.Store.Dir)
	go s.syncer()
	go s.loop(ctx)
	return s, nil
}

// storedByClient is what the store charges to each client (FST-10), for
// the accounts' usage report.
func (s *Server) storedByClient() map[dht.ClientID]accounts.Stored {
	cs := s.st.Clients()
	out := make(map[dht.ClientID]accounts.Stored, len(cs))
	for c, u := range cs {
		out[c] = accounts.Stored{Bytes: u.Bytes, Items: u.Items}
	}
	return out
}

// Self returns the node's identity.
func (s *Server) Self() wire.Peer { return s.n.Self() }

// XMLRPCAddr returns the XML-RPC gateway's address, or "". The HTTP/JSON
// API is at http://XMLRPCAddr()/api/v1/.
func (s *Server) XMLRPCAddr() string { return s.xmlAddr }

// APIStatus describes the node for the HTTP/JSON API. It reads only what
// is safe off the loop's goroutine: the counts the loop published, and the
// store, whose accessors lock briefly.
func (s *Server) APIStatus(context.Context) (httpapi.Status, error) {
	self := s.n.Self()
	return httpapi.Status{
		NodeID:            self.ID.String(),
		Address:           self.Addr.String(),
		Joined:            s.joined.Load(),
		LeafSetPeers:      int(s.leafPeers.Load()),
		RoutingTablePeers: int(s.tablePeers.Load()),
		UptimeSeconds:     int64(s.clk.Now().Sub(s.started) / time.Second),
		Store: httpapi.StoreStatus{
			CapacityBytes: s.capacity,
			UsedBytes:     s.st.Committed(),
			QueuedWrites:  s.st.Queued(),
		},
	}, nil
}

// publishEvery bounds how often the loop copies the overlay's counts for
// APIStatus: fresh enough for a status page, rare enough to cost nothing
// under load.
const publishEvery = 100 * time.Millisecond

// publish copies the overlay's counts for APIStatus. It runs on the loop's
// goroutine.
func (s *Server) publish() {
	ov := s.n.Overlay()
	joined := ov.Joined()
	s.joined.Store(joined)
	s.leafPeers.Store(int64(len(ov.Leaves())))
	s.tablePeers.Store(int64(ov.TableSize()))
	ost, ns := ov.Stats(), s.n.Stats()
	s.joinAttempts.Store(uint64(ost.JoinAttempts))
	s.malformed.Store(uint64(ns.Malformed))
	s.aeRounds.Store(uint64(ns.SyncRounds))
	s.aeRepairs.Store(uint64(ns.SyncPushed))
	tr := &metrics.Traffic{
		Timeouts: uint64(ost.Timeouts), DeadDeclared: uint64(ost.DeadDeclared),
		RouteRetries: uint64(ost.RouteRetries), RoutesDropped: uint64(ost.RoutesDropped),
		LookupRetries: uint64(ost.LookupRetries), LookupsFailed: uint64(ost.LookupsFailed),
		ReplicaTimeouts: uint64(ns.ReplicaTimeouts),
		FastGets:        uint64(ns.FastGets), FastDirect: uint64(ns.FastDirect), DirectDeclined: uint64(ns.DirectDeclined),
		DroppedUnsolicited: uint64(ost.DroppedUnsolicited + ns.ForgedReplies), DroppedMismatch: uint64(ost.DroppedMismatch),
		DroppedRateLimited: uint64(ost.DroppedRateLimited),
	}
	for t := range wire.TypeLimit {
		if ns.In[t] != 0 || ns.Out[t] != 0 {
			tr.ByType = append(tr.ByType, metrics.TypeCount{Type: wire.Type(t).String(), In: uint64(ns.In[t]), Out: uint64(ns.Out[t])})
		}
	}
	s.traffic.Store(tr)
	s.warnJoin(joined, uint64(ost.JoinAttempts))
}

// warnJoin says loudly that the node is not part of a ring while its
// joins go unanswered (SPEC section 16), once per attempt after the
// first, and says when it has joined. It runs on the loop's goroutine.
func (s *Server) warnJoin(joined bool, attempts uint64) {
	switch {
	case joined && !s.wasJoined:
		if s.warnedJoins > 0 {
			s.log.Info("joined the ring", "join_attempts", attempts, "leaf_set_peers", s.leafPeers.Load())
		}
		s.warnedJoins = 0
	case !joined && attempts > 1 && attempts > s.warnedJoins:
		s.log.Warn("not joined: no node of the bootstrap list answered; retrying with backoff, and answering clients \"try again\" meanwhile",
			"bootstrap", s.bootstrap, "join_attempts", attempts)
		s.warnedJoins = attempts
	}
	s.wasJoined = joined
}

// MetricsSnapshot is the node's state for a metrics scrape: what the loop
// published and the store's accessors, which lock briefly.
func (s *Server) MetricsSnapshot() metrics.Snapshot {
	clients := s.st.Clients()
	us := make([]metrics.ClientUsage, 0, len(clients))
	for c, u := range clients {
		us = append(us, metrics.ClientUsage{Client: string(c), Bytes: u.Bytes, Items: u.Items, Queued: u.Queued})
	}
	return metrics.Snapshot{
		Joined: s.joined.Load(), LeafSet: int(s.leafPeers.Load()), RoutingTable: int(s.tablePeers.Load()),
		JoinAttempts:  s.joinAttempts.Load(),
		CapacityBytes: s.capacity, StoreBytes: s.st.Committed(), QueuedWrites: s.st.Queued(), Clients: us,
		AntiEntropyRounds: s.aeRounds.Load(), AntiEntropyRepairs: s.aeRepairs.Load(),
		DroppedQueueFull: uint64(s.dropped.Load()), DroppedMalformed: s.malformed.Load() + s.badBundles.Load(), DroppedSendError: s.sendErrors.Load(),
		Traffic: s.traffic.Load(),
	}
}

// Inspect runs f on the node's goroutine, where the core may be read
// (for a status page), and returns when it has run.
func (s *Server) Inspect(ctx context.Context, f func(n *node.Node)) error {
	done := make(chan struct{})
	select {
	case s.inspect <- func() { f(s.n); close(done) }:
	case <-s.stopped:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	<-done
	return nil
}

// receive runs on the transport's reader goroutine: it copies a batch of
// datagrams into one allocation, unpacks the bundles among them (each
// datagram a bundle carries goes to the node as if it had arrived alone),
// and hands the batch to the node's goroutine, or drops it if that one is
// far behind. A malformed bundle is dropped whole and counted.
func (s *Server) receive(ds []transport.Datagram) {
	s.m.DatagramsIn(len(ds))
	size := 0
	for _, d := range ds {
		size += len(d.Payload)
	}
	buf := make([]byte, 0, size)
	ps := make([]packet, 0, len(ds))
	for _, d := range ds {
		buf = append(buf, d.Payload...)
		data := buf[len(buf)-len(d.Payload) : len(buf) : len(buf)]
		if !wire.IsBundle(data) {
			ps = append(ps, packet{d.Addr, data})
			continue
		}
		var err error
		if s.split, err = wire.SplitBundle(s.split[:0], data); err != nil {
			s.badBundles.Add(1)
			s.log.Debug("malformed bundle", "from", d.Addr, "err", err)
			continue
		}
		for _, b := range s.split {
			ps = append(ps, packet{d.Addr, b})
		}
		clear(s.split)
	}
	if len(ps) == 0 {
		return
	}
	select {
	case s.in <- ps:
	default:
		s.dropped.Add(int64(len(ps)))
	}
}

func (s *Server) loop(ctx context.Context) {
	defer close(s.stopped)
	// The syncer finishes what it was given; Close waits for it before it
	// closes the store.
	defer close(s.toSync)
	waiters := map[uint64]chan node.Completion{}
	var published time.Time
	// The timer is set through the clock, and set again only when the
	// node's next wake-up comes earlier than the one it is set for: a
	// wake-up that moved later costs one early Tick, not a timer per
	// event.
	tick := make(chan struct{}, 1)
	var timer clock.Timer
	var armed time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		s.flush(waiters)
		now := s.clk.Now()
		due := now.Add(time.Second)
		if w := s.n.NextWake(); !w.IsZero() && w.Before(due) {
			due = w
		}
		if due.Before(now.Add(time.Millisecond)) {
			due = now.Add(time.Millisecond)
		}
		if timer == nil || due.Before(armed) {
			if timer != nil {
				timer.Stop()
			}
			armed = due
			timer = s.clk.AfterFunc(due.Sub(now), func() { wake(tick) })
		}
		select {
		case <-ctx.Done():
			for _, ch := range waiters {
				close(ch)
			}
			return
		case ps := <-s.in:
			now := s.clk.Now()
			// Each batch has its own buffer (receive), never written
			// again: the node may read its messages in place.
			for _, p := range ps {
				s.n.ReceiveOwned(now, p.from, p.data)
			}
		case c := <-s.calls:
			waiters[c.start(s.clk.Now())] = c.done
		case f := <-s.inspect:
			f()
		case <-tick:
			timer = nil
			s.n.Tick(s.clk.Now())
		case <-s.syncReady:
			s.ioMu.Lock()
			done := s.synced
			s.synced = nil
			s.ioMu.Unlock()
			now := s.clk.Now()
			for _, r := range done {
				s.n.Synced(now, r.seq, r.err)
			}
		}
		if now := s.clk.Now(); now.Sub(published) >= publishEvery {
			s.publish()
			published = now
		}
	}
}

// flush runs the node's outputs until it has none: what the store's
// answers make the node do goes out in the same turn, and every datagram
// of the turn leaves at the end of it, together (sendTurn).
func (s *Server) flush(waiters map[uint64]chan node.Completion) {
	sends := s.turn[:0]
	for {
		r := s.n.Ready()
		if len(r.Sends)+len(r.Storage)+len(r.Done) == 0 {
			break
		}
		sends = append(sends, r.Sends...)
		s.flushOnce(waiters, r)
	}
	if len(sends) > 0 {
		s.sendTurn(sends)
	}
	clear(sends)
	s.turn = sends
}

func (s *Server) flushOnce(waiters map[uint64]chan node.Completion, r node.Ready) {
	if len(r.Storage) > 0 {
		now := s.clk.Now()
		for _, resp := range s.execute(r.Storage) {
			s.n.Stored(now, resp)
		}
	}
	for _, d := range r.Done {
		if ch, ok := waiters[d.ReqID]; ok {
			delete(waiters, d.ReqID)
			ch <- d
		}
	}
}

// encoded is one message of a turn, encoded in Server.encBuf.
type encoded struct {
	to         netip.AddrPort
	start, end int
}

// sendTurn encodes the messages of one turn and sends them in one system
// call where the transport can (sendmmsg). Messages bound to the same
// address are packed into bundles of at most a datagram each
// (wire.TBundle), in the order the node sent them; a message alone to
// its address, or too large to share a datagram, goes as it is.
func (s *Server) sendTurn(sends []overlay.Send) {
	enc, es := s.encBuf[:0], s.encs[:0]
	for _, out := range sends {
		start := len(enc)
		b, err := wire.Encode(enc, out.Env)
		if err != nil {
			s.log.Error("encode", "err", err)
			continue
		}
		enc = b
		es = append(es, encoded{out.To, start, len(enc)})
	}
	buf, ds := packTurn(enc, es, s.sendBuf[:0], s.sends[:0])
	s.m.DatagramsOut(len(ds))
	s.m.MessagesOut(len(es))
	if err := transport.SendBatch(s.tr, ds); err != nil {
		s.sendErrors.Add(1)
		s.log.Debug("send", "err", err)
	}
	clear(ds)
	s.encBuf, s.encs, s.sendBuf, s.sends = enc, es[:0], buf, ds
}

// packTurn groups a turn's encoded messages by address, keeping each
// address's messages in order, and appends their datagrams to ds: runs of
// messages to one address that fit one datagram are bundled into buf
// (wire.TBundle); a message alone to its address, or one too large to
// share a datagram, is a slice of enc as it is. The payloads point into
// enc and into buf as it was when each was written: if buf grows, earlier
// payloads keep its old array, whose bytes stay valid as nothing writes
// there again.
func packTurn(enc []byte, es []encoded, buf []byte, ds []transport.Datagram) ([]byte, []transport.Datagram) {
	slices.SortStableFunc(es, func(a, b encoded) int { return a.to.Compare(b.to) })
	for i := 0; i < len(es); {
		j := i + 1
		for j < len(es) && es[j].to == es[i].to {
			j++
		}
		for k := i; k < j; {
			// Take as many of the address's messages as fit one datagram.
			size, m := wire.BundleHeaderSize, k
			for m < j {
				n := wire.BundledSize(es[m].end - es[m].start)
				if size+n > wire.MaxDatagram {
					break
				}
				size += n
				m++
			}
			if m-k < 2 {
				e := es[k]
				ds = append(ds, transport.Datagram{Addr: e.to, Payload: enc[e.start:e.end:e.end]})
				k++
				continue
			}
			start := len(buf)
			buf = wire.AppendBundleHeader(buf)
			for _, e := range es[k:m] {
				buf = wire.AppendBundled(buf, enc[e.start:e.end])
			}
			ds = append(ds, transport.Datagram{Addr: es[k].to, Payload: buf[start:len(buf):len(buf)]})
			k = m
		}
		i = j
	}
	return buf, ds
}

func (s *Server) do(ctx context.Context, start func(now time.Time) uint64) (node.Completion, error) {
	c := call{start: start, done: make(chan node.Completion, 1)}
	select {
	case s.calls <- c:
	case <-s.stopped:
		return node.Completion{}, ErrStopped
	case <-ctx.Done():
		return node.Completion{}, ctx.Err()
	}
	select {
	case d, ok := <-c.done:
		if !ok {
			return node.Completion{}, ErrStopped
		}
		return d, d.Err
	case <-ctx.Done():
		return node.Completion{}, ctx.Err()
	}
}

// Put executes a put as this node's gateway and waits for its status.
func (s *Server) Put(ctx context.Context, p dht.Put) (dht.Status, error) {
	t0 := time.Now()
	d, err := s.do(ctx, func(now time.Time) uint64 { return s.n.Put(now, p) })
	s.m.Call(metrics.Put, outcome(d.Status, err), time.Since(t0))
	return d.Status, err
}

// Remove executes an rm as this node's gateway.
func (s *Server) Remove(ctx context.Context, r dht.Remove) (dht.Status, error) {
	t0 := time.Now()
	d, err := s.do(ctx, func(now time.Time) uint64 { return s.n.Remove(now, r) })
	s.m.Call(metrics.Remove, outcome(d.Status, err), time.Since(t0))
	return d.Status, err
}

// Get executes a get as this node's gateway.
func (s *Server) Get(ctx context.Context, g dht.Get) (dht.GetReply, error) {
	t0 := time.Now()
	d, err := s.do(ctx, func(now time.Time) uint64 { return s.n.Get(now, g) })
	s.m.Call(metrics.Get, outcome(dht.StatusOK, err), time.Since(t0))
	return dht.GetReply{Values: d.Values, Placemark: d.Placemark}, err
}

// outcome classifies a call's answer for the metrics.
func outcome(st dht.Status, err error) metrics.Outcome {
	var te interface{ Timeout() bool }
	switch {
	case errors.Is(err, rmw.ErrUnknown):
		return metrics.Unknown
	case errors.As(err, &te) && te.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return metrics.TryAgain
	case err != nil:
		return metrics.Failed
	case st == dht.StatusOverCapacity, st == dht.StatusOverQuota:
		return metrics.OverCapacity
	case st == dht.StatusTryAgain:
		return metrics.TryAgain
	}
	return metrics.OK
}

// Shutdown stops the node gracefully: the gateways stop accepting and the
// calls in progress finish (until ctx ends), then the node stops and its
// store is closed (Close).
func (s *Server) Shutdown(ctx context.Context) error {
	s.gwStop()
	drained := make(chan struct{})
	go func() { s.gwDone.Wait(); close(drained) }()
	select {
	case <-drained:
		s.log.Info("gateways drained")
	case <-ctx.Done():
		s.log.Warn("gateways not drained in time; stopping anyway", "err", ctx.Err())
	}
	err := s.Close()
	if err == nil {
		s.log.Info("store closed", "dir", s.storeDir)
	}
	return err
}

// Close stops the node: the goroutine, the socket and the store.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		s.stop()
		<-s.stopped
		<-s.ioDone
		err = errors.Join(s.tr.Close(), s.st.Close())
	})
	return err
}

// CAS executes a compare-and-set on a register as this node's gateway
// (gateway.RegisterBackend).
func (s *Server) CAS(ctx context.Context, c dht.CAS) (dht.CASResult, error) {
	t0 := time.Now()
	d, err := s.do(ctx, func(now time.Time) uint64 { return s.n.CAS(now, c) })
	s.m.Call(metrics.CAS, outcome(dht.StatusOK, err), time.Since(t0))
	return d.Register, err
}

// ReadRegister reads a register, linearizably, as this node's gateway.
func (s *Server) ReadRegister(ctx context.Context, key dht.Key) (dht.Versioned, error) {
	t0 := time.Now()
	d, err := s.do(ctx, func(now time.Time) uint64 { return s.n.ReadRegister(now, key) })
	s.m.Call(metrics.Read, outcome(dht.StatusOK, err), time.Since(t0))
	return d.Register.Versioned, err
}

// Store is the node's store, for what is safe to read while the node runs
// (usage, committed bytes): its accessors lock.
func (s *Server) Store() *store.Store { return s.st }

// Node returns the node core. It belongs to the server's goroutine: read it
// only after Close has returned.
func (s *Server) Node() *node.Node { return s.n }

// DropBind returns a Bind that binds a UDP socket and discards every
// datagram drop returns true for, as if the network had lost it: fault
// injection over real UDP (partitions, loss) for tests and the judge. drop
// runs on the transport's reader goroutine and must be safe for concurrent
// use.
func DropBind(drop func(from netip.AddrPort) bool) func(ctx context.Context, addr string, recv transport.BatchHandler) (transport.Transport, error) {
	return func(ctx context.Context, addr string, recv transport.BatchHandler) (transport.Transport, error) {
		return transport.ListenUDPBatch(ctx, addr, func(ds []transport.Datagram) {
			kept := ds[:0]
			for _, d := range ds {
				if !drop(d.Addr) {
					kept = append(kept, d)
				}
			}
			if len(kept) > 0 {
				recv(kept)
			}
		}, transport.DefaultUDPConfig())
	}
}
