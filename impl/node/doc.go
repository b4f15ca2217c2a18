// Package node is one OpenDHT node: the Bamboo overlay (impl/overlay),
// the durable store (impl/store) and the replication that joins them, plus
// the gateway role that executes client requests in the DHT.
//
// A put or remove is routed to the root of its key, which stores it
// (through Fair Space-Time admission) and pushes it to its replica set, the
// nodes of its leaf set closest to the key; the gateway is answered after
// the root's store and WriteAcks replica acknowledgements (RD-2). A get is
// routed to the root, which answers with its values and its replica set
// and asks ReadQuorum-1 other replicas to answer the gateway too; the
// gateway asks the rest itself if the quorum does not fill, and merges the
// values in item order (RD-7, RD-9). Every page of a get is read that way,
// and its placemark names the last item returned, so any node can answer
// the next page. A fast get (RD-14), which a client asks for per request,
// is near-routed to the first node that knows the replica set, which asks
// every member; the gateway answers with the first FastReadAnswers of
// them, without RD-7's read quorum. Every replica applies admission for
// the client of the write (RD-10). The rules are spec/SPEC.md section 13; variants.go holds
// the planted mistakes the consistency checks must catch.
//
// Like the overlay, a Node is a pure state machine driven by one goroutine:
// Receive, Tick and the client calls, each with the current time, and the
// store's answers (Stored, Synced); outputs come from Ready: datagrams,
// completions, and storage requests (store.Request: steps, reads, digests,
// lists, fetches, state saves). It does no I/O: a driver runs the requests
// (impl/driver's Server, on its loop goroutine with a syncer goroutine for
// the fsyncs; impl/simhost for a simulated host) and hands back the
// answers. The registers' acceptor states are held in memory
// (Disk.Registers at start, every save since), so the protocol reads them
// without I/O.
package node
