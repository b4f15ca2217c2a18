package metrics

import (
	"cmp"
	"slices"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Snapshot is the node's state at a scrape.
type Snapshot struct {
	// Joined reports whether the node is part of a ring (SPEC section 16).
	Joined bool
	// LeafSet and RoutingTable count the overlay's peers.
	LeafSet, RoutingTable int
	// JoinAttempts counts the joins the node sent since it started.
	JoinAttempts uint64
	// CapacityBytes and StoreBytes: the store's capacity C and the bytes
	// of what it holds, B(now).
	CapacityBytes, StoreBytes int64
	// QueuedWrites is the number of writes waiting for admission.
	QueuedWrites int
	// Clients: per client (the IP address writes are charged to), bytes
	// and items stored and writes queued.
	Clients []ClientUsage
	// AntiEntropyRounds counts the rounds this node started;
	// AntiEntropyRepairs the items it sent a neighbour that lacked them.
	AntiEntropyRounds, AntiEntropyRepairs uint64
	// Dropped datagrams, by reason: the node's goroutine was too far
	// behind (queue_full), they did not decode (malformed), sending
	// failed (send_error).
	DroppedQueueFull, DroppedMalformed, DroppedSendError uint64
	// Traffic is what the overlay and the replication did, as the node
	// last published it (nil before the first time).
	Traffic *Traffic
}

// Traffic counts the node's protocol events since it started: the traffic
// by message type and what went wrong with it, so that an operator sees
// whether a degraded ring is overloaded (timeouts, peers declared dead)
// or attacked (drops by reason, SPEC section 19).
type Traffic struct {
	// Timeouts counts requests to peers that got no answer within their
	// RTO; DeadDeclared the peers removed after DeadAfter of them.
	Timeouts, DeadDeclared uint64
	// RouteRetries counts routed messages sent again to another hop;
	// RoutesDropped those given up; LookupRetries and LookupsFailed the
	// same for lookups at their origin.
	RouteRetries, RoutesDropped, LookupRetries, LookupsFailed uint64
	// ReplicaTimeouts counts replicas that did not answer a root or a
	// gateway in time.
	ReplicaTimeouts uint64
	// FastGets counts the fast gets (SPEC RD-14) this node executed as a
	// gateway, FastDirect those answered by a member it asked directly,
	// and DirectDeclined the direct reads it left unanswered, not being a
	// member of the key's replica set in its own view.
	FastGets, FastDirect, DirectDeclined uint64
	// Datagrams dropped by the overlay's checks: a reply to no request
	// of ours from its address (OH-3), an ID claimed at another address
	// than it is bound to (OH-2), a stranger over its rate (OH-4).
	DroppedUnsolicited, DroppedMismatch, DroppedRateLimited uint64
	// ByType counts messages received and sent, by message type.
	ByType []TypeCount
}

// TypeCount is the datagrams of one message type.
type TypeCount struct {
	Type    string
	In, Out uint64
}

// ClientUsage is what one client holds at a node.
type ClientUsage struct {
	Client string
	Bytes  int64
	Items  int
	Queued int
}

// MaxClients bounds the clients exported by name: the rest are summed
// under client="(other)", so that a node with many clients does not make
// many series.
const MaxClients = 50

var (
	descJoined       = desc("joined", "1 when the node is part of a ring, 0 while it is joining.")
	descLeafSet      = desc("leaf_set_peers", "Peers in the node's leaf set.")
	descTable        = desc("routing_table_peers", "Entries of the node's routing table.")
	descJoinAttempts = counterDesc("join_attempts_total", "Joins the node has sent since it started.")
	descCapacity     = desc("store_capacity_bytes", "The store's capacity C.")
	descStoreBytes   = desc("store_bytes", "Bytes of the items and tombstones the store holds, B(now).")
	descQueued       = desc("admission_queued_writes", "Writes waiting for admission (Fair Space-Time queues).")
	descClientBytes  = prometheus.NewDesc(Namespace+"_store_client_bytes", "Bytes stored for each client (the largest clients by name, the rest as (other)).", []string{"client"}, nil)
	descClientItems  = prometheus.NewDesc(Namespace+"_store_client_items", "Items and tombstones stored for each client.", []string{"client"}, nil)
	descClientQueue  = prometheus.NewDesc(Namespace+"_admission_queue_length", "Writes waiting for admission, by client.", []string{"client"}, nil)
	descAERounds     = counterDesc("antientropy_rounds_total", "Anti-entropy rounds this node started.")
	descAERepairs    = counterDesc("antientropy_repairs_total", "Items anti-entropy sent to a neighbour that lacked them.")
	descDropped      = prometheus.NewDesc(Namespace+"_datagrams_dropped_total", "Datagrams dropped by the node, by reason.", []string{"reason"}, nil)
	descTimeouts     = counterDesc("overlay_timeouts_total", "Requests to peers that got no answer within their retransmission timeout.")
	descDead         = counterDesc("overlay_dead_declared_total", "Peers removed from the leaf set and the routing table after consecutive timeouts.")
	descRouteRetries = counterDesc("overlay_route_retries_total", "Routed messages sent again to another next hop.")
	descRoutesDrop   = counterDesc("overlay_routes_dropped_total", "Routed messages given up (no next hop answered, or a loop).")
	descLookupRetry  = counterDesc("overlay_lookup_retries_total", "Lookups this node sent again after their timeout.")
	descLookupFail   = counterDesc("overlay_lookups_failed_total", "Lookups this node gave up.")
	descReplicaTO    = counterDesc("replica_timeouts_total", "Replicas that did not answer a root or a gateway in time.")
	descFastGets     = counterDesc("fast_gets_total", "Fast gets (RD-14) executed as a gateway.")
	descFastDirect   = counterDesc("fast_gets_direct_total", "Fast gets answered by a replica-set member the gateway asked directly.")
	descDirectDecl   = counterDesc("direct_reads_declined_total", "Direct reads left unanswered: not a member of the key's replica set in this node's view.")
	descMessages     = prometheus.NewDesc(Namespace+"_messages_total", "Messages received (decoded; a bundle's one by one) and sent, by message type.", []string{"direction", "type"}, nil)
)

func desc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(Namespace+"_"+name, help, nil, nil)
}

