package food

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opendht-go/opendht/impl/cddb"
	"github.com/opendht-go/opendht/impl/client"
	"github.com/opendht-go/opendht/impl/dht"
)

// LoadConfig configures Load.
type LoadConfig struct {
	// Concurrency is the most records stored at once: the loader's
	// congestion window starts there, halves when a put fails and grows
	// back by one per window of records stored (AIMD).
	Concurrency int
	// TTL is the lifetime of every value; a corpus that must stay is
	// loaded again before it ends (puts of the same value are the same
	// item, PUT-4). Fair Space-Time admission (FST-3) takes writes whose
	// TTL is the maximum, a week, only at C/T bytes per second per node
	// (1.7 kB/s for 1 GB); writes of a day may fill six sevenths of the
	// disk at once.
	TTL time.Duration
	// Family also puts the family entries that inexact matches need.
	Family bool
	// Attempts bounds the tries of one record; each try repeats only the
	// puts that failed (they are idempotent).
	Attempts int
	// Progress, if set, is called after each file with the files done.
	Progress func(done int)
}

// DefaultLoadConfig returns the defaults: 64 records in flight keep 16
// gateways busy without filling a client's queue at a node (64 writes,
// FST-6); a TTL of a day is admitted at once where a week's would trickle
// in at C/T (see TTL), so the loader is run daily.
func DefaultLoadConfig() LoadConfig {
	return LoadConfig{Concurrency: 64, TTL: 24 * time.Hour, Family: true, Attempts: 5}
}

// Validate rejects nonsense.
func (c LoadConfig) Validate() error {
	switch {
	case c.Concurrency < 1:
		return fmt.Errorf("food: concurrency must be at least 1, got %d", c.Concurrency)
	case c.TTL < time.Second || c.TTL > dht.MaxTTL*time.Second:
		return fmt.Errorf("food: ttl must be between 1s and %v, got %v", dht.MaxTTL*time.Second, c.TTL)
	case c.Attempts < 1:
		return fmt.Errorf("food: attempts must be at least 1, got %d", c.Attempts)
	}
	return nil
}

// LoadStats is what a load did.
type LoadStats struct {
	// Files is every file seen; Records those stored whole; Bad those
	// refused (malformed, misplaced, too large) and Failed those the DHT
	// did not take after every attempt.
	Files, Records, Bad, Failed int
	// DiscIDs is the number of distinct disc IDs stored.
	DiscIDs int
	// Bytes is the text stored (before compression); Values the bytes
	// put.
	Bytes, Values int64
	// Puts is the number of puts that succeeded; Chunked the records
	// split into chunks.
	Puts, Chunked int
	// RecordRetries counts records tried again; Client the client's own
	// retries and failovers.
	RecordRetries int
	Client        client.Stats
	// Window is the congestion window at the end, WindowLeast its
	// smallest and WindowCuts how many times failures halved it.
	Window, WindowLeast, WindowCuts int
	Elapsed                         time.Duration
}

// String is the loader's summary line.
func (s LoadStats) String() string {
	secs := max(s.Elapsed.Seconds(), 1e-9)
	return fmt.Sprintf("files=%d records=%d discids=%d bad=%d failed=%d bytes=%d value_bytes=%d puts=%d chunked=%d retries=%d (client: %d try-again, %d failover; records: %d) window=%d (least %d, cut %d times) elapsed=%.1fs records/s=%.1f puts/s=%.1f",
		s.Files, s.Records, s.DiscIDs, s.Bad, s.Failed, s.Bytes, s.Values, s.Puts, s.Chunked,
		s.Client.Retries()+uint64(s.RecordRetries), s.Client.TryAgain, s.Client.Failovers, s.RecordRetries,
		s.Window, s.WindowLeast, s.WindowCuts, s.Elapsed.Seconds(), float64(s.Records)/secs, float64(s.Puts)/secs)
}

// Problem is a file the loader did not store, and why.
type Problem struct {
	Path string
	Err  error
}

// CountFiles returns the number of files Walk will visit under root, for
// a progress bar.
func CountFiles(root string) (int, error) {
	n := 0
	top, err := os.ReadDir(root)
	if err != nil {
		return 0, err
	}
	for _, c := range top {
		if !c.IsDir() {
			n++
			continue
		}
		fs, err := os.ReadDir(root + "/" + c.Name())
		if err != nil {
			return 0, err
		}
		n += len(fs)
	}
	return n, nil
}

