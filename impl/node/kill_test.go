package node_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/driver"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/porttest"
	"github.com/opendht-go/opendht/impl/store"
	"github.com/opendht-go/opendht/linearizability"
)

// childEnv carries a child's spec: listen|bootstrap|datadir, then
// optionally |xmlrpc|faults (its XML-RPC gateway's address, and the faults
// file it follows, see faultsFile).
const childEnv = "OPENDHT_NODE_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		runChild(spec)
		return
	}
	os.Exit(m.Run())
}

// runChild runs one node until it is killed.
func runChild(spec string) {
	parts := append(strings.Split(spec, "|"), "", "")
	cfg := driver.ServerConfig{Node: node.DefaultConfig(), Listen: parts[0], Store: store.DefaultConfig(parts[2]), XMLRPC: parts[3]}
	if parts[1] != "" {
		cfg.Bootstrap = []netip.AddrPort{netip.MustParseAddrPort(parts[1])}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if parts[4] != "" {
		cfg.Bind = driver.DropBind(childDropper(ctx, parts[4]))
	}
	s, err := driver.Start(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	<-ctx.Done()
	_ = s.Close()
}

type child struct {
	addr, boot, dir string
	xmlrpc, faults  string // optional: its XML-RPC gateway, the faults file it follows
	cmd             *exec.Cmd
}

func (c *child) start(t *testing.T) {
	t.Helper()
	c.cmd = exec.Command(os.Args[0], "-test.run=^$")
	c.cmd.Env = append(os.Environ(), childEnv+"="+strings.Join([]string{c.addr, c.boot, c.dir, c.xmlrpc, c.faults}, "|"))
	c.cmd.Stderr = os.Stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
}

func (c *child) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	_ = c.cmd.Wait()
}

// TestRealProcessesKillNine runs six node processes on loopback UDP and a
// gateway node in the test process. While clients put and remove, nodes
// are killed with SIGKILL and restarted from their data directories; after
// a settle period every gateway read must hold every acknowledged put
// (DUR-1 across the DHT) and the whole history must be eventually
// consistent.
func TestRealProcessesKillNine(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes and runs for about half a minute")
	}
	var kids []*child
	boot := ""
	for i := range 6 {
		c := &child{addr: fmt.Sprintf("127.0.0.1:%d", porttest.UDP(t)), boot: boot, dir: filepath.Join(t.TempDir(), fmt.Sprint(i))}
		c.start(t)
		kids = append(kids, c)
		if i == 0 {
			boot = c.addr
			time.Sleep(100 * time.Millisecond) // the first node binds before others join it
		}
	}
	defer func() {
		for _, c := range kids {
			c.kill()
		}
	}()
	gw, err := driver.Start(context.Background(), driver.ServerConfig{Node: node.DefaultConfig(), Listen: fmt.Sprintf("127.0.0.1:%d", porttest.UDP(t)),
		Bootstrap: []netip.AddrPort{netip.MustParseAddrPort(boot)}, Store: store.DefaultConfig(t.TempDir())})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	time.Sleep(3 * time.Second) // the ring forms

	var hist linearizability.History
	var faults []linearizability.Interval
	record := func(e linearizability.Event) { hist = append(hist, e) }
	do := func(i int) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		key := testKeyN(i % 4)
		v := []byte(fmt.Sprintf("v%d", i))
		e := linearizability.Event{Kind: linearizability.OpPut, Key: key, Value: v, TTL: 3600, SecretHash: dht.SHA1([]byte("s")), Call: time.Now()}
		st, err := gw.Put(ctx, dht.Put{Client: "127.0.0.1", Key: key, Value: v, TTL: 3600, SecretHash: dht.SHA1([]byte("s"))})
		e.Return, e.Status, e.Unknown = time.Now(), st, err != nil
		record(e)
		if i%5 == 4 {
			rv := []byte(fmt.Sprintf("v%d", i-4))
			e := linearizability.Event{Kind: linearizability.OpRemove, Key: testKeyN((i - 4) % 4), Value: rv, SecretHash: dht.SHA1([]byte("s")), TTL: 3600, Call: time.Now()}
			st, err := gw.Remove(ctx, dht.Remove{Client: "127.0.0.1", Key: e.Key, ValueHash: dht.SHA1(rv), Secret: []byte("s"), TTL: 3600})
			e.Return, e.Status, e.Unknown = time.Now(), st, err != nil
			record(e)
		}
	}
	i := 0
	for round := range 2 {
		for range 15 {
			do(i)
			i++
		}
		victim := kids[1+round*2]
		from := time.Now()
		victim.kill()
		for range 15 {
			do(i)
			i++
		}
		victim.start(t)
		time.Sleep(2 * time.Second)
		faults = append(faults, linearizability.Interval{From: from, To: time.Now()})
	}
	time.Sleep(8 * time.Second) // settle: rejoin and anti-entropy
	final := time.Now()
	for k := range 4 {
		// A loaded machine (CI runs packages in parallel) can slow the
		// ring's recovery: a read that finds no root is retried for a
		// while; only one that never gets an answer fails the test.
		giveUp := time.Now().Add(90 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			e := linearizability.Event{Kind: linearizability.OpGet, Key: testKeyN(k), Call: time.Now()}
			rep, err := gw.Get(ctx, dht.Get{Key: testKeyN(k), MaxVals: 100})
			cancel()
			e.Return, e.Unknown, e.Values = time.Now(), err != nil, rep.Values
			record(e)
			if err == nil {
				break
			}
			if time.Now().After(giveUp) {
				_ = gw.Close() // its state is read safely once its goroutine stopped
				t.Fatalf("final read of key %d: %v; gateway %v leaves %v stats %+v overlay %+v", k, err, gw.Node().Overlay(), gw.Node().Overlay().Leaves(), gw.Node().Stats(), gw.Node().Overlay().Stats())
			}
			t.Logf("final read of key %d: %v; retrying", k, err)
		}
	}
	// A route dropped at the hop limit went round in a loop: never right,
	// and what made a key unreachable from this gateway for minutes.
	_ = gw.Close()
	if l := gw.Node().Overlay().Stats().RoutesLooped; l > 0 {
		t.Errorf("the gateway dropped %d routes at the hop limit (routing loops): %v leaves %v", l, gw.Node().Overlay(), gw.Node().Overlay().Leaves())
	}
	ok := 0
	for _, e := range hist {
		if e.Kind == linearizability.OpPut && !e.Unknown && e.Status == dht.StatusOK {
			ok++
		}
	}
	v := linearizability.CheckEventual(hist, linearizability.EventualConfig{MaxTTL: dht.MaxTTL, Skew: 2 * time.Second, Settle: 5 * time.Second, FinalReads: final, Faults: faults})
	t.Logf("real processes: %d ops, %d puts acknowledged, 2 nodes killed -9 and restarted, %d violations", len(hist), ok, len(v))
	for _, x := range v {
		t.Error(x)
	}
	if ok < 40 {
		t.Fatalf("only %d of 60 puts acknowledged", ok)
	}
}
