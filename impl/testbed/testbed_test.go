package testbed_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/testbed"
	"github.com/opendht-go/opendht/impl/testbed/testbedtest"
)

// dialEnv makes the test binary a probe: it dials the TCP address in the
// variable (from inside a namespace) and prints how long the handshake
// took, one round trip.
const dialEnv = "OPENDHT_TESTBED_DIAL"

func TestMain(m *testing.M) {
	if addr := os.Getenv(dialEnv); addr != "" {
		start := time.Now()
		c, err := net.DialTimeout("tcp", addr, 1500*time.Millisecond)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(0)
		}
		fmt.Println("rtt_us", time.Since(start).Microseconds())
		_ = c.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// dialFrom measures one TCP handshake from node i's namespace to addr.
func dialFrom(t *testing.T, ns, addr string) (time.Duration, error) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), dialEnv+"="+addr)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("probe in %s: %v: %s", ns, err, out)
	}
	f := strings.Fields(string(out))
	if len(f) >= 2 && f[0] == "rtt_us" {
		us, _ := strconv.Atoi(f[1])
		return time.Duration(us) * time.Microsecond, nil
	}
	return 0, fmt.Errorf("%s", strings.TrimSpace(string(out)))
}

// dialHost measures one TCP handshake from the host to addr.
func dialHost(addr string) (time.Duration, error) {
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, 1500*time.Millisecond)
	if err != nil {
		return 0, err
	}
	_ = c.Close()
	return time.Since(start), nil
}

func namespaces(t *testing.T, name string) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	var ns []string
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], testbed.Prefix+"-"+name+"-") {
			ns = append(ns, f[0])
		}
	}
	return ns
}

// TestTestbedPathsAndFaults runs three node processes in namespaces with
// a known RTT matrix and checks from outside that each path takes at
// least its round trip (no upper bound: the machine may be slow), that a
// partition cuts exactly the paths between its sides while the host
// reaches both, that heal, slow, kill and restart do what they say, and
// that Close leaves no namespace behind.
func TestTestbedPathsAndFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes in network namespaces")
	}
	testbedtest.Require(t)
	ms := time.Millisecond
	cfg := testbed.DefaultConfig(3)
	cfg.Name, cfg.Subnet = testbedtest.Unique("t1")
	cfg.Binary, cfg.Dir = testbedtest.Binary(t), t.TempDir()
	cfg.RTT = testbed.Matrix{{0, 100 * ms, 200 * ms}, {100 * ms, 0, 60 * ms}, {200 * ms, 60 * ms, 0}}
	cfg.ClientRTT = 20 * ms
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tb, err := testbed.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			tb.Close()
		}
	}()
	t.Logf("shaper %s", tb.Shaper())
	if err := tb.WaitJoined(ctx); err != nil {
		t.Fatal(err)
	}
	ns := func(i int) string { return tb.Status()[i].Namespace }
	atLeast := func(what string, got time.Duration, err error, want time.Duration) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		t.Logf("%s: %v (RTT %v)", what, got, want)
		if got < want {
			t.Errorf("%s took %v, less than its RTT %v", what, got, want)
		}
	}
	for i := range 3 {
		d, err := dialHost(tb.Gateway(i))
		atLeast(fmt.Sprintf("host to node %d", i), d, err, cfg.ClientRTT)
	}
	d, err := dialFrom(t, ns(0), tb.Gateway(1))
	atLeast("node 0 to node 1", d, err, 100*ms)
	d, err = dialFrom(t, ns(0), tb.Gateway(2))
	atLeast("node 0 to node 2", d, err, 200*ms)

	if _, err := tb.Exec(ctx, "partition 0 1-2"); err != nil {
		t.Fatal(err)
	}
	if _, err := dialFrom(t, ns(0), tb.Gateway(1)); err == nil {
		t.Error("node 0 reached node 1 across the partition")
	}
	d, err = dialFrom(t, ns(1), tb.Gateway(2))
	atLeast("node 1 to node 2, same side", d, err, 60*ms)
	for i := range 3 {
		if _, err := dialHost(tb.Gateway(i)); err != nil {
			t.Errorf("the host cannot reach node %d during the partition: %v", i, err)
		}
	}
	if _, err := tb.Exec(ctx, "heal"); err != nil {
		t.Fatal(err)
	}
	d, err = dialFrom(t, ns(0), tb.Gateway(1))
	atLeast("node 0 to node 1 after heal", d, err, 100*ms)

	if _, err := tb.Exec(ctx, "slow 1 delay 50ms"); err != nil {
		t.Fatal(err)
	}
	d, err = dialFrom(t, ns(0), tb.Gateway(1))
	atLeast("node 0 to slow node 1", d, err, 200*ms)
	if _, err := tb.Exec(ctx, "fast 1"); err != nil {
		t.Fatal(err)
	}

	if _, err := tb.Exec(ctx, "kill 2"); err != nil {
		t.Fatal(err)
	}
	if tb.Up(2) {
		t.Error("node 2 is up after kill")
	}
	if _, err := dialHost(tb.Gateway(2)); err == nil {
		t.Error("node 2's gateway answers after kill")
	}
	if _, err := tb.Exec(ctx, "restart 2"); err != nil {
		t.Fatal(err)
	}
	if _, err := dialHost(tb.Gateway(2)); err != nil || !tb.Up(2) {
		t.Errorf("node 2 after restart: up %v, gateway %v", tb.Up(2), err)
	}
	if err := tb.WaitJoined(ctx); err != nil {
		t.Fatal(err)
	}
	tb.Close()
	closed = true
	if left := namespaces(t, cfg.Name); len(left) > 0 {
		t.Errorf("Close left namespaces %v", left)
	}
}

