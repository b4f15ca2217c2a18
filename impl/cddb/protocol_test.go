package cddb

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// record builds a valid record of the given table of contents.
func record(t *testing.T, offsets []int, length, revision int, title string) *Record {
	t.Helper()
	var sb strings.Builder
	sb.WriteString("# xmcd\n#\n# Track frame offsets:\n")
	for _, o := range offsets {
		fmt.Fprintf(&sb, "#\t%d\n", o)
	}
	fmt.Fprintf(&sb, "#\n# Disc length: %d seconds\n#\n# Revision: %d\n#\nDISCID=%08x\nDTITLE=%s\nDYEAR=2001\nDGENRE=Test\n", length, revision, DiscID(offsets, length), title)
	for i := range offsets {
		fmt.Fprintf(&sb, "TTITLE%d=Track %d\n", i, i+1)
	}
	sb.WriteString("EXTD=\n")
	for i := range offsets {
		fmt.Fprintf(&sb, "EXTT%d=\n", i)
	}
	sb.WriteString("PLAYORDER=\n")
	r, err := Parse([]byte(sb.String()))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var (
	tocA = []int{150, 20000, 40000}
	// tocB is another pressing of A: the same disc ID, a few frames off.
	tocB = []int{160, 20010, 40020}
	// tocC moves A's second track by two seconds: another disc ID, the
	// same family.
	tocC = []int{150, 20150, 40000}
)

// testDB holds A in rock and misc (under one disc ID), B in jazz, and an
// unrelated disc.
func testDB(t *testing.T) *MemDB {
	db := NewMemDB()
	db.Add("rock", record(t, tocA, 700, 0, "Artist / Café Ö"))
	db.Add("misc", record(t, tocA, 700, 1, "Artist / In Misc"))
	db.Add("jazz", record(t, tocB, 700, 0, "Other / Pressing 東京"))
	db.Add("folk", record(t, []int{150, 30000}, 900, 0, "Folk / Two"))
	return db
}

func query(toc []int, length int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "cddb query %08x %d", DiscID(toc, length), len(toc))
	for _, o := range toc {
		fmt.Fprintf(&sb, " %d", o)
	}
	fmt.Fprintf(&sb, " %d", length)
	return sb.String()
}

// TestSessionScript runs a cddbp conversation line by line: every answer
// with its status code and text (FOOD-9..FOOD-11).
func TestSessionScript(t *testing.T) {
	idA := fmt.Sprintf("%08x", DiscID(tocA, 700))
	steps := []struct{ cmd, want string }{
		{"cddb query " + idA + " 3 150 20000 40000 700", "409 No handshake.\r\n"},
		{"cddb read rock " + idA, "409 No handshake.\r\n"},
		{"proto", "200 CDDB protocol level: current 1, supported 6\r\n"},
		{"cddb hello joe host.example xmcd 2.6", "200 Hello and welcome joe@host.example running xmcd 2.6.\r\n"},
		{"cddb hello joe host.example xmcd 2.6", "402 Already shook hands.\r\n"},
		{"cddb hello joe", "500 Command syntax error.\r\n"},
		// Below level 4, of several exact matches only the first is
		// answered (FOOD-10).
		{query(tocA, 700), "200 jazz " + idA + " Other / Pressing ??\r\n"},
		{"proto 4", "201 OK, CDDB protocol level now: 4\r\n"},
		{"proto 4", "502 CDDB protocol level already 4.\r\n"},
		{"proto 7", "501 Illegal CDDB protocol level.\r\n"},
		{"proto x", "500 Command syntax error.\r\n"},
		{query(tocA, 700), "210 Found exact matches, list follows (until terminating `.')\r\njazz " + idA + " Other / Pressing ??\r\nmisc " + idA + " Artist / In Misc\r\nrock " + idA + " Artist / Caf\xe9 \xd6\r\n.\r\n"},
		// A disc ID of the family but not stored: inexact.
		{query(tocC, 700), fmt.Sprintf("211 Found inexact matches, list follows (until terminating `.')\r\njazz %s Other / Pressing ??\r\nmisc %s Artist / In Misc\r\nrock %s Artist / Caf\xe9 \xd6\r\n.\r\n", idA, idA, idA)},
		{query([]int{150, 30000}, 900), fmt.Sprintf("200 folk %08x Folk / Two\r\n", DiscID([]int{150, 30000}, 900))},
		{query([]int{150, 60000}, 1900), fmt.Sprintf("202 No match for disc ID %08x.\r\n", DiscID([]int{150, 60000}, 1900))},
		{"cddb query " + idA + " 3 150 20000 700", "500 Command syntax error.\r\n"},
		{"cddb query zz 1 150 700", "500 Command syntax error.\r\n"},
		{"cddb read blues " + idA, "401 blues " + idA + " No such CD entry in database.\r\n"},
		{"cddb read pop " + idA, "501 Invalid category: pop\r\n"},
		{"cddb read rock", "500 Command syntax error.\r\n"},
		{"discid 3 150 20000 40000 700", "200 Disc ID is " + idA + "\r\n"},
		{"cddb lscat", "210 OK, category list follows (until terminating `.')\r\n" + strings.Join(Categories, "\r\n") + "\r\n.\r\n"},
		{"", ""},
		{"frobnicate", "500 Unrecognized command.\r\n"},
		{"quit", "230 food Closing connection.  Goodbye.\r\n"},
	}
	s := &Session{DB: testDB(t), Host: "food", Level: DefaultLevel}
	for i, st := range steps {
		got, _ := s.Do(context.Background(), st.cmd)
		if string(got) != st.want {
			t.Errorf("step %d %q:\n got %q\nwant %q", i, st.cmd, got, st.want)
		}
	}
}

