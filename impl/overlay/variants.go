package overlay

import "errors"

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
	// its timeout is dropped (breaks LV-1, LV-2 and LV-3).
	FragileLiveness bool
}

// ErrNoVariants is returned by Plant in a build without the "variants"
// tag.
var ErrNoVariants = errors.New("overlay: this build has no planted variants (build with -tags variants)")
