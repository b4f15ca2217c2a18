package judge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opendht-go/opendht/impl/client"
	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/driver"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/rmw"
	"github.com/opendht-go/opendht/impl/store"
	"github.com/opendht-go/opendht/linearizability"
)

// UDPConfig is a run over real UDP on loopback: node servers, each with
// its own socket and Pebble store on disk, and clients calling them as
// their gateways. Faults are injected at the receiving sockets
// (partitions, loss), by crashing a node and starting it again from its
// data directory, and by a node that joins.
type UDPConfig struct {
	Run
	Nodes int
	// Processes runs every node in its own process (this program again,
	// see RunChildIfAsked), its clients calling its XML-RPC gateway with
	// impl/client, and crashes are SIGKILL. Otherwise the nodes run in
	// this process, clients call them directly, and a crash is a stop.
	Processes bool
	// Dir holds the nodes' stores ("": a temporary directory, removed).
	Dir string
}

// DefaultUDPConfig is the real-UDP run the judge makes.
func DefaultUDPConfig(protocol string, seed uint64, out string) UDPConfig {
	return UDPConfig{Nodes: 8, Processes: true, Run: Run{
		Protocol: protocol, Seed: seed, Rounds: 4,
		FaultTime: 8 * time.Second, QuietTime: 5 * time.Second,
		Clients: 6, Keys: 2, OutDir: out,
	}}
}

// gateway is what a client of a real-UDP run calls: a driver.Server in this
// process, or a client.Client of a node process's XML-RPC gateway.
type gateway interface {
	CAS(ctx context.Context, c dht.CAS) (dht.CASResult, error)
	ReadRegister(ctx context.Context, key dht.Key) (dht.Versioned, error)
}

type clientGateway struct{ c *client.Client }

func (g clientGateway) CAS(ctx context.Context, c dht.CAS) (dht.CASResult, error) {
	return g.c.CAS(ctx, c.Key, c.Expected, c.Value, time.Duration(c.TTL)*time.Second)
}

func (g clientGateway) ReadRegister(ctx context.Context, key dht.Key) (dht.Versioned, error) {
	return g.c.Read(ctx, key)
}

// netFaults holds the network's faults for the nodes of a run: read at
// once by the sockets of nodes in this process, written to a file that
// node processes follow.
type netFaults struct {
	mu   sync.Mutex
	rng  *rand.Rand
	cur  atomic.Pointer[faults]
	path string
}

func (f *netFaults) set(x faults) error {
	f.cur.Store(&x)
	if f.path == "" {
		return nil
	}
	return writeFaults(f.path, x)
}

func (f *netFaults) dropper(self netip.AddrPort) func(netip.AddrPort) bool {
	return func(from netip.AddrPort) bool {
		return f.cur.Load().drops(self, from, func() float64 {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.rng.Float64()
		})
	}
}

// udpNode is one node of a real-UDP run.
type udpNode struct {
	i    int
	addr netip.AddrPort
	cfg  driver.ServerConfig // in this process
	spec childSpec           // in its own process
	log  string              // a node process's stderr
	mu   sync.Mutex
	gw   gateway // nil while the node is down
	kill func()
}

func (u *udpNode) gateway() gateway {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.gw
}

// start runs the node, in this process or in its own.
func (u *udpNode) start(ctx context.Context, processes bool) error {
	if !processes {
		s, err := driver.Start(ctx, u.cfg)
		if err != nil {
			return err
		}
		u.mu.Lock()
		u.gw, u.kill = s, func() { _ = s.Close() }
		u.mu.Unlock()
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	spec, _ := json.Marshal(u.spec)
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), ChildEnv+"="+string(spec))
	logf, err := os.OpenFile(u.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return err
	}
	kill := func() {
		_ = cmd.Process.Kill() // SIGKILL: what was not on disk is lost
		_ = cmd.Wait()
		_ = logf.Close()
	}
	gwAddr := netip.AddrPortFrom(u.addr.Addr(), u.addr.Port()+1).String()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", gwAddr)
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			kill()
			return fmt.Errorf("judge: node %d (%s) did not open its gateway in 10 s; its log: %s", u.i, gwAddr, u.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cc := client.DefaultConfig(gwAddr)
	// One gateway, one attempt: a cas is never repeated anyway, and a
	// read that fails is recorded as such.
	cc.MaxAttempts, cc.CallTimeout = 1, 30*time.Second
	cli, err := client.New(cc)
	if err != nil {
		kill()
		return err
	}
	u.mu.Lock()
	u.gw, u.kill = clientGateway{cli}, kill
	u.mu.Unlock()
	return nil
}

