package testbed

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrUnsupported is wrapped by every error that says this machine cannot
// run the testbed (not root, no iproute2, no TUN device, no netem).
var ErrUnsupported = errors.New("testbed: this machine cannot run the testbed")

// Prefix starts the name of everything the testbed creates in the kernel
// (namespaces, links) and in the cgroup tree, so that Cleanup finds what a
// crashed testbed left behind.
const Prefix = "odtb"

// run runs a command and returns its error with its output.
func run(name string, args ...string) error { return runIn("", name, args...) }

// runIn runs a command with stdin.
func runIn(stdin, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("testbed: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// Check says whether this machine can run a testbed with the shaper
// named ("netem", "tun" or "auto"), and which shaper auto would use. The
// error names what is missing and how to get it.
func Check(shaper string) (string, error) {
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("%w: it needs root (network namespaces, links, queueing disciplines); run it as root or with sudo", ErrUnsupported)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "", fmt.Errorf("%w: the ip command of iproute2 is not installed (Debian: apt-get install iproute2)", ErrUnsupported)
	}
	ns := fmt.Sprintf("%s-probe-%d", Prefix, os.Getpid())
	if err := run("ip", "netns", "add", ns); err != nil {
		return "", fmt.Errorf("%w: cannot create a network namespace (a container needs CAP_SYS_ADMIN and CAP_NET_ADMIN): %w", ErrUnsupported, err)
	}
	_ = run("ip", "netns", "del", ns)
	switch shaper {
	case "tun":
		return "tun", checkTUN()
	case "netem":
		return "netem", checkNetem()
	case "auto", "":
		if checkNetem() == nil {
			return "netem", nil
		}
		if err := checkTUN(); err != nil {
			return "", fmt.Errorf("%w; and tc netem: %w", err, checkNetem())
		}
		return "tun", nil
	}
	return "", fmt.Errorf("%w: shaper %q, want netem, tun or auto", ErrCommand, shaper)
}

func checkTUN() error {
	f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("%w: the TUN device is missing (%w): the user-space shaper needs CONFIG_TUN and /dev/net/tun", ErrUnsupported, err)
	}
	return f.Close()
}

// checkNetem adds a netem qdisc to the loopback of a scratch namespace.
func checkNetem() error {
	if _, err := exec.LookPath("tc"); err != nil {
		return fmt.Errorf("%w: the tc command of iproute2 is not installed (Debian: apt-get install iproute2)", ErrUnsupported)
	}
	ns := fmt.Sprintf("%s-probe-%d", Prefix, os.Getpid())
	if err := run("ip", "netns", "add", ns); err != nil {
		return fmt.Errorf("%w: cannot create a network namespace: %w", ErrUnsupported, err)
	}
	defer func() { _ = run("ip", "netns", "del", ns) }()
	if err := run("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"); err != nil {
		return fmt.Errorf("%w: tc netem is not available in this kernel (needs sch_netem: modprobe sch_netem, or a kernel built with CONFIG_NET_SCH_NETEM); --shaper tun emulates the links in user space instead: %w", ErrUnsupported, err)
	}
	return nil
}

// Cleanup removes what testbeds left behind: it kills the processes in
// every network namespace whose name starts with Prefix-name- (name ""
// matches every testbed), deletes those namespaces, the links whose names
// start with Prefix+name, and the testbeds' CPU cgroups. It returns what
// it removed.
func Cleanup(name string) ([]string, error) {
	var removed []string
	var errs []error
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return nil, fmt.Errorf("testbed: ip netns list: %w", err)
	}
	nsPrefix := Prefix + "-" + name
	if name != "" {
		nsPrefix += "-"
	}
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || !strings.HasPrefix(fields[0], nsPrefix) {
			continue
		}
		ns := fields[0]
		if pids, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
			for _, p := range strings.Fields(string(pids)) {
				if pid, err := strconv.Atoi(p); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		if err := run("ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, "netns "+ns)
	}
	out, err = exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		return removed, fmt.Errorf("testbed: ip link show: %w", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		// "7: odtbtbv3@if2: <BROADCAST,...": the name is the second field.
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		link, _, _ := strings.Cut(strings.TrimSuffix(fields[1], ":"), "@")
		if !strings.HasPrefix(link, Prefix+name) {
			continue
		}
		if err := run("ip", "link", "del", link); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, "link "+link)
	}
	for _, root := range cgroupRoots {
		dirs, _ := filepath.Glob(filepath.Join(root, nsPrefix+"*"))
		for _, d := range dirs {
			if err := os.Remove(d); err != nil {
				errs = append(errs, fmt.Errorf("testbed: remove cgroup %s: %w", d, err))
				continue
			}
			removed = append(removed, "cgroup "+d)
		}
	}
	return removed, errors.Join(errs...)
}

// cgroupRoots are where a CPU cgroup can be made: cgroup v1's cpu
// controller, or the unified v2 tree.
var cgroupRoots = []string{"/sys/fs/cgroup/cpu", "/sys/fs/cgroup"}

// limitCPU puts pid in the cgroup dir (made if needed) limited to pct
// percent of one CPU; pct 0 lifts the limit.
func limitCPU(dir string, pid int, pct int) error {
	var root string
	for _, r := range cgroupRoots {
		if _, err := os.Stat(filepath.Join(r, "cgroup.procs")); err == nil {
			root = r
			break
		}
	}
	if root == "" {
		return fmt.Errorf("%w: no cgroup tree with a cpu controller under /sys/fs/cgroup", ErrUnsupported)
	}
	if root == "/sys/fs/cgroup" { // v2: the children of the root get the cpu controller
		_ = os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), []byte("+cpu"), 0o644)
	}
	path := filepath.Join(root, dir)
	if err := os.MkdirAll(path, 0o755); err != nil {
		return fmt.Errorf("testbed: cgroup: %w", err)
	}
	const period = 100000
	if _, err := os.Stat(filepath.Join(path, "cpu.max")); err == nil { // v2
		v := "max"
		if pct > 0 {
			v = strconv.Itoa(pct * period / 100)
		}
		if err := os.WriteFile(filepath.Join(path, "cpu.max"), fmt.Appendf(nil, "%s %d", v, period), 0o644); err != nil {
			return fmt.Errorf("testbed: cgroup cpu.max: %w", err)
		}
	} else {
		v := -1
		if pct > 0 {
			v = pct * period / 100
		}
		if err := os.WriteFile(filepath.Join(path, "cpu.cfs_period_us"), []byte(strconv.Itoa(period)), 0o644); err != nil {
			return fmt.Errorf("testbed: cgroup: %w", err)
		}
		if err := os.WriteFile(filepath.Join(path, "cpu.cfs_quota_us"), []byte(strconv.Itoa(v)), 0o644); err != nil {
			return fmt.Errorf("testbed: cgroup: %w", err)
		}
	}
	if pid > 0 {
		if err := os.WriteFile(filepath.Join(path, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			return fmt.Errorf("testbed: cgroup: add pid %d: %w", pid, err)
		}
	}
	return nil
}

// removeCgroup deletes a testbed node's cgroup (its processes must be
// gone).
func removeCgroup(dir string) {
	for _, r := range cgroupRoots {
		_ = os.Remove(filepath.Join(r, dir))
	}
}
