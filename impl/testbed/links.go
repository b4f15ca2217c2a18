package testbed

import (
	"fmt"
	"time"
)

// link is what the network does to the packets one endpoint sends to
// another: a one-way delay, a loss probability, or nothing gets through.
type link struct {
	delay   time.Duration
	loss    float64
	blocked bool
}

// faults is the fault state applied on top of the RTT matrix. Endpoint n
// (for n nodes) is the host, where clients outside the namespaces run; the
// host is never partitioned away, so a client can watch both sides.
type faults struct {
	// side of each node: nodes on different sides cannot reach each
	// other (0 for every node: no partition).
	side []int
	// cut[i][j]: what node i sends to node j is lost (a one-way cut).
	cut [][]bool
	// loss is the probability that any packet is lost.
	loss float64
	// extra delay of every packet to or from a slow node.
	extra []time.Duration
}

func newFaults(n int) *faults {
	f := &faults{side: make([]int, n), cut: make([][]bool, n), extra: make([]time.Duration, n)}
	for i := range f.cut {
		f.cut[i] = make([]bool, n)
	}
	return f
}

// table computes every link: links[from][to] for endpoints 0..n (n: the
// host). A node's RTT to another is split evenly between the two
// directions; the host's RTT to every node is clientRTT.
func (f *faults) table(m Matrix, clientRTT time.Duration) [][]link {
	n := len(m)
	t := make([][]link, n+1)
	for i := range t {
		t[i] = make([]link, n+1)
		for j := range t[i] {
			if i == j {
				continue
			}
			l := link{loss: f.loss}
			switch {
			case i == n || j == n:
				l.delay = clientRTT / 2
			default:
				l.delay = m[i][j] / 2
				l.blocked = f.side[i] != f.side[j] || f.cut[i][j]
			}
			if i < n {
				l.delay += f.extra[i]
			}
			if j < n {
				l.delay += f.extra[j]
			}
			t[i][j] = l
		}
	}
	return t
}

// partition puts each group on a side of its own; nodes in no group stay
// together on side 0.
func (f *faults) partition(n int, groups [][]int) error {
	side := make([]int, n)
	for g, members := range groups {
		for _, i := range members {
			if i < 0 || i >= n {
				return fmt.Errorf("%w: node %d does not exist (0 to %d)", ErrCommand, i, n-1)
			}
			if side[i] != 0 {
				return fmt.Errorf("%w: node %d is in two groups", ErrCommand, i)
			}
			side[i] = g + 1
		}
	}
	f.side = side
	return nil
}

// heal ends partitions and cuts (loss and slow nodes stay: they are
// properties of links and hosts, undone by their own commands).
func (f *faults) heal() {
	for i := range f.side {
		f.side[i] = 0
		for j := range f.cut[i] {
			f.cut[i][j] = false
		}
	}
}
