package cddb

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of a record (FOOD-2).
const (
	// MaxRecordLen is the largest record accepted, in bytes after line
	// endings are normalised.
	MaxRecordLen = 64 << 10
	// MaxTracks is the most tracks an audio CD has.
	MaxTracks = 99
	// MaxLineLen is the longest line, in characters: the xmcd format's
	// limit; longer values are continued on the next line.
	MaxLineLen = 256
	// FramesPerSecond is the CD's frame rate: offsets count frames.
	FramesPerSecond = 75
)

// Categories are FreeDB's eleven categories, in its order: a query lists
// its matches in this order.
var Categories = []string{"blues", "classical", "country", "data", "folk", "jazz", "misc", "newage", "reggae", "rock", "soundtrack"}

// CategoryIndex returns the position of c in Categories, or -1.
func CategoryIndex(c string) int { return slices.Index(Categories, c) }

// ErrBadRecord: the bytes are not a valid xmcd record.
var ErrBadRecord = errors.New("cddb: bad record")

func bad(line int, format string, a ...any) error {
	if line > 0 {
		return fmt.Errorf("%w: line %d: %s", ErrBadRecord, line, fmt.Sprintf(format, a...))
	}
	return fmt.Errorf("%w: %s", ErrBadRecord, fmt.Sprintf(format, a...))
}

// Record is one CD's entry in the database.
type Record struct {
	// Offsets are the tracks' start frames (75 per second), ascending.
	Offsets []int
	// DiscLength is the disc's length in seconds (the lead-out's start).
	DiscLength int
	// Revision counts the entry's edits; a higher one replaces a lower.
	Revision int
	// DiscIDs are the DISCID values: the disc IDs the entry answers to.
	DiscIDs []uint32
	// Title is DTITLE, "Artist / Title" by convention.
	Title string
	// Year and Genre are DYEAR and DGENRE (protocol level 5 and up).
	Year, Genre string
	// Tracks are TTITLE0..TTITLEn-1.
	Tracks []string
	// ExtD and ExtT are the extended data of the disc and of each track.
	ExtD string
	ExtT []string
	// PlayOrder is PLAYORDER.
	PlayOrder string
	// Text is the record as stored: UTF-8, lines ending in "\n".
	Text []byte
}

// Parse reads and validates one xmcd record. Line endings may be CRLF;
// text that is not UTF-8 is read as ISO-8859-1, as FreeDB's older entries
// were written. The returned record's Text is the normalised input.
func Parse(data []byte) (*Record, error) {
	if len(data) > MaxRecordLen {
		return nil, bad(0, "record of %d bytes is longer than %d", len(data), MaxRecordLen)
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, bad(0, "record contains a NUL byte")
	}
	text := string(data)
	if !utf8.ValidString(text) {
		text = latin1ToUTF8(data)
	}
	text = strings.ReplaceAll(text, "\r\n", "\n")
	if strings.ContainsRune(text, '\r') {
		return nil, bad(0, "stray carriage return")
	}
	if len(text) > MaxRecordLen {
		return nil, bad(0, "record is longer than %d bytes once read as UTF-8", MaxRecordLen)
	}
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if !strings.HasPrefix(lines[0], "# xmcd") {
		return nil, bad(1, "first line must start with \"# xmcd\"")
	}
	r := &Record{Text: []byte(text), Revision: 0, DiscLength: -1}
	p := parser{r: r, vals: map[string]*strings.Builder{}}
	for i, ln := range lines {
		if err := p.line(i+1, ln); err != nil {
			return nil, err
		}
	}
	if err := p.finish(); err != nil {
		return nil, err
	}
	return r, nil
}

// parser holds the state of Parse between lines.
type parser struct {
	r      *Record
	state  int // 0 header, 1 offsets, 2 after offsets, 3 data
	sawToc bool
	vals   map[string]*strings.Builder
	order  []string
	last   string
}

