package cddb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Protocol levels (FOOD-11).
const (
	// MinLevel and MaxLevel bound the levels a client may ask for.
	MinLevel, MaxLevel = 1, 6
	// DefaultLevel is the level a session starts at.
	DefaultLevel = 1
	// levelExactList: from this level several exact matches are answered
	// with 210 and a list; below it, with 200 and the first.
	levelExactList = 4
)

// MaxCommandLen is the longest command line accepted, in bytes: a query of
// 99 tracks fits.
const MaxCommandLen = 2048

// Errors a DB returns; others are failures of the DB itself.
var (
	// ErrNotFound: no record of that category and disc ID.
	ErrNotFound = errors.New("cddb: no such entry")
	// ErrCorrupt: the record exists but what was stored is damaged.
	ErrCorrupt = errors.New("cddb: entry corrupt")
)

// Entry is what a query needs of a record: where it is and its table of
// contents.
type Entry struct {
	Category   string
	DiscID     uint32
	Title      string
	Offsets    []int
	DiscLength int
}

// DB is a CD database as the protocol sees it.
type DB interface {
	// Lookup returns the entries stored under discid, of every category
	// (at most one per category: the highest revision).
	Lookup(ctx context.Context, discid uint32) ([]Entry, error)
	// Family returns entries of ntracks tracks whose disc length lies in
	// [lo, hi] seconds; a DB may search a narrower window than asked and
	// say so in its documentation (inexact matches, FOOD-10).
	Family(ctx context.Context, ntracks, lo, hi int) ([]Entry, error)
	// Read returns the text of one record, ErrNotFound or ErrCorrupt.
	Read(ctx context.Context, category string, discid uint32) ([]byte, error)
}

// Session is one client's conversation: a cddbp connection, or one HTTP
// request (which carries its handshake and level with it). It is not safe
// for concurrent use.
type Session struct {
	// DB answers queries and reads.
	DB DB
	// Host names the server in the banner and the goodbye.
	Host string
	// Level is the protocol level (MinLevel..MaxLevel).
	Level int
	// Hello is set once the client has shaken hands.
	Hello bool
	// HTTP marks a session of the HTTP form: the handshake comes with the
	// request and is not answered, and commands that change the
	// connection are refused.
	HTTP bool

	errs int // consecutive errors
}

// MaxErrors is the number of consecutive errors after which a cddbp
// connection is closed.
const MaxErrors = 10

// Do answers one command line. The answer is in the protocol's charset
// for the session's level (ISO-8859-1 below 6, UTF-8 at 6), lines ending in
// CRLF; quit says the connection must close after it. An empty line gets
// no answer.
func (s *Session) Do(ctx context.Context, line string) (answer []byte, quit bool) {
	var out strings.Builder
	quit = s.do(ctx, line, &out)
	if out.Len() == 0 {
		return nil, quit
	}
	if strings.HasPrefix(out.String(), "5") {
		s.errs++
	} else {
		s.errs = 0
	}
	if !s.HTTP && s.errs >= MaxErrors {
		out.WriteString("530 Too many errors, closing connection.\r\n")
		quit = true
	}
	if s.Level < 6 {
		return ToLatin1(out.String()), quit
	}
	return []byte(out.String()), quit
}

