package admission

import (
	"flag"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/opendht-go/opendht/impl/dht"
)

// seedFlag replays a randomized test of this package:
//
//	go test ./impl/admission/ -run TestName -args -seed=N
var seedFlag = flag.Uint64("seed", 0, "seed of the randomized admission tests (0: a fresh one)")

// testSeed returns the seed of a randomized test and makes sure a failure
// prints it with the command that replays it.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d; replay: go test ./impl/admission/ -run '^%s$' -count=1 -args -seed=%d", seed, t.Name(), seed)
		}
	})
	return seed
}

// commitment is b bytes committed until expiry e.
type commitment struct {
	e dht.Time
	b int64
}

// bruteFits evaluates FST-3 literally: for every integer tau in
// [now, now+T], B(tau)*T + C*(tau-now) <= C*T, with B(tau) the bytes of the
// commitments whose expiry is after tau (FST-2). It subtracts C*(tau-now)
// from both sides, B(tau)*T <= C*(T-(tau-now)), and compares exact 128-bit
// products: it shares no formula and no arithmetic with the curve, which
// works with absolute expiries. Commitments at or before now are ignored
// (they are expired, TTL-3).
func bruteFits(cs []commitment, c, t int64, now dht.Time) bool {
	live := make([]commitment, 0, len(cs))
	var b uint64
	for _, x := range cs {
		if x.e > now {
			live = append(live, x)
			b += uint64(x.b)
		}
	}
	slices.SortFunc(live, func(x, y commitment) int { return int(x.e - y.e) })
	i := 0
	for d := int64(0); d <= t; d++ {
		tau := now + dht.Time(d)
		for i < len(live) && live[i].e <= tau {
			b -= uint64(live[i].b)
			i++
		}
		lhi, llo := bits.Mul64(b, uint64(t))
		rhi, rlo := bits.Mul64(uint64(c), uint64(t-d))
		if lhi > rhi || (lhi == rhi && llo > rlo) {
			return false
		}
	}
	return true
}

func sumLive(cs []commitment, now dht.Time) int64 {
	var s int64
	for _, x := range cs {
		if x.e > now {
			s += x.b
		}
	}
	return s
}

// curveConfig is one family of random curves.
type curveConfig struct {
	name   string
	c      func(*rand.Rand) int64
	t      func(*rand.Rand) int64
	now0   dht.Time
	rounds int
}

