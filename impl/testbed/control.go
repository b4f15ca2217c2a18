package testbed

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// The control language: one command a line, answered by lines of text
// and a last line "ok" or "error: ...". A malformed command changes
// nothing. Node sets are lists and ranges: "0-3,6".
const Help = `status                        every node: address, gateway, pid (0: down), side, slowness
rtt                           the RTT matrix's distribution (and the matrix with "rtt matrix")
partition SET SET...          nodes of different sets cannot reach each other (others: one more set)
cut FROM TO                   what FROM sends to TO is lost (one-way)
heal                          end partitions and cuts
loss P                        lose each packet with probability P (0 to 1) on every path
kill SET                      SIGKILL the nodes of SET
restart SET                   start them again from their data directories
slow SET [delay D] [cpu PCT]  packets to and from SET wait D more; their processes get PCT% of a core
fast SET                      undo slow
stats                         packets the user-space switch delivered, lost and blocked
help                          this text`

// maxLine bounds a command line.
const maxLine = 4096

// ParseSet reads a node set such as "0-3,6" for a testbed of n nodes.
func ParseSet(s string, n int) ([]int, error) {
	var out []int
	seen := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || a < 0 || b < a {
			return nil, fmt.Errorf("%w: %q is not a node set (such as 0-3,6)", ErrCommand, s)
		}
		if b >= n {
			return nil, fmt.Errorf("%w: node %d does not exist (0 to %d)", ErrCommand, b, n-1)
		}
		for i := a; i <= b; i++ {
			if !seen[i] {
				seen[i] = true
				out = append(out, i)
			}
		}
	}
	return out, nil
}

