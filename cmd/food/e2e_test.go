package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/cddb"
	"github.com/opendht-go/opendht/impl/client"
	"github.com/opendht-go/opendht/impl/driver"
	"github.com/opendht-go/opendht/impl/food"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/porttest"
	"github.com/opendht-go/opendht/impl/store"
)

// cluster starts n nodes on loopback UDP, each an XML-RPC gateway, and
// returns the gateways once a put goes through.
func cluster(t *testing.T, n int) []string {
	t.Helper()
	var boot []netip.AddrPort
	var gws []string
	for i := range n {
		cfg := driver.ServerConfig{Node: node.DefaultConfig(), Listen: fmt.Sprintf("127.0.0.1:%d", porttest.UDP(t)),
			Store: store.DefaultConfig(t.TempDir()), Bootstrap: boot, XMLRPC: fmt.Sprintf("127.0.0.1:%d", porttest.TCP(t))}
		s, err := driver.Start(context.Background(), cfg)
		if err != nil {
			t.Fatalf("start node %d: %v", i, err)
		}
		t.Cleanup(func() { _ = s.Close() })
		if i == 0 {
			boot = []netip.AddrPort{s.Self().Addr}
		}
		gws = append(gws, cfg.XMLRPC)
	}
	c, err := client.New(client.DefaultConfig(gws...))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.Put(ctx, client.TextKey(fmt.Sprint("ring ready ", i)), []byte("yes"), time.Minute)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ring did not take a put within 60 s: %v", err)
		}
		time.Sleep(300 * time.Millisecond) // the ring is forming
	}
	return gws
}

