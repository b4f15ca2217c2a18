package food

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/cddb"
	"github.com/opendht-go/opendht/impl/client"
	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway/gatewaytest"
	"github.com/opendht-go/opendht/impl/gateway/xmlrpc"
)

// gateway starts an XML-RPC gateway on an in-memory DHT (the reference
// model) and returns a client of it.
func gateway(t *testing.T) (*client.Client, *gatewaytest.Model) {
	t.Helper()
	m := gatewaytest.NewModel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = xmlrpc.New(m, xmlrpc.DefaultConfig()).ServeListener(ctx, ln) }()
	c, err := client.New(client.DefaultConfig(ln.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, m
}

// corpus generates a corpus and reads it into a MemDB, the reference.
func corpus(t *testing.T, seed uint64, n, bad int) (string, *cddb.MemDB, []Known) {
	t.Helper()
	dir := t.TempDir()
	cfg := cddb.DefaultGenConfig(n)
	cfg.Seed, cfg.SharedRate, cfg.BadFiles = seed, 0.15, bad
	if _, err := cddb.Generate(dir, cfg); err != nil {
		t.Fatal(err)
	}
	mem := cddb.NewMemDB()
	var known []Known
	err := cddb.Walk(dir, func(f cddb.File) error {
		if r, err := cddb.Parse(f.Data); err == nil {
			mem.Add(f.Category, r)
			known = append(known, Known{Category: f.Category, DiscID: f.DiscID, Offsets: r.Offsets, Length: r.DiscLength})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir, mem, known
}

// TestKeys: the keys are the SHA-1 of the texts FOOD-4 names, written
// out here independently of the code that derives them.
func TestKeys(t *testing.T) {
	if got, want := DiscKey(0x1602ba03), dht.Key(sha1.Sum([]byte("food/discid/1602ba03"))); got != want {
		t.Errorf("disc key %s, want %s", got, want)
	}
	if got, want := FamilyKey(12, 2883), dht.Key(sha1.Sum([]byte("food/family/12/2883"))); got != want {
		t.Errorf("family key %s, want %s", got, want)
	}
	v := []byte("FOOD\x01Cdata")
	if got, want := ChunkKey(v), dht.Key(sha1.Sum(v)); got != want {
		t.Errorf("chunk key %s, want %s", got, want)
	}
}

// TestSplitRoundTrip: every generated record's values fit in one put
// each, decode to what was split, and assemble to the exact text; chunked
// records appear in a corpus of FreeDB's sizes (FOOD-5, FOOD-8).
func TestSplitRoundTrip(t *testing.T) {
	dir, _, _ := corpus(t, 11, 400, 0)
	chunked := 0
	err := cddb.Walk(dir, func(f cddb.File) error {
		r, err := cddb.Parse(f.Data)
		if err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		v, err := Split(f.Category, f.DiscID, r)
		if err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		for _, b := range append([][]byte{v.Entry, v.Family}, v.Chunks...) {
			if len(b) > dht.MaxValueLen {
				t.Fatalf("%s: value of %d bytes", f.Path, len(b))
			}
		}
		e, err := DecodeEntry(v.Entry)
		if err != nil {
			t.Fatalf("%s: decode entry: %v", f.Path, err)
		}
		if e.Category != f.Category || e.DiscID != f.DiscID || e.Revision != r.Revision || !slices.Equal(e.Offsets, r.Offsets) || e.DiscLength != r.DiscLength {
			t.Fatalf("%s: entry %+v", f.Path, e)
		}
		if !bytes.Equal(e.encode(), v.Entry) {
			t.Fatalf("%s: decode-encode differs", f.Path)
		}
		var chunks [][]byte
		for i, c := range v.Chunks {
			data, ok := chunkData(e.Chunks[i], c)
			if !ok {
				t.Fatalf("%s: chunk %d is not named by its key", f.Path, i)
			}
			chunks = append(chunks, data)
		}
		if len(v.Chunks) > 0 {
			chunked++
		}
		text, err := Assemble(e, chunks)
		if err != nil || !bytes.Equal(text, r.Text) {
			t.Fatalf("%s: assemble: %v", f.Path, err)
		}
		fam, err := DecodeFamily(v.Family)
		if err != nil || fam.DiscID != f.DiscID || !slices.Equal(fam.Offsets, r.Offsets) {
			t.Fatalf("%s: family %+v %v", f.Path, fam, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if chunked == 0 {
		t.Error("no record needed chunks: the corpus lacks FreeDB's large records")
	}
}

// TestAssembleRefusesTampering: a chunk swapped, cut or altered is never
// returned as a record (FOOD-8). Negative control of the check: without
// the sum, the altered text would have been returned.
func TestAssembleRefusesTampering(t *testing.T) {
	dir, _, _ := corpus(t, 12, 300, 0)
	var e Entry
	var chunks [][]byte
	_ = cddb.Walk(dir, func(f cddb.File) error {
		r, _ := cddb.Parse(f.Data)
		v, _ := Split(f.Category, f.DiscID, r)
		if len(v.Chunks) >= 2 && chunks == nil {
			e, _ = DecodeEntry(v.Entry)
			for _, c := range v.Chunks {
				chunks = append(chunks, c[headerLen:])
			}
		}
		return nil
	})
	if chunks == nil {
		t.Fatal("no record of two chunks")
	}
	if _, err := Assemble(e, chunks); err != nil {
		t.Fatalf("untouched: %v", err)
	}
	swapped := [][]byte{chunks[1], chunks[0]}
	swapped = append(swapped, chunks[2:]...)
	short := chunks[:len(chunks)-1]
	for name, cs := range map[string][][]byte{"swapped": swapped, "short": short} {
		if _, err := Assemble(e, cs); !errors.Is(err, ErrBadValue) {
			t.Errorf("%s chunks: %v, want ErrBadValue", name, err)
		}
	}
	// Same length, another text: only the sum catches it.
	forged := e
	text, _ := Assemble(e, chunks)
	alt := bytes.Replace(text, []byte("DTITLE="), []byte("DTITLE=X"), 1)[:len(text)]
	z, _ := deflate(alt)
	forged.Chunks, forged.Inline = nil, z
	if _, err := Assemble(forged, nil); !errors.Is(err, ErrBadValue) {
		t.Errorf("forged text with the old sum: %v, want ErrBadValue", err)
	}
	forged.Sum = [20]byte(dht.SHA1(alt))
	if got, err := Assemble(forged, nil); err != nil || !bytes.Equal(got, alt) {
		t.Errorf("negative control: with its own sum the forged text should assemble: %v", err)
	}
}

// TestDHTAnswersAsMemory loads a corpus through the client into an
// in-memory DHT and asks the DHT's DB and the reference MemDB the same
// queries and reads, through the same protocol session: the answers must
// be equal (FOOD-6, FOOD-7, FOOD-10, FOOD-11). Queries are of every loaded
// table of contents and of each moved by a second (inexact).
func TestDHTAnswersAsMemory(t *testing.T) {
	const seed = 21
	dir, mem, known := corpus(t, seed, 250, 6)
	c, _ := gateway(t)
	ctx := context.Background()
	cfg := DefaultLoadConfig()
	cfg.Concurrency = 8
	var problems []Problem
	st, err := Load(ctx, c, dir, cfg, func(p Problem) { problems = append(problems, p) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seed %d (go test ./impl/food -run TestDHTAnswersAsMemory): %v", seed, st)
	if st.Bad != 6 || len(problems) != 6 || st.Failed != 0 || st.Records != len(known) || st.Chunked == 0 || st.DiscIDs != 250 {
		t.Fatalf("load: %v, %d problems", st, len(problems))
	}
	db := NewDB(c)
	rnd := rand.New(rand.NewPCG(seed, 1))
	for level := range []int{1, 6} {
		level = []int{1, 6}[level]
		for i, k := range known {
			cmds := []string{k.QueryCommand(), fmt.Sprintf("cddb read %s %08x", k.Category, k.DiscID)}
			moved := slices.Clone(k.Offsets)
			j := rnd.IntN(len(moved))
			moved[j] += cddb.FramesPerSecond
			if j+1 == len(moved) || moved[j] < moved[j+1] {
				cmds = append(cmds, Known{DiscID: cddb.DiscID(moved, k.Length), Offsets: moved, Length: k.Length}.QueryCommand())
			}
			if i%7 == 0 {
				cmds = append(cmds, fmt.Sprintf("cddb read %s %08x", cddb.Categories[(cddb.CategoryIndex(k.Category)+1)%11], k.DiscID))
			}
			for _, cmd := range cmds {
				want, _ := (&cddb.Session{DB: mem, Host: "h", Level: level, Hello: true}).Do(ctx, cmd)
				got, _ := (&cddb.Session{DB: db, Host: "h", Level: level, Hello: true}).Do(ctx, cmd)
				if !bytes.Equal(got, want) {
					t.Fatalf("level %d %q:\nDHT    %q\nmemory %q", level, cmd, got, want)
				}
			}
		}
	}
	if db.Skipped() != 0 {
		t.Errorf("%d values skipped in a DHT holding only FOOD values", db.Skipped())
	}
}

// TestHostileValues: values under FOOD keys that are not FOOD's (another
// application's, a forged entry whose chunks do not exist, an entry whose
// text does not match its sum) are skipped or answered as errors, never
// as records (FOOD-7, FOOD-8).
func TestHostileValues(t *testing.T) {
	dir, _, known := corpus(t, 31, 30, 0)
	c, _ := gateway(t)
	ctx := context.Background()
	if _, err := Load(ctx, c, dir, DefaultLoadConfig(), nil); err != nil {
		t.Fatal(err)
	}
	k := known[0]
	key := DiscKey(k.DiscID)
	put := func(key dht.Key, v []byte) {
		if err := c.Put(ctx, key, v, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	put(key, []byte("someone else's value"))
	put(key, []byte("FOOD\x01Rgarbage"))
	db := NewDB(c)
	es, err := db.Entries(ctx, k.DiscID)
	if err != nil || len(es) == 0 || db.Skipped() != 2 {
		t.Fatalf("entries %v, skipped %d: %v", es, db.Skipped(), err)
	}
	// A forged entry in another category, of a higher revision, naming a
	// chunk that was never put: the read fails, nothing is returned.
	other := cddb.Categories[(cddb.CategoryIndex(k.Category)+1)%11]
	forged := es[k.Category]
	forged.Category, forged.Revision, forged.Inline = other, 99, nil
	forged.Chunks = []dht.Key{dht.Key(dht.SHA1([]byte("nowhere")))}
	put(key, forged.encode())
	if _, err := db.Read(ctx, other, k.DiscID); !errors.Is(err, ErrMissingChunk) {
		t.Errorf("forged entry without its chunk: %v, want ErrMissingChunk", err)
	}
	ans, _ := (&cddb.Session{DB: db, Host: "h", Level: 6, Hello: true}).Do(ctx, fmt.Sprintf("cddb read %s %08x", other, k.DiscID))
	if !strings.HasPrefix(string(ans), "402 ") {
		t.Errorf("read of the forged entry answered %q, want 402", ans)
	}
	// An entry whose inline text does not match its sum: 403.
	bad := es[k.Category]
	bad.Category, bad.Chunks = cddb.Categories[(cddb.CategoryIndex(k.Category)+2)%11], nil
	bad.Inline, _ = deflate(bytes.Repeat([]byte("x"), bad.Len))
	put(key, bad.encode())
	ans, _ = (&cddb.Session{DB: db, Host: "h", Level: 6, Hello: true}).Do(ctx, fmt.Sprintf("cddb read %s %08x", bad.Category, k.DiscID))
	if !strings.HasPrefix(string(ans), "403 ") {
		t.Errorf("read of an entry with a wrong sum answered %q, want 403", ans)
	}
	// The genuine record still reads.
	text, err := db.Read(ctx, k.Category, k.DiscID)
	want, _ := os.ReadFile(filepath.Join(dir, k.Category, fmt.Sprintf("%08x", k.DiscID)))
	if err != nil || !bytes.Equal(text, want) {
		t.Errorf("genuine record: %v", err)
	}
}

// FuzzDecodeEntry: decoding never panics, and what decodes encodes back
// to the same bytes (a canonical form).
func FuzzDecodeEntry(f *testing.F) {
	e := Entry{Category: "rock", DiscID: 0x1602ba03, Revision: 3, Title: "A / B", Offsets: []int{150, 18901, 40000}, DiscLength: 700, Len: 10, Inline: []byte{1, 2, 3}}
	f.Add(e.encode())
	e.Inline, e.Chunks = nil, []dht.Key{{1}, {2}}
	f.Add(e.encode())
	f.Add(encodeFamily(e))
	f.Fuzz(func(t *testing.T, b []byte) {
		if e, err := DecodeEntry(b); err == nil {
			if !bytes.Equal(e.encode(), b) {
				t.Fatalf("entry %x re-encodes to %x", b, e.encode())
			}
			_, _ = Assemble(e, make([][]byte, len(e.Chunks)))
		} else if !errors.Is(err, ErrBadValue) {
			t.Fatalf("error %v is not ErrBadValue", err)
		}
		if e, err := DecodeFamily(b); err == nil && !bytes.Equal(encodeFamily(e), b) {
			t.Fatalf("family %x re-encodes to %x", b, encodeFamily(e))
		}
	})
}

// TestVerifyReadsEveryRecordBack: after a load, Verify finds every record
// of the corpus in the DHT with its text (FOOD-6). Its negative controls:
// a file changed after the load differs, and a record never loaded is
// missing.
func TestVerifyReadsEveryRecordBack(t *testing.T) {
	dir, _, known := corpus(t, 41, 60, 2)
	c, _ := gateway(t)
	ctx := context.Background()
	cfg := DefaultLoadConfig()
	cfg.Concurrency = 8
	if _, err := Load(ctx, c, dir, cfg, nil); err != nil {
		t.Fatal(err)
	}
	db := NewDB(c)
	st, err := Verify(ctx, db, dir, 4, func(p Problem) { t.Errorf("verify: %s: %v", p.Path, p.Err) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != len(known) || st.OK != len(known) || st.Missing+st.Differ != 0 || st.DiscIDs != 60 {
		t.Fatalf("verify after a load: %v; want %d records, all ok, 60 disc IDs", st, len(known))
	}
	// Change one record's title in its file, and add a record never loaded
	// (a copy of another under a category it is not stored in).
	k := known[0]
	path := filepath.Join(dir, k.Category, fmt.Sprintf("%08x", k.DiscID))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	changed := bytes.Replace(data, []byte("DTITLE="), []byte("DTITLE=Changed "), 1)
	if err := os.WriteFile(path, changed, 0o644); err != nil {
		t.Fatal(err)
	}
	other := cddb.Categories[(cddb.CategoryIndex(k.Category)+1)%len(cddb.Categories)]
	if _, err := os.Stat(filepath.Join(dir, other, fmt.Sprintf("%08x", k.DiscID))); err == nil {
		other = cddb.Categories[(cddb.CategoryIndex(k.Category)+2)%len(cddb.Categories)]
	}
	if err := os.MkdirAll(filepath.Join(dir, other), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, other, fmt.Sprintf("%08x", k.DiscID)), data, 0o644); err != nil {
		t.Fatal(err)
	}
	var problems []Problem
	st, err = Verify(ctx, db, dir, 4, func(p Problem) { problems = append(problems, p) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Differ != 1 || st.Missing != 1 || st.OK != len(known)-1 || len(problems) != 2 {
		t.Fatalf("verify with one file changed and one never loaded: %v, problems %v; want 1 different, 1 missing", st, problems)
	}
}