// TestReadLevels: DYEAR and DGENRE only from level 5; ISO-8859-1 below
// level 6, UTF-8 at 6 (FOOD-11).
func TestReadLevels(t *testing.T) {
	db := testDB(t)
	id := fmt.Sprintf("%08x", DiscID(tocA, 700))
	for level := MinLevel; level <= MaxLevel; level++ {
		s := &Session{DB: db, Host: "food", Level: level, Hello: true}
		got, _ := s.Do(context.Background(), "cddb read rock "+id)
		text := string(got)
		if !strings.HasPrefix(text, "210 rock "+id+" CD database entry follows (until terminating `.')\r\n# xmcd\r\n") || !strings.HasSuffix(text, "PLAYORDER=\r\n.\r\n") {
			t.Errorf("level %d: read answer %q", level, text)
		}
		if hasYear := strings.Contains(text, "\r\nDYEAR=2001\r\n") && strings.Contains(text, "DGENRE=Test"); hasYear != (level >= 5) {
			t.Errorf("level %d: DYEAR/DGENRE present = %v", level, hasYear)
		}
		wantTitle := "DTITLE=Artist / Caf\xe9 \xd6" // ISO-8859-1
		if level == 6 {
			wantTitle = "DTITLE=Artist / Café Ö"
		}
		if !strings.Contains(text, wantTitle+"\r\n") {
			t.Errorf("level %d: title not in the level's charset: %q", level, text)
		}
	}
}

// TestTooManyErrors: ten consecutive errors close a cddbp connection
// (FOOD-9).
func TestTooManyErrors(t *testing.T) {
	s := &Session{DB: NewMemDB(), Host: "food", Level: 1}
	for i := 1; i <= MaxErrors; i++ {
		ans, quit := s.Do(context.Background(), "bogus")
		if quit != (i == MaxErrors) {
			t.Fatalf("error %d: quit=%v (%q)", i, quit, ans)
		}
		if i == MaxErrors && !strings.Contains(string(ans), "530 Too many errors") {
			t.Fatalf("last error answered %q", ans)
		}
	}
	if ans, _ := s.Do(context.Background(), strings.Repeat("x", MaxCommandLen+1)); string(ans) != "500 Input too long.\r\n530 Too many errors, closing connection.\r\n" {
		t.Errorf("long line: %q", ans)
	}
}

