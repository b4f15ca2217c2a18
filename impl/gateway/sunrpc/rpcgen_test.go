package sunrpc_test

import (
	"context"
	"crypto/sha1"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/driver"
	"github.com/opendht-go/opendht/impl/gateway/sunrpc"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/store"
)

// TestRpcgenClientInterop checks the gateway's wire format from outside
// the Go codec: a C client built by rpcgen and libtirpc from
// testdata/rpcgen/gateway_prot.x talks to the Sun RPC gateway of a
// three-node DHT. The .x file is written from this project's own
// description of the wire format (the package documentation), not from
// the Go types, so a field order, bound or type the codec gets wrong
// shows up here even where the Go client and server agree with each
// other.
//
// The C client (testdata/rpcgen/client.c) checks: version 2 NULL, PUT and
// GET of bare values across placemarks; version 3 NULL, plain puts (an
// empty hash named "SHA" and one named nothing) and a put with a secret
// hash, a GET of one value per reply that returns each value once with
// its remaining TTL and secret hash, RM with a wrong secret (accepted,
// removes nothing) and with the right one (the value is gone); a
// 1025-byte value refused with GARBAGE_ARGS on a connection that then
// still answers NULL and GET; PROG_MISMATCH (2, 3) for versions 1 and 4;
// PROC_UNAVAIL for procedure 9 and for RM on version 2. Afterwards the
// gateway must still answer the Go client.
func TestRpcgenClientInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a C client and runs a three-node DHT over real sockets")
	}
	const tirpcHeader = "/usr/include/tirpc/rpc/rpc.h"
	var missing []string
	rpcgen, err := exec.LookPath("rpcgen")
	if err != nil {
		missing = append(missing, "rpcgen")
	}
	cc, err := exec.LookPath("cc")
	if err != nil {
		missing = append(missing, "cc")
	}
	if _, err := os.Stat(tirpcHeader); err != nil {
		missing = append(missing, tirpcHeader)
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("missing %s: install rpcsvc-proto libtirpc-dev (and a C compiler)", strings.Join(missing, ", "))
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}

	client := buildRpcgenClient(t, rpcgen, cc)

	gateways := startRpcgenCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	waitForRing(ctx, t, gateways[2])

	host, port, err := net.SplitHostPort(gateways[1])
	if err != nil {
		t.Fatal(err)
	}
	runCtx, runCancel := context.WithTimeout(ctx, 60*time.Second)
	defer runCancel()
	out, err := exec.CommandContext(runCtx, client, host, port).CombinedOutput()
	t.Logf("C client against %s:\n%s", gateways[1], out)
	if runCtx.Err() != nil {
		t.Errorf("C client did not finish within 60 s")
	}
	if err != nil {
		t.Errorf("C client: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "FAIL") {
			t.Errorf("C client: %s", line)
		}
	}

	// The gateway the C client used still answers the Go client.
	c, err := sunrpc.DialContext(ctx, gateways[1])
	if err != nil {
		t.Fatalf("dial gateway after the C client: %v", err)
	}
	defer c.Close()
	if err := c.Null(ctx); err != nil {
		t.Errorf("Go NULL after the C client: %v", err)
	}
	key := dht.Key(sha1.Sum([]byte("rpcgen interop: go probe")))
	if _, err := c.Get(ctx, sunrpc.GetArgs{Application: "rpcgen_test", ClientLibrary: "go", Key: key, MaxVals: 1}); err != nil {
		t.Errorf("Go GET after the C client: %v", err)
	}
}

// buildRpcgenClient generates the stubs from gateway_prot.x and compiles
// the C client in a temporary directory; it returns the binary's path.
func buildRpcgenClient(t *testing.T, rpcgen, cc string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"gateway_prot.x", "client.c"} {
		b, err := os.ReadFile(filepath.Join("testdata", "rpcgen", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	run(rpcgen, "-C", "gateway_prot.x")
	run(cc, "-O1", "-Wall", "-I/usr/include/tirpc", "client.c", "gateway_prot_clnt.c", "gateway_prot_xdr.c", "-ltirpc", "-o", "client")
	return filepath.Join(dir, "client")
}

// startRpcgenCluster starts n nodes on loopback, each with a Sun RPC
// gateway; node 0 starts the ring and the others join through it. It
// returns the gateways' TCP addresses.
func startRpcgenCluster(t *testing.T, n int) []string {
	t.Helper()
	var boot []netip.AddrPort
	var gateways []string
	for i := range n {
		cfg := driver.ServerConfig{
			Node:      node.DefaultConfig(),
			Listen:    fmt.Sprintf("127.0.0.1:%d", freeRpcgenPort(t, "udp")),
			Store:     store.DefaultConfig(t.TempDir()),
			Bootstrap: boot,
			SunRPC:    fmt.Sprintf("127.0.0.1:%d", freeRpcgenPort(t, "tcp")),
		}
		s, err := driver.Start(context.Background(), cfg)
		if err != nil {
			t.Fatalf("start node %d: %v", i, err)
		}
		t.Cleanup(func() { _ = s.Close() })
		if i == 0 {
			boot = []netip.AddrPort{s.Self().Addr}
		}
		gateways = append(gateways, cfg.SunRPC)
	}
	return gateways
}

// freeRpcgenPort returns a loopback port that was free a moment ago: a
// node advertises its address, so port 0 will not do.
func freeRpcgenPort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitForRing puts through the Go client at gateway until the DHT
// accepts it: the ring takes a few seconds to form.
func waitForRing(ctx context.Context, t *testing.T, gateway string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	key := dht.Key(sha1.Sum([]byte(fmt.Sprintf("rpcgen interop: ring probe %d", time.Now().UnixNano()))))
	args := sunrpc.PutArgs{Application: "rpcgen_test", ClientLibrary: "go", Key: key, Value: []byte("ring probe"), TTLSec: 600}
	for {
		st, err := func() (dht.Status, error) {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			c, err := sunrpc.DialContext(cctx, gateway)
			if err != nil {
				return 0, err
			}
			defer c.Close()
			return c.Put(cctx, args)
		}()
		if err == nil && st == dht.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no put accepted at %s within 30 s: status %v, %v", gateway, st, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
