package food

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/opendht-go/opendht/impl/cddb"
)

// VerifyStats is what Verify found.
type VerifyStats struct {
	// Records is every valid record of the corpus, DiscIDs their distinct
	// disc IDs; OK those read back equal to the file, Missing those the
	// DHT did not answer with (no entry, a chunk missing, an error) and
	// Differ those it answered with other text.
	Records, DiscIDs, OK, Missing, Differ int
	// Latency of the reads (an entry get, then the chunks).
	P50, P99 time.Duration
	Elapsed  time.Duration
}

// String is the summary line of food verify.
func (s VerifyStats) String() string {
	return fmt.Sprintf("records=%d discids=%d ok=%d missing=%d differ=%d read_p50=%.1fms read_p99=%.1fms elapsed=%.1fs reads/s=%.1f",
		s.Records, s.DiscIDs, s.OK, s.Missing, s.Differ, ms(s.P50), ms(s.P99), s.Elapsed.Seconds(), float64(s.Records)/max(s.Elapsed.Seconds(), 1e-9))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Verify reads every valid record of the corpus under root back through
// db, concurrency at a time, and compares it with the file (the text a
// reader gets is the record's, FOOD-6). Each record that is missing or
// differs is reported to problem.
func Verify(ctx context.Context, db *DB, root string, concurrency int, problem func(Problem), progress func(done int)) (VerifyStats, error) {
	var st VerifyStats
	if concurrency < 1 {
		return st, fmt.Errorf("food: concurrency must be at least 1, got %d", concurrency)
	}
	start := time.Now()
	type job struct {
		path, categ string
		discid      uint32
		text        []byte
	}
	jobs := make(chan job, concurrency)
	var mu sync.Mutex // guards st, lat, ids, done and the callbacks
	var lat []time.Duration
	ids := map[uint32]bool{}
	done := 0
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for j := range jobs {
				t0 := time.Now()
				got, err := db.Read(ctx, j.categ, j.discid)
				d := time.Since(t0)
				mu.Lock()
				lat = append(lat, d)
				switch {
				case err != nil:
					st.Missing++
				case !bytes.Equal(got, j.text):
					st.Differ++
					err = errors.New("the DHT holds other text")
				default:
					st.OK++
				}
				if err != nil && problem != nil {
					problem(Problem{Path: j.path, Err: err})
				}
				done++
				if progress != nil {
					progress(done)
				}
				mu.Unlock()
			}
		})
	}
	walkErr := cddb.Walk(root, func(f cddb.File) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if f.Err != nil {
			return nil
		}
		r, err := cddb.Parse(f.Data)
		if err != nil {
			return nil
		}
		if _, err := Split(f.Category, f.DiscID, r); err != nil {
			return nil // the loader refuses it too
		}
		mu.Lock()
		st.Records++
		ids[f.DiscID] = true
		mu.Unlock()
		select {
		case jobs <- job{path: f.Path, categ: f.Category, discid: f.DiscID, text: r.Text}:
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	})
	close(jobs)
	wg.Wait()
	st.DiscIDs = len(ids)
	slices.Sort(lat)
	st.P50, st.P99 = Percentile(lat, 0.5), Percentile(lat, 0.99)
	st.Elapsed = time.Since(start)
	return st, walkErr
}
