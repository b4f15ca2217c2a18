package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/redir"
)

// The i3-style rendezvous. Packets (UDP) between the parties:
//
//	'T' id(20) addr        a receiver inserts a trigger: packets to id go to addr
//	'D' id(20) seq(8)      a sender's packet to id
//	'd' id(20) seq(8)      the same, passed on once by a server without the trigger
//	'R' id(20) seq(8) server-id(20)   a server forwards a packet to the trigger's address
//
// A server keeps a trigger for triggerLife unless it is inserted again
// (soft state, as in i3). Two things cover the moments when the server
// responsible for id changes, before the receiver moves its trigger: a
// server that has no trigger for a packet passes it once to the next server
// on the circle (its ReDiR successor: after a join that is the server that
// was responsible), and a server that leaves hands its triggers to the
// servers now responsible for them. Anything else is dropped and counted.

const triggerLife = 3 * time.Second

type rendezvousOpts struct {
	servers int
	rate    int
}

func (o *rendezvousOpts) register(fs *flag.FlagSet) {
	fs.IntVar(&o.servers, "servers", 4, "rendezvous servers at the start")
	fs.IntVar(&o.rate, "rate", 20, "packets per second from the sender")
}

// i3Server is one rendezvous server: a UDP socket, a ReDiR member whose
// payload is the socket's address, and a trigger table.
type i3Server struct {
	id     dht.Key
	conn   *net.UDPConn
	member *redir.Member
	r      *redir.Redir
	ns     string
	stop   context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	triggers map[dht.Key]trigger

	forwarded, dropped, malformed atomic.Uint64
}

type trigger struct {
	to    netip.AddrPort
	until time.Time
}

// startI3Server opens the server's socket, registers it in e's namespace
// and serves until close.
func startI3Server(ctx context.Context, e env, id dht.Key, rng *rand.Rand) (*i3Server, error) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	s := &i3Server{id: id, conn: conn, r: e.redir(), ns: e.ns, triggers: map[dht.Key]trigger{}, done: make(chan struct{})}
	m, _, err := s.r.Register(ctx, e.ns, id, []byte(conn.LocalAddr().String()))
	if err != nil {
		conn.Close()
		return nil, err
	}
	s.member = m
	sctx, stop := context.WithCancel(ctx)
	s.stop = stop
	go keepRefreshed(sctx, e, m, rng)
	go s.serve(sctx)
	return s, nil
}

func (s *i3Server) serve(ctx context.Context) {
	defer close(s.done)
	buf := make([]byte, 2048)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		p := buf[:n]
		if len(p) < 1+dht.KeyLen {
			s.malformed.Add(1)
			continue
		}
		var id dht.Key
		copy(id[:], p[1:1+dht.KeyLen])
		rest := p[1+dht.KeyLen:]
		switch p[0] {
		case 'T':
			to, err := netip.ParseAddrPort(string(rest))
			if err != nil {
				s.malformed.Add(1)
				continue
			}
			s.mu.Lock()
			s.triggers[id] = trigger{to: to, until: time.Now().Add(triggerLife)}
			s.mu.Unlock()
		case 'D', 'd':
			if len(rest) != 8 {
				s.malformed.Add(1)
				continue
			}
			s.mu.Lock()
			tr, ok := s.triggers[id]
			s.mu.Unlock()
			if (!ok || time.Now().After(tr.until)) && p[0] == 'D' {
				go s.passOn(ctx, append([]byte{'d'}, p[1:]...))
				continue
			}
			if !ok || time.Now().After(tr.until) {
				s.dropped.Add(1)
				continue
			}
			out := append(append(append([]byte{'R'}, id[:]...), rest...), s.id[:]...)
			if _, err := s.conn.WriteToUDPAddrPort(out, tr.to); err == nil {
				s.forwarded.Add(1)
			}
		default:
			s.malformed.Add(1)
		}
		_ = from
	}
}

