package judge

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/rmw"
	"github.com/opendht-go/opendht/impl/store"
	"github.com/opendht-go/opendht/linearizability"
)

// UDPConfig is a run over real UDP on loopback: node servers in this
// process, each with its own socket and Pebble store on disk, clients
// calling them as their gateways. Faults are injected at the receiving
// sockets (partitions, loss), by stopping a node and starting it again
// from its data directory, and by a node that joins.
type UDPConfig struct {
	Run
	Nodes int
	// Dir holds the nodes' stores ("": a temporary directory, removed).
	Dir string
}

// DefaultUDPConfig is the real-UDP run the judge makes.
func DefaultUDPConfig(protocol string, seed uint64, out string) UDPConfig {
	return UDPConfig{Nodes: 8, Run: Run{
		Protocol: protocol, Seed: seed, Rounds: 3,
		FaultTime: 8 * time.Second, QuietTime: 5 * time.Second,
		Clients: 6, Keys: 2, OutDir: out,
	}}
}

// netFaults decides which datagrams the nodes' sockets drop.
type netFaults struct {
	mu    sync.Mutex
	rng   *rand.Rand
	loss  float64
	cut   map[netip.AddrPort]int // the side of a partition, by node address
	sides bool
}

func (f *netFaults) dropper(self netip.AddrPort) func(netip.AddrPort) bool {
	return func(from netip.AddrPort) bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.sides && f.cut[from] != f.cut[self] {
			return true
		}
		return f.loss > 0 && f.rng.Float64() < f.loss
	}
}

func (f *netFaults) heal() {
	f.mu.Lock()
	f.loss, f.sides, f.cut = 0, false, nil
	f.mu.Unlock()
}

type udpNode struct {
	i    int
	cfg  node.ServerConfig
	mu   sync.Mutex
	srv  *node.Server
	down bool
}

func (u *udpNode) server() *node.Server {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.down {
		return nil
	}
	return u.srv
}

// freePorts finds n ports, 10 apart, whose node port and gateway ports are
// free on 127.0.0.1, from a start drawn by rng.
func freePorts(rng *rand.Rand, n int) (int, error) {
	for range 50 {
		base := 20000 + 10*rng.IntN(3000)
		ok := true
		for i := range n {
			for d := range 3 {
				port := base + 10*i + d
				var c interface{ Close() error }
				var err error
				if d == 0 {
					c, err = net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
				} else {
					c, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
				}
				if err != nil {
					ok = false
					break
				}
				_ = c.Close()
			}
			if !ok {
				break
			}
		}
		if ok {
			return base, nil
		}
	}
	return 0, errors.New("judge: no free loopback ports")
}