// TestTestbedCrashCleanup: a testbed process killed with SIGKILL takes
// its nodes with it, leaves its namespaces, and Cleanup (opendht testbed
// down) removes them.
func TestTestbedCrashCleanup(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes in network namespaces")
	}
	testbedtest.Require(t)
	bin := testbedtest.Binary(t)
	sock := filepath.Join(t.TempDir(), "ctl.sock")
	name, subnet := testbedtest.Unique("t2")
	cmd := exec.Command(bin, "testbed", "--netns", "-n", "2", "--name", name, "--subnet", subnet.String(), "--data", t.TempDir(), "--socket", sock)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	var status string
	for range 600 {
		out, err := testbed.Ctl(sock, "status")
		if err == nil {
			status = out
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if status == "" {
		t.Fatal("the testbed never answered on its control socket")
	}
	var pids []int
	for _, l := range strings.Split(status, "\n") {
		for _, f := range strings.Fields(l) {
			if v, ok := strings.CutPrefix(f, "pid="); ok {
				p, _ := strconv.Atoi(v)
				pids = append(pids, p)
			}
		}
	}
	if len(pids) != 2 {
		t.Fatalf("status names %d pids, want 2:\n%s", len(pids), status)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	for _, p := range pids {
		for syscall.Kill(p, 0) == nil { // the node dies with the testbed (or is a zombie of it, gone with it)
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p)); strings.Contains(string(b), ") Z ") {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if left := namespaces(t, name); len(left) != 2 {
		t.Fatalf("after the crash, namespaces %v; want the two left behind (else this test proves nothing)", left)
	}
	removed, err := testbed.Cleanup(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("removed %v", removed)
	if left := namespaces(t, name); len(left) > 0 {
		t.Errorf("Cleanup left %v", left)
	}
}

// TestNetemTopology builds the netem shaper's bridge, veths, classes and
// filters; where the kernel lacks netem its leaves are FIFOs, so this
// checks the plumbing: the host reaches every gateway over the bridge and
// the nodes join. (Faults replace netem leaves with netem leaves: that
// part runs where the kernel has netem, in TestTestbedPathsAndFaults.)
func TestNetemTopology(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes in network namespaces")
	}
	testbedtest.Require(t)
	if _, err := exec.LookPath("tc"); err != nil {
		t.Skip("skipped: no tc (iproute2)")
	}
	cfg := testbed.DefaultConfig(3)
	cfg.Name, cfg.Subnet = testbedtest.Unique("t3")
	cfg.Binary, cfg.Dir = testbedtest.Binary(t), t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tb, err := testbed.StartWithoutNetem(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	for i := range 3 {
		if _, err := dialHost(tb.Gateway(i)); err != nil {
			t.Errorf("host to node %d over the bridge: %v", i, err)
		}
	}
	if err := tb.WaitJoined(ctx); err != nil {
		t.Fatal(err)
	}
}
