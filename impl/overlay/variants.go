package overlay

import (
	"errors"

	"github.com/opendht-go/opendht/impl/plant"
)

// Variant is a deliberate weakening of the overlay's defences against
// hostile datagrams (spec/SPEC.md section 19), which the attack tests
// plant to show what each defence is worth and that the tests can fail.
// Variants exist only in builds with the build tag "variants".
type Variant struct {
	// TrustClaims is the overlay before section 19: the ID a datagram
	// claims is bound to the address it came from at once (rebinding a
	// known peer), gossiped peers enter the leaf set before they answer,
	// a reply is matched by nonce alone, and no per-host limit holds
	// (breaks OH-1, OH-2, OH-3 and OH-5).
	TrustClaims bool
	// BlindProximity is delay-aware routing that ignores what it
	// measured: every peer is taken to be the median hop delay away, so
	// the next hop is chosen by progress alone (PR-1 without its point).
	BlindProximity bool
	// FragileLiveness is failure detection before section 22: no floor
	// under the RTO, every timeout counts (a burst of requests in flight
	// to a peer that pauses is as many failures), and an answer after
	// its timeout is dropped (breaks FD-1, FD-2 and FD-3).
	FragileLiveness bool
}

// ErrNoVariants is returned by Plant in a build without the "variants"
// tag.
var ErrNoVariants = errors.New("overlay: this build has no planted variants (build with -tags variants)")

// VariantsBuilt reports whether this build can plant variants.
const VariantsBuilt = plant.Built

// planted holds the variant of every node given one, outside the Node
// struct (impl/plant).
var planted plant.Table[*Node, Variant]

// bug is the node's planted variant: a constant zero Variant without the
// variants tag.
func (n *Node) bug() Variant { return planted.Of(n) }

// Plant gives n the planted variant v (the zero Variant removes it). A
// build without the variants tag has none: it returns ErrNoVariants.
func Plant(n *Node, v Variant) error {
	if !planted.Plant(n, v) {
		return ErrNoVariants
	}
	return nil
}
