package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/simhost"
	"github.com/opendht-go/opendht/impl/simnet"
)

// dhtRun is a simulation of the whole DHT layer: every node is the real
// node core (overlay, replication, anti-entropy, gateway role) on a
// simulated host (impl/simhost) with its store in memory. It measures the
// maintenance traffic of an idle ring, then loads items through random
// gateways and measures the maintenance traffic again with the data in
// place: what anti-entropy costs a node per second when there is nothing
// to repair.
type dhtRun struct {
	net     *simnet.Network
	rng     *rand.Rand
	hosts   []*simhost.Host
	verbose bool
	start   time.Time
}

// dhtResult is one run's figures.
type dhtResult struct {
	nodes, items, acked     int
	idleBytes, loadedBytes  float64 // maintenance bytes per node per second
	idleDgrams, loadedDgram float64 // datagrams per node per second
	wall                    time.Duration
	heapMiB, rssMiB         float64
}

func runDHT(seed uint64, n, itemsPerNode int, warm, measure time.Duration, verbose bool) (dhtResult, error) {
	cfg := simnet.DefaultConfig()
	cfg.Latency = simnet.PlaneLatency(seed, 10*time.Millisecond, 130*time.Millisecond)
	net, err := simnet.New(seed, cfg)
	if err != nil {
		return dhtResult{}, err
	}
	r := &dhtRun{net: net, rng: rand.New(rand.NewPCG(seed, 11)), verbose: verbose, start: time.Now()}
	ncfg := node.DefaultConfig()
	var failed error
	for i := range n {
		h := simhost.New(net, addrOf(i), simhost.Config{
			Node:          ncfg,
			StoreCapacity: 256 << 20,
			FsyncLatency:  func() time.Duration { return time.Duration(r.rng.IntN(3000)) * time.Microsecond },
			Fail: func(err error) {
				if failed == nil {
					failed = err
				}
			},
		})
		r.hosts = append(r.hosts, h)
	}
	// Join in waves, as the overlay simulation does: each new node needs a
	// live bootstrap, and a ring grows fastest when joins overlap.
	for next := 0; next < n; {
		for range min(n-next, max(1, next/4)) {
			var boot []netip.AddrPort
			for range min(3, next) {
				boot = append(boot, r.hosts[r.rng.IntN(next)].Addr())
			}
			if err := r.hosts[next].Start(simhost.Start{Boot: boot, Seed: r.rng.Uint64()}); err != nil {
				return dhtResult{}, err
			}
			next++
		}
		net.RunFor(2 * time.Second)
	}
	r.logf("joined %d nodes at %v", n, net.Elapsed())
	net.RunFor(warm)
	res := dhtResult{nodes: n}
	res.idleBytes, res.idleDgrams = r.maintenance(measure)
	r.logf("idle: %.0f B/node/s", res.idleBytes)

	// Load: items through random gateways, a few hundred in flight.
	res.items = itemsPerNode * n
	value := make([]byte, 1000)
	issued, done := 0, 0
	for issued < res.items {
		for issued < res.items && issued-done < 400 {
			h := r.hosts[r.rng.IntN(n)]
			var key dht.Key
			for i := range key {
				key[i] = byte(r.rng.IntN(256))
			}
			p := dht.Put{Client: dht.ClientID(fmt.Sprintf("10.200.0.%d", issued%200)), Key: key, Value: value, TTL: 3600}
			issued++
			h.Call(func(now time.Time) uint64 { return h.Node().Put(now, p) }, func(c node.Completion) {
				done++
				if c.Err == nil && c.Status == dht.StatusOK {
					res.acked++
				} else if done < 3 {
					r.logf("put failed: status %v err %v", c.Status, c.Err)
				}
			})
		}
		net.RunFor(100 * time.Millisecond)
	}
	net.RunUntil(func() bool { return done == issued }, net.Now().Add(time.Minute))
	r.logf("loaded %d items (%d acknowledged) at %v", issued, res.acked, net.Elapsed())
	// Anti-entropy settles what the load left unequal before the
	// measurement, which is of a ring with nothing to repair.
	net.RunFor(warm)
	res.loadedBytes, res.loadedDgram = r.maintenance(measure)
	res.wall = time.Since(r.start)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.heapMiB = float64(ms.HeapInuse) / (1 << 20)
	res.rssMiB = peakRSSMiB()
	for _, h := range r.hosts {
		h.Close()
	}
	return res, failed
}

// maintenance runs the ring for d with no client traffic and returns the
// bytes and datagrams each node sent per second.
func (r *dhtRun) maintenance(d time.Duration) (bytes, dgrams float64) {
	before := r.net.TotalStats()
	r.net.RunFor(d)
	after := r.net.TotalStats()
	per := float64(len(r.hosts)) * d.Seconds()
	return float64(after.Sent.Bytes-before.Sent.Bytes) / per, float64(after.Sent.Packets-before.Sent.Packets) / per
}

func (r *dhtRun) logf(format string, args ...any) {
	if r.verbose {
		fmt.Fprintf(os.Stderr, "dhtsim: "+format+" (wall %v)\n", append(args, time.Since(r.start).Round(time.Millisecond))...)
	}
}

// peakRSSMiB reads the process's peak resident set (VmHWM) on Linux; 0
// elsewhere.
func peakRSSMiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			var kb float64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%f kB", &kb); err == nil {
				return kb / 1024
			}
		}
	}
	return 0
}
