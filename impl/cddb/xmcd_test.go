package cddb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const sample = "# xmcd\r\n#\r\n# Track frame offsets:\r\n#\t150\r\n#\t18901\r\n#\t40000\r\n#\r\n# Disc length: 700 seconds\r\n#\r\n" +
	"# Revision: 2\r\n# Submitted via: test 1.0\r\n#\r\nDISCID=1602ba03,deadbeef\r\nDTITLE=Some Artist / A Very Long \r\nDTITLE=Title\r\n" +
	"DYEAR=1999\r\nDGENRE=Jazz\r\nTTITLE0=One\r\nTTITLE1=Tw\r\nTTITLE1=o\r\nTTITLE2=Caf\xe9\r\nEXTD=notes\r\nEXTT0=\r\nEXTT1=\r\nEXTT2=\r\nPLAYORDER=\r\n"

// TestDiscID: the disc ID of a table of contents worked out by hand
// (FOOD-3): seconds 2, 252 and 533 have digit sums 2+9+11 = 22 = 0x16; 700-2
// = 698 = 0x2ba seconds; 3 tracks.
func TestDiscID(t *testing.T) {
	if got := DiscID([]int{150, 18901, 40000}, 700); got != 0x1602ba03 {
		t.Fatalf("DiscID = %08x, want 1602ba03", got)
	}
}

// TestParseSample: continuation lines join, CRLF and ISO-8859-1 are
// normalised, every key lands in its field (FOOD-1).
func TestParseSample(t *testing.T) {
	r, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	want := Record{Offsets: []int{150, 18901, 40000}, DiscLength: 700, Revision: 2, DiscIDs: []uint32{0x1602ba03, 0xdeadbeef},
		Title: "Some Artist / A Very Long Title", Year: "1999", Genre: "Jazz", Tracks: []string{"One", "Two", "Café"},
		ExtD: "notes", ExtT: []string{"", "", ""}}
	r2 := *r
	r2.Text = nil
	if fmt.Sprint(r2) != fmt.Sprint(want) {
		t.Errorf("parsed\n%+v\nwant\n%+v", r2, want)
	}
	if strings.Contains(string(r.Text), "\r") || !strings.Contains(string(r.Text), "TTITLE2=Café\n") {
		t.Errorf("text not normalised to UTF-8 and LF:\n%s", r.Text)
	}
	// The normalised text parses to the same record.
	again, err := Parse(r.Text)
	if err != nil || fmt.Sprint(again.Tracks) != fmt.Sprint(r.Tracks) {
		t.Errorf("reparse: %v %v", err, again)
	}
}

// TestParseRejects: each malformed record is refused with a reason
// (FOOD-2), and nothing is returned with the error.
func TestParseRejects(t *testing.T) {
	cases := map[string]string{
		"not xmcd":          strings.Replace(sample, "# xmcd", "# foo", 1),
		"no offsets":        strings.Replace(sample, "# Track frame offsets:", "# Track frames:", 1),
		"descending":        strings.Replace(sample, "#\t18901", "#\t100", 1),
		"no length":         strings.Replace(sample, "# Disc length: 700 seconds", "#", 1),
		"short length":      strings.Replace(sample, "700 seconds", "500 seconds", 1),
		"no discid":         strings.Replace(sample, "DISCID=1602ba03,deadbeef\r\n", "", 1),
		"wrong discid":      strings.Replace(sample, "1602ba03,", "1602ba04,", 1),
		"bad discid":        strings.Replace(sample, "deadbeef", "deadbeefff", 1),
		"no title":          strings.Replace(strings.Replace(sample, "DTITLE=Some Artist / A Very Long \r\n", "", 1), "DTITLE=Title\r\n", "", 1),
		"missing track":     strings.Replace(sample, "TTITLE2=Caf\xe9\r\n", "", 1),
		"extra track":       strings.Replace(sample, "PLAYORDER=", "TTITLE3=x\r\nPLAYORDER=", 1),
		"unknown key":       strings.Replace(sample, "PLAYORDER=", "RATING=5\r\nPLAYORDER=", 1),
		"split key":         strings.Replace(sample, "PLAYORDER=", "DYEAR=2000\r\nPLAYORDER=", 1),
		"no equals":         strings.Replace(sample, "PLAYORDER=", "PLAYORDER", 1),
		"long line":         strings.Replace(sample, "EXTD=notes", "EXTD="+strings.Repeat("n", MaxLineLen), 1),
		"nul byte":          strings.Replace(sample, "notes", "no\x00tes", 1),
		"comment in data":   strings.Replace(sample, "PLAYORDER=", "# late\r\nPLAYORDER=", 1),
		"leading zero key":  strings.Replace(sample, "TTITLE0=One", "TTITLE00=One", 1),
		"too large":         sample + strings.Repeat("EXTD=x\n", MaxRecordLen/7),
		"empty":             "",
		"stray CR":          strings.Replace(sample, "notes", "no\rtes", 1),
		"second toc":        strings.Replace(sample, "# Revision: 2", "# Track frame offsets:", 1),
		"bad revision":      strings.Replace(sample, "# Revision: 2", "# Revision: two", 1),
		"negative revision": strings.Replace(sample, "# Revision: 2", "# Revision: -2", 1),
	}
	for name, text := range cases {
		r, err := Parse([]byte(text))
		if !errors.Is(err, ErrBadRecord) || r != nil {
			t.Errorf("%s: Parse = %v, %v; want ErrBadRecord and no record", name, r != nil, err)
		}
	}
}