func (s *Session) do(ctx context.Context, line string, out *strings.Builder) bool {
	if len(line) > MaxCommandLen {
		out.WriteString("500 Input too long.\r\n")
		return false
	}
	args := strings.Fields(line)
	if len(args) == 0 {
		return false
	}
	say := func(format string, a ...any) { fmt.Fprintf(out, format+"\r\n", a...) }
	cmd := strings.ToLower(args[0])
	if cmd == "cddb" {
		if len(args) < 2 {
			say("500 Command syntax error.")
			return false
		}
		sub := strings.ToLower(args[1])
		switch sub {
		case "hello", "query", "read", "lscat":
		default:
			say("500 Unrecognized command.")
			return false
		}
		if sub == "hello" {
			if s.HTTP {
				say("500 Unrecognized command.")
				return false
			}
			s.hello(args, say)
			return false
		}
		if !s.Hello {
			say("409 No handshake.")
			return false
		}
		switch sub {
		case "query":
			s.query(ctx, args, out, say)
		case "read":
			s.read(ctx, args, out, say)
		case "lscat":
			if len(args) != 2 {
				say("500 Command syntax error.")
				return false
			}
			say("210 OK, category list follows (until terminating `.')")
			for _, c := range Categories {
				say("%s", c)
			}
			say(".")
		}
		return false
	}
	switch cmd {
	case "proto":
		if s.HTTP {
			say("500 Unrecognized command.")
			return false
		}
		s.proto(args, say)
	case "discid":
		q, ok := parseTOC(args[1:], false)
		if !ok {
			say("500 Command syntax error.")
			return false
		}
		say("200 Disc ID is %08x", DiscID(q.Offsets, q.DiscLength))
	case "ver":
		say("200 food v1 (FreeDB over OpenDHT)")
	case "help":
		say("210 OK, help information follows (until terminating `.')")
		for _, h := range []string{"The following commands are supported:", "", "CDDB <subcmd> (valid subcmds: HELLO LSCAT QUERY READ)",
			"DISCID <ntrks> <off_1> <off_2> <...> <off_n> <nsecs>", "HELP [command [subcmd]]", "PROTO [level]", "QUIT", "VER"} {
			say("%s", h)
		}
		say(".")
	case "sites":
		say("401 No site information available.")
	case "motd":
		say("401 No message of the day available.")
	case "whom":
		say("401 No user information available.")
	case "stat":
		say("210 OK, status information follows (until terminating `.')")
		say("Server status:")
		say("    current proto: %d", s.Level)
		say("    max proto: %d", MaxLevel)
		say("    gets: no")
		say("    puts: no")
		say("    updates: no")
		say("    posting: no")
		say(".")
	case "quit":
		if s.HTTP {
			say("500 Unrecognized command.")
			return false
		}
		say("230 %s Closing connection.  Goodbye.", s.Host)
		return true
	default:
		say("500 Unrecognized command.")
	}
	return false
}

func (s *Session) hello(args []string, say func(string, ...any)) {
	if len(args) != 6 {
		say("500 Command syntax error.")
		return
	}
	if s.Hello {
		say("402 Already shook hands.")
		return
	}
	s.Hello = true
	say("200 Hello and welcome %s@%s running %s %s.", args[2], args[3], args[4], args[5])
}

func (s *Session) proto(args []string, say func(string, ...any)) {
	switch len(args) {
	case 1:
		say("200 CDDB protocol level: current %d, supported %d", s.Level, MaxLevel)
		return
	case 2:
	default:
		say("500 Command syntax error.")
		return
	}
	n, err := strconv.Atoi(args[1])
	switch {
	case err != nil:
		say("500 Command syntax error.")
	case n < MinLevel || n > MaxLevel:
		say("501 Illegal CDDB protocol level.")
	case n == s.Level:
		say("502 CDDB protocol level already %d.", s.Level)
	default:
		s.Level = n
		say("201 OK, CDDB protocol level now: %d", s.Level)
	}
}

// SetHello takes the handshake of the HTTP form ("user host client
// version"); it reports whether the text has that shape.
func (s *Session) SetHello(hello string) bool {
	if len(strings.Fields(hello)) != 4 {
		return false
	}
	s.Hello = true
	return true
}

