// Package metrics is a node's Prometheus metrics (served at /metrics on
// the gateway's HTTP port).
//
// Two kinds of values: events on the hot path (client calls and their
// latency, datagrams in and out, fsync latency) are counters and
// histograms whose label children are resolved once, in New, so that an
// update is an atomic add and never allocates; everything that is a state
// (leaf set and routing table size, store bytes and items per client,
// admission queues, anti-entropy and drop counters the node keeps anyway)
// is read from a Snapshot when Prometheus scrapes, and costs nothing in
// between.
//
// Every method of *Metrics does nothing on a nil receiver: a driver
// without metrics calls them all the same.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/opendht-go/opendht/impl/buildinfo"
)

// Namespace prefixes every metric of the node.
const Namespace = "opendht"

// Method is a client call a gateway makes on the node.
type Method uint8

// The methods, as the gateways name them.
const (
	Put Method = iota
	Get
	Remove
	CAS
	Read
	numMethods
)

var methodNames = [numMethods]string{"put", "get", "rm", "cas", "read"}

func (m Method) String() string { return methodNames[m] }

// Outcome is how a call ended.
type Outcome uint8

// The outcomes: the original statuses, then the failures of the newer
// operations.
const (
	// OK: status 0, a get answered, a cas or read that completed (a cas
	// that lost the race completed too).
	OK Outcome = iota
	// OverCapacity: status 1.
	OverCapacity
	// TryAgain: status 2, or a get or read the DHT did not answer in time.
	TryAgain
	// Unknown: a cas whose outcome is unknown.
	Unknown
	// Failed: refused (bad arguments) or the node stopped.
	Failed
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"ok", "over_capacity", "try_again", "unknown", "error"}

func (o Outcome) String() string { return outcomeNames[o] }

// Metrics holds one node's metrics and their registry.
type Metrics struct {
	reg     *prometheus.Registry
	calls   [numMethods][numOutcomes]prometheus.Counter
	latency [numMethods]prometheus.Observer
	in, out prometheus.Counter
	msgsOut prometheus.Counter
	fsync   prometheus.Observer
	snap    *snapshotCollector
}

// CallBuckets are the bounds of the call latency histograms, in seconds:
// from a local answer (under a millisecond) to the gateway's call timeout.
var CallBuckets = []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10, 20}

// FsyncBuckets are the bounds of the fsync latency histogram, in seconds.
var FsyncBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}

// New returns the metrics of one node in a registry of their own, with the
// Go runtime's and the process's metrics and opendht_build_info.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "calls_total",
		Help: "Client calls made through this node's gateways, by method and outcome.",
	}, []string{"method", "status"})
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "call_duration_seconds",
		Help:    "Latency of client calls at this gateway, from the call to its answer, by method.",
		Buckets: CallBuckets,
	}, []string{"method"})
	dg := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "datagrams_total",
		Help: "UDP datagrams received (in) and sent (out) by the node.",
	}, []string{"direction"})
	msgs := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "messages_sent_total",
		Help: "Messages the node sent to other nodes: more than datagrams_total{direction=\"out\"} by the messages that shared a datagram (a bundle).",
	})
	fsync := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "fsync_duration_seconds",
		Help:    "Time the store's writes waited for their fsync.",
		Buckets: FsyncBuckets,
	})
	for i := range numMethods {
		for o := range numOutcomes {
			m.calls[i][o] = calls.WithLabelValues(i.String(), o.String())
		}
		m.latency[i] = lat.WithLabelValues(i.String())
	}
	m.in, m.out = dg.WithLabelValues("in"), dg.WithLabelValues("out")
	m.msgsOut = msgs
	m.fsync = fsync
	info := buildinfo.Get()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info",
		Help: "Always 1: the labels say which build runs.",
		ConstLabels: prometheus.Labels{"version": info.Version, "revision": info.ShortRevision(),
			"goversion": info.GoVersion},
	})
	build.Set(1)
	m.snap = &snapshotCollector{}
	m.reg.MustRegister(calls, lat, dg, msgs, fsync, build, m.snap,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the registry holding the metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Call records a client call and its latency.
func (m *Metrics) Call(method Method, o Outcome, d time.Duration) {
	if m == nil || method >= numMethods || o >= numOutcomes {
		return
	}
	m.calls[method][o].Inc()
	m.latency[method].Observe(d.Seconds())
}

// DatagramsIn counts n datagrams received.
func (m *Metrics) DatagramsIn(n int) {
	if m == nil {
		return
	}
	m.in.Add(float64(n))
}

// DatagramsOut counts n datagrams sent.
func (m *Metrics) DatagramsOut(n int) {
	if m == nil {
		return
	}
	m.out.Add(float64(n))
}

// MessagesOut counts n messages sent to other nodes, alone or in bundles.
func (m *Metrics) MessagesOut(n int) {
	if m == nil {
		return
	}
	m.msgsOut.Add(float64(n))
}

// Fsync records how long a write waited for its fsync.
func (m *Metrics) Fsync(d time.Duration) {
	if m == nil {
		return
	}
	m.fsync.Observe(d.Seconds())
}

// SetSource names what a scrape reads the node's state from; nil reads
// nothing (the state metrics are then absent).
func (m *Metrics) SetSource(f func() Snapshot) {
	if m == nil {
		return
	}
	m.snap.src.Store(&f)
}