// Exec runs one command of the control language and returns its answer.
func (tb *Testbed) Exec(ctx context.Context, line string) (string, error) {
	if len(line) > maxLine {
		return "", fmt.Errorf("%w: line longer than %d bytes", ErrCommand, maxLine)
	}
	f := strings.Fields(line)
	if len(f) == 0 {
		return "", fmt.Errorf("%w: empty command; try help", ErrCommand)
	}
	n := tb.cfg.Nodes
	sets := func(args []string, atLeast, atMost int) ([][]int, error) {
		if len(args) < atLeast || len(args) > atMost {
			return nil, fmt.Errorf("%w: %s takes %d to %d node sets; try help", ErrCommand, f[0], atLeast, atMost)
		}
		var out [][]int
		for _, a := range args {
			s, err := ParseSet(a, n)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	switch f[0] {
	case "help":
		return Help, nil
	case "status":
		var b strings.Builder
		for _, s := range tb.Status() {
			fmt.Fprintf(&b, "node=%d addr=%s gateway=%s pid=%d side=%d extra=%v cpu=%d namespace=%s\n", s.Node, s.Addr, s.Gateway, s.PID, s.Side, s.Extra, s.CPU, s.Namespace)
		}
		fmt.Fprintf(&b, "shaper=%s host=%s", tb.shaper, tb.host)
		return b.String(), nil
	case "rtt":
		if len(f) == 2 && f[1] == "matrix" {
			var b strings.Builder
			_ = tb.cfg.RTT.Format(&b)
			return strings.TrimSuffix(b.String(), "\n"), nil
		}
		if len(f) != 1 {
			return "", fmt.Errorf("%w: rtt takes nothing or \"matrix\"", ErrCommand)
		}
		return tb.cfg.RTT.Summary() + fmt.Sprintf(" client_rtt_ms=%g", float64(tb.cfg.ClientRTT)/1e6), nil
	case "stats":
		s := tb.SwitchStats()
		return fmt.Sprintf("delivered=%d lost=%d blocked=%d unroutable=%d overflow=%d", s.Delivered, s.Lost, s.Blocked, s.Unroutable, s.Overflow), nil
	case "partition":
		g, err := sets(f[1:], 1, n)
		if err != nil {
			return "", err
		}
		return "", tb.Partition(g...)
	case "cut":
		g, err := sets(f[1:], 2, 2)
		if err != nil {
			return "", err
		}
		return "", tb.Cut(g[0], g[1])
	case "heal":
		if len(f) != 1 {
			return "", fmt.Errorf("%w: heal takes nothing", ErrCommand)
		}
		return "", tb.Heal()
	case "loss":
		if len(f) != 2 {
			return "", fmt.Errorf("%w: loss takes a probability", ErrCommand)
		}
		p, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return "", fmt.Errorf("%w: loss %q is not a number", ErrCommand, f[1])
		}
		return "", tb.SetLoss(p)
	case "kill", "fast":
		g, err := sets(f[1:], 1, 1)
		if err != nil {
			return "", err
		}
		if f[0] == "kill" {
			return "", tb.Kill(g[0]...)
		}
		return "", tb.Fast(g[0]...)
	case "restart":
		g, err := sets(f[1:], 1, 1)
		if err != nil {
			return "", err
		}
		return "", tb.Restart(ctx, g[0]...)
	case "slow":
		if len(f) < 2 {
			return "", fmt.Errorf("%w: slow takes a node set", ErrCommand)
		}
		set, err := ParseSet(f[1], n)
		if err != nil {
			return "", err
		}
		var extra time.Duration
		cpu := 0
		opts := f[2:]
		if len(opts)%2 != 0 || len(opts) == 0 {
			return "", fmt.Errorf("%w: slow SET [delay D] [cpu PCT]: name at least one, each with its value", ErrCommand)
		}
		for k := 0; k < len(opts); k += 2 {
			switch opts[k] {
			case "delay":
				if extra, err = time.ParseDuration(opts[k+1]); err != nil {
					return "", fmt.Errorf("%w: delay %q: want a duration such as 200ms", ErrCommand, opts[k+1])
				}
			case "cpu":
				if cpu, err = strconv.Atoi(strings.TrimSuffix(opts[k+1], "%")); err != nil || cpu < 1 || cpu > 100 {
					return "", fmt.Errorf("%w: cpu %q: want a percentage of one core, 1 to 100", ErrCommand, opts[k+1])
				}
			default:
				return "", fmt.Errorf("%w: slow knows delay and cpu, not %q", ErrCommand, opts[k])
			}
		}
		return "", tb.Slow(set, extra, cpu)
	}
	return "", fmt.Errorf("%w: unknown command %q; try help", ErrCommand, f[0])
}

// Serve answers the control language on a unix socket at path until ctx
// ends; the socket file is removed then.
func (tb *Testbed) Serve(ctx context.Context, path string) error {
	_ = os.Remove(path) // a socket left by a testbed that crashed
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("testbed: control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return fmt.Errorf("testbed: control socket: %w", err)
	}
	context.AfterFunc(ctx, func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go tb.serveConn(ctx, c)
		}
	}()
	return nil
}

func (tb *Testbed) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 1024), maxLine)
	w := bufio.NewWriter(c)
	for sc.Scan() {
		out, err := tb.Exec(ctx, sc.Text())
		if out != "" {
			fmt.Fprintln(w, out)
		}
		if err != nil {
			fmt.Fprintf(w, "error: %v\n", err)
		} else {
			fmt.Fprintln(w, "ok")
		}
		if w.Flush() != nil {
			return
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		fmt.Fprintf(w, "error: %v: line longer than %d bytes\n", ErrCommand, maxLine)
		_ = w.Flush()
	}
}

// Ctl sends one command to the testbed serving the socket at path and
// returns its answer without the last line; an "error:" answer is an
// error.
func Ctl(path, command string) (string, error) {
	c, err := net.Dial("unix", path)
	if err != nil {
		return "", fmt.Errorf("testbed: no testbed answers on %s (is it running?): %w", path, err)
	}
	defer c.Close()
	if _, err := fmt.Fprintln(c, strings.ReplaceAll(command, "\n", " ")); err != nil {
		return "", err
	}
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var lines []string
	for sc.Scan() {
		l := sc.Text()
		switch {
		case l == "ok":
			return strings.Join(lines, "\n"), nil
		case strings.HasPrefix(l, "error: "):
			return strings.Join(lines, "\n"), errors.New(strings.TrimPrefix(l, "error: "))
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n"), fmt.Errorf("testbed: the connection ended without an answer: %v", sc.Err())
}
