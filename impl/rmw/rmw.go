// Package rmw holds the read-modify-write protocols a node runs for the
// versioned registers of spec/SPEC.md section 11 (cas and linearizable
// read), behind one interface so that the harness of linearizability/
// judges every protocol the same way.
//
// A protocol is a state machine, one instance per node. The node calls it
// when a client's operation arrives at this node as its gateway (Start),
// when a message of the protocol arrives (Receive), when a request the
// protocol made in the eventually consistent put/get namespace completes
// (DHTDone), and on timers (Tick, NextWake). It acts only through its
// Host: messages to peers or to a key's root, the key's replica set as
// this node sees it, the put/get namespace, durable state, and Done, which
// answers the client. Every call runs on the node's goroutine: a protocol
// needs no locks.
//
// Adding a protocol is one file: a type that implements Protocol and an
// init function that calls Register with its name. The node runs the
// protocol named by its configuration (node.Config.RMW, opendht --rmw);
// make linearizability judges every registered protocol.
package rmw

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/wire"
)

// Op is a client's register operation.
type Op struct {
	// Read is a linearizable read of Key (CAS-7); otherwise the operation
	// is CAS (CAS-3).
	Read bool
	Key  dht.Key
	CAS  dht.CAS
}

func (o Op) String() string {
	if o.Read {
		return fmt.Sprintf("read(%x)", o.Key[:4])
	}
	return o.CAS.String()
}

// Result answers an operation. With Err nil, Reg is the answer (a read
// reports OK true and the register it read). Otherwise Err is either
// ErrUnknown (the operation may or may not have taken effect: CAS-11) or
// a refusal that changed nothing.
type Result struct {
	Reg dht.CASResult
	Err error
}

// ErrUnknown is the result of an operation whose outcome the protocol
// cannot tell: it timed out after it may have taken effect. Its Timeout
// method reports true, so gateways tell the client "outcome unknown".
var ErrUnknown error = unknownError{}

type unknownError struct{}

func (unknownError) Error() string {
	return "rmw: outcome unknown (the operation may have taken effect): read before trying again"
}
func (unknownError) Timeout() bool { return true }

// ErrRefused is wrapped by refusals of a protocol: the operation was not
// attempted, nothing changed.
var ErrRefused = errors.New("rmw: refused")

// DHTResult is the answer to a request a protocol made in the put/get
// namespace through its Host (node.Completion's fields).
type DHTResult struct {
	Status dht.Status  // puts and removes
	Values []dht.Value // gets
	Err    error       // a request refused outright, or a get with no answer
}

// Host is what the node offers its protocol. The time passed to a method
// is the node's clock (STEP-1).
type Host interface {
	// Self is this node.
	Self() wire.Peer
	// Send sends msg (at most wire.MaxProtoPayload bytes) to a peer; it is
	// delivered to the peer's protocol as Receive(now, self, msg), at most
	// once (datagrams may be lost, duplicated or reordered).
	Send(now time.Time, to wire.Peer, msg []byte)
	// Route sends msg through the overlay to the root of key: the live
	// node closest to key that the overlay reaches.
	Route(now time.Time, key dht.Key, msg []byte)
	// ReplicaSet is key's replica set as this node's membership sees it,
	// closest first: Replicas() nodes (fewer in a smaller ring), this node
	// included if it is one of them. See node.Config.MemberHold for how
	// the membership changes.
	ReplicaSet(key dht.Key) []wire.Peer
	// Replicas is the configured size of a replica set.
	Replicas() int
	// Put, Remove and Get make requests in the eventually consistent
	// namespace as a client of this node's gateway would; each returns a
	// request id answered later through Protocol.DHTDone.
	Put(now time.Time, p dht.Put) uint64
	Remove(now time.Time, r dht.Remove) uint64
	Get(now time.Time, g dht.Get) uint64
	// LoadState returns this node's durable state for key (nil if none),
	// kept under the protocol's name in the node's store.
	LoadState(key dht.Key) ([]byte, error)
	// SaveState replaces it (nil deletes). The state is read back at once;
	// then runs once it is on disk (err nil), or with the store's error.
	// Nothing that depends on the state may be sent before then: an
	// acceptor answers only from durable state (DUR-1).
	SaveState(now time.Time, key dht.Key, val []byte, then func(now time.Time, err error))
	// ScanState calls fn for each key with state, in key order.
	ScanState(fn func(key dht.Key, val []byte) bool) error
	// Done answers the client's operation id (once).
	Done(id uint64, r Result)
	// Timeout is how long a client's operation may take before the
	// protocol must answer it (with ErrUnknown if need be).
	Timeout() time.Duration
	// SyncPeriod is the mean period of background repair (anti-entropy).
	SyncPeriod() time.Duration
	// Rand is the node's seeded source: a simulated run replays exactly.
	Rand() *rand.Rand
	Log() *slog.Logger
}

// MembershipHost is a Host that says when its replica sets may have
// changed. A host need not implement it (Host is unchanged); one that does
// lets a protocol's background repair skip, on the rounds between
// membership changes, the per-register check of which sets changed, so an
// idle repair round costs the same however many registers the node holds.
type MembershipHost interface {
	Host
	// MembershipEpoch changes whenever ReplicaSet may answer differently,
	// for some key, than when it last had its current value (a counter
	// bumped on every join and departure of the membership will do).
	MembershipEpoch() uint64
}

// Protocol is a read-modify-write design. See the package comment.
type Protocol interface {
	// Start begins a client's operation id at this node as its gateway.
	// The operation was validated (CAS-8).
	Start(now time.Time, id uint64, op Op)
	// Receive handles a message of this protocol from a peer (or from
	// this node itself). msg comes from the network: it may be malformed
	// or hostile, and must then be dropped.
	Receive(now time.Time, from wire.Peer, msg []byte)
	// DHTDone delivers the answer to a Host.Put, Remove or Get.
	DHTDone(now time.Time, id uint64, r DHTResult)
	// Tick runs timers; NextWake says when Tick has work next (zero:
	// none).
	Tick(now time.Time)
	NextWake() time.Time
}

// Factory builds a protocol on a host.
type Factory func(h Host) Protocol

var registry = map[string]Factory{}

// Register makes a protocol available by name. It panics on a duplicate
// name: protocols register from init functions.
func Register(name string, f Factory) {
	if _, dup := registry[name]; dup {
		panic("rmw: protocol registered twice: " + name)
	}
	if name == "" || len(name) > 32 {
		panic("rmw: protocol name must be 1 to 32 bytes: " + name)
	}
	registry[name] = f
}

// Names lists the registered protocols, sorted.
func Names() []string {
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Default is the protocol a node runs unless configured otherwise.
const Default = "caspaxos"

// New builds the protocol name on h.
func New(name string, h Host) (Protocol, error) {
	f, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("rmw: unknown protocol %q (known: %v)", name, Names())
	}
	return f(h), nil
}

// Known reports whether name is a registered protocol.
func Known(name string) bool { return slices.Contains(Names(), name) }
