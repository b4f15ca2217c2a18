package metrics

import (
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The hot-path updates must not allocate: they run for every call and
// every batch of datagrams.
func TestHotPathDoesNotAllocate(t *testing.T) {
	m := New()
	allocs := testing.AllocsPerRun(1000, func() {
		m.Call(Get, OK, 3*time.Millisecond)
		m.DatagramsIn(4)
		m.DatagramsOut(2)
		m.Fsync(time.Millisecond)
	})
	if allocs != 0 {
		t.Fatalf("hot-path updates allocate %.1f times per round", allocs)
	}
}

func TestNilMetricsDoNothing(t *testing.T) {
	var m *Metrics
	m.Call(Put, OK, time.Second)
	m.DatagramsIn(1)
	m.DatagramsOut(1)
	m.Fsync(time.Second)
	m.SetSource(nil)
}

func TestCallsCountedByMethodAndOutcome(t *testing.T) {
	m := New()
	m.Call(Put, OK, time.Millisecond)
	m.Call(Put, OK, time.Millisecond)
	m.Call(Put, TryAgain, time.Second)
	m.Call(CAS, Unknown, time.Second)
	m.Call(Method(200), OK, 0) // out of range: ignored, not a panic
	want := `
# HELP opendht_calls_total Client calls made through this node's gateways, by method and outcome.
# TYPE opendht_calls_total counter
`
	var b strings.Builder
	b.WriteString(want)
	for _, meth := range methodNames {
		for _, o := range outcomeNames {
			v := 0
			switch {
			case meth == "put" && o == "ok":
				v = 2
			case meth == "put" && o == "try_again", meth == "cas" && o == "unknown":
				v = 1
			}
			fmt.Fprintf(&b, "opendht_calls_total{method=%q,status=%q} %d\n", meth, o, v)
		}
	}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(b.String()), "opendht_calls_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.Registry(), "opendht_call_duration_seconds"); n != int(numMethods) {
		t.Fatalf("%d latency histograms, want one per method (%d)", n, numMethods)
	}
}

func TestSnapshotIsReadAtScrape(t *testing.T) {
	m := New()
	if n := testutil.CollectAndCount(m.Registry(), "opendht_leaf_set_peers"); n != 0 {
		t.Fatalf("state metrics without a source: %d, want none", n)
	}
	leaves := 3
	m.SetSource(func() Snapshot {
		return Snapshot{Joined: true, LeafSet: leaves, RoutingTable: 7, StoreBytes: 100, CapacityBytes: 1000,
			Clients:          []ClientUsage{{Client: "10.0.0.1", Bytes: 60, Items: 2, Queued: 1}, {Client: "10.0.0.2", Bytes: 40, Items: 1}},
			DroppedQueueFull: 5, AntiEntropyRepairs: 9,
			Traffic: &Traffic{Timeouts: 11, DeadDeclared: 2, DroppedRateLimited: 6, FastGets: 21, FastDirect: 22, DirectDeclined: 23, ByType: []TypeCount{{Type: "ping", In: 12, Out: 13}}}}
	})
	leaves = 4
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range []string{
		"opendht_joined 1", "opendht_leaf_set_peers 4", "opendht_routing_table_peers 7",
		`opendht_store_client_bytes{client="10.0.0.1"} 60`, `opendht_store_client_items{client="10.0.0.2"} 1`,
		`opendht_admission_queue_length{client="10.0.0.1"} 1`, `opendht_datagrams_dropped_total{reason="queue_full"} 5`,
		"opendht_antientropy_repairs_total 9", "opendht_build_info{", "go_goroutines",
		"opendht_overlay_timeouts_total 11", "opendht_overlay_dead_declared_total 2", `opendht_datagrams_dropped_total{reason="rate_limited"} 6`,
		"opendht_fast_gets_total 21", "opendht_fast_gets_direct_total 22", "opendht_direct_reads_declined_total 23",
		`opendht_messages_total{direction="in",type="ping"} 12`, `opendht_messages_total{direction="out",type="ping"} 13`,
	} {
		if !strings.Contains(string(body), line) {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}

func TestTopClientsSumsTheRest(t *testing.T) {
	var us []ClientUsage
	for i := range 5 {
		us = append(us, ClientUsage{Client: fmt.Sprintf("c%d", i), Bytes: int64(i), Items: 1, Queued: i})
	}
	got := TopClients(us, 2)
	if len(got) != 3 || got[0].Client != "c4" || got[1].Client != "c3" {
		t.Fatalf("TopClients = %+v", got)
	}
	if o := got[2]; o.Client != "(other)" || o.Bytes != 0+1+2 || o.Items != 3 || o.Queued != 3 {
		t.Fatalf("the rest = %+v", o)
	}
	if got := TopClients(us[:2], 2); len(got) != 2 {
		t.Fatalf("no (other) when every client fits: %+v", got)
	}
}
