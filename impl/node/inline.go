package node

import (
	"time"

	"github.com/opendht-go/opendht/impl/overlay"
	"github.com/opendht-go/opendht/impl/store"
)

// SyncDone is a write's fsync outcome, for Node.Synced.
type SyncDone struct {
	Seq uint64
	Err error
}

// RunInline runs the node's outputs until it has none left, with a store
// that answers at once: what a simulated host does on each event. Sends
// and completions go to send and done; storage requests run on st in
// order and are answered at once. The writes' fsyncs are waited for here
// too (the simulated disk is durable at once, so a crash keeps the same
// data in every replay), but the node is not told: the outcomes are
// returned, for the caller to report with Synced after a simulated fsync
// latency, as a real driver's syncer would.
func RunInline(n *Node, st *store.Store, now func() time.Time, send func(overlay.Send), done func(Completion)) []SyncDone {
	var syncs []SyncDone
	for {
		r := n.Ready()
		if len(r.Sends)+len(r.Done)+len(r.Storage) == 0 {
			return syncs
		}
		for _, s := range r.Sends {
			send(s)
		}
		for _, d := range r.Done {
			done(d)
		}
		for _, req := range r.Storage {
			resp := st.Exec(req)
			if resp.Pending != nil {
				syncs = append(syncs, SyncDone{resp.Seq, resp.Pending.Wait()})
				resp.Pending = nil
			}
			n.Stored(now(), resp)
		}
	}
}