// realClients returns the paths of the Debian CD-database clients: a C
// program built against libcddb (libcddb2-dev) and CDDB.pm
// (libcddb-perl). Missing ones skip the test, except under CI, where .ci/run
// installs them.
func realClients(t *testing.T) (libcddb string) {
	t.Helper()
	var missing []string
	cc, err := exec.LookPath("cc")
	if err != nil {
		missing = append(missing, "a C compiler")
	}
	if _, err := os.Stat("/usr/include/cddb/cddb.h"); err != nil {
		missing = append(missing, "libcddb2-dev")
	}
	if err := exec.Command("perl", "-MCDDB", "-e", "1").Run(); err != nil {
		missing = append(missing, "libcddb-perl")
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("the real CDDB clients need %s (Debian: apt-get install libcddb2-dev libcddb-perl gcc)", strings.Join(missing, ", "))
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	libcddb = filepath.Join(t.TempDir(), "libcddb_client")
	out, err := exec.Command(cc, "-o", libcddb, "testdata/libcddb_client.c", "-lcddb").CombinedOutput()
	if err != nil {
		t.Fatalf("build the libcddb client: %v\n%s", err, out)
	}
	return libcddb
}

// TestEndToEnd generates a corpus, loads it into a real four-node ring
// with `food load`, serves it with the proxy (cddbp and HTTP), and looks
// records up with Debian's CD-database clients, unchanged: libcddb over
// both protocols and CDDB.pm over cddbp at levels 1 and 6. Each answer is
// checked against the same lookup in the corpus held in memory: the first
// match, its title, year (level 5 and up) and track count (FOOD-9..FOOD-12).
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets, a ring of nodes and the real clients")
	}
	libcddb := realClients(t)
	gws := cluster(t, 4)
	dir := t.TempDir()
	const seed = 5
	t.Logf("corpus seed %d (replay: go test ./cmd/food -run TestEndToEnd)", seed)
	var out, errOut bytes.Buffer
	run := func(args ...string) string {
		out.Reset()
		errOut.Reset()
		root := rootCmd(&out, &errOut)
		root.SetArgs(args)
		if err := root.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("food %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
		}
		return out.String()
	}
	run("gen", "-n", "150", "--seed", strconv.Itoa(seed), "--shared", "0.2", "--bad", "3", dir)
	summary := run("--gateway", strings.Join(gws, ","), "load", "--quiet", "--ttl", "1h", dir)
	t.Log(strings.TrimSpace(summary))
	if !strings.Contains(summary, " bad=3 failed=0 ") || !strings.Contains(summary, " discids=150 ") {
		t.Fatalf("load summary %q", summary)
	}

	// The proxy, on the DHT.
	c, err := client.New(client.DefaultConfig(gws...))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	db := food.NewDB(c)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = cddb.ServeCDDBP(ctx, cl, db, cddb.DefaultServerConfig()) }()
	srv := &http.Server{Handler: cddb.HTTPHandler(db, cddb.DefaultServerConfig()), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(hl) }()
	defer srv.Close()
	_, httpPort, _ := net.SplitHostPort(hl.Addr().String())
	_, cddbpPort, _ := net.SplitHostPort(cl.Addr().String())

	// The reference: the corpus in memory.
	mem := cddb.NewMemDB()
	var picks []food.Known
	var shared, chunked, moved bool
	err = cddb.Walk(dir, func(f cddb.File) error {
		r, err := cddb.Parse(f.Data)
		if err != nil {
			return nil
		}
		mem.Add(f.Category, r)
		k := food.Known{Category: f.Category, DiscID: f.DiscID, Offsets: r.Offsets, Length: r.DiscLength}
		v, _ := food.Split(f.Category, f.DiscID, r)
		switch {
		case len(picks) < 3:
		case !chunked && len(v.Chunks) > 0:
			chunked = true
		case !shared && f.Category != "blues" && fileExists(filepath.Join(dir, "blues", f.Name)):
			shared = true
		case !moved && len(r.Offsets) > 2:
			// Another pressing with one track a second longer: not
			// stored, so only an inexact match finds it.
			moved = true
			k.Offsets = slices.Clone(k.Offsets)
			k.Offsets[1] += cddb.FramesPerSecond
			k.DiscID = cddb.DiscID(k.Offsets, k.Length)
		default:
			return nil
		}
		picks = append(picks, k)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !chunked || !moved {
		t.Fatalf("corpus lacks a chunked record (%v) or a record to move (%v)", chunked, moved)
	}
	for _, k := range picks {
		for _, level := range []int{1, 6} {
			first, title, year, tracks := expect(t, mem, k, level)
			offs := make([]string, len(k.Offsets))
			for i, o := range k.Offsets {
				offs[i] = strconv.Itoa(o)
			}
			check := func(who string, got string) {
				t.Helper()
				want := []string{"read " + first, "title " + title, fmt.Sprintf("tracks %d", tracks)}
				if level >= 5 || who != "CDDB.pm" {
					want = append(want, "year "+year)
				}
				for _, w := range want {
					if !strings.Contains(got, w+"\n") {
						t.Errorf("%s, level %d, %08x: no line %q in\n%s", who, level, k.DiscID, w, got)
					}
				}
			}
			cmd := exec.Command("perl", append([]string{"testdata/cddb_pm_client.pl", strconv.Itoa(level), strconv.Itoa(k.Length)}, offs...)...)
			cmd.Env = append(os.Environ(), "FOOD_CDDBP="+cl.Addr().String())
			got, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("CDDB.pm: %v\n%s", err, got)
			}
			check("CDDB.pm", latin1(got, level))
			if level == 6 { // libcddb speaks level 6
				for _, p := range [][2]string{{"http", httpPort}, {"cddbp", cddbpPort}} {
					got, err := exec.Command(libcddb, append([]string{p[0], "127.0.0.1", p[1], strconv.Itoa(k.Length)}, offs...)...).CombinedOutput()
					if err != nil {
						t.Fatalf("libcddb over %s: %v\n%s", p[0], err, got)
					}
					check("libcddb "+p[0], string(got))
				}
			}
		}
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// latin1 reads CDDB.pm's output below level 6 (ISO-8859-1 bytes) as text.
func latin1(b []byte, level int) string {
	if level >= 6 {
		return string(b)
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// expect asks the in-memory reference what a client must see: the first
// match ("categ discid"), its title as the level writes it, its year and
// its track count.
func expect(t *testing.T, mem *cddb.MemDB, k food.Known, level int) (first, title, year string, tracks int) {
	t.Helper()
	ctx := context.Background()
	exact, inexact, err := cddb.Match(ctx, mem, cddb.Query{DiscID: k.DiscID, Offsets: k.Offsets, DiscLength: k.Length})
	if err != nil || len(exact)+len(inexact) == 0 {
		t.Fatalf("reference has no match for %08x: %v", k.DiscID, err)
	}
	e := append(exact, inexact...)[0]
	text, err := mem.Read(ctx, e.Category, e.DiscID)
	if err != nil {
		t.Fatal(err)
	}
	r, err := cddb.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	title = r.Title
	if level < 6 {
		title = string(latin1(cddb.ToLatin1(title), 1))
	}
	return fmt.Sprintf("%s %08x", e.Category, e.DiscID), title, r.Year, len(r.Tracks)
}
