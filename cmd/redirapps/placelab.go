package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opendht-go/opendht/impl/client"
	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/redir"
)

// Place Lab routing. Independently run servers each register in the
// namespace with their TCP address; a client keys a sample by its location
// (the SHA-1 of the 0.01-degree cell, as text "lat,lon"), looks up the
// server responsible for that key and sends the sample over TCP:
//
//	sample <id> <cell>\n
//
// The server files it. The run checks that each sample reached exactly
// one server, the successor of its key among the servers registered when
// it was sent (brute force over the registry).

type placelabOpts struct {
	servers int
	clients int
	rate    int
}

func (o *placelabOpts) register(fs *flag.FlagSet) {
	fs.IntVar(&o.servers, "servers", 8, "servers at the start")
	fs.IntVar(&o.clients, "clients", 4, "clients submitting samples")
	fs.IntVar(&o.rate, "rate", 10, "samples per second from each client")
}

// cellKey is the DHT key of a location: the SHA-1 of its cell.
func cellKey(cell string) dht.Key { return client.TextKey(cell) }

// plServer is one Place Lab server: a TCP listener, its registration and
// the samples it was given.
type plServer struct {
	id     dht.Key
	ln     net.Listener
	member *redir.Member
	stop   context.CancelFunc

	mu      sync.Mutex
	samples map[uint64]string // sample id -> cell
	bad     int
}

func startPlServer(ctx context.Context, e env, id dht.Key, rng *rand.Rand) (*plServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &plServer{id: id, ln: ln, samples: map[uint64]string{}}
	m, _, err := e.redir().Register(ctx, e.ns, id, []byte(ln.Addr().String()))
	if err != nil {
		ln.Close()
		return nil, err
	}
	s.member = m
	sctx, stop := context.WithCancel(ctx)
	s.stop = stop
	go keepRefreshed(sctx, e, m, rng)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s, nil
}

func (s *plServer) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 256), 256)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		var id uint64
		var err error
		if len(f) == 3 && f[0] == "sample" {
			id, err = strconv.ParseUint(f[1], 10, 64)
		}
		s.mu.Lock()
		if len(f) != 3 || f[0] != "sample" || err != nil {
			s.bad++
		} else {
			s.samples[id] = f[2]
		}
		s.mu.Unlock()
	}
}

func (s *plServer) serverID() dht.Key           { return s.id }
func (s *plServer) registration() *redir.Member { return s.member }

func (s *plServer) leave(ctx context.Context) error {
	s.stop()
	err := s.member.Leave(ctx)
	s.ln.Close()
	return err
}

// submit sends one sample to the server responsible for its cell and
// returns that server's ID.
func submit(ctx context.Context, r *redir.Redir, ns string, id uint64, cell string) (dht.Key, error) {
	res, err := r.Lookup(ctx, ns, cellKey(cell))
	if err != nil {
		return dht.Key{}, err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", string(res.Payload))
	if err != nil {
		return res.ID, err
	}
	defer c.Close()
	_, err = fmt.Fprintf(c, "sample %d %s\n", id, cell)
	return res.ID, err
}

type placelabResult struct {
	servers, joins, leaves        int
	samples, filed, once, correct int
	getsPerSample                 float64
}

func (r placelabResult) Line() string {
	return fmt.Sprintf("app=placelab ok=%v servers=%d joins=%d leaves=%d samples=%d filed=%d exactly_once=%d at_responsible=%.4f gets_per_sample=%.2f",
		r.OK(), r.servers, r.joins, r.leaves, r.samples, r.filed, r.once, ratio(r.correct, r.samples), r.getsPerSample)
}

// OK: no sample was filed twice, and every sample (without churn) or 95%
// of them (with churn) reached the server responsible when it was sent.
func (r placelabResult) OK() bool {
	if r.samples == 0 || r.once != r.filed {
		return false
	}
	if r.joins+r.leaves == 0 {
		return r.correct == r.samples
	}
	return ratio(r.correct, r.samples) >= 0.95
}

// runPlacelab starts the servers and clients, submits samples for the
// run's duration while servers join and leave, and checks where each
// sample was filed.
func runPlacelab(ctx context.Context, e env, o placelabOpts) (placelabResult, error) {
	if o.servers < 1 || o.clients < 1 || o.rate < 1 {
		return placelabResult{}, errors.New("need at least one server, one client and a rate of at least 1")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	servers := newFleet(e, newRegistry(), rand.New(rand.NewPCG(e.seed, 5)), 6, startPlServer)
	defer servers.close()
	for range o.servers {
		if _, err := servers.join(ctx); err != nil {
			return placelabResult{}, err
		}
	}
	if err := servers.settle(ctx); err != nil {
		return placelabResult{}, err
	}
	res := placelabResult{servers: o.servers}
	if e.churn > 0 {
		go servers.churn(ctx)
	}
	var mu sync.Mutex // guards samples and gets
	type sent struct {
		cell string
		want dht.Key
	}
	samples := map[uint64]sent{}
	var gets uint64
	var wg sync.WaitGroup
	end := time.Now().Add(e.duration)
	for c := range o.clients {
		crng := rand.New(rand.NewPCG(e.seed, uint64(100+c)))
		r := e.redir()
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(time.Second / time.Duration(o.rate))
			defer t.Stop()
			for n := uint64(0); time.Now().Before(end); n++ {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				id := uint64(c)<<40 | n
				cell := fmt.Sprintf("%.2f,%.2f", crng.Float64()*180-90, crng.Float64()*360-180)
				want, _ := servers.reg.successor(cellKey(cell))
				if _, err := submit(ctx, r, e.ns, id, cell); err != nil {
					e.logf("sample %d: %v", id, err)
				}
				mu.Lock()
				samples[id] = sent{cell: cell, want: want}
				mu.Unlock()
			}
			mu.Lock()
			gets += r.Stats().Gets
			mu.Unlock()
		}()
	}
	wg.Wait()
	time.Sleep(200 * time.Millisecond) // the last samples' connections
	cancel()
	mu.Lock()
	defer mu.Unlock()
	res.joins, res.leaves = servers.churned()
	filedAt := map[uint64][]dht.Key{}
	for _, s := range servers.everyServer() {
		s.mu.Lock()
		for id := range s.samples {
			filedAt[id] = append(filedAt[id], s.id)
		}
		s.mu.Unlock()
	}
	res.samples = len(samples)
	for id, sm := range samples {
		at := filedAt[id]
		if len(at) > 0 {
			res.filed++
		}
		if len(at) == 1 {
			res.once++
			if at[0] == sm.want {
				res.correct++
			}
		}
	}
	res.getsPerSample = float64(gets) / float64(max(res.samples, 1))
	return res, nil
}
