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
		descQueued, descClientBytes, descClientItems, descClientQueue, descAERounds, descAERepairs, descDropped} {
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
