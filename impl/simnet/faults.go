package simnet

import (
	"fmt"
	"net/netip"
)

// SetFaults replaces the global faults, in force on every link.
func (n *Network) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	n.global = f
	return nil
}

// Faults returns the global faults.
func (n *Network) Faults() Faults { return n.global }

// SetLinkFaults sets the faults of the directed link from -> to, in
// addition to the global ones; the zero Faults removes them.
func (n *Network) SetLinkFaults(from, to netip.AddrPort, f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	l := link{n.nodeFor(unmap(from)), n.nodeFor(unmap(to))}
	if f == (Faults{}) {
		delete(n.links, l)
	} else {
		n.links[l] = f
	}
	return nil
}

// LinkFaults returns the faults set on the directed link from -> to alone
// (without the global ones).
func (n *Network) LinkFaults(from, to netip.AddrPort) Faults {
	a, b := n.nodes[unmap(from)], n.nodes[unmap(to)]
	if a == nil || b == nil {
		return Faults{}
	}
	return n.links[link{a, b}]
}

// faults returns the faults in force from a to b.
func (n *Network) faults(a, b *node) Faults {
	if len(n.links) > 0 {
		if lf, ok := n.links[link{a, b}]; ok {
			return n.global.combine(lf)
		}
	}
	return n.global
}

// Partition splits the network: no datagram passes between addresses of
// different groups, in either direction, until Heal or the next Partition
// (which replaces this one). Addresses named in no group, including those
// attached later, form one more group together. An address named twice is
// an error and changes nothing. One-way partitions are kept. Partition()
// with no groups removes the symmetric partition only.
func (n *Network) Partition(groups ...[]netip.AddrPort) error {
	side := map[netip.AddrPort]int{}
	for i, g := range groups {
		for _, a := range g {
			a = unmap(a)
			if _, dup := side[a]; dup {
				return fmt.Errorf("%w: %v", ErrBadPartition, a)
			}
			side[a] = i + 1
		}
	}
	for _, nd := range n.nodes {
		nd.group = 0
	}
	for a, g := range side {
		n.nodeFor(a).group = g
	}
	n.partitioned = len(groups) > 0
	return nil
}

// PartitionOneWay drops every datagram from an address in from to an
// address in to, while datagrams the other way pass. One-way partitions
// add up until Heal. An address in both sets is an error.
func (n *Network) PartitionOneWay(from, to []netip.AddrPort) error {
	r := oneWayRule{from: map[*node]bool{}, to: map[*node]bool{}}
	inFrom := map[netip.AddrPort]bool{}
	for _, a := range from {
		inFrom[unmap(a)] = true
	}
	for _, a := range to {
		if inFrom[unmap(a)] {
			return fmt.Errorf("%w: %v is on both sides of a one-way partition", ErrBadPartition, a)
		}
	}
	for a := range inFrom {
		r.from[n.nodeFor(a)] = true
	}
	for _, a := range to {
		r.to[n.nodeFor(unmap(a))] = true
	}
	n.oneWay = append(n.oneWay, r)
	return nil
}

// Heal removes every partition, symmetric and one-way. Link faults and
// global faults stay.
func (n *Network) Heal() {
	for _, nd := range n.nodes {
		nd.group = 0
	}
	n.partitioned = false
	n.oneWay = nil
}

// Blocked reports whether a partition currently stops datagrams from one
// address to another.
func (n *Network) Blocked(from, to netip.AddrPort) bool {
	a, b := n.nodes[unmap(from)], n.nodes[unmap(to)]
	// An address never seen is in no named group and no one-way rule.
	if a == nil {
		a = &node{}
	}
	if b == nil {
		b = &node{}
	}
	return n.blocked(a, b)
}

func (n *Network) blocked(a, b *node) bool {
	if n.partitioned && a.group != b.group {
		return true
	}
	for _, r := range n.oneWay {
		if r.from[a] && r.to[b] {
			return true
		}
	}
	return false
}