// crash stops the node: its clients in flight get an error (an unknown
// outcome for a cas).
func (u *udpNode) crash() {
	u.mu.Lock()
	kill := u.kill
	u.gw, u.kill = nil, nil
	u.mu.Unlock()
	if kill != nil {
		kill()
	}
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
	nf := &netFaults{rng: rand.New(rand.NewPCG(cfg.Seed, 0x1f))}
	if cfg.Processes {
		nf.path = filepath.Join(dir, "faults")
	}
	if err := nf.set(faults{}); err != nil {
		return res, err
	}
	ncfg := node.DefaultConfig()
	ncfg.RMW = cfg.Protocol
	if cfg.NodeConfig != nil {
		cfg.NodeConfig(&ncfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// One more node than the ring starts with: it joins in a "join" round
	// (until then it is down, and clients pass it by).
	nodes := make([]*udpNode, cfg.Nodes+1)
	boot := netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", base))
	for i := range nodes {
		addr := netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", base+10*i))
		u := &udpNode{i: i, addr: addr, log: filepath.Join(dir, fmt.Sprintf("n%d.log", i))}
		u.cfg = driver.ServerConfig{Node: ncfg, Listen: addr.String(), Store: store.DefaultConfig(filepath.Join(dir, fmt.Sprintf("n%d", i)))}
		u.cfg.Store.Capacity = 64 << 20
		u.cfg.Store.CacheSize = 1 << 20
		u.cfg.Bind = driver.DropBind(nf.dropper(addr))
		u.spec = childSpec{Listen: addr.String(), Dir: u.cfg.Store.Dir, Protocol: cfg.Protocol, Faults: nf.path}
		if i > 0 {
			u.cfg.Bootstrap = []netip.AddrPort{boot}
			u.spec.Bootstrap = boot.String()
		}
		nodes[i] = u
	}
	defer func() {
		for _, u := range nodes {
			u.crash()
		}
	}()
	for _, u := range nodes[:cfg.Nodes] {
		if err := u.start(ctx, cfg.Processes); err != nil {
			return res, err
		}
		time.Sleep(100 * time.Millisecond)
	}
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
			cs := &clientState{c: rec.Client(), id: ci, read: true}
			cs.home = crng.IntN(len(nodes))
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Duration(crng.IntN(200)) * time.Millisecond):
				}
				u := nodes[cs.home] // mostly its own gateway, as in the simulator
				if crng.IntN(4) == 0 {
					u = nodes[crng.IntN(len(nodes))]
				}
				gw := u.gateway()
				if gw == nil {
					continue
				}
				opCtx, done := context.WithTimeout(ctx, 30*time.Second)
				t0 := time.Now()
				key, req := cs.request(crng, keys)
				var reg dht.CASResult
				var err error
				if req == nil {
					reg.Versioned, err = gw.ReadRegister(opCtx, key)
				} else {
					reg, err = gw.CAS(opCtx, *req)
				}
				done()
				if err == nil {
					latMu.Lock()
					lat = append(lat, time.Since(t0))
					latMu.Unlock()
				}
				cs.answered(crng, reg, err)
			}
		}()
	}
	fail := func(err error) (Result, error) {
		close(stop)
		wg.Wait()
		return res, err
	}
	crash := "stop"
	if cfg.Processes {
		crash = "kill -9"
	}
	workStart := time.Now()
	kinds := []string{"partition", "loss", "crash", "join"}
	for round := range cfg.Rounds {
		kind := kinds[(int(cfg.Seed)+round)%len(kinds)]
		detail := ""
		var restart *udpNode
		switch kind {
		case "partition":
			k := 1 + rng.IntN(max(1, cfg.Nodes/3))
			f := faults{sides: map[netip.AddrPort]int{}}
			var names []string
			for j, i := range rng.Perm(cfg.Nodes) {
				if j < k {
					f.sides[nodes[i].addr] = 1
					names = append(names, fmt.Sprint(i))
				}
			}
			if err := nf.set(f); err != nil {
				return fail(err)
			}
			detail = "nodes " + strings.Join(names, " ") + " | rest"
		case "loss":
			f := faults{loss: 0.1 + rng.Float64()*0.1}
			if err := nf.set(f); err != nil {
				return fail(err)
			}
			detail = fmt.Sprintf("loss %.0f%% at every socket", f.loss*100)
		case "join":
			u := nodes[cfg.Nodes]
			if u.gateway() != nil {
				kind = "none" // it joined already
				break
			}
			if err := u.start(ctx, cfg.Processes); err != nil {
				return fail(err)
			}
			detail = fmt.Sprintf("node %d joins", u.i)
		case "crash":
			restart = nodes[1+rng.IntN(cfg.Nodes-1)]
			restart.crash()
			detail = fmt.Sprintf("node %d: %s, restarted from its directory", restart.i, crash)
		}
		res.Schedule = append(res.Schedule, kind)
		h := rec.BeginFault(kind, detail, fmt.Sprintf("round %d", round))
		time.Sleep(cfg.FaultTime)
		if err := nf.set(faults{}); err != nil {
			return fail(err)
		}
		if restart != nil {
			if err := restart.start(ctx, cfg.Processes); err != nil {
				return fail(err)
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
	h.Meta = map[string]string{"where": "udp", "nodes": fmt.Sprint(cfg.Nodes), "schedule": strings.Join(res.Schedule, ","), "crash": crash, "replay": res.Replay()}
	res.count(h)
	res.P50, res.P99 = percentiles(lat)
	res.OpsPerSec = float64(len(lat)) / workEnd.Sub(workStart).Seconds()
	err = judge(&res, h, cfg.Run)
	res.Wall = time.Since(start)
	return res, err
}
