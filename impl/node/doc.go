// Package node is one OpenDHT node: the Bamboo overlay (impl/overlay),
// the durable store (impl/store) and the replication that joins them, plus
// the gateway role that executes client requests in the DHT.
//
// A put or remove is routed to the root of its key, which stores it
// (through Fair Space-Time admission) and pushes it to its replica set, the
// nodes of its leaf set closest to the key; the gateway is answered after
// the root's store and WriteAcks replica acknowledgements. A get is routed to
// the root, which answers with its values and its replica set; the gateway
// then asks more replicas until a read quorum has answered and merges the
// values. Every replica applies admission for the client of the write.
//
// Like the overlay, a Node is driven by one goroutine: Receive, Tick and the
// client calls, each with the current time; outputs come from Ready. The
// store is the only I/O it does itself.
package node
