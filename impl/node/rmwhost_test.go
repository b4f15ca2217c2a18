package node

import (
	"net/netip"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/rmw"
	"github.com/opendht-go/opendht/impl/store"
	"github.com/opendht-go/opendht/impl/wire"
)

// TestProtocolRequestsAnsweredInOneNodeRing: the answers to a protocol's
// own put/get requests reach it through DHTDone even when the node answers
// them at once, inside the call that made them (a ring of one node is its
// own root and quorum): a cas through naive, and through caspaxos,
// completes there.
func TestProtocolRequestsAnsweredInOneNodeRing(t *testing.T) {
	for _, proto := range []string{"naive", rmw.Default} {
		cfg := DefaultConfig()
		cfg.RMW, cfg.Replicas, cfg.WriteAcks, cfg.ReadQuorum = proto, 1, 0, 1
		scfg := store.DefaultConfig("db")
		scfg.FS = vfs.NewMem()
		st, err := store.Open(scfg)
		if err != nil {
			t.Fatal(err)
		}
		addr := netip.MustParseAddrPort("10.9.0.1:5850")
		n := New(cfg, wire.Peer{ID: IDFor(addr), Addr: addr}, Disk{ReplyCap: st.ReplyCap(), Registers: map[dht.Key][]byte{}}, nil)
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		n.Join(now, nil)
		var done []Completion
		step := func() {
			for {
				r := n.Ready()
				done = append(done, r.Done...)
				if len(r.Storage) == 0 {
					break
				}
				for _, req := range r.Storage {
					resp := st.Exec(req)
					var err error
					if resp.Pending != nil {
						err = resp.Pending.Wait()
					}
					n.Stored(now, resp)
					if resp.Pending != nil {
						n.Synced(now, resp.Seq, err)
					}
				}
			}
		}
		for range 20 { // the ring of one settles
			now = now.Add(time.Second)
			n.Tick(now)
			step()
		}
		done = nil
		id := n.CAS(now, dht.CAS{Key: dht.Key{1}, Value: []byte("x"), TTL: 60})
		for i := 0; i < 100 && len(done) == 0; i++ {
			step()
			now = now.Add(100 * time.Millisecond)
			n.Tick(now)
		}
		if len(done) != 1 || done[0].ReqID != id || done[0].Err != nil || !done[0].Register.OK || done[0].Register.Version != 1 {
			t.Fatalf("%s: cas in a one-node ring: %+v", proto, done)
		}
		_ = st.Close()
	}
}
