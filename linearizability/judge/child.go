package judge

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/opendht-go/opendht/impl/driver"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/store"
)

// A real-UDP run with Processes set runs each node in its own process, so
// that a crash is a SIGKILL: the node loses everything that was not on
// disk, as a real one does. The process is this program run again with
// ChildEnv set; its main (cmd/rmwjudge) or TestMain calls RunChildIfAsked
// first.

// ChildEnv carries a node's description (JSON) to a node process.
const ChildEnv = "OPENDHT_JUDGE_NODE"

type childSpec struct {
	Listen    string // UDP address; the XML-RPC gateway is on port + 1
	Bootstrap string // "" starts a ring
	Dir       string // the store's directory
	Protocol  string // the read-modify-write protocol
	// Faults is the file the parent writes the network's faults to (see
	// faultFile); the node drops datagrams accordingly.
	Faults string
}

// RunChildIfAsked runs this process as a node of a real-UDP run if
// ChildEnv is set, until it is killed or sent SIGTERM, and then exits;
// otherwise it returns at once.
func RunChildIfAsked() {
	spec := os.Getenv(ChildEnv)
	if spec == "" {
		return
	}
	if err := runChild(spec); err != nil {
		fmt.Fprintln(os.Stderr, "judge node:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runChild(spec string) error {
	var cs childSpec
	if err := json.Unmarshal([]byte(spec), &cs); err != nil {
		return fmt.Errorf("bad %s: %w", ChildEnv, err)
	}
	self, err := netip.ParseAddrPort(cs.Listen)
	if err != nil {
		return err
	}
	ff := &faultFile{path: cs.Faults, self: self}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go ff.poll(ctx)
	ncfg := node.DefaultConfig()
	ncfg.RMW = cs.Protocol
	sc := driver.ServerConfig{
		Node: ncfg, Listen: cs.Listen, Store: store.DefaultConfig(cs.Dir),
		XMLRPC: netip.AddrPortFrom(self.Addr(), self.Port()+1).String(),
		Bind:   driver.DropBind(ff.drop),
	}
	sc.Store.Capacity = 64 << 20
	sc.Store.CacheSize = 1 << 20
	if cs.Bootstrap != "" {
		b, err := netip.ParseAddrPort(cs.Bootstrap)
		if err != nil {
			return err
		}
		sc.Bootstrap = []netip.AddrPort{b}
	}
	s, err := driver.Start(ctx, sc)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return s.Close()
}

// faults is the network's state in a run: the loss rate at every socket
// and the sides of a partition (a datagram between sides is dropped).
type faults struct {
	loss  float64
	sides map[netip.AddrPort]int // nil: no partition
}

func (f *faults) drops(self, from netip.AddrPort, rng func() float64) bool {
	if f == nil {
		return false
	}
	if f.sides != nil && f.sides[from] != f.sides[self] {
		return true
	}
	return f.loss > 0 && rng() < f.loss
}

// encode writes f as lines: "loss P", then "side ADDR N" per node.
func (f faults) encode() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "loss %g\n", f.loss)
	for a, s := range f.sides {
		fmt.Fprintf(&b, "side %s %d\n", a, s)
	}
	return []byte(b.String())
}

func decodeFaults(b []byte) (*faults, error) {
	f := &faults{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		w := strings.Fields(line)
		switch {
		case len(w) == 0:
		case w[0] == "loss" && len(w) == 2:
			p, err := strconv.ParseFloat(w[1], 64)
			if err != nil || p < 0 || p > 1 {
				return nil, fmt.Errorf("bad loss %q", w[1])
			}
			f.loss = p
		case w[0] == "side" && len(w) == 3:
			a, err := netip.ParseAddrPort(w[1])
			if err != nil {
				return nil, err
			}
			n, err := strconv.Atoi(w[2])
			if err != nil {
				return nil, err
			}
			if f.sides == nil {
				f.sides = map[netip.AddrPort]int{}
			}
			f.sides[a] = n
		default:
			return nil, fmt.Errorf("bad fault line %q", line)
		}
	}
	return f, nil
}

// faultFile follows the parent's fault file in a node process.
type faultFile struct {
	path string
	self netip.AddrPort
	cur  atomic.Pointer[faults]
}

func (ff *faultFile) poll(ctx context.Context) {
	for ctx.Err() == nil {
		if b, err := os.ReadFile(ff.path); err == nil {
			if f, err := decodeFaults(b); err == nil {
				ff.cur.Store(f)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (ff *faultFile) drop(from netip.AddrPort) bool {
	return ff.cur.Load().drops(ff.self, from, rand.Float64)
}

// writeFaults replaces the fault file at once (rename), so that a node
// never reads half of it.
func writeFaults(path string, f faults) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, f.encode(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