// Load stores every valid record of the corpus under root (FreeDB's dump
// layout) through c. A file that is not a valid record is reported to
// problem and stored not at all (FOOD-1); a record is visible to readers
// only once its entry is put, after all its chunks (FOOD-6).
func Load(ctx context.Context, c *client.Client, root string, cfg LoadConfig, problem func(Problem)) (LoadStats, error) {
	var st LoadStats
	if err := cfg.Validate(); err != nil {
		return st, err
	}
	start := time.Now()
	before := c.Stats()
	type job struct {
		path string
		v    Values
		size int
	}
	jobs := make(chan job, cfg.Concurrency)
	var mu sync.Mutex // guards st, ids and the problem callback
	ids := map[uint32]bool{}
	var done atomic.Int64
	report := func(p Problem) {
		mu.Lock()
		defer mu.Unlock()
		if problem != nil {
			problem(p)
		}
	}
	progress := func() {
		n := int(done.Add(1))
		if cfg.Progress != nil {
			cfg.Progress(n)
		}
	}
	win := newWindow(cfg.Concurrency)
	var wg sync.WaitGroup
	for w := range cfg.Concurrency {
		rnd := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
		wg.Go(func() {
			for j := range jobs {
				if err := win.acquire(ctx); err != nil {
					mu.Lock()
					st.Failed++
					mu.Unlock()
					report(Problem{Path: j.path, Err: err})
					progress()
					continue
				}
				puts, retries, err := store(ctx, c, j.v, cfg, rnd, win)
				win.release(err == nil)
				mu.Lock()
				st.Puts += puts
				st.RecordRetries += retries
				if err != nil {
					st.Failed++
				} else {
					st.Records++
					st.Bytes += int64(j.size)
					st.Values += int64(len(j.v.Entry))
					for _, ch := range j.v.Chunks {
						st.Values += int64(len(ch))
					}
					if cfg.Family {
						st.Values += int64(len(j.v.Family))
					}
					if len(j.v.Chunks) > 0 {
						st.Chunked++
					}
					ids[discOf(j.v)] = true
				}
				mu.Unlock()
				if err != nil {
					report(Problem{Path: j.path, Err: err})
				}
				progress()
			}
		})
	}
	walkErr := cddb.Walk(root, func(f cddb.File) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		mu.Lock()
		st.Files++
		mu.Unlock()
		refuse := func(err error) error {
			mu.Lock()
			st.Bad++
			mu.Unlock()
			report(Problem{Path: f.Path, Err: err})
			progress()
			return nil
		}
		if f.Err != nil {
			return refuse(f.Err)
		}
		r, err := cddb.Parse(f.Data)
		if err != nil {
			return refuse(err)
		}
		v, err := Split(f.Category, f.DiscID, r)
		if err != nil {
			return refuse(err)
		}
		select {
		case jobs <- job{path: f.Path, v: v, size: len(r.Text)}:
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	})
	close(jobs)
	wg.Wait()
	st.DiscIDs = len(ids)
	st.Window, st.WindowLeast, st.WindowCuts = win.state()
	after := c.Stats()
	st.Client = client.Stats{Calls: after.Calls - before.Calls, Attempts: after.Attempts - before.Attempts,
		TryAgain: after.TryAgain - before.TryAgain, Failovers: after.Failovers - before.Failovers}
	st.Elapsed = time.Since(start)
	return st, walkErr
}

// discOf recovers the disc ID of a record's values from its entry.
func discOf(v Values) uint32 {
	e, err := DecodeEntry(v.Entry)
	if err != nil {
		panic(fmt.Sprintf("food: an entry Split made does not decode: %v", err))
	}
	return e.DiscID
}

// store puts one record's values: the chunks (in parallel), then the
// entry, then the family entry. A try that fails is repeated, after a
// backoff, from the first put that did not succeed.
func store(ctx context.Context, c *client.Client, v Values, cfg LoadConfig, rnd *rand.Rand, win *window) (puts, retries int, err error) {
	// A put that failed, or during which the client was told "try
	// again" or failed over from a gateway (any put's: congestion is the
	// ring's, not one record's), cuts the window.
	put := func(key dht.Key, value []byte) error {
		started, before := time.Now(), c.Stats()
		err := c.Put(ctx, key, value, cfg.TTL)
		after := c.Stats()
		if ctx.Err() == nil && (err != nil || after.TryAgain+after.Failovers > before.TryAgain+before.Failovers) {
			win.failed(started, time.Now())
		}
		return err
	}
	chunkDone := make([]bool, len(v.Chunks))
	entryDone, familyDone := false, !cfg.Family
	for attempt := range cfg.Attempts {
		if attempt > 0 {
			retries++
			d := time.Duration(rnd.Int64N(int64(200*time.Millisecond) << min(attempt, 5)))
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return puts, retries, ctx.Err()
			}
		}
		var mu sync.Mutex
		var errs []error
		var wg sync.WaitGroup
		for i, ch := range v.Chunks {
			if chunkDone[i] {
				continue
			}
			wg.Go(func() {
				err := put(ChunkKey(ch), ch)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				chunkDone[i] = true
				puts++
			})
		}
		wg.Wait()
		if err = errors.Join(errs...); err != nil {
			continue
		}
		if !entryDone {
			if err = put(v.DiscKey, v.Entry); err != nil {
				continue
			}
			entryDone = true
			puts++
		}
		if !familyDone {
			if err = put(v.FamilyKey, v.Family); err != nil {
				continue
			}
			familyDone = true
			puts++
		}
		return puts, retries, nil
	}
	return puts, retries, err
}
