package main

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/metrics"
)

const dashboardPath = "deploy/grafana-dashboard.json"

// metricName finds the metric names in a PromQL expression: the names of
// this node's families and of Go's and the process's collectors.
var metricName = regexp.MustCompile(`\b(?:opendht|go|process)_[a-z0-9_]+\b`)

// dashboardQueries returns every PromQL expression of a Grafana
// dashboard: the panels' targets and the variables' queries.
func dashboardQueries(t *testing.T, raw []byte) []string {
	t.Helper()
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	var out []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, tg := range p.Targets {
			out = append(out, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(string); ok && v.Type == "query" {
			out = append(out, q)
		}
	}
	return out
}

// exported returns the names of the series a node exports: each family,
// and a histogram's _bucket, _sum and _count.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	m := metrics.New()
	m.Call(metrics.Put, metrics.OK, time.Millisecond)
	m.SetSource(func() metrics.Snapshot {
		return metrics.Snapshot{
			Clients: []metrics.ClientUsage{{Client: "192.0.2.1", Bytes: 1, Items: 1}},
			Traffic: &metrics.Traffic{ByType: []metrics.TypeCount{{Type: "ping", In: 1, Out: 1}}},
		}
	})
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		n := mf.GetName()
		names[n] = true
		if mf.GetType().String() == "HISTOGRAM" {
			names[n+"_bucket"], names[n+"_sum"], names[n+"_count"] = true, true, true
		}
	}
	return names
}

// missingMetrics returns the metrics the queries name that names lacks.
func missingMetrics(queries []string, names map[string]bool) []string {
	var missing []string
	for _, q := range queries {
		for _, n := range metricName.FindAllString(q, -1) {
			if !names[n] && !slices.Contains(missing, n) {
				missing = append(missing, n)
			}
		}
	}
	return missing
}

// TestDashboardQueriesExistingMetrics: every metric the Grafana dashboard
// queries is one a node exports, and the dashboard draws every family of
// the node's own.
func TestDashboardQueriesExistingMetrics(t *testing.T) {
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	queries := dashboardQueries(t, raw)
	names := exported(t)
	if missing := missingMetrics(queries, names); len(missing) > 0 {
		t.Fatalf("the dashboard queries metrics no node exports: %v", missing)
	}
	used := strings.Join(queries, "\n")
	for n := range names {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
		if strings.HasPrefix(n, metrics.Namespace+"_") && !strings.Contains(used, base) {
			t.Errorf("the dashboard does not show %s", n)
		}
	}
	// Negative control: a query of a metric that does not exist is caught.
	if missing := missingMetrics([]string{`rate(opendht_calls_totl[1m])`}, names); len(missing) != 1 {
		t.Fatalf("a misspelt metric went unnoticed: %v", missing)
	}
}
