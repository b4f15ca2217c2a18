package testbed

import (
	"fmt"
	"strings"
	"sync"
)

// The tc netem shaper: every namespace has a veth whose other end is on a
// bridge in the host's namespace (the bridge holds the host's address).
// On the namespace's end, the egress queueing discipline is an HTB with
// one class per destination (every other node and the host), selected by
// a u32 filter on the destination IP address; each class's leaf is a
// netem qdisc with that path's one-way delay and loss (a blocked path:
// loss 100%). Class 1:1, the default, carries what matches no filter
// (ARP) without delay. A fault replaces the netem leaves that differ
// (tc -batch, one call per namespace).
//
// The host's own sending is not shaped: its share of a path's delay and
// loss is added on the node's side, so a client still sees the round trip
// and loss it was given.

// netemDev is the veth's name inside each namespace.
const netemDev = "eth0"

type netemShaper struct {
	ns   []string // the namespace of each node
	addr func(int) string
	mu   sync.Mutex
	cur  [][]link
}

// classOf is the HTB class (and netem handle) of destination j; minor
// numbers are hexadecimal to tc.
func classOf(j int) string { return fmt.Sprintf("%x", j+0x10) }

// netemLeaf is the leaf qdisc of a path's class (a variable so that a
// test can build the topology on a kernel without netem).
var netemLeaf = netemLeafOf

// netemLeafOf is the netem qdisc's parameters for a path.
func netemLeafOf(l link) string {
	if l.blocked {
		return "netem limit 10000 loss 100%"
	}
	return fmt.Sprintf("netem limit 10000 delay %dus loss %.4f%%", l.delay.Microseconds(), l.loss*100)
}

// netemPath folds the host's direction into the node's: the delay and
// loss a node's packets to the host meet, plus those the host's answers
// would have met.
func netemPath(t [][]link, i, j int) link {
	n := len(t) - 1
	l := t[i][j]
	if j == n {
		back := t[n][i]
		l.delay += back.delay
		l.loss = 1 - (1-l.loss)*(1-back.loss)
		l.blocked = l.blocked || back.blocked
	}
	return l
}

// netemSetup is the tc batch that builds node i's queueing discipline for
// the links of t.
func netemSetup(t [][]link, i int, addr func(int) string) []string {
	cmds := []string{
		fmt.Sprintf("qdisc add dev %s root handle 1: htb default 1", netemDev),
		fmt.Sprintf("class add dev %s parent 1: classid 1:1 htb rate 1gbit burst 256k cburst 256k quantum 1514", netemDev),
	}
	for j := range t {
		if j == i {
			continue
		}
		c := classOf(j)
		cmds = append(cmds,
			fmt.Sprintf("class add dev %s parent 1: classid 1:%s htb rate 1gbit burst 256k cburst 256k quantum 1514", netemDev, c),
			fmt.Sprintf("qdisc add dev %s parent 1:%s handle %s: %s", netemDev, c, c, netemLeaf(netemPath(t, i, j))),
			fmt.Sprintf("filter add dev %s parent 1: protocol ip prio 1 u32 match ip dst %s/32 flowid 1:%s", netemDev, addr(j), c))
	}
	return cmds
}

// netemChanges is the tc batch that moves node i's leaves from the links
// of old to those of t.
func netemChanges(old, t [][]link, i int) []string {
	var cmds []string
	for j := range t {
		if j == i {
			continue
		}
		if l := netemPath(t, i, j); l != netemPath(old, i, j) {
			c := classOf(j)
			cmds = append(cmds, fmt.Sprintf("qdisc replace dev %s parent 1:%s handle %s: %s", netemDev, c, c, netemLeaf(l)))
		}
	}
	return cmds
}

func (s *netemShaper) setup(t [][]link) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, ns := range s.ns {
		if err := tcBatch(ns, netemSetup(t, i, s.addr)); err != nil {
			return err
		}
	}
	s.cur = t
	return nil
}

func (s *netemShaper) setLinks(t [][]link) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, ns := range s.ns {
		if err := tcBatch(ns, netemChanges(s.cur, t, i)); err != nil {
			return err
		}
	}
	s.cur = t
	return nil
}

// tcBatch runs tc commands in a namespace.
func tcBatch(ns string, cmds []string) error {
	if len(cmds) == 0 {
		return nil
	}
	return runIn(strings.Join(cmds, "\n")+"\n", "ip", "netns", "exec", ns, "tc", "-batch", "-")
}