// TestCurveMatchesBruteForce checks FST-2 and FST-3 (and INV-3's test):
// Curve.Fits, Curve.FitsWith, Curve.ExpireThrough and Curve.Total agree with
// a literal evaluation of FST-3 at every integer tau on random sets of
// commitments, as time passes, commitments are added, released and expire.
// The "huge" family has C = 2^40 and more, T = 604800 and absolute times
// around 1.7e9, so that C*now and S*T overflow 64 bits: it exercises the
// 128-bit arithmetic of the curve.
func TestCurveMatchesBruteForce(t *testing.T) {
	seed := testSeed(t)
	families := []curveConfig{
		{"small", func(r *rand.Rand) int64 { return 1 + r.Int64N(5000) }, func(r *rand.Rand) int64 { return 1 + r.Int64N(40) }, 0, 2000},
		{"medium", func(r *rand.Rand) int64 { return 1 + r.Int64N(1_000_000) }, func(r *rand.Rand) int64 { return 1 + r.Int64N(3000) }, 1_700_000_000, 600},
		{"huge", func(r *rand.Rand) int64 { return 1 << 40 }, func(r *rand.Rand) int64 { return dht.MaxTTL }, 1_712_345_678, 25},
		{"giant", func(r *rand.Rand) int64 { return 1<<62 - r.Int64N(1<<40) }, func(r *rand.Rand) int64 { return dht.MaxTTL - r.Int64N(10) }, 1_799_999_999, 10},
	}
	for fi, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, uint64(fi)))
			var fits, fails, withFits, withFails int
			// The rounds the family asks for, and more (up to ten times as
			// many) until both sides of the boundary have been checked: a
			// seed may draw only sets that fit in the families with few
			// rounds.
			covered := func() bool { return fits > 0 && fails > 0 && withFits > 0 && withFails > 0 }
			for round := 0; round < fam.rounds || (!covered() && round < 10*fam.rounds); round++ {
				c, horizon := fam.c(r), fam.t(r)
				cv := NewCurve(c, horizon)
				now := fam.now0 + dht.Time(r.Int64N(1000))
				var cs []commitment
				// A commitment that fills most of the room left at its
				// expiry, so that random sets sit near the boundary.
				draw := func() commitment {
					d := 1 + r.Int64N(horizon+1) // sometimes beyond the horizon
					if r.IntN(8) == 0 && len(cs) > 0 {
						d = int64(cs[r.IntN(len(cs))].e - now) // share an expiry
						if d < 1 {
							d = 1
						}
					}
					room := mulDiv(uint64(c), uint64(horizon-min(d-1, horizon)), uint64(horizon))
					n := 1 + r.IntN(6)
					hi := max(room/uint64(n), 1)
					hi = hi + hi/3 + 1
					b := 1 + int64(r.Uint64N(hi))
					if sumLive(cs, now)+b > 1<<62 {
						b = 1
					}
					return commitment{now + dht.Time(d), b}
				}
				ctx := func() string {
					return fmt.Sprintf("round %d: C=%d T=%d now=%d commitments=%v", round, c, horizon, now, cs)
				}
				for step := range 12 {
					switch k := r.IntN(10); {
					case k < 5: // add
						x := draw()
						cv.Add(x.e, x.b)
						cs = append(cs, x)
					case k < 7 && len(cs) > 0: // release all or part of one commitment
						i := r.IntN(len(cs))
						part := 1 + r.Int64N(cs[i].b)
						cv.Remove(cs[i].e, part)
						if cs[i].b -= part; cs[i].b == 0 {
							cs = slices.Delete(cs, i, i+1)
						}
					default: // time passes
						now += dht.Time(r.Int64N(horizon/2 + 2))
						cv.ExpireThrough(now)
						cs = slices.DeleteFunc(cs, func(x commitment) bool { return x.e <= now })
					}
					if got, want := cv.Total(), sumLive(cs, now); got != want {
						t.Fatalf("step %d: Total() = %d, want %d; %s", step, got, want, ctx())
					}
					want := bruteFits(cs, c, horizon, now)
					if got := cv.Fits(now); got != want {
						t.Fatalf("step %d: Fits(%d) = %v, brute force says %v; %s", step, now, got, want, ctx())
					}
					if want {
						fits++
					} else {
						fails++
					}
					// FitsWith: a new commitment, and sometimes the release
					// of an existing one (PUT-6, RM-3 replace a record).
					x := draw()
					var old commitment
					if len(cs) > 0 && r.IntN(2) == 0 {
						old = cs[r.IntN(len(cs))]
						old.b = 1 + r.Int64N(old.b)
					}
					next := append(slices.Clone(cs), x)
					if old.b > 0 {
						next = append(next, commitment{old.e, -old.b})
					}
					merged, fits64 := merge(next)
					if !fits64 {
						continue
					}
					wantWith := bruteFits(merged, c, horizon, now)
					if got := cv.FitsWith(now, x.e, x.b, old.e, old.b); got != wantWith {
						t.Fatalf("step %d: FitsWith(now=%d, e=%d, b=%d, oldE=%d, oldB=%d) = %v, brute force says %v; %s",
							step, now, x.e, x.b, old.e, old.b, got, wantWith, ctx())
					}
					if wantWith {
						withFits++
					} else {
						withFails++
					}
					// FitsWith leaves the curve as it was.
					if cv.Total() != sumLive(cs, now) || cv.Fits(now) != want {
						t.Fatalf("step %d: FitsWith changed the curve; %s", step, ctx())
					}
				}
			}
			t.Logf("Fits: %d true, %d false; FitsWith: %d true, %d false", fits, fails, withFits, withFails)
			if fits == 0 || fails == 0 || withFits == 0 || withFails == 0 {
				t.Fatalf("the generator misses one side of the boundary: Fits %d/%d, FitsWith %d/%d", fits, fails, withFits, withFails)
			}
		})
	}
}

// merge sums commitments with the same expiry, so that a negative entry
// (a release) cancels bytes of a positive one. ok is false when a sum does
// not fit in 64 bits (the giant family can pile up more than 2^63 bytes at
// one expiry, which no store could hold): the caller skips that check.
func merge(cs []commitment) (out []commitment, ok bool) {
	m := map[dht.Time]int64{}
	for _, x := range cs {
		s := m[x.e] + x.b
		if (x.b > 0 && s < m[x.e]) || (x.b < 0 && s > m[x.e]) {
			return nil, false
		}
		m[x.e] = s
	}
	out = make([]commitment, 0, len(m))
	for e, b := range m {
		if b < 0 {
			panic(fmt.Sprintf("release of more than committed at %d", e))
		}
		if b > 0 {
			out = append(out, commitment{e, b})
		}
	}
	return out, true
}

// mulDiv computes floor(a*x/y) exactly (saturating at 2^64-1).
func mulDiv(a, x, y uint64) uint64 {
	hi, lo := bits.Mul64(a, x)
	if hi >= y {
		return ^uint64(0)
	}
	q, _ := bits.Div64(hi, lo, y)
	return q
}

