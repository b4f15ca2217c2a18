package cddb

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// GenConfig shapes a synthetic corpus.
type GenConfig struct {
	// Seed makes the corpus: the same seed writes the same files.
	Seed uint64
	// DiscIDs is the number of distinct disc IDs written.
	DiscIDs int
	// SharedRate is the fraction of disc IDs that hold more than one
	// record (two or three, in different categories), as in FreeDB where
	// one disc ID can name several CDs.
	SharedRate float64
	// BadFiles is the number of malformed files planted among the good
	// ones, each with a different mistake, for the loader to refuse.
	BadFiles int
}

// DefaultGenConfig returns a corpus of n disc IDs, 4% of them shared
// (FreeDB's dump has a few percent of disc IDs in more than one
// category), without bad files.
func DefaultGenConfig(n int) GenConfig {
	return GenConfig{Seed: 1, DiscIDs: n, SharedRate: 0.04}
}

// GenStats describes a generated corpus.
type GenStats struct {
	DiscIDs, Records, BadFiles int
	Bytes                      int64
	// Shared counts disc IDs with more than one record; SameTOC, Pressing
	// and Collision count the extra records by kind: the same disc
	// entered in another category, another pressing (offsets a few
	// frames apart, an exact match), and another CD whose different table
	// of contents happens to give the same disc ID (not a match).
	Shared, SameTOC, Pressing, Collision int
}

// Generate writes a corpus under dir in the layout of FreeDB's dump:
// dir/<category>/<discid>. Record sizes follow FreeDB's: most between 500
// bytes and 3 kB, a tail of records with liner notes or lyrics up to
// about 20 kB.
func Generate(dir string, cfg GenConfig) (GenStats, error) {
	var st GenStats
	if cfg.DiscIDs < 0 || cfg.SharedRate < 0 || cfg.SharedRate > 1 || cfg.BadFiles < 0 {
		return st, errors.New("cddb: generator needs discids >= 0, 0 <= shared rate <= 1, bad files >= 0")
	}
	g := &generator{rnd: rand.New(rand.NewPCG(cfg.Seed, 0xF00D)), seen: map[uint32]bool{}}
	write := func(categ string, id uint32, text string) error {
		d := filepath.Join(dir, categ)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		st.Bytes += int64(len(text))
		return os.WriteFile(filepath.Join(d, fmt.Sprintf("%08x", id)), []byte(text), 0o644)
	}
	for st.DiscIDs < cfg.DiscIDs {
		d := g.disc()
		id := DiscID(d.offsets, d.length)
		if g.seen[id] {
			continue
		}
		g.seen[id] = true
		st.DiscIDs++
		cats := g.rnd.Perm(len(Categories))
		if err := write(Categories[cats[0]], id, g.record(d, id)); err != nil {
			return st, err
		}
		st.Records++
		if g.rnd.Float64() >= cfg.SharedRate {
			continue
		}
		st.Shared++
		for k := 1; k <= 1+g.rnd.IntN(2); k++ {
			var other disc
			switch g.rnd.IntN(3) {
			case 0:
				other = d
				st.SameTOC++
			case 1:
				other = g.pressing(d)
				st.Pressing++
			default:
				var ok bool
				if other, ok = g.collision(d, id); !ok {
					other = d
					st.SameTOC++
				} else {
					st.Collision++
				}
			}
			if err := write(Categories[cats[k]], id, g.record(other, id)); err != nil {
				return st, err
			}
			st.Records++
		}
	}
	for i := range cfg.BadFiles {
		categ, id, text := g.bad(i)
		if err := write(categ, id, text); err != nil {
			return st, err
		}
		st.BadFiles++
	}
	return st, nil
}

type generator struct {
	rnd  *rand.Rand
	seen map[uint32]bool
}

// disc is a table of contents and what is written about the CD.
type disc struct {
	offsets []int
	length  int
	artist  string
	title   string
	tracks  []string
	year    int
	genre   string
}

func (g *generator) disc() disc {
	r := g.rnd
	var n int
	switch x := r.Float64(); {
	case x < 0.08:
		n = 1 + r.IntN(4) // singles
	case x < 0.93:
		n = 8 + r.IntN(11)
	case x < 0.995:
		n = 19 + r.IntN(12)
	default:
		n = 31 + r.IntN(69) // sound-effect and test discs
	}
	d := disc{offsets: make([]int, n), year: 1955 + r.IntN(50), genre: g.pick(genres)}
	target := (35 + r.IntN(45)) * 60 // seconds: an album of 35 to 80 minutes
	if n <= 4 {
		target = n * (150 + r.IntN(300))
	}
	avg := target * FramesPerSecond / n
	at := 150 + r.IntN(4)*32
	for i := range n {
		d.offsets[i] = at
		at += max(4*FramesPerSecond, avg/2+r.IntN(avg))
	}
	d.length = at / FramesPerSecond
	d.artist = g.words(1 + r.IntN(3))
	d.title = g.words(1 + r.IntN(5))
	d.tracks = make([]string, n)
	for i := range d.tracks {
		d.tracks[i] = g.words(1 + r.IntN(6))
	}
	return d
}