func counterDesc(name, help string) *prometheus.Desc { return desc(name, help) }

type snapshotCollector struct {
	src atomic.Pointer[func() Snapshot]
}

func (c *snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descJoined, descLeafSet, descTable, descJoinAttempts, descCapacity, descStoreBytes,
		descQueued, descClientBytes, descClientItems, descClientQueue, descAERounds, descAERepairs, descDropped,
		descTimeouts, descDead, descRouteRetries, descRoutesDrop, descLookupRetry, descLookupFail, descReplicaTO, descMessages,
		descFastGets, descFastDirect, descDirectDecl} {
		ch <- d
	}
}

func (c *snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.src.Load()
	if f == nil || *f == nil {
		return
	}
	s := (*f)()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	joined := 0.0
	if s.Joined {
		joined = 1
	}
	gauge(descJoined, joined)
	gauge(descLeafSet, float64(s.LeafSet))
	gauge(descTable, float64(s.RoutingTable))
	counter(descJoinAttempts, s.JoinAttempts)
	gauge(descCapacity, float64(s.CapacityBytes))
	gauge(descStoreBytes, float64(s.StoreBytes))
	gauge(descQueued, float64(s.QueuedWrites))
	for _, u := range TopClients(s.Clients, MaxClients) {
		gauge(descClientBytes, float64(u.Bytes), u.Client)
		gauge(descClientItems, float64(u.Items), u.Client)
		gauge(descClientQueue, float64(u.Queued), u.Client)
	}
	counter(descAERounds, s.AntiEntropyRounds)
	counter(descAERepairs, s.AntiEntropyRepairs)
	counter(descDropped, s.DroppedQueueFull, "queue_full")
	counter(descDropped, s.DroppedMalformed, "malformed")
	counter(descDropped, s.DroppedSendError, "send_error")
	if t := s.Traffic; t != nil {
		counter(descDropped, t.DroppedUnsolicited, "unsolicited")
		counter(descDropped, t.DroppedMismatch, "id_mismatch")
		counter(descDropped, t.DroppedRateLimited, "rate_limited")
		counter(descTimeouts, t.Timeouts)
		counter(descDead, t.DeadDeclared)
		counter(descRouteRetries, t.RouteRetries)
		counter(descRoutesDrop, t.RoutesDropped)
		counter(descLookupRetry, t.LookupRetries)
		counter(descLookupFail, t.LookupsFailed)
		counter(descReplicaTO, t.ReplicaTimeouts)
		counter(descFastGets, t.FastGets)
		counter(descFastDirect, t.FastDirect)
		counter(descDirectDecl, t.DirectDeclined)
		for _, c := range t.ByType {
			counter(descMessages, c.In, "in", c.Type)
			counter(descMessages, c.Out, "out", c.Type)
		}
	}
}

// TopClients returns the n clients holding the most bytes (then queued
// writes, then by name), and the others summed as client "(other)".
func TopClients(us []ClientUsage, n int) []ClientUsage {
	us = slices.Clone(us)
	slices.SortFunc(us, func(a, b ClientUsage) int {
		return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), cmp.Compare(b.Queued, a.Queued), cmp.Compare(a.Client, b.Client))
	})
	if len(us) <= n {
		return us
	}
	other := ClientUsage{Client: "(other)"}
	for _, u := range us[n:] {
		other.Bytes += u.Bytes
		other.Items += u.Items
		other.Queued += u.Queued
	}
	return append(us[:n:n], other)
}
