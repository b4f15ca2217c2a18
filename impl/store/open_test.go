package store

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/opendht-go/opendht/impl/dht"
)

func putOne(t *testing.T, s *Store) {
	t.Helper()
	res, err := s.Step(dht.Op{Kind: dht.OpPut, ID: 1, Put: dht.Put{Client: "c", Key: dht.Key{1}, Value: []byte("v"), TTL: 100}}, 1000)
	if err != nil || len(res.Completed) != 1 || res.Completed[0].Status != dht.StatusOK {
		t.Fatalf("put: %v %+v", err, res)
	}
}

// TestOpenRefusesForeignAndCorruptDirectories checks DUR-2: a directory that
// is not a store of this format fails to open with an error that says so,
// and its contents are left alone.
func TestOpenRefusesForeignAndCorruptDirectories(t *testing.T) {
	t.Run("foreign files", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("my thesis"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Open(DefaultConfig(dir))
		if !errors.Is(err, ErrNotStore) {
			t.Fatalf("want ErrNotStore, got %v", err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "notes.txt")); string(b) != "my thesis" {
			t.Fatalf("foreign file changed")
		}
	})
	t.Run("pebble database of another program", func(t *testing.T) {
		dir := t.TempDir()
		db, err := pebble.Open(dir, &pebble.Options{})
		if err != nil {
			t.Fatal(err)
		}
		_ = db.Set([]byte("k"), []byte("v"), pebble.Sync)
		_ = db.Close()
		_, err = Open(DefaultConfig(dir))
		if !errors.Is(err, ErrNotStore) {
			t.Fatalf("want ErrNotStore, got %v", err)
		}
	})
	t.Run("newer format", func(t *testing.T) {
		dir := t.TempDir()
		s, err := Open(DefaultConfig(dir))
		if err != nil {
			t.Fatal(err)
		}
		_ = s.db.Set(metaKey, append([]byte(formatMagic), 0, 0, 0, 9), pebble.Sync)
		_ = s.Close()
		_, err = Open(DefaultConfig(dir))
		if !errors.Is(err, ErrNewerFormat) {
			t.Fatalf("want ErrNewerFormat, got %v", err)
		}
	})
	t.Run("corrupt manifest", func(t *testing.T) {
		dir := t.TempDir()
		s, err := Open(DefaultConfig(dir))
		if err != nil {
			t.Fatal(err)
		}
		putOne(t, s)
		_ = s.Close()
		ms, _ := filepath.Glob(filepath.Join(dir, "MANIFEST-*"))
		if len(ms) == 0 {
			t.Fatal("no manifest")
		}
		for _, m := range ms {
			if err := os.WriteFile(m, []byte("garbage, not a manifest"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, err = Open(DefaultConfig(dir))
		if err == nil {
			t.Fatal("opened a store whose manifest is garbage")
		}
		t.Logf("corrupt store refused: %v", err)
	})
	t.Run("reopen keeps data", func(t *testing.T) {
		dir := t.TempDir()
		s, err := Open(DefaultConfig(dir))
		if err != nil {
			t.Fatal(err)
		}
		putOne(t, s)
		_ = s.Close()
		s, err = Open(DefaultConfig(dir))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		r, err := s.Get(dht.Get{Key: dht.Key{1}, MaxVals: 1}, 1001)
		if err != nil || len(r.Values) != 1 {
			t.Fatalf("after reopen: %v %+v", err, r)
		}
	})
}

// TestConfigValidate checks that nonsense parameters are refused with a
// message (LIM-7 for the node's own flags).
func TestConfigValidate(t *testing.T) {
	for _, mut := range []func(*Config){
		func(c *Config) { c.Dir = "" },
		func(c *Config) { c.Capacity = 0 },
		func(c *Config) { c.MaxTTL = dht.MaxTTL + 1 },
		func(c *Config) { c.QueueLimit = 0 },
		func(c *Config) { c.QueueTimeout = -1 },
		func(c *Config) { c.ReplyCap = 10 },
		func(c *Config) { c.MemTableSize = 1000 },
		func(c *Config) { c.ReadCacheSize = -1 },
	} {
		c := DefaultConfig("x")
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
	if err := DefaultConfig("x").Validate(); err != nil {
		t.Fatal(err)
	}
}

// A store another opener holds is reported as in use, not as foreign:
// in this process, and from another process (this test binary run again,
// holding the store until its standard input closes).
func TestOpenReportsAStoreInUse(t *testing.T) {
	if dir := os.Getenv("OPENDHT_TEST_HOLD_STORE"); dir != "" {
		s, err := Open(DefaultConfig(dir))
		if err != nil {
			fmt.Println("open:", err)
			os.Exit(1)
		}
		fmt.Println("holding")
		_, _ = io.ReadAll(os.Stdin)
		_ = s.Close()
		os.Exit(0)
	}
	dir := t.TempDir()
	s, err := Open(DefaultConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	putOne(t, s)
	if _, err := Open(DefaultConfig(dir)); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open in this process: want ErrLocked, got %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestOpenReportsAStoreInUse$")
	cmd.Env = append(os.Environ(), "OPENDHT_TEST_HOLD_STORE="+dir)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if line != "holding\n" {
		_ = cmd.Process.Kill()
		t.Fatalf("holder process: %q", line)
	}
	_, err = Open(DefaultConfig(dir))
	_ = stdin.Close()
	_ = cmd.Wait()
	if !errors.Is(err, ErrLocked) || errors.Is(err, ErrNotStore) {
		t.Fatalf("open while another process holds it: want ErrLocked, got %v", err)
	}
	s, err = Open(DefaultConfig(dir))
	if err != nil {
		t.Fatalf("open after the holder exited: %v", err)
	}
	_ = s.Close()
}

func TestClientsCountsItemsBytesAndQueues(t *testing.T) {
	s, err := Open(DefaultConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 3 {
		res, err := s.Step(dht.Op{Kind: dht.OpPut, ID: uint64(i + 1), Put: dht.Put{Client: "a", Key: dht.Key{byte(i)}, Value: []byte("v"), TTL: 100}}, 1000)
		if err != nil || len(res.Completed) != 1 {
			t.Fatalf("put: %v %+v", err, res)
		}
	}
	u := s.Clients()["a"]
	if u.Items != 3 || u.Bytes != s.Usage()["a"] || u.Bytes == 0 {
		t.Fatalf("Clients()[a] = %+v, usage %d", u, s.Usage()["a"])
	}
	if err := s.Tick(1000 + 101); err != nil { // everything expired
		t.Fatal(err)
	}
	if c := s.Clients(); len(c) != 0 {
		t.Fatalf("after expiry Clients() = %+v", c)
	}
}