// pressing is d with every track moved by less than a second: the same
// disc ID, and an exact match of d.
func (g *generator) pressing(d disc) disc {
	p := d
	p.offsets = make([]int, len(d.offsets))
	for i, o := range d.offsets {
		p.offsets[i] = o/FramesPerSecond*FramesPerSecond + g.rnd.IntN(FramesPerSecond)
	}
	for i := 1; i < len(p.offsets); i++ {
		if p.offsets[i] <= p.offsets[i-1] {
			p.offsets[i] = d.offsets[i]
		}
	}
	if DiscID(p.offsets, p.length) != DiscID(d.offsets, d.length) {
		return d
	}
	return p
}

// collision is another CD with the same disc ID as d but tracks of other
// lengths, found by trying random tables of contents of the same shape.
func (g *generator) collision(d disc, id uint32) (disc, bool) {
	n := len(d.offsets)
	if n < 3 {
		return d, false
	}
	span := d.length*FramesPerSecond - d.offsets[0]
	if span < n*FramesPerSecond {
		return d, false
	}
	offs := make([]int, n)
	cuts := make([]int, n-1)
	for range 5000 {
		// Spread the tracks anew between the same first track and
		// lead-out.
		for i := range cuts {
			cuts[i] = 1 + g.rnd.IntN(span-FramesPerSecond)
		}
		sortInts(cuts)
		offs[0] = d.offsets[0]
		ok := true
		for i := 1; i < n; i++ {
			offs[i] = d.offsets[0] + cuts[i-1]
			if offs[i] <= offs[i-1] {
				ok = false
			}
		}
		if ok && DiscID(offs, d.length) == id && !FuzzyMatch(offs, d.length, d.offsets, d.length) {
			c := g.disc()
			c.offsets, c.length = slices.Clone(offs), d.length
			c.tracks = c.tracks[:min(len(c.tracks), n)]
			for len(c.tracks) < n {
				c.tracks = append(c.tracks, g.words(2))
			}
			return c, true
		}
	}
	return d, false
}

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

var submitters = []string{"ExactAudioCopy v0.99pb4", "Grip 3.3.1", "CDex 1.51", "fre:ac v1.0.21", "xmcd 2.6", "kscd 1.5", "abcde 2.7.2", "iTunes"}

var genres = []string{"Rock", "Pop", "Jazz", "Classical", "Blues", "Folk", "Reggae", "Soundtrack", "Country", "Electronic", "Hip-Hop", "Metal", "Punk", "Ambient", "Latin"}

var vocab = strings.Fields(`the a of and in love night day blue red black white road river city heart
time song dream fire rain sun moon star light dark home away back down over under little big old new
last first one two three four five seven blues live session remaster edition part suite theme waltz
rhapsody nocturne sonata concerto allegro andante adagio presto minor major prelude fugue symphony
opus overture intermezzo serenade lullaby ballad anthem boogie shuffle stomp swing groove funk soul
echo shadow mirror window door garden ocean mountain desert highway train station radio television
electric acoustic velvet silver golden crystal paper glass stone iron steel wooden broken hollow
wild quiet loud slow fast lonely happy sad crazy sweet bitter honey sugar whiskey coffee midnight
morning evening winter summer autumn spring yesterday tomorrow forever never always maybe someday
café señor über größe déjà naïve crème façade mañana smörgåsbord fjörd zürich garçon élan
jalapeño piñata brûlée résumé coöperate`)

// A few titles in scripts outside ISO-8859-1: below protocol level 6
// they reach clients as '?'.
var wide = strings.Fields("東京 夜明け Москва ночь 서울 Αθήνα")

func (g *generator) pick(list []string) string { return list[g.rnd.IntN(len(list))] }

func (g *generator) words(n int) string {
	w := make([]string, n)
	for i := range w {
		if g.rnd.IntN(200) == 0 {
			w[i] = g.pick(wide)
			continue
		}
		w[i] = g.pick(vocab)
		if i == 0 || g.rnd.IntN(3) == 0 {
			r, size := utf8.DecodeRuneInString(w[i])
			w[i] = strings.ToUpper(string(r)) + w[i][size:]
		}
	}
	return strings.Join(w, " ")
}

