package testbed

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestGenerateShape: a generated matrix is valid, symmetric, its median
// over the pairs is the one asked for, the same seed gives the same
// matrix, and it has the long tail of a wide-area network.
func TestGenerateShape(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 120).Draw(t, "n")
		seed := rapid.Uint64().Draw(t, "seed")
		median := time.Duration(rapid.IntRange(1, 1000).Draw(t, "median_ms")) * time.Millisecond
		m, err := Generate(GenConfig{Nodes: n, Seed: seed, Median: median})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Validate(n); err != nil {
			t.Fatal(err)
		}
		if got := Percentile(m.Pairs(), 50); got != median {
			t.Fatalf("median %v, want %v", got, median)
		}
		again, _ := Generate(GenConfig{Nodes: n, Seed: seed, Median: median})
		var a, b bytes.Buffer
		_ = m.Format(&a)
		_ = again.Format(&b)
		if a.String() != b.String() {
			t.Fatal("the same seed gave two matrices")
		}
	})
}

// TestGenerateLongTail: over many nodes the 99th percentile is far above
// the median, and the 10th far below it (PlanetLab had pairs on one
// campus and pairs across the planet).
func TestGenerateLongTail(t *testing.T) {
	m, err := Generate(DefaultGenConfig(200, 1))
	if err != nil {
		t.Fatal(err)
	}
	p := m.Pairs()
	t.Log(m.Summary())
	if p99, p50, p10 := Percentile(p, 99), Percentile(p, 50), Percentile(p, 10); p99 < 3*p50 || p10 > p50/2 {
		t.Fatalf("no long tail: p10 %v p50 %v p99 %v", p10, p50, p99)
	}
}

// TestMatrixRoundTrip: what Format writes, ParseMatrix reads back equal.
func TestMatrixRoundTrip(t *testing.T) {
	m, _ := Generate(DefaultGenConfig(7, 3))
	var b bytes.Buffer
	if err := m.Format(&b); err != nil {
		t.Fatal(err)
	}
	got, err := ParseMatrix(&b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m {
		for j := range m[i] {
			if got[i][j] != m[i][j] {
				t.Fatalf("[%d][%d] = %v, want %v", i, j, got[i][j], m[i][j])
			}
		}
	}
}

// TestParseMatrixRefuses: malformed matrices are refused with ErrMatrix
// and a message that names the problem.
func TestParseMatrixRefuses(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "no rows"},
		{"0 10\n10", "row 1 has 1 entries"},
		{"0 10\n20 0", "not symmetric"},
		{"0 -5\n-5 0", "not a delay"},
		{"0 NaN\nNaN 0", "not a delay"},
		{"0 1e9\n1e9 0", "not a delay"},
		{"0 ten\nten 0", "not a delay"},
		{"0 10 10\n10 0 10", "row 0 has 3 entries, want 2"},
		{strings.Repeat("0\n", MaxNodes+1), "more than"},
	} {
		_, err := ParseMatrix(strings.NewReader(c.in))
		if !errors.Is(err, ErrMatrix) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want ErrMatrix saying %q", c.in, err, c.want)
		}
	}
	if _, err := Generate(GenConfig{Nodes: 1, Median: time.Second}); !errors.Is(err, ErrMatrix) {
		t.Errorf("one node: %v", err)
	}
	if _, err := Generate(GenConfig{Nodes: 4, Median: -time.Second}); !errors.Is(err, ErrMatrix) {
		t.Errorf("negative median: %v", err)
	}
}