// RunUDP runs cfg over real UDP on loopback.
func RunUDP(cfg UDPConfig) (Result, error) {
	start := time.Now()
	res := Result{Protocol: cfg.Protocol, Seed: cfg.Seed, Where: "udp", Family: "mixed", Nodes: cfg.Nodes}
	if !rmw.Known(cfg.Protocol) {
		return res, fmt.Errorf("judge: unknown protocol %q (known: %v)", cfg.Protocol, rmw.Names())
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x0d))
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "rmwjudge-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	base, err := freePorts(rng, cfg.Nodes+1)
	if err != nil {
		return res, err
	}
	faults := &netFaults{rng: rand.New(rand.NewPCG(cfg.Seed, 0x1f))}
	ncfg := node.DefaultConfig()
	ncfg.RMW = cfg.Protocol
	if cfg.NodeConfig != nil {
		cfg.NodeConfig(&ncfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nodes := make([]*udpNode, cfg.Nodes)
	boot := netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", base))
	// One more node than the ring starts with: it joins in a "join" round
	// (until then it is down, and clients pass it by).
	nodes = append(nodes, nil)
	for i := range nodes {
		addr := fmt.Sprintf("127.0.0.1:%d", base+10*i)
		sc := node.ServerConfig{Node: ncfg, Listen: addr, Store: store.DefaultConfig(fmt.Sprintf("%s/n%d", dir, i))}
		sc.Store.Capacity = 64 << 20
		sc.Store.CacheSize = 1 << 20
		sc.Node.Overlay.Seed = cfg.Seed*1000 + uint64(i)
		if i > 0 {
			sc.Bootstrap = []netip.AddrPort{boot}
		}
		sc.Drop = faults.dropper(netip.MustParseAddrPort(addr))
		u := &udpNode{i: i, cfg: sc}
		nodes[i] = u
		if i == cfg.Nodes {
			u.down = true
			continue
		}
		if u.srv, err = node.Start(ctx, sc); err != nil {
			return res, err
		}
		time.Sleep(100 * time.Millisecond)
	}
	defer func() {
		for _, u := range nodes {
			if s := u.server(); s != nil {
				_ = s.Close()
			}
		}
	}()
	time.Sleep(5 * time.Second) // the ring settles

	rec := linearizability.NewRecorder(nil)
	keys := make([]dht.Key, cfg.Keys)
	for i := range keys {
		keys[i] = RegisterKey(i)
	}
	var (
		latMu sync.Mutex
		lat   []time.Duration
		wg    sync.WaitGroup
	)
	stop := make(chan struct{})
	for ci := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			crng := rand.New(rand.NewPCG(cfg.Seed, uint64(ci)))
			c := rec.Client()
			read, version, ki := true, uint64(0), 0
			home := crng.IntN(len(nodes))
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Duration(crng.IntN(200)) * time.Millisecond):
				}
				u := nodes[home] // mostly its own gateway, as in the simulator
				if crng.IntN(4) == 0 {
					u = nodes[crng.IntN(len(nodes))]
				}
				s := u.server()
				if s == nil {
					continue
				}
				opCtx, done := context.WithTimeout(ctx, 30*time.Second)
				t0 := time.Now()
				if read {
					ki = crng.IntN(len(keys))
					c.CallRead(keys[ki])
					v, err := s.ReadRegister(opCtx, keys[ki])
					done()
					if err != nil {
						outcome(c, err)
						continue
					}
					c.ReturnRead(v)
					version, read = v.Version, false
				} else {
					req := dht.CAS{Key: keys[ki], Expected: version, Value: fmt.Appendf(nil, "c%d-%d", ci, crng.IntN(1_000_000)), TTL: shortOrLong(crng)}
					c.CallCAS(req)
					r, err := s.CAS(opCtx, req)
					done()
					if err != nil {
						outcome(c, err)
						read = true
						continue
					}
					c.ReturnCAS(r)
					read = r.OK || crng.IntN(2) == 0
					version = r.Version
				}
				latMu.Lock()
				lat = append(lat, time.Since(t0))
				latMu.Unlock()
			}
		}()
	}
	workStart := time.Now()
	kinds := []string{"partition", "loss", "restart", "join"}
	for round := range cfg.Rounds {
		kind := kinds[(int(cfg.Seed)+round)%len(kinds)]
		detail := ""
		var restart func() error
		switch kind {
		case "partition":
			k := 1 + rng.IntN(max(1, cfg.Nodes/3))
			perm := rng.Perm(cfg.Nodes)
			cut := map[netip.AddrPort]int{}
			var names []string
			for j, i := range perm {
				a := netip.MustParseAddrPort(nodes[i].cfg.Listen)
				if j < k {
					cut[a] = 1
					names = append(names, fmt.Sprint(i))
				}
			}
			faults.mu.Lock()
			faults.cut, faults.sides = cut, true
			faults.mu.Unlock()
			detail = "nodes " + strings.Join(names, " ") + " | rest"
		case "loss":
			faults.mu.Lock()
			faults.loss = 0.1 + rng.Float64()*0.1
			detail = fmt.Sprintf("loss %.0f%% at every socket", faults.loss*100)
			faults.mu.Unlock()
		case "join":
			u := nodes[cfg.Nodes]
			if u.server() != nil {
				kind = "none" // it joined already
				break
			}
			s, err := node.Start(ctx, u.cfg)
			if err != nil {
				close(stop)
				wg.Wait()
				return res, err
			}
			u.mu.Lock()
			u.srv, u.down = s, false
			u.mu.Unlock()
			detail = fmt.Sprintf("node %d joins", u.i)
		case "restart":
			u := nodes[1+rng.IntN(cfg.Nodes-1)]
			u.mu.Lock()
			u.down = true
			srv := u.srv
			u.mu.Unlock()
			_ = srv.Close() // its clients in flight get an error: unknown outcome
			detail = fmt.Sprintf("node %d stopped, restarted from its directory", u.i)
			restart = func() error {
				s, err := node.Start(ctx, u.cfg)
				if err != nil {
					return err
				}
				u.mu.Lock()
				u.srv, u.down = s, false
				u.mu.Unlock()
				return nil
			}
		}
		res.Schedule = append(res.Schedule, kind)
		h := rec.BeginFault(kind, detail, fmt.Sprintf("round %d", round))
		time.Sleep(cfg.FaultTime)
		faults.heal()
		if restart != nil {
			if err := restart(); err != nil {
				close(stop)
				wg.Wait()
				return res, err
			}
		}
		rec.EndFault(h)
		time.Sleep(cfg.QuietTime)
	}
	close(stop)
	workEnd := time.Now()
	wg.Wait()
	h := rec.History()
	h.Protocol, h.Seed, h.Skew = cfg.Protocol, cfg.Seed, Skew
	h.Meta = map[string]string{"where": "udp", "nodes": fmt.Sprint(cfg.Nodes), "schedule": strings.Join(res.Schedule, ","), "replay": res.Replay()}
	res.count(h)
	res.P50, res.P99 = percentiles(lat)
	res.OpsPerSec = float64(len(lat)) / workEnd.Sub(workStart).Seconds()
	err = judge(&res, h, cfg.Run)
	res.Wall = time.Since(start)
	return res, err
}
