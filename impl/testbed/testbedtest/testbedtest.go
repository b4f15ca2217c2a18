// Package testbedtest helps tests run the network-namespace testbed: it
// skips a test on a machine that cannot run it (with the reason), and
// builds the opendht binary the testbed runs in its namespaces.
package testbedtest

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/opendht-go/opendht/impl/testbed"
)

// Require skips t unless this machine can run a testbed (root, iproute2,
// and tc netem or a TUN device). Under CI (CI set) it fails instead: CI
// runs as root and installs iproute2, so a skip there would hide a broken
// setup.
func Require(t testing.TB) {
	t.Helper()
	if _, err := testbed.Check("auto"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must run the testbed: %v", err)
		}
		t.Skipf("skipped: %v", err)
	}
}

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
	buildOut  []byte
)

// Binary builds cmd/opendht once per test process and returns its path:
// one path per test binary (package), rebuilt in place each time, so that
// runs leave no copies behind and packages tested at once do not share
// one.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir := filepath.Join(os.TempDir(), "opendht-testbed-bin")
		if buildErr = os.MkdirAll(dir, 0o755); buildErr != nil {
			return
		}
		binary = filepath.Join(dir, "opendht-for-"+filepath.Base(os.Args[0]))
		cmd := exec.Command("go", "build", "-o", binary, "github.com/opendht-go/opendht/cmd/opendht")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build ./cmd/opendht: %v\n%s", buildErr, buildOut)
	}
	return binary
}

// Unique returns a testbed name (base, at most 2 characters, and this
// process's number) and a /16 subnet for one test of this process: the
// tests of several processes on one machine (packages tested at once,
// other checkouts) then neither share namespaces nor addresses.
func Unique(base string) (string, netip.Prefix) {
	pid := os.Getpid()
	h := 0
	for _, c := range base {
		h = h*31 + int(c)
	}
	octet := 100 + (pid*7+h)%120
	return fmt.Sprintf("%s%d", base, pid%10000), netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(octet), 0, 0}), 16)
}