// TestGeneratedCorpus: every good file of a generated corpus parses and
// lists its file name among its disc IDs, every planted bad file is
// refused, shared disc IDs are present, and sizes are FreeDB's (most
// records 500 B to 3 kB, a tail to about 20 kB).
func TestGeneratedCorpus(t *testing.T) {
	const seed = 7
	dir := t.TempDir()
	cfg := DefaultGenConfig(3000)
	cfg.Seed, cfg.BadFiles, cfg.SharedRate = seed, 12, 0.1
	st, err := Generate(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seed %d (replay: go test ./impl/cddb -run TestGeneratedCorpus): %+v", seed, st)
	if st.DiscIDs != 3000 || st.BadFiles != 12 || st.Shared == 0 || st.Pressing == 0 || st.Collision == 0 || st.SameTOC == 0 {
		t.Fatalf("corpus stats %+v: want every kind of shared disc ID", st)
	}
	var sizes []int
	good, refused := 0, 0
	perID := map[string]int{}
	err = Walk(dir, func(f File) error {
		if f.Err != nil {
			t.Errorf("walk: %v", f.Err)
			return nil
		}
		r, err := Parse(f.Data)
		if err != nil {
			refused++
			return nil
		}
		good++
		sizes = append(sizes, len(f.Data))
		perID[f.Name]++
		if !slices.Contains(r.DiscIDs, f.DiscID) {
			t.Errorf("%s/%s does not list its own disc ID", f.Category, f.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if good != st.Records || refused != st.BadFiles {
		t.Fatalf("parsed %d good and refused %d, want %d and %d", good, refused, st.Records, st.BadFiles)
	}
	if len(perID) != st.DiscIDs {
		t.Errorf("%d distinct names, want %d", len(perID), st.DiscIDs)
	}
	slices.Sort(sizes)
	in := 0
	for _, s := range sizes {
		if s >= 500 && s <= 3000 {
			in++
		}
	}
	p := func(q float64) int { return sizes[int(q*float64(len(sizes)-1))] }
	t.Logf("sizes: p10 %d p50 %d p90 %d p99 %d max %d; %.0f%% in 500 B-3 kB", p(.1), p(.5), p(.9), p(.99), sizes[len(sizes)-1], 100*float64(in)/float64(len(sizes)))
	if float64(in) < 0.7*float64(len(sizes)) || sizes[len(sizes)-1] > 24000 || p(.99) < 3500 {
		t.Errorf("sizes are not FreeDB's: %.0f%% in 500 B-3 kB, p99 %d, max %d", 100*float64(in)/float64(len(sizes)), p(.99), sizes[len(sizes)-1])
	}
	// The same seed writes the same corpus.
	dir2 := t.TempDir()
	if _, err := Generate(dir2, cfg); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(dir, "rock"))
	_ = a
	same := true
	_ = Walk(dir, func(f File) error {
		b, err := os.ReadFile(filepath.Join(dir2, f.Category, f.Name))
		if err != nil || string(b) != string(f.Data) {
			same = false
		}
		return nil
	})
	if !same {
		t.Error("the same seed wrote another corpus")
	}
}

// TestFuzzyMatch: tracks within the factor match, beyond it they do not;
// the generator's pressings match and its collisions do not (FOOD-10).
func TestFuzzyMatch(t *testing.T) {
	a := []int{150, 20000, 40000}
	if !FuzzyMatch(a, 700, a, 700) {
		t.Error("a disc does not match itself")
	}
	if !FuzzyMatch(a, 700, []int{150, 20100, 40050}, 701) {
		t.Error("tracks a second apart do not match")
	}
	if FuzzyMatch(a, 700, []int{150, 20000 + FuzzyFactor + 1, 40000}, 700) {
		t.Error("a track longer by more than the factor matches")
	}
	if FuzzyMatch(a, 700, a[:2], 700) {
		t.Error("different track counts match")
	}
}
