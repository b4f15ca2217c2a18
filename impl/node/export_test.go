package node

import (
	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/wire"
)

// What the tests of package node_test (the cluster tests, which drive
// nodes through impl/simhost and impl/driver) look at inside a node.

// MaxPushPerSync is node.MaxPushPerSync.
const MaxPushPerSync = maxPushPerSync

// ReplicaSetOf is the replica set of key as n sees it (RD-1).
func (n *Node) ReplicaSetOf(key dht.Key) []wire.Peer { return n.replicaSet(key) }

// RegisterSetOf is the replica set of a register as n's membership sees it.
func (n *Node) RegisterSetOf(key dht.Key) []wire.Peer { return n.registerSet(key) }
