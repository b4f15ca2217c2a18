package driver

import (
	"context"
	"net/http"
	"slices"

	"github.com/opendht-go/opendht/impl/buildinfo"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/statuspage"
	"github.com/opendht-go/opendht/impl/wire"
)

// pages is the handler of the node's pages on the HTTP gateway: the
// status page at / and the metrics at /metrics.
func (s *Server) pages() http.Handler {
	cfg := statuspage.Config{View: s.StatusView, Logger: s.log}
	if s.m != nil {
		cfg.Gatherer, cfg.Metrics = s.m.Registry(), s.m.Handler()
	}
	return statuspage.New(cfg)
}

// StatusView describes the node for its status page: the leaf set and
// routing table read on the node's goroutine (Inspect), the store's usage
// per client from its accessors.
func (s *Server) StatusView(ctx context.Context) (statuspage.View, error) {
	self := s.n.Self()
	v := statuspage.View{
		NodeID: self.ID.String(), Address: self.Addr.String(), Started: s.started, Build: buildinfo.Get(),
		Listeners: s.listeners, CapacityBytes: s.capacity,
	}
	for _, b := range s.bootstrap {
		v.Bootstrap = append(v.Bootstrap, b.String())
	}
	err := s.Inspect(ctx, func(n *node.Node) {
		ov := n.Overlay()
		v.Joined = ov.Joined()
		v.JoinAttempts = ov.Stats().JoinAttempts
		v.Successors, v.Predecessors = peers(ov.Successors()), peers(ov.Predecessors())
		for r, ps := range ov.TableRows() {
			v.Table = append(v.Table, statuspage.Row{Row: r, Peers: peers(ps)})
		}
	})
	if err != nil {
		return statuspage.View{}, err
	}
	slices.SortFunc(v.Table, func(a, b statuspage.Row) int { return a.Row - b.Row })
	v.StoreBytes, v.QueuedWrites = s.st.Committed(), s.st.Queued()
	for _, u := range s.MetricsSnapshot().Clients {
		v.Clients = append(v.Clients, statuspage.Client{Client: u.Client, Bytes: u.Bytes, Items: u.Items, Queued: u.Queued})
	}
	slices.SortFunc(v.Clients, func(a, b statuspage.Client) int {
		if a.Bytes != b.Bytes {
			if a.Bytes > b.Bytes {
				return -1
			}
			return 1
		}
		if a.Client < b.Client {
			return -1
		}
		if a.Client > b.Client {
			return 1
		}
		return 0
	})
	return v, nil
}

func peers(ps []wire.Peer) []statuspage.Peer {
	out := make([]statuspage.Peer, len(ps))
	for i, p := range ps {
		out[i] = statuspage.Peer{ID: p.ID.String(), Addr: p.Addr.String()}
	}
	return out
}