// TestCurveBoundary checks FST-3 at the exact boundary, with small and
// overflowing parameters: a commitment of floor(C*(T-d)/T) bytes until
// now+d+1 fits, one more byte does not, and releasing that byte again makes
// the curve fit. It also checks FST-3's "every tau in [now, now+T]": a
// commitment beyond the horizon never fits.
func TestCurveBoundary(t *testing.T) {
	for _, tc := range []struct {
		name string
		c, t int64
		now  dht.Time
	}{
		{"small", 1000, 10, 5},
		{"divisible", 604800 * 3, dht.MaxTTL, 1_700_000_000},
		{"2^40", 1 << 40, dht.MaxTTL, 1_700_000_000},
		{"2^62", 1 << 62, dht.MaxTTL, 1_700_000_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, d := range []int64{0, 1, tc.t / 3, tc.t - 1} {
				e := tc.now + dht.Time(d) + 1
				b := int64(mulDiv(uint64(tc.c), uint64(tc.t-d), uint64(tc.t)))
				cv := NewCurve(tc.c, tc.t)
				cv.Add(e, b)
				if !cv.Fits(tc.now) || !bruteFits([]commitment{{e, b}}, tc.c, tc.t, tc.now) {
					t.Errorf("d=%d: %d bytes until %d must fit exactly", d, b, e)
				}
				cv.Add(e, 1)
				if cv.Fits(tc.now) || bruteFits([]commitment{{e, b + 1}}, tc.c, tc.t, tc.now) {
					t.Errorf("d=%d: %d bytes until %d must not fit", d, b+1, e)
				}
				cv.Remove(e, 1)
				if !cv.Fits(tc.now) {
					t.Errorf("d=%d: releasing the extra byte must make the curve fit again", d)
				}
			}
			cv := NewCurve(tc.c, tc.t)
			if cv.FitsWith(tc.now, tc.now+dht.Time(tc.t)+1, 1, 0, 0) {
				t.Errorf("one byte beyond the horizon fits")
			}
			if !cv.FitsWith(tc.now, tc.now+dht.Time(tc.t), 1, 0, 0) {
				t.Errorf("one byte until now+T does not fit")
			}
		})
	}
}

// TestNeverFits is FST-7 at its boundary, b*T + C*(t-1) > C*T: with t = T
// the largest write is floor(C/T) bytes (the reserved rate r_min), with
// t = 1 it is C bytes. NeverFits must agree with the curve test on an empty
// node, including for capacities whose products overflow 64 bits.
func TestNeverFits(t *testing.T) {
	for _, tc := range []struct {
		c, t, b, ttl int64
		never        bool
	}{
		{c: 1000, t: 10, b: 100, ttl: 10, never: false}, // b = C/T exactly
		{c: 1000, t: 10, b: 101, ttl: 10, never: true},
		{c: 1000, t: 10, b: 1000, ttl: 1, never: false}, // b = C
		{c: 1000, t: 10, b: 1001, ttl: 1, never: true},
		{c: 1000, t: 10, b: 200, ttl: 9, never: false}, // 2000 + 8000 = 10000
		{c: 1000, t: 10, b: 201, ttl: 9, never: true},
		{c: 1005, t: 10, b: 100, ttl: 10, never: false}, // C/T = 100.5
		{c: 1005, t: 10, b: 101, ttl: 10, never: true},
		{c: 6000, t: 30, b: 64 + 1024, ttl: 30, never: true}, // the differential test's max-size put
		{c: 6000, t: 30, b: 200, ttl: 30, never: false},
		{c: 6000, t: 30, b: 201, ttl: 30, never: true},
		{c: 1 << 30, t: dht.MaxTTL, b: 1775, ttl: dht.MaxTTL, never: false}, // floor(2^30/604800) = 1775
		{c: 1 << 30, t: dht.MaxTTL, b: 1776, ttl: dht.MaxTTL, never: true},
		{c: 1 << 40, t: dht.MaxTTL, b: 1817975, ttl: dht.MaxTTL, never: false}, // floor(2^40/604800)
		{c: 1 << 40, t: dht.MaxTTL, b: 1817976, ttl: dht.MaxTTL, never: true},
		{c: 1 << 62, t: dht.MaxTTL, b: 1 << 62, ttl: 1, never: false},
		{c: 1 << 62, t: dht.MaxTTL, b: 1<<62 + 1, ttl: 1, never: true},
		{c: 1<<63 - 1, t: dht.MaxTTL, b: 1<<63 - 1, ttl: 1, never: false},
		{c: 1<<63 - 1, t: dht.MaxTTL, b: 64, ttl: dht.MaxTTL, never: false},
		{c: 1, t: 1, b: 1, ttl: 1, never: false},
		{c: 1, t: 1, b: 2, ttl: 1, never: true},
	} {
		name := fmt.Sprintf("C=%d,T=%d,b=%d,t=%d", tc.c, tc.t, tc.b, tc.ttl)
		if got := NeverFits(tc.c, tc.t, tc.b, tc.ttl); got != tc.never {
			t.Errorf("%s: NeverFits = %v, want %v", name, got, tc.never)
		}
		const now = 1_700_000_000
		if fits := NewCurve(tc.c, tc.t).FitsWith(now, now+dht.Time(tc.ttl), tc.b, 0, 0); fits == tc.never {
			t.Errorf("%s: an empty curve says fits=%v, NeverFits says %v", name, fits, tc.never)
		}
		if tc.t <= 1000 {
			if fits := bruteFits([]commitment{{now + dht.Time(tc.ttl), tc.b}}, tc.c, tc.t, now); fits == tc.never {
				t.Errorf("%s: brute force says fits=%v, NeverFits says %v", name, fits, tc.never)
			}
		}
	}
}