// passOn sends a packet the server has no trigger for to the next server
// on the circle, once.
func (s *i3Server) passOn(ctx context.Context, p []byte) {
	next := s.id
	next[dht.KeyLen-1]++ // the successor of id+1: the next server (wrapping past 2^160 is harmless here)
	res, err := s.r.Successor(ctx, s.ns, next)
	if err != nil || res.ID == s.id {
		s.dropped.Add(1)
		return
	}
	if to, err := net.ResolveUDPAddr("udp", string(res.Payload)); err == nil {
		_, _ = s.conn.WriteToUDP(p, to)
	}
}

func (s *i3Server) serverID() dht.Key           { return s.id }
func (s *i3Server) registration() *redir.Member { return s.member }

// leave removes the server from the namespace, hands its live triggers to
// the servers now responsible for them, and closes it.
func (s *i3Server) leave(ctx context.Context) error {
	s.stop()
	err := s.member.Leave(ctx)
	s.mu.Lock()
	triggers := maps.Clone(s.triggers)
	s.mu.Unlock()
	for id, tr := range triggers {
		if time.Now().After(tr.until) {
			continue
		}
		res, lerr := s.r.Lookup(ctx, s.ns, id)
		if lerr != nil || res.ID == s.id {
			continue
		}
		if to, rerr := net.ResolveUDPAddr("udp", string(res.Payload)); rerr == nil {
			_, _ = s.conn.WriteToUDP(append(append([]byte{'T'}, id[:]...), tr.to.String()...), to)
		}
	}
	s.conn.Close()
	<-s.done
	return err
}

// i3Receiver holds a trigger for id at whichever server ReDiR says is
// responsible, and records who forwarded each packet.
type i3Receiver struct {
	id   dht.Key
	conn *net.UDPConn
	r    *redir.Redir
	ns   string

	mu  sync.Mutex
	got map[uint64]dht.Key // seq -> the server that forwarded it
}

func newI3Receiver(e env, id dht.Key) (*i3Receiver, error) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	rc := &i3Receiver{id: id, conn: conn, r: e.redir(), ns: e.ns, got: map[uint64]dht.Key{}}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			p := buf[:n]
			if len(p) != 1+dht.KeyLen+8+dht.KeyLen || p[0] != 'R' {
				continue
			}
			var srv dht.Key
			copy(srv[:], p[1+dht.KeyLen+8:])
			rc.mu.Lock()
			rc.got[binary.BigEndian.Uint64(p[1+dht.KeyLen:])] = srv
			rc.mu.Unlock()
		}
	}()
	return rc, nil
}

// insertTrigger looks up the server responsible for the receiver's id and
// inserts the trigger there; it returns that server's ID.
func (rc *i3Receiver) insertTrigger(ctx context.Context) (dht.Key, error) {
	res, err := rc.r.Lookup(ctx, rc.ns, rc.id)
	if err != nil {
		return dht.Key{}, err
	}
	to, err := net.ResolveUDPAddr("udp", string(res.Payload))
	if err != nil {
		return dht.Key{}, fmt.Errorf("server %s registered a bad address: %w", res.ID, err)
	}
	msg := append(append([]byte{'T'}, rc.id[:]...), rc.conn.LocalAddr().String()...)
	_, err = rc.conn.WriteToUDP(msg, to)
	return res.ID, err
}

func (rc *i3Receiver) received(seq uint64) (dht.Key, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	srv, ok := rc.got[seq]
	return srv, ok
}

// i3Sender sends packets to id through the server ReDiR says is responsible.
type i3Sender struct {
	conn *net.UDPConn
	r    *redir.Redir
	ns   string
	gets atomic.Uint64
}

func newI3Sender(e env) (*i3Sender, error) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	return &i3Sender{conn: conn, r: e.redir(), ns: e.ns}, nil
}

// send sends packet seq to id and returns the server it went to.
func (sd *i3Sender) send(ctx context.Context, id dht.Key, seq uint64) (dht.Key, error) {
	res, err := sd.r.Lookup(ctx, sd.ns, id)
	sd.gets.Add(uint64(res.Gets))
	if err != nil {
		return dht.Key{}, err
	}
	to, err := net.ResolveUDPAddr("udp", string(res.Payload))
	if err != nil {
		return dht.Key{}, fmt.Errorf("server %s registered a bad address: %w", res.ID, err)
	}
	msg := binary.BigEndian.AppendUint64(append([]byte{'D'}, id[:]...), seq)
	_, err = sd.conn.WriteToUDP(msg, to)
	return res.ID, err
}

