package cddb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// FuzzParse: Parse never panics; a record it accepts has a text that
// parses again to the same fields (FOOD-1), and a refusal is ErrBadRecord.
func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("# xmcd\n# Track frame offsets:\n#\t150\n# Disc length: 3 seconds\nDISCID=02000101\nDTITLE=a\nTTITLE0=b\n"))
	f.Add([]byte("# xmcd\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrBadRecord) || r != nil {
				t.Fatalf("refusal %v with record %v", err, r != nil)
			}
			return
		}
		again, err := Parse(r.Text)
		if err != nil {
			t.Fatalf("accepted text does not parse again: %v\n%q", err, r.Text)
		}
		a, b := *r, *again
		a.Text, b.Text = nil, nil
		if fmt.Sprint(a) != fmt.Sprint(b) || !bytes.Equal(r.Text, again.Text) {
			t.Fatalf("reparse differs:\n%+v\n%+v", a, b)
		}
	})
}

var answerLine = regexp.MustCompile(`^[1-5][0-9][0-9] `)

// FuzzSession: any command line gets at most one answer whose first line
// is a status code, lines end in CRLF, and a multi-line answer ends with
// the terminator (FOOD-9).
func FuzzSession(f *testing.F) {
	for _, s := range []string{"cddb hello a b c d", "proto 6", "cddb query 1602ba03 3 150 18901 40000 700", "cddb read rock 1602ba03",
		"discid 3 150 18901 40000 700", "cddb lscat", "help", "stat", "quit", "cddb query ffffffff 99 1", "proto -1"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	db := NewMemDB()
	r, err := Parse([]byte(sample))
	if err != nil {
		f.Fatal(err)
	}
	db.Add("rock", r)
	f.Fuzz(func(t *testing.T, line string, hello bool) {
		s := &Session{DB: db, Host: "food", Level: 6, Hello: hello}
		ans, _ := s.Do(context.Background(), line)
		if len(ans) == 0 {
			if strings.TrimSpace(line) != "" && len(line) <= MaxCommandLen {
				t.Fatalf("no answer to %q", line)
			}
			return
		}
		text := string(ans)
		if !answerLine.MatchString(text) || !strings.HasSuffix(text, "\r\n") {
			t.Fatalf("answer %q to %q", text, line)
		}
		if strings.Count(text, "\n") != strings.Count(text, "\r\n") {
			t.Fatalf("bare LF in %q", text)
		}
		if strings.HasPrefix(text, "21") && !strings.HasSuffix(text, "\r\n.\r\n") {
			t.Fatalf("list without terminator: %q", text)
		}
	})
}