func (p *parser) line(n int, ln string) error {
	if utf8.RuneCountInString(ln) > MaxLineLen {
		return bad(n, "line longer than %d characters", MaxLineLen)
	}
	if strings.HasPrefix(ln, "#") {
		if p.state == 3 {
			return bad(n, "comment after the data keys")
		}
		return p.comment(n, strings.TrimSpace(ln[1:]))
	}
	if strings.TrimSpace(ln) == "" {
		return nil // blank lines are tolerated anywhere
	}
	p.state = 3
	key, val, ok := strings.Cut(ln, "=")
	if !ok {
		return bad(n, "neither a comment nor KEY=value")
	}
	if !validKey(key) {
		return bad(n, "unknown key %q", key)
	}
	b, seen := p.vals[key]
	if seen && p.last != key {
		return bad(n, "key %s appears again after other keys", key)
	}
	if !seen {
		b = &strings.Builder{}
		p.vals[key] = b
		p.order = append(p.order, key)
	}
	b.WriteString(val)
	p.last = key
	return nil
}

func (p *parser) comment(n int, c string) error {
	r := p.r
	if p.state == 1 {
		if v, err := strconv.Atoi(c); err == nil && c != "" && c[0] != '+' && c[0] != '-' {
			if len(r.Offsets) >= MaxTracks {
				return bad(n, "more than %d tracks", MaxTracks)
			}
			r.Offsets = append(r.Offsets, v)
			return nil
		}
		p.state = 2
	}
	switch {
	case strings.EqualFold(c, "Track frame offsets:"):
		if p.sawToc {
			return bad(n, "second list of track frame offsets")
		}
		p.sawToc, p.state = true, 1
	case hasFoldPrefix(c, "Disc length:"):
		f := strings.Fields(c[len("Disc length:"):])
		v, err := strconv.Atoi(firstOr(f))
		if err != nil || v < 0 || v > 100*60*60 {
			return bad(n, "disc length is not a number of seconds")
		}
		if r.DiscLength >= 0 {
			return bad(n, "second disc length")
		}
		r.DiscLength = v
	case hasFoldPrefix(c, "Revision:"):
		v, err := strconv.Atoi(strings.TrimSpace(c[len("Revision:"):]))
		if err != nil || v < 0 {
			return bad(n, "revision is not a non-negative number")
		}
		r.Revision = v
	}
	return nil
}

func (p *parser) finish() error {
	r := p.r
	if !p.sawToc || len(r.Offsets) == 0 {
		return bad(0, "no track frame offsets")
	}
	for i, o := range r.Offsets {
		if o < 0 || (i > 0 && o <= r.Offsets[i-1]) {
			return bad(0, "track frame offsets must be ascending and not negative")
		}
	}
	if r.DiscLength < 0 {
		return bad(0, "no disc length")
	}
	if r.DiscLength < r.Offsets[len(r.Offsets)-1]/FramesPerSecond {
		return bad(0, "disc length %d s ends before the last track starts", r.DiscLength)
	}
	nt := len(r.Offsets)
	get := func(k string) (string, bool) {
		b, ok := p.vals[k]
		if !ok {
			return "", false
		}
		return b.String(), true
	}
	ids, ok := get("DISCID")
	if !ok {
		return bad(0, "no DISCID")
	}
	for _, s := range strings.Split(ids, ",") {
		s = strings.TrimSpace(s)
		v, err := strconv.ParseUint(s, 16, 32)
		if len(s) != 8 || err != nil {
			return bad(0, "DISCID %q is not 8 hex digits", s)
		}
		r.DiscIDs = append(r.DiscIDs, uint32(v))
	}
	if id := DiscID(r.Offsets, r.DiscLength); !slices.Contains(r.DiscIDs, id) {
		return bad(0, "DISCID does not list %08x, the disc ID of the track offsets and disc length", id)
	}
	if r.Title, ok = get("DTITLE"); !ok || strings.TrimSpace(r.Title) == "" {
		return bad(0, "no DTITLE")
	}
	r.Year, _ = get("DYEAR")
	r.Genre, _ = get("DGENRE")
	r.ExtD, _ = get("EXTD")
	r.PlayOrder, _ = get("PLAYORDER")
	r.Tracks = make([]string, nt)
	r.ExtT = make([]string, nt)
	for i := range nt {
		if r.Tracks[i], ok = get("TTITLE" + strconv.Itoa(i)); !ok {
			return bad(0, "no TTITLE%d for track %d of %d", i, i+1, nt)
		}
		r.ExtT[i], _ = get("EXTT" + strconv.Itoa(i))
	}
	for _, k := range p.order {
		if n, ok := trackIndex(k); ok && n >= nt {
			return bad(0, "%s names a track beyond the %d of the disc", k, nt)
		}
	}
	return nil
}