type rendezvousResult struct {
	servers, joins, leaves   int
	sent, delivered, viaTrue int
	getsPerSend              float64
}

func (r rendezvousResult) Line() string {
	return fmt.Sprintf("app=rendezvous ok=%v servers=%d joins=%d leaves=%d sent=%d delivered=%d delivery=%.4f via_responsible=%.4f gets_per_send=%.2f",
		r.OK(), r.servers, r.joins, r.leaves, r.sent, r.delivered, ratio(r.delivered, r.sent), ratio(r.viaTrue, r.delivered), r.getsPerSend)
}

// OK: at least 90% of the packets reached the receiver (all of them without
// churn is the usual outcome; a packet sent just after its server changed
// is lost until the receiver's trigger moves, within half a second).
func (r rendezvousResult) OK() bool { return r.sent > 0 && ratio(r.delivered, r.sent) >= 0.9 }

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// runRendezvous starts the servers, a receiver and a sender, sends packets
// for the run's duration while servers join and leave, and counts what
// arrived and through which server.
func runRendezvous(ctx context.Context, e env, o rendezvousOpts) (rendezvousResult, error) {
	if o.servers < 1 || o.rate < 1 {
		return rendezvousResult{}, errors.New("need at least one server and a rate of at least 1")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rng := rand.New(rand.NewPCG(e.seed, 1))
	servers := newFleet(e, newRegistry(), rng, 2, startI3Server)
	defer servers.close()
	for range o.servers {
		if _, err := servers.join(ctx); err != nil {
			return rendezvousResult{}, err
		}
	}
	if err := servers.settle(ctx); err != nil {
		return rendezvousResult{}, err
	}
	id := randomKey(rng)
	rc, err := newI3Receiver(e, id)
	if err != nil {
		return rendezvousResult{}, err
	}
	defer rc.conn.Close()
	sd, err := newI3Sender(e)
	if err != nil {
		return rendezvousResult{}, err
	}
	defer sd.conn.Close()
	if _, err := rc.insertTrigger(ctx); err != nil {
		return rendezvousResult{}, err
	}
	go func() { // the receiver keeps its trigger where ReDiR says
		t := time.NewTicker(triggerLife / 6)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if _, err := rc.insertTrigger(ctx); err != nil && ctx.Err() == nil {
					e.logf("trigger: %v", err)
				}
			}
		}
	}()
	res := rendezvousResult{servers: o.servers}
	var mu sync.Mutex
	truth := map[uint64]dht.Key{} // seq -> the responsible server when sent
	if e.churn > 0 {
		go servers.churn(ctx)
	}
	tick := time.NewTicker(time.Second / time.Duration(o.rate))
	defer tick.Stop()
	end := time.After(e.duration)
loop:
	for seq := uint64(1); ; seq++ {
		select {
		case <-ctx.Done():
			res.joins, res.leaves = servers.churned()
			return res, ctx.Err()
		case <-end:
			break loop
		case <-tick.C:
		}
		want, _ := servers.reg.successor(id)
		if _, err := sd.send(ctx, id, seq); err != nil {
			e.logf("send %d: %v", seq, err)
		}
		mu.Lock()
		truth[seq] = want
		res.sent++
		mu.Unlock()
	}
	time.Sleep(200 * time.Millisecond) // the last packets in flight on loopback
	cancel()
	res.joins, res.leaves = servers.churned()
	mu.Lock()
	defer mu.Unlock()
	for seq, want := range truth {
		if srv, ok := rc.received(seq); ok {
			res.delivered++
			if srv == want {
				res.viaTrue++
			}
		}
	}
	res.getsPerSend = float64(sd.gets.Load()) / float64(max(res.sent, 1))
	return res, nil
}