// prose is free text of about n bytes with line breaks written as the
// xmcd escape \n.
func (g *generator) prose(n int) string {
	var sb strings.Builder
	for sb.Len() < n {
		sb.WriteString(g.words(4 + g.rnd.IntN(10)))
		if g.rnd.IntN(4) == 0 {
			sb.WriteString(`\n`)
		} else {
			sb.WriteString(". ")
		}
	}
	return sb.String()
}

// record writes d as an xmcd record listing id.
func (g *generator) record(d disc, id uint32) string {
	r := g.rnd
	var sb strings.Builder
	sb.WriteString("# xmcd\n#\n# Track frame offsets:\n")
	for _, o := range d.offsets {
		fmt.Fprintf(&sb, "#\t%d\n", o)
	}
	fmt.Fprintf(&sb, "#\n# Disc length: %d seconds\n#\n", d.length)
	fmt.Fprintf(&sb, "# Revision: %d\n", r.IntN(4))
	sb.WriteString("# Processed by: cddbd v1.5.2PL0 Copyright (c) Steve Scherf et al.\n")
	fmt.Fprintf(&sb, "# Submitted via: %s\n#\n", g.pick(submitters))
	fmt.Fprintf(&sb, "DISCID=%08x\n", id)
	writeKey(&sb, "DTITLE", d.artist+" / "+d.title)
	fmt.Fprintf(&sb, "DYEAR=%d\n", d.year)
	fmt.Fprintf(&sb, "DGENRE=%s\n", d.genre)
	for i, t := range d.tracks {
		writeKey(&sb, "TTITLE"+strconv.Itoa(i), t)
	}
	// The tail: liner notes on one record in four, lyrics on one in
	// twenty-five.
	extd := ""
	if r.IntN(4) == 0 {
		extd = g.prose(50 + r.IntN(1200))
	}
	if r.IntN(5) == 0 {
		extd = fmt.Sprintf("YEAR: %d ID3G: %d", d.year, r.IntN(150))
	}
	writeKey(&sb, "EXTD", extd)
	lyrics := r.IntN(25) == 0
	for i := range d.tracks {
		ext := ""
		switch {
		case lyrics && i < 24:
			ext = g.prose(200 + r.IntN(700))
		case r.IntN(12) == 0:
			ext = g.prose(20 + r.IntN(120))
		}
		writeKey(&sb, "EXTT"+strconv.Itoa(i), ext)
	}
	sb.WriteString("PLAYORDER=\n")
	return sb.String()
}

// writeKey writes KEY=value, continued on more lines of the same key so
// that no line exceeds the format's limit.
func writeKey(sb *strings.Builder, key, val string) {
	const chunk = 200 // characters of value per line
	for {
		n, cut := 0, len(val)
		for i := range val {
			if n == chunk {
				cut = i
				break
			}
			n++
		}
		// Never split an escape sequence.
		if cut < len(val) && cut > 0 && val[cut-1] == '\\' {
			cut--
		}
		fmt.Fprintf(sb, "%s=%s\n", key, val[:cut])
		val = val[cut:]
		if val == "" {
			return
		}
	}
}

// bad returns a malformed file: each i plants another mistake.
func (g *generator) bad(i int) (categ string, id uint32, text string) {
	d := g.disc()
	id = DiscID(d.offsets, d.length)
	for g.seen[id] {
		d = g.disc()
		id = DiscID(d.offsets, d.length)
	}
	g.seen[id] = true
	good := g.record(d, id)
	categ = g.pick(Categories)
	switch i % 6 {
	case 0: // cut off in the middle, as by a failed transfer
		text = good[:len(good)/2]
		if strings.Contains(text, "TTITLE"+strconv.Itoa(len(d.offsets)-1)+"=") {
			text = good[:strings.Index(good, "DTITLE")]
		}
	case 1: // no title
		text = dropKey(good, "DTITLE")
	case 2: // offsets out of order
		if len(d.offsets) < 2 {
			text = strings.Replace(good, "# xmcd", "# not xmcd", 1)
		} else {
			text = strings.Replace(good, fmt.Sprintf("#\t%d\n", d.offsets[1]), "#\t1\n", 1)
		}
	case 3: // a disc ID that is not the table of contents'
		text = strings.Replace(good, fmt.Sprintf("DISCID=%08x", id), fmt.Sprintf("DISCID=%08x", id^0x01000000), 1)
	case 4: // binary garbage
		b := make([]byte, 600)
		for j := range b {
			b[j] = byte(g.rnd.IntN(256))
		}
		b[0] = 0
		text = string(b)
	default: // an unknown key
		text = strings.Replace(good, "PLAYORDER=", "PLAYORDER=\nRATING=5", 1)
	}
	return categ, id, text
}

func dropKey(rec, key string) string {
	var sb strings.Builder
	for ln := range strings.Lines(rec) {
		if !strings.HasPrefix(ln, key+"=") {
			sb.WriteString(ln)
		}
	}
	return sb.String()
}
