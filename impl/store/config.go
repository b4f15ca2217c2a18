package store

import (
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/opendht-go/opendht/impl/dht"
)

// Config configures a store.
type Config struct {
	// Dir is the data directory. It is created if it does not exist.
	Dir string
	// FS is the filesystem; nil means the real disk. Tests pass Pebble's
	// crashable in-memory filesystem.
	FS vfs.FS
	// Capacity is C in bytes: the storage shared among clients (FST-1).
	Capacity int64
	// MaxTTL is T in seconds: the TTL clamp and the FST horizon (TTL-1).
	MaxTTL int64
	// QueueLimit is Q: writes one client may have waiting (FST-6).
	QueueLimit int
	// QueueTimeout is W in seconds: how long a write may wait (FST-8).
	QueueTimeout int64
	// ReplyCap is R in bytes: value bytes in one get reply (GET-3).
	ReplyCap int
	// CacheSize is the Pebble block cache in bytes.
	CacheSize int64
	// MemTableSize is the size in bytes of Pebble's memtable, the writes
	// not yet flushed to a table.
	MemTableSize int64
	// ReadCacheSize is the read cache in bytes: the decoded items of
	// recently read keys, from which gets are answered without Pebble. 0
	// turns it off.
	ReadCacheSize int64
	// NoSync disables fsync. Only for tests and benchmarks that say so:
	// acknowledged writes can then be lost in a machine crash.
	NoSync bool
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults of the spec, for a node in Dir.
func DefaultConfig(dir string) Config {
	return Config{
		Dir: dir,
		// 1 GiB: the original nodes shared a few GB at most; flags raise it.
		Capacity: 1 << 30,
		// One week, the original maximum TTL.
		MaxTTL: dht.MaxTTL,
		// 64 writes: a client pipelining more than this is ahead of its share.
		QueueLimit: 64,
		// 5 s: the gateway's own timeout in the original; after that the
		// client is better served by "try again" than by waiting.
		QueueTimeout: 5,
		// The original capped a reply at about one maximum-size value.
		ReplyCap: dht.MaxValueLen,
		// 64 MiB of block cache keeps the hot keys of a busy node in memory.
		CacheSize: 64 << 20,
		// 64 MiB: every flush and compaction rewrites the 1 kB values a
		// put carries; Pebble's 4 MiB default flushed so often that
		// flushing and compacting took more CPU than the puts themselves.
		MemTableSize: 64 << 20,
		// 32 MiB of decoded items answers the hot keys' gets from memory;
		// a key holding more than 1/256 of it (128 kB) is read from Pebble.
		ReadCacheSize: 32 << 20,
	}
}

// Validate rejects a configuration the store cannot run with.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return fmt.Errorf("store: data directory must be set")
	case c.Capacity <= 0:
		return fmt.Errorf("store: capacity must be positive bytes, got %d", c.Capacity)
	case c.MaxTTL <= 0 || c.MaxTTL > dht.MaxTTL:
		return fmt.Errorf("store: max TTL must be in [1, %d] seconds, got %d", dht.MaxTTL, c.MaxTTL)
	case c.QueueLimit <= 0:
		return fmt.Errorf("store: queue limit must be positive, got %d", c.QueueLimit)
	case c.QueueTimeout <= 0:
		return fmt.Errorf("store: queue timeout must be positive seconds, got %d", c.QueueTimeout)
	case c.ReplyCap < dht.MaxValueLen:
		return fmt.Errorf("store: reply cap must be at least %d bytes, got %d", dht.MaxValueLen, c.ReplyCap)
	case c.CacheSize < 0:
		return fmt.Errorf("store: cache size must not be negative, got %d", c.CacheSize)
	case c.MemTableSize < 1<<20 || c.MemTableSize >= 1<<32:
		return fmt.Errorf("store: memtable size must be in [1 MiB, 4 GiB), got %d bytes", c.MemTableSize)
	case c.ReadCacheSize < 0:
		return fmt.Errorf("store: read cache size must not be negative, got %d", c.ReadCacheSize)
	}
	return nil
}
