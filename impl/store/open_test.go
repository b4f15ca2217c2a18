package store

import (
	"errors"
	"os"
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
