package statuspage

import (
	"context"
	"errors"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/metrics"
)

func TestChartsReadTheHistograms(t *testing.T) {
	m := metrics.New()
	for range 90 {
		m.Call(metrics.Put, metrics.OK, 3*time.Millisecond) // bucket (2, 5] ms
	}
	for range 10 {
		m.Call(metrics.Put, metrics.OK, 30*time.Second) // beyond the last bound
	}
	cs, err := Charts(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	var put *Chart
	for i := range cs {
		if cs[i].Title == "put calls" {
			put = &cs[i]
		}
	}
	if put == nil || put.Count != 100 {
		t.Fatalf("no put chart of 100 calls in %+v", cs)
	}
	var sum uint64
	for _, b := range put.Bars {
		sum += b.Count
	}
	if sum != 100 || !math.IsInf(put.Bars[len(put.Bars)-1].Le, 1) || put.Bars[len(put.Bars)-1].Count != 10 {
		t.Fatalf("bars %+v: want 100 calls, 10 of them in +Inf", put.Bars)
	}
	// The median is in (2 ms, 5 ms], linear within it: 2 + 3*50/90 ms.
	if want := 0.002 + 0.003*50.0/90; math.Abs(put.P50-want) > 1e-9 {
		t.Fatalf("p50 = %v, want %v", put.P50, want)
	}
	if !math.IsNaN(quantile(Chart{}, 0.5)) {
		t.Fatal("the quantile of no calls is not NaN")
	}
}

func TestPageRendersTheView(t *testing.T) {
	v := View{NodeID: "abcdef0123456789abcdef", Address: "10.0.0.1:5850", Joined: false, Bootstrap: []string{"10.0.0.2:5850"}, JoinAttempts: 3,
		Successors: []Peer{{ID: "11", Addr: "10.0.0.3:5850"}}, Table: []Row{{Row: 0, Peers: []Peer{{ID: "22", Addr: "10.0.0.4:5850"}}}},
		CapacityBytes: 1 << 30, StoreBytes: 1 << 20, Clients: []Client{{Client: "192.0.2.9", Bytes: 1 << 20, Items: 4}},
		Listeners: map[string]string{"overlay (udp)": "10.0.0.1:5850"}}
	h := New(Config{View: func(context.Context) (View, error) { return v, nil }, Gatherer: metrics.New().Registry()})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	body := rec.Body.String()
	for _, want := range []string{"joining: not part of a ring yet", "3 join attempts", "10.0.0.3:5850", "10.0.0.4:5850", "192.0.2.9", "1.00 MiB", "put calls", "overlay (udp)"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	h = New(Config{View: func(context.Context) (View, error) { return View{}, errors.New("node stopped") }})
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "node stopped") {
		t.Fatalf("a view that fails: %d %q", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 404 {
		t.Fatalf("/metrics without metrics: %d", rec.Code)
	}
}
