package node

import (
	"fmt"
	"time"

	"github.com/opendht-go/opendht/impl/overlay"
	"github.com/opendht-go/opendht/impl/rmw"
)

// Config holds a node's parameters.
type Config struct {
	Overlay overlay.Config
	// Replicas is the size of a key's replica set, root included.
	Replicas int
	// WriteAcks is how many replicas (besides the root) must acknowledge a
	// write before the gateway is told it succeeded.
	WriteAcks int
	// ReadQuorum is how many replicas, root included, a gateway reads from.
	ReadQuorum int
	// ParallelReads is OpenDHT's "gets answered from several replicas"
	// (RD-13): a get goes to the first node on its route that knows the
	// key's replica set (the gateway itself when its leaf set does), which
	// asks every member at once; the gateway answers once the root and
	// R members of the root's set have answered, the fastest R. The root
	// is the member that claims it, in its own view, and is the closest to
	// the key of every node the answers name. False: a get goes to the
	// root, which asks R-1 other members.
	ParallelReads bool
	// FastReadAnswers is F of a fast get (RD-14): the gateway answers it
	// once this many members of the key's replica set (as its coordinator
	// sees it) have answered. Gets are fast only when their client asks.
	FastReadAnswers int
	// FastReadDirect is how many nodes a gateway that does not know a
	// key's replica set sends a fast get to directly, in parallel with the
	// routed one: those it knows closest to the key (RD-14). 0: none.
	FastReadDirect int
	// RequestTimeout is how long a gateway waits for the root's answer
	// before it routes the request again.
	RequestTimeout time.Duration
	// Attempts is how many times a gateway routes a request before it
	// answers "try again".
	Attempts int
	// ReplicaTimeout is how long a root waits for replica acknowledgements.
	ReplicaTimeout time.Duration
	// ReadWait is how long a gateway waits for more replicas after the
	// root answered a read.
	ReadWait time.Duration
	// AntiEntropyPeriod is the mean period of anti-entropy rounds.
	AntiEntropyPeriod time.Duration
	// RMW names the read-modify-write protocol of the node's registers
	// (impl/rmw: "caspaxos", "naive", ...). Every node of a ring must run
	// the same one.
	RMW string
	// MemberHold is how long a node keeps a peer in the membership its
	// register replica sets are computed from after the peer left its leaf
	// set (failed, partitioned away, or displaced by closer nodes). Peers
	// join it as soon as they are in the leaf set. Partitions and restarts
	// shorter than MemberHold do not change a register's replica set.
	MemberHold time.Duration
}

// DefaultConfig returns the parameters of a small deployment.
func DefaultConfig() Config {
	return Config{
		Overlay: overlay.DefaultConfig(),
		// 4 replicas suit clusters of tens of nodes; OpenDHT ran 8 on
		// PlanetLab's hundreds.
		Replicas: 4,
		// The deployment's choice: the root plus two replica acks.
		WriteAcks: 2,
		// A majority of the replica set.
		ReadQuorum: 3,
		// A get waits for the root and the R fastest of n members instead
		// of a route to the root and R given members: n-R more reads and
		// datagrams per get, for about a quarter less get latency on a
		// wide-area network (BENCHMARKS.md).
		ParallelReads: true,
		// One answer: the fastest member, often the gateway's own store,
		// as the original OpenDHT's gets took. More answers shrink what a
		// fast get may miss but wait for slower members.
		FastReadAnswers: 1,
		// As many as a replica set: a gateway that knows several members
		// asks them all, and the first answers without the route.
		FastReadDirect: 4,
		// The original gateway's timeout.
		RequestTimeout: 5 * time.Second,
		Attempts:       3,
		// Replicas are leaf-set neighbours, one RTT away.
		ReplicaTimeout: 2 * time.Second,
		ReadWait:       time.Second,
		// OpenDHT compared Merkle trees with a random neighbour every 1-2 s.
		AntiEntropyPeriod: 2 * time.Second,
		RMW:               rmw.Default,
		MemberHold:        5 * time.Minute,
	}
}

// Validate rejects parameters the node cannot run with.
func (c Config) Validate() error {
	if err := c.Overlay.Validate(); err != nil {
		return err
	}
	switch {
	case c.Replicas < 1 || c.Replicas > 2*c.Overlay.LeafSetSize+1:
		return fmt.Errorf("node: replicas must be in [1, %d] (the leaf set and the root), got %d", 2*c.Overlay.LeafSetSize+1, c.Replicas)
	case c.WriteAcks < 0 || c.WriteAcks > c.Replicas-1:
		return fmt.Errorf("node: write acks must be in [0, replicas-1 = %d], got %d", c.Replicas-1, c.WriteAcks)
	case c.ReadQuorum < 1 || c.ReadQuorum > c.Replicas:
		return fmt.Errorf("node: read quorum must be in [1, replicas = %d], got %d", c.Replicas, c.ReadQuorum)
	case c.FastReadAnswers < 1 || c.FastReadAnswers > c.Replicas:
		return fmt.Errorf("node: fast read answers must be in [1, replicas = %d], got %d", c.Replicas, c.FastReadAnswers)
	case c.FastReadDirect < 0 || c.FastReadDirect > maxFastReadDirect:
		return fmt.Errorf("node: fast read direct must be in [0, %d], got %d", maxFastReadDirect, c.FastReadDirect)
	case c.RequestTimeout <= 0 || c.ReplicaTimeout <= 0 || c.ReadWait <= 0 || c.AntiEntropyPeriod <= 0:
		return fmt.Errorf("node: timeouts must be positive")
	case !rmw.Known(c.RMW):
		return fmt.Errorf("node: unknown read-modify-write protocol %q (known: %v)", c.RMW, rmw.Names())
	case c.MemberHold <= 0:
		return fmt.Errorf("node: member hold must be positive")
	case c.Attempts < 1:
		return fmt.Errorf("node: attempts must be at least 1, got %d", c.Attempts)
	}
	return nil
}

// maxFastReadDirect bounds FastReadDirect: each direct read is a datagram
// and, from a member, an answer.
const maxFastReadDirect = 16