// TestHTTPForm: the HTTP form answers one command with its handshake and
// level in the request (FOOD-12).
func TestHTTPForm(t *testing.T) {
	srv := httptest.NewServer(HTTPHandler(testDB(t), DefaultServerConfig()))
	defer srv.Close()
	get := func(v url.Values) (string, string) {
		resp, err := http.Get(srv.URL + "/~cddb/cddb.cgi?" + v.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("HTTP status %d: %s", resp.StatusCode, b)
		}
		return string(b), resp.Header.Get("Content-Type")
	}
	id := fmt.Sprintf("%08x", DiscID([]int{150, 30000}, 900))
	hello := "joe host.example test 1"
	cases := []struct {
		v                 url.Values
		want, wantCharset string
	}{
		{url.Values{"cmd": {query([]int{150, 30000}, 900)}, "hello": {hello}, "proto": {"6"}}, "200 folk " + id + " Folk / Two\r\n", "UTF-8"},
		{url.Values{"cmd": {query([]int{150, 30000}, 900)}, "proto": {"6"}}, "409 No handshake.\r\n", "UTF-8"},
		{url.Values{"cmd": {query([]int{150, 30000}, 900)}, "hello": {"joe"}}, "500 Command syntax error: incorrect number of arguments in hello.\r\n", "ISO-8859-1"},
		{url.Values{"cmd": {"cddb read folk " + id}, "hello": {hello}, "proto": {"0"}}, "501 Illegal CDDB protocol level.\r\n", "ISO-8859-1"},
		{url.Values{"cmd": {"proto 5"}, "hello": {hello}}, "500 Unrecognized command.\r\n", "ISO-8859-1"},
		{url.Values{"cmd": {"cddb hello a b c d"}, "hello": {hello}}, "500 Unrecognized command.\r\n", "ISO-8859-1"},
		{url.Values{"hello": {hello}}, "500 Command syntax error: no cmd.\r\n", "ISO-8859-1"},
	}
	for i, c := range cases {
		got, ct := get(c.v)
		if got != c.want || ct != "text/plain; charset="+c.wantCharset {
			t.Errorf("case %d %v:\n got %q (%s)\nwant %q (%s)", i, c.v, got, ct, c.want, c.wantCharset)
		}
	}
	// POST works as GET, and a read at level 6 carries the whole record.
	resp, err := http.PostForm(srv.URL+"/~cddb/cddb.cgi", url.Values{"cmd": {"cddb read folk " + id}, "hello": {hello}, "proto": {"6"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(b), "210 folk "+id) || !strings.HasSuffix(string(b), "DYEAR=2001\r\nDGENRE=Test\r\nTTITLE0=Track 1\r\nTTITLE1=Track 2\r\nEXTD=\r\nEXTT0=\r\nEXTT1=\r\nPLAYORDER=\r\n.\r\n") {
		t.Errorf("POST read: %q", b)
	}
}

// TestCDDBPServer: the TCP server's banner, a conversation, and the close
// after quit (FOOD-9).
func TestCDDBPServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ServeCDDBP(ctx, ln, testDB(t), DefaultServerConfig()) }()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(conn)
	line := func() string {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		return l
	}
	if b := line(); !strings.HasPrefix(b, "201 food CDDBP server food v1 ready at ") || !strings.HasSuffix(b, "\r\n") {
		t.Fatalf("banner %q", b)
	}
	fmt.Fprintf(conn, "cddb hello joe host.example test 1\r\n")
	if l := line(); !strings.HasPrefix(l, "200 Hello and welcome") {
		t.Fatalf("hello: %q", l)
	}
	fmt.Fprintf(conn, "%s\n", query([]int{150, 30000}, 900)) // a bare LF ends a line too
	if l := line(); !strings.HasPrefix(l, "200 folk ") {
		t.Fatalf("query: %q", l)
	}
	fmt.Fprintf(conn, "%s\r\nquit\r\n", strings.Repeat("y", 3*MaxCommandLen))
	if l := line(); l != "500 Input too long.\r\n" {
		t.Fatalf("long line: %q", l)
	}
	if l := line(); l != "230 food Closing connection.  Goodbye.\r\n" {
		t.Fatalf("quit: %q", l)
	}
	if _, err := r.ReadString('\n'); err != io.EOF {
		t.Fatalf("connection not closed after quit: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
