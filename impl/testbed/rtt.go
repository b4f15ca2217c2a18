package testbed

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Matrix holds the round-trip time between every two nodes: Matrix[i][j]
// is the RTT from node i to node j. It is symmetric; the diagonal is
// unused.
type Matrix [][]time.Duration

// ErrMatrix is wrapped by every error about a malformed RTT matrix.
var ErrMatrix = errors.New("testbed: bad RTT matrix")

// MaxRTT bounds one entry: a second is already far beyond any path on the
// planet, ten catches a unit mistake (microseconds written as
// milliseconds) without refusing a deliberately awful link.
const MaxRTT = 10 * time.Second

// region is a part of the world where PlanetLab hosts sat, with its share
// of the hosts.
type region struct {
	name  string
	share float64
}

// regions and regionRTT are a coarse map of PlanetLab around 2005: about
// half its sites in North America, a third in Europe, the rest in Asia and
// the southern hemisphere. regionRTT is the typical RTT in milliseconds
// between two sites of the regions (within a region: a continent's
// backbone). Generate scales the result to the median asked for, so only
// the shape matters here.
var regions = []region{
	{"na-east", 0.30}, {"na-west", 0.20}, {"europe", 0.30}, {"asia", 0.14}, {"south", 0.06},
}

var regionRTT = [][]float64{
	//  nae  naw  eu   asia south
	{20, 70, 90, 200, 220},  // na-east
	{70, 20, 150, 130, 160}, // na-west
	{90, 150, 25, 260, 300}, // europe
	{200, 130, 260, 40, 150},
	{220, 160, 300, 150, 40},
}

// GenConfig shapes a generated matrix.
type GenConfig struct {
	// Nodes is the matrix's size.
	Nodes int
	// Seed draws the hosts' regions, access links and per-pair jitter:
	// the same seed gives the same matrix.
	Seed uint64
	// Median is the median RTT over all pairs (PlanetLab's was about 140
	// ms, the figure the original's latency work was measured against).
	Median time.Duration
}

// DefaultGenConfig is a PlanetLab-like matrix of n nodes.
func DefaultGenConfig(n int, seed uint64) GenConfig {
	return GenConfig{Nodes: n, Seed: seed, Median: 140 * time.Millisecond}
}

// Generate draws a PlanetLab-like matrix: hosts placed in regions by
// their share, each with an access link whose delay is lognormal (median
// 3 ms, a few hosts behind tens of milliseconds), each pair's path the
// regions' RTT times a lognormal jitter (sigma 0.3, detours and congested
// paths). Then every entry is scaled so that the median over the pairs is
// cfg.Median. The long tail comes from far regions, slow access links and
// the jitter together.
func Generate(cfg GenConfig) (Matrix, error) {
	if cfg.Nodes < 2 || cfg.Nodes > MaxNodes {
		return nil, fmt.Errorf("%w: %d nodes, want 2 to %d", ErrMatrix, cfg.Nodes, MaxNodes)
	}
	if cfg.Median <= 0 || cfg.Median > MaxRTT/4 {
		return nil, fmt.Errorf("%w: median RTT %v, want (0, %v]", ErrMatrix, cfg.Median, MaxRTT/4)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x7e57bed))
	n := cfg.Nodes
	where := make([]int, n)
	access := make([]float64, n)
	for i := range n {
		u, acc := rng.Float64(), 0.0
		for r, reg := range regions {
			acc += reg.share
			if u < acc || r == len(regions)-1 {
				where[i] = r
				break
			}
		}
		access[i] = 3 * math.Exp(rng.NormFloat64())
	}
	raw := make([][]float64, n)
	for i := range raw {
		raw[i] = make([]float64, n)
	}
	var pairs []float64
	for i := range n {
		for j := i + 1; j < n; j++ {
			v := regionRTT[where[i]][where[j]]*math.Exp(0.3*rng.NormFloat64()) + access[i] + access[j]
			raw[i][j], raw[j][i] = v, v
			pairs = append(pairs, v)
		}
	}
	slices.Sort(pairs)
	// The nearest-rank median of Percentile, so that Summary shows
	// cfg.Median exactly.
	scale := float64(cfg.Median) / pairs[int(math.Ceil(0.5*float64(len(pairs))))-1]
	m := make(Matrix, n)
	for i := range m {
		m[i] = make([]time.Duration, n)
		for j := range m[i] {
			if i != j {
				m[i][j] = min(time.Duration(raw[i][j]*scale).Round(time.Microsecond), MaxRTT)
			}
		}
	}
	return m, nil
}

