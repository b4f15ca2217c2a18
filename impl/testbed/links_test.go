package testbed

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func matrixOf(n int, rtt time.Duration) Matrix {
	m := make(Matrix, n)
	for i := range m {
		m[i] = make([]time.Duration, n)
		for j := range m[i] {
			if i != j {
				m[i][j] = rtt
			}
		}
	}
	return m
}

// TestLinkTable: a path's one-way delay is half its RTT plus the extra
// of a slow end; a partition blocks the paths between sides and never the
// host's; a cut is one-way; heal ends both and keeps loss and slowness.
func TestLinkTable(t *testing.T) {
	const n = 4
	m := matrixOf(n, 100*time.Millisecond)
	f := newFaults(n)
	f.loss = 0.1
	f.extra[2] = 30 * time.Millisecond
	if err := f.partition(n, [][]int{{0, 1}}); err != nil {
		t.Fatal(err)
	}
	f.cut[2][3] = true
	tab := f.table(m, 20*time.Millisecond)
	want := map[[2]int]link{
		{0, 1}: {delay: 50 * time.Millisecond, loss: 0.1},
		{0, 2}: {delay: 80 * time.Millisecond, loss: 0.1, blocked: true},
		{2, 0}: {delay: 80 * time.Millisecond, loss: 0.1, blocked: true},
		{2, 3}: {delay: 80 * time.Millisecond, loss: 0.1, blocked: true},
		{3, 2}: {delay: 80 * time.Millisecond, loss: 0.1},
		{0, n}: {delay: 10 * time.Millisecond, loss: 0.1},
		{n, 2}: {delay: 40 * time.Millisecond, loss: 0.1},
	}
	for p, l := range want {
		if tab[p[0]][p[1]] != l {
			t.Errorf("link %d->%d = %+v, want %+v", p[0], p[1], tab[p[0]][p[1]], l)
		}
	}
	f.heal()
	for i, row := range f.table(m, 0) {
		for j, l := range row {
			if l.blocked {
				t.Errorf("after heal %d->%d is blocked", i, j)
			}
			if i != j && l.loss != 0.1 {
				t.Errorf("heal changed the loss of %d->%d", i, j)
			}
		}
	}
}

// TestParseSet reads node sets and refuses what is not one.
func TestParseSet(t *testing.T) {
	got, err := ParseSet("0-2,5,1", 8)
	if err != nil || !reflect.DeepEqual(got, []int{0, 1, 2, 5}) {
		t.Fatalf("got %v %v", got, err)
	}
	for _, bad := range []string{"", "-1", "3-1", "8", "0-8", "a", "1,,2", "1-2-3", "9999999999999999999999"} {
		if _, err := ParseSet(bad, 8); !errors.Is(err, ErrCommand) {
			t.Errorf("%q: got %v, want ErrCommand", bad, err)
		}
	}
}

// bareTestbed is a testbed without processes or links, enough for the
// control language.
func bareTestbed(n int) *Testbed {
	cfg := DefaultConfig(n)
	cfg.RTT = matrixOf(n, 100*time.Millisecond)
	tb := &Testbed{cfg: cfg, f: newFaults(n), shaper: "none", host: cfg.Subnet.Addr().Next(),
		limitCPU: func(string, int, int) error { return nil }}
	for i := range n {
		tb.nodes = append(tb.nodes, &nodeProc{i: i, ns: fmt.Sprintf("ns%d", i)})
	}
	return tb
}

// TestExecChangesFaults: the commands change the faults they name.
func TestExecChangesFaults(t *testing.T) {
	tb := bareTestbed(8)
	ctx := context.Background()
	for _, c := range []string{"partition 0-3 4-5", "cut 6 7", "loss 0.25", "slow 1,2 delay 50ms"} {
		if _, err := tb.Exec(ctx, c); err != nil {
			t.Fatalf("%s: %v", c, err)
		}
	}
	if !reflect.DeepEqual(tb.f.side, []int{1, 1, 1, 1, 2, 2, 0, 0}) || !tb.f.cut[6][7] || tb.f.cut[7][6] || tb.f.loss != 0.25 || tb.f.extra[2] != 50*time.Millisecond {
		t.Fatalf("faults %+v", tb.f)
	}
	if _, err := tb.Exec(ctx, "heal"); err != nil || tb.f.side[0] != 0 || tb.f.cut[6][7] {
		t.Fatalf("heal: %v %+v", err, tb.f)
	}
	if out, err := tb.Exec(ctx, "status"); err != nil || !strings.Contains(out, "node=7") {
		t.Fatalf("status: %v %q", err, out)
	}
}

// TestExecRefusesAndChangesNothing: malformed commands (random words and
// numbers, and known commands with bad arguments) are refused with
// ErrCommand and leave the faults as they were.
func TestExecRefusesAndChangesNothing(t *testing.T) {
	// Not restart: on a testbed without processes it would start some.
	words := []string{"partition", "cut", "heal", "loss", "kill", "slow", "fast", "status", "delay", "cpu",
		"0-3", "9", "-1", "1,2", "x", "0.5", "2", "NaN", "-0.1", "200ms", "-5ms", "150", "1-", "", "\x00"}
	rapid.Check(t, func(rt *rapid.T) {
		tb := bareTestbed(8)
		_ = tb.f.partition(8, [][]int{{0}})
		tb.f.loss = 0.05
		before := fmt.Sprintf("%+v", *tb.f)
		line := strings.Join(rapid.SliceOfN(rapid.SampledFrom(words), 0, 6).Draw(rt, "words"), " ")
		_, err := tb.Exec(context.Background(), line)
		if err != nil && !errors.Is(err, ErrCommand) {
			rt.Fatalf("%q: error %v does not wrap ErrCommand", line, err)
		}
		if err != nil {
			if after := fmt.Sprintf("%+v", *tb.f); after != before {
				rt.Fatalf("%q was refused (%v) but changed the faults:\n%s\n%s", line, err, before, after)
			}
		}
	})
	tb := bareTestbed(4)
	for _, bad := range []string{"", "bogus", "loss 2", "loss -0.1", "loss NaN", "partition 0 0", "partition 0-4", "cut 1", "heal now",
		"slow 1", "slow 1 delay", "slow 1 delay -5ms", "slow 1 cpu 0", "slow 1 speed 3", "kill", "kill 7", "restart 9", "rtt bogus", strings.Repeat("x", maxLine+1)} {
		if _, err := tb.Exec(context.Background(), bad); !errors.Is(err, ErrCommand) {
			t.Errorf("%q: got %v, want ErrCommand", bad, err)
		}
	}
}