// validKey reports whether k is a key of the xmcd format.
func validKey(k string) bool {
	switch k {
	case "DISCID", "DTITLE", "DYEAR", "DGENRE", "EXTD", "PLAYORDER":
		return true
	}
	_, ok := trackIndex(k)
	return ok
}

// trackIndex parses TTITLEn and EXTTn.
func trackIndex(k string) (int, bool) {
	var digits string
	switch {
	case strings.HasPrefix(k, "TTITLE"):
		digits = k[len("TTITLE"):]
	case strings.HasPrefix(k, "EXTT"):
		digits = k[len("EXTT"):]
	default:
		return 0, false
	}
	if digits == "" || len(digits) > 2 || (len(digits) > 1 && digits[0] == '0') {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	return n, err == nil && n >= 0
}

func hasFoldPrefix(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func firstOr(f []string) string {
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// latin1ToUTF8 reads b as ISO-8859-1.
func latin1ToUTF8(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b) + len(b)/8)
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}

// ToLatin1 writes s in ISO-8859-1, as FreeDB answered clients below
// protocol level 6; a character outside it becomes '?'.
func ToLatin1(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff || r == utf8.RuneError {
			out = append(out, '?')
			continue
		}
		out = append(out, byte(r))
	}
	return out
}

// DiscID is FreeDB's disc ID of a table of contents (FOOD-3): the sum of
// the decimal digits of each track's start second, modulo 255, in the top
// byte; the seconds from the first track to the lead-out in the middle
// two; the number of tracks in the low byte.
func DiscID(offsets []int, discLength int) uint32 {
	n := 0
	for _, o := range offsets {
		for s := o / FramesPerSecond; s > 0; s /= 10 {
			n += s % 10
		}
	}
	first := 0
	if len(offsets) > 0 {
		first = offsets[0] / FramesPerSecond
	}
	return uint32(n%0xff)<<24 | uint32(discLength-first)<<8&0xffff00 | uint32(len(offsets))&0xff
}

// Query is the table of contents a client asks about.
type Query struct {
	DiscID     uint32
	Offsets    []int
	DiscLength int
}

// Matching defaults (FOOD-10).
const (
	// FuzzyFactor is the largest difference, in frames, between the
	// lengths of corresponding tracks of two matching discs.
	FuzzyFactor = 900
	// FuzzyDiv divides FuzzyFactor into the largest average difference.
	FuzzyDiv = 4
)

// FuzzyMatch reports whether two tables of contents of the same number of
// tracks match: every track's length (and the stretch from the last track
// to the lead-out) differs by at most FuzzyFactor frames, and on average
// by at most FuzzyFactor/FuzzyDiv.
func FuzzyMatch(off1 []int, len1 int, off2 []int, len2 int) bool {
	if len(off1) != len(off2) || len(off1) == 0 {
		return false
	}
	sum, prev1, prev2 := 0, 0, 0
	for i := range off1 {
		d := abs((off1[i] - prev1) - (off2[i] - prev2))
		if d > FuzzyFactor {
			return false
		}
		sum += d
		prev1, prev2 = off1[i], off2[i]
	}
	d := abs((len1*FramesPerSecond - prev1) - (len2*FramesPerSecond - prev2))
	if d > FuzzyFactor {
		return false
	}
	sum += d
	return sum/(len(off1)+1) <= FuzzyFactor/FuzzyDiv
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