// Pairs returns the RTT of every pair i < j, sorted.
func (m Matrix) Pairs() []time.Duration {
	var out []time.Duration
	for i := range m {
		for j := i + 1; j < len(m); j++ {
			out = append(out, m[i][j])
		}
	}
	slices.Sort(out)
	return out
}

// Percentile is the nearest-rank percentile p (0 < p <= 100) of sorted
// durations; 0 for none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(k, len(sorted)-1))]
}

// Summary is one line describing the matrix's distribution over its pairs.
func (m Matrix) Summary() string {
	p := m.Pairs()
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) }
	return fmt.Sprintf("pairs=%d min_ms=%s p10_ms=%s p50_ms=%s p90_ms=%s p99_ms=%s max_ms=%s",
		len(p), ms(Percentile(p, 0.0001)), ms(Percentile(p, 10)), ms(Percentile(p, 50)), ms(Percentile(p, 90)), ms(Percentile(p, 99)), ms(p[len(p)-1]))
}

// Validate checks that m is square, of n nodes, symmetric, and within
// [0, MaxRTT].
func (m Matrix) Validate(n int) error {
	if len(m) != n {
		return fmt.Errorf("%w: %d rows for %d nodes", ErrMatrix, len(m), n)
	}
	for i, row := range m {
		if len(row) != n {
			return fmt.Errorf("%w: row %d has %d entries, want %d", ErrMatrix, i, len(row), n)
		}
		for j, v := range row {
			if i == j {
				continue
			}
			if v < 0 || v > MaxRTT {
				return fmt.Errorf("%w: entry [%d][%d] = %v is outside [0, %v]", ErrMatrix, i, j, v, MaxRTT)
			}
			if m[j][i] != v {
				return fmt.Errorf("%w: not symmetric: [%d][%d] = %v but [%d][%d] = %v", ErrMatrix, i, j, v, j, i, m[j][i])
			}
		}
	}
	return nil
}

// ParseMatrix reads a matrix in the format Format writes: one row per
// line, entries in milliseconds (decimals allowed) separated by spaces or
// tabs; blank lines and lines starting with # are skipped.
func ParseMatrix(r io.Reader) (Matrix, error) {
	var m Matrix
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if len(m) >= MaxNodes {
			return nil, fmt.Errorf("%w: more than %d rows", ErrMatrix, MaxNodes)
		}
		var row []time.Duration
		for _, f := range strings.Fields(text) {
			v, err := strconv.ParseFloat(f, 64)
			if err != nil || math.IsNaN(v) || v < 0 || v > float64(MaxRTT/time.Millisecond) {
				return nil, fmt.Errorf("%w: line %d: %q is not a delay in milliseconds in [0, %d]", ErrMatrix, line, f, MaxRTT/time.Millisecond)
			}
			row = append(row, time.Duration(v*float64(time.Millisecond)))
		}
		m = append(m, row)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMatrix, err)
	}
	if len(m) < 1 {
		return nil, fmt.Errorf("%w: no rows", ErrMatrix)
	}
	if err := m.Validate(len(m)); err != nil {
		return nil, err
	}
	return m, nil
}

// Format writes m in the format ParseMatrix reads, with a comment line
// holding its Summary.
func (m Matrix) Format(w io.Writer) error {
	bw := bufio.NewWriter(w)
	if len(m) > 1 {
		fmt.Fprintf(bw, "# RTT in milliseconds; %s\n", m.Summary())
	}
	for _, row := range m {
		for j, v := range row {
			if j > 0 {
				bw.WriteByte(' ')
			}
			bw.WriteString(strconv.FormatFloat(float64(v)/1e6, 'f', 3, 64))
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}
