package node

import (
	"errors"
	"time"

	"github.com/opendht-go/opendht/impl/plant"
	"github.com/opendht-go/opendht/impl/store"
)

// Variant holds the planted mistakes that the consistency checks must
// catch, one flag each: the negative controls of the replicated DHT's
// rules (spec/SPEC.md section 13). The zero Variant is the correct node.
//
// Variants exist only in builds with the build tag "variants" (make test
// and make consistency set it): there Plant gives one node a Variant. In
// every other build Plant fails and the node's code asks a constant zero
// Variant, so production binaries carry neither the switches nor a field
// for them (impl/plant).
type Variant struct {
	// StoragePlacemark pages a get in the root's storage order, reads a
	// follow-up page at the root alone, and hands out the root's own
	// storage position as the placemark: a page answered by another node
	// reads it in that node's numbering and skips or repeats values
	// (breaks RD-9).
	StoragePlacemark bool
	// AckOneShort acknowledges a write after one replica acknowledgement
	// fewer than WriteAcks (breaks RD-2, and so RD-7).
	AckOneShort bool
	// FirstRootClaim counts a parallel read's quorum (RD-13) in the set of
	// the first member that claims to be root, even when another answer
	// names a node closer to the key: a member whose view lags (it does
	// not know the root yet) then names a set that may share too few
	// members with the one the key's writes went to (breaks RD-7).
	FirstRootClaim bool
	// RootOnlyRead answers a get from the root's reply alone instead of a
	// read quorum (breaks RD-7).
	RootOnlyRead bool
	// NoHandOff stops pushing the items of keys this node no longer
	// replicates: when a key's whole replica set moves, its acknowledged
	// items are lost (breaks RD-11).
	NoHandOff bool
	// NoAntiEntropy runs no anti-entropy rounds: a replica that missed a
	// write never learns of it (breaks RD-8).
	NoAntiEntropy bool
	// NoTombstoneCopies leaves tombstones out of anti-entropy: a replica
	// that missed an rm keeps returning the item (breaks RD-8).
	NoTombstoneCopies bool
	// SkewedExpiry runs the node's store, and so its expiries, on a clock
	// skewedExpiryLag behind the node's: a replica whose clock is off by
	// more than the bound keeps returning items after they expired
	// (breaks RD-6).
	SkewedExpiry bool
	// AcceptStaleRecords lets a signed record into the node's store under
	// a record of its key that outranks it and lives as long: a replayed
	// old record, or a lagging replica's copy, stays beside the greater
	// one (breaks SG-6). The mistake is the store's (SG-6 is decided
	// where a write is validated): PlantStore plants it in the store the
	// node runs on.
	AcceptStaleRecords bool
	// UnverifiedCopies verifies authenticated puts at the node's gateway
	// only: its store takes what other nodes send (a root's copies,
	// anti-entropy pushes) unverified, a hostile node's forgeries
	// included (breaks IM-3 and SG-5). Planted in the store, as
	// AcceptStaleRecords.
	UnverifiedCopies bool
	// FastReadCache answers a fast get (RD-14) at its gateway from the
	// answer the gateway last gave a fast get of the key, kept without
	// bound: a read cache that never hears of removes returns the item of
	// a settled rm (breaks RD-8's no resurrection, which fast reads keep).
	FastReadCache bool
	// DirectNonMember answers a fast get's direct read (RD-14) although
	// the node is not a member of the key's replica set in its own view,
	// naming a set with itself first: the gateway counts the answer of a
	// node that holds none of the key's items (breaks RD-8's first half,
	// which fast reads keep).
	DirectNonMember bool
	// AckBeforeDurable acknowledges a write at the root without waiting
	// for its own fsync (breaks DUR-1): the negative control of the
	// durability tests, not a consistency variant.
	AckBeforeDurable bool
}

// ErrNoVariants: this build has no planted variants (build with -tags
// variants).
var ErrNoVariants = errors.New("node: planted variants need a build with -tags variants")

// skewedExpiryLag is how far behind the SkewedExpiry variant's store clock
// runs: ten times the skew bound the checks allow.
const skewedExpiryLag = 10 * time.Second

// Variants names every planted mistake, for tests and the consistency
// report.
var Variants = map[string]Variant{
	"storage-placemark":    {StoragePlacemark: true},
	"ack-one-short":        {AckOneShort: true},
	"root-only-read":       {RootOnlyRead: true},
	"first-root-claim":     {FirstRootClaim: true},
	"no-hand-off":          {NoHandOff: true},
	"no-anti-entropy":      {NoAntiEntropy: true},
	"no-tombstone-copies":  {NoTombstoneCopies: true},
	"skewed-expiry":        {SkewedExpiry: true},
	"accept-stale-records": {AcceptStaleRecords: true},
	"unverified-copies":    {UnverifiedCopies: true},
	"fast-read-cache":      {FastReadCache: true},
	"direct-non-member":    {DirectNonMember: true},
}

// storeMutation names the store mutation a variant's mistake is made of
// (impl/store's Plant), "" for none.
func (v Variant) storeMutation() string {
	switch {
	case v.AcceptStaleRecords:
		return "accept-stale"
	case v.UnverifiedCopies:
		return "skip-auth"
	}
	return ""
}

// VariantsBuilt reports whether this build can plant variants.
const VariantsBuilt = plant.Built

// planted holds the variant of every node given one, outside the Node
// struct.
var planted plant.Table[*Node, Variant]

// bug is the node's planted variant; without the variants tag a constant
// zero Variant, so every check of a flag compiles away.
func (n *Node) bug() Variant { return planted.Of(n) }

// Plant gives n the planted variant v (the zero Variant removes it). A
// build without the variants tag has none: it returns ErrNoVariants.
func Plant(n *Node, v Variant) error {
	if !planted.Plant(n, v) {
		return ErrNoVariants
	}
	return nil
}

// PlantStore plants the part of v that is a mistake of the node's store
// in st, the store the node runs on (AcceptStaleRecords,
// UnverifiedCopies); a v without one removes any. A build without the
// variants tag returns ErrNoVariants for a v that has one.
func PlantStore(st *store.Store, v Variant) error {
	m := v.storeMutation()
	if !VariantsBuilt && m != "" {
		return ErrNoVariants
	}
	return store.Plant(st, m)
}