// parseTOC reads "ntrks off1 ... offn nsecs" (withID: preceded by the
// disc ID in hex).
func parseTOC(args []string, withID bool) (Query, bool) {
	var q Query
	if withID {
		if len(args) == 0 {
			return q, false
		}
		id, err := strconv.ParseUint(args[0], 16, 32)
		if err != nil {
			return q, false
		}
		q.DiscID = uint32(id)
		args = args[1:]
	}
	if len(args) < 3 {
		return q, false
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 || n > MaxTracks || len(args) != n+2 {
		return q, false
	}
	q.Offsets = make([]int, n)
	for i := range n {
		v, err := strconv.Atoi(args[1+i])
		if err != nil || v < 0 || v > 100*60*60*FramesPerSecond {
			return q, false
		}
		q.Offsets[i] = v
	}
	q.DiscLength, err = strconv.Atoi(args[n+1])
	if err != nil || q.DiscLength < 0 || q.DiscLength > 100*60*60 {
		return q, false
	}
	return q, true
}

// ParseQuery reads the arguments of "cddb query" (disc ID, number of
// tracks, offsets, length in seconds).
func ParseQuery(args []string) (Query, bool) { return parseTOC(args, true) }

// FuzzyWindow is the distance in seconds between the disc lengths of two
// tables of contents of ntracks tracks that FuzzyMatch can still accept.
func FuzzyWindow(ntracks int) int {
	return max(1, FuzzyFactor*(ntracks+1)/FuzzyDiv/FramesPerSecond)
}

func (s *Session) query(ctx context.Context, args []string, out *strings.Builder, say func(string, ...any)) {
	q, ok := ParseQuery(args[2:])
	if !ok {
		say("500 Command syntax error.")
		return
	}
	exact, inexact, err := Match(ctx, s.DB, q)
	if err != nil {
		say("402 Server error.")
		return
	}
	switch {
	case len(exact) > 1 && s.Level >= levelExactList:
		say("210 Found exact matches, list follows (until terminating `.')")
		for _, e := range exact {
			say("%s %08x %s", e.Category, e.DiscID, e.Title)
		}
		say(".")
	case len(exact) > 0:
		e := exact[0]
		say("200 %s %08x %s", e.Category, e.DiscID, e.Title)
	case len(inexact) > 0:
		say("211 Found inexact matches, list follows (until terminating `.')")
		for _, e := range inexact {
			say("%s %08x %s", e.Category, e.DiscID, e.Title)
		}
		say(".")
	default:
		say("202 No match for disc ID %08x.", q.DiscID)
	}
}

// Match finds a query's exact matches and, when there is none, its
// inexact ones, each in category order (FOOD-10).
func Match(ctx context.Context, db DB, q Query) (exact, inexact []Entry, err error) {
	entries, err := db.Lookup(ctx, q.DiscID)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		if e.DiscID == q.DiscID && CategoryIndex(e.Category) >= 0 && FuzzyMatch(q.Offsets, q.DiscLength, e.Offsets, e.DiscLength) {
			exact = append(exact, e)
		}
	}
	if len(exact) > 0 {
		return sortEntries(exact), nil, nil
	}
	w := FuzzyWindow(len(q.Offsets))
	fam, err := db.Family(ctx, len(q.Offsets), q.DiscLength-w, q.DiscLength+w)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range fam {
		if CategoryIndex(e.Category) >= 0 && FuzzyMatch(q.Offsets, q.DiscLength, e.Offsets, e.DiscLength) {
			inexact = append(inexact, e)
		}
	}
	return nil, sortEntries(inexact), nil
}

// sortEntries orders entries by category, then disc ID, one per pair.
func sortEntries(es []Entry) []Entry {
	slices.SortStableFunc(es, func(a, b Entry) int {
		if d := CategoryIndex(a.Category) - CategoryIndex(b.Category); d != 0 {
			return d
		}
		switch {
		case a.DiscID < b.DiscID:
			return -1
		case a.DiscID > b.DiscID:
			return 1
		}
		return 0
	})
	return slices.CompactFunc(es, func(a, b Entry) bool { return a.Category == b.Category && a.DiscID == b.DiscID })
}

func (s *Session) read(ctx context.Context, args []string, out *strings.Builder, say func(string, ...any)) {
	if len(args) != 4 {
		say("500 Command syntax error.")
		return
	}
	categ := args[2]
	id, err := strconv.ParseUint(args[3], 16, 32)
	if err != nil {
		say("500 Command syntax error.")
		return
	}
	discid := uint32(id)
	if CategoryIndex(categ) < 0 {
		say("501 Invalid category: %s", categ)
		return
	}
	text, err := s.DB.Read(ctx, categ, discid)
	switch {
	case errors.Is(err, ErrNotFound):
		say("401 %s %08x No such CD entry in database.", categ, discid)
		return
	case errors.Is(err, ErrCorrupt):
		say("403 %s %08x CD database entry corrupt.", categ, discid)
		return
	case err != nil:
		say("402 Server error while reading database.")
		return
	}
	say("210 %s %08x CD database entry follows (until terminating `.')", categ, discid)
	for ln := range strings.Lines(string(StripForLevel(text, s.Level))) {
		ln = strings.TrimSuffix(ln, "\n")
		if strings.HasPrefix(ln, ".") {
			ln = "." + ln // never the terminator (a valid record has no such line)
		}
		say("%s", ln)
	}
	say(".")
}

// StripForLevel drops what a level below 5 does not know: the DYEAR and
// DGENRE lines (FOOD-11). The charset is the session's business.
func StripForLevel(text []byte, level int) []byte {
	if level >= 5 {
		return text
	}
	var sb strings.Builder
	for ln := range strings.Lines(string(text)) {
		if strings.HasPrefix(ln, "DYEAR=") || strings.HasPrefix(ln, "DGENRE=") {
			continue
		}
		sb.WriteString(ln)
	}
	return []byte(sb.String())
}
